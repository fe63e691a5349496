// Package facts builds the input documents condition policies decide on. What each
// action's conditions read is part of its catalog definition (catalog.Action: Facts
// and Provide); Gather runs that provider through a client.Reader, normally the
// manager's cache, so gathering reads informers rather than listing from the API
// server, and adds what every document has. SafetyInput builds the safety policies'
// input from the action's safety target (catalog.Action.SafetyTarget).
//
// One Gather serves a whole round of evaluation: every condition of a step or an
// action, pre or post, reads the same document.
package facts

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// Phase says whether the facts are gathered before acting or after.
type Phase string

const (
	Pre  Phase = "pre"
	Post Phase = "post"
)

// Gatherer gathers facts with the sources beyond the API server the manager has.
// Its zero value has none: Gather.
type Gatherer struct {
	// Throttling is where pods' CPU throttling comes from (Prometheus); with no
	// Querier, or nil, no pod's throttling is known, and the document says why.
	Throttling *Throttling
	// MetricsAPI, when set, remembers that the API server does not serve the
	// Metrics API, so that rounds do not ask it each time; nil asks each round.
	MetricsAPI *catalog.MetricsAPIMemo
}

// Measures reports whether g has a source: what the catalog's suggestions that
// need it (catalog.Suggested.Needs) can be decided on.
func (g Gatherer) Measures(s catalog.Source) bool {
	switch s {
	case catalog.SourceThrottling:
		return g.Throttling != nil && g.Throttling.Querier != nil
	}
	return false
}

// Gather returns the facts document of action, as Gatherer.Gather with no source
// but the API server.
func Gather(ctx context.Context, r client.Reader, action string, params map[string]any, phase Phase, want catalog.Wanted) (map[string]any, error) {
	return Gatherer{}.Gather(ctx, r, action, params, phase, want)
}

// Gather returns the facts document of action: what its provider reads, plus
// action, parameters and phase, and, when the round's policies read pods, each
// pod's throttled where it can be known, with the key throttling
// (ThrottlingFact). After acting, params carry the executor's records
// (catalog.BeforeParam) and the KubernetesExecution's namespace
// (catalog.NamespaceParam), which the document copies. A fact that cannot be known
// (the target does not exist, so neither do its pods) is left out, so that policies
// reading it report a missing fact instead of deciding on a made-up value; so may a
// costly fact that want does not name (nil wants every fact).
func (g Gatherer) Gather(ctx context.Context, r client.Reader, action string, params map[string]any, phase Phase, want catalog.Wanted) (map[string]any, error) {
	a, ok := catalog.Lookup(action)
	if !ok || a.Provide == nil {
		return nil, fmt.Errorf("no facts provider for action %q", action)
	}
	if g.MetricsAPI != nil {
		r = g.MetricsAPI.Reader(r)
	}
	doc, err := a.Provide(ctx, r, params, want)
	if err != nil {
		return nil, fmt.Errorf("gathering the facts of %s: %w", action, err)
	}
	if pods, ok := doc["pods"].([]any); ok && want.Has("pods") {
		g.Throttling.addThrottling(ctx, doc, pods)
	}
	doc["action"] = action
	doc["parameters"] = params
	doc["phase"] = string(phase)
	return doc, nil
}
