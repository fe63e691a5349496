// Package facts builds the input documents condition policies decide on: for each
// catalog action, a provider reads the cluster state the action's conditions need
// (the keys of the catalog's fact glossary) through a client.Reader, normally the
// manager's cache, so gathering reads informers rather than listing from the API
// server.
//
// One Gather serves a whole round of evaluation: every condition of a step or an
// action, pre or post, reads the same document.
package facts

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Phase says whether the facts are gathered before acting or after.
type Phase string

const (
	Pre  Phase = "pre"
	Post Phase = "post"
)

// Some facts are defined against what the executor recorded before acting (e.g. the
// catalog's podFacts): the pod's UID, its controller, the time it
// acted, the name of the Event notify_only records. Those records live in the
// KubernetesExecution's status (status.executionResults...before), which a provider
// does not see, so the caller hands them over inside the parameters, under reserved
// keys that no action's parameter schema uses (they start with an underscore):
//
//   - params["_before"]: the before values, as map[string]string (the API type) or
//     map[string]any of strings. Present after acting (phase post); absent before
//     acting, when "the pod" is the pod of that name now and its controller is the one
//     its ownerReferences name.
//   - params["_namespace"]: the namespace of the KubernetesExecution. notify_only has
//     no target: its Event is recorded in that namespace.
//
// Gather copies params into the document, so policies see them as
// input.parameters._before and input.parameters._namespace.
const (
	BeforeParam    = "_before"
	NamespaceParam = "_namespace"
)

// Provider reads the facts of one action with the given parameters.
type Provider func(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error)

// providers holds the provider of each action, by group.
var providers = mergeProviders(
	map[string]Provider{"scale_deployment": scaleDeployment},
	workloadProviders, podProviders, nodeProviders,
)

func mergeProviders(groups ...map[string]Provider) map[string]Provider {
	merged := map[string]Provider{}
	for _, g := range groups {
		for action, p := range g {
			if _, dup := merged[action]; dup {
				panic("facts: two providers for " + action)
			}
			merged[action] = p
		}
	}
	return merged
}

// Has reports whether action has a facts provider.
func Has(action string) bool {
	_, ok := providers[action]
	return ok
}

// Wanted names the top-level keys a round's policies read (conditions.Policy.Reads);
// nil wants every key. A provider may leave out a key that is not wanted, when
// computing it costs more than reading its target: the free capacity of the
// cluster's nodes sums the requests of every pod.
type Wanted map[string]bool

// Has reports whether key is wanted.
func (w Wanted) Has(key string) bool { return w == nil || w[key] }

// wantedKey carries a Gather's Wanted to its provider.
type wantedKey struct{}

// wants reports whether the Gather that called the provider wants any of keys.
func wants(ctx context.Context, keys ...string) bool {
	w, _ := ctx.Value(wantedKey{}).(Wanted)
	return slices.ContainsFunc(keys, w.Has)
}

// Gather returns the facts document of action: what its provider reads, plus
// action, parameters and phase. A fact that cannot be known (the target does not
// exist, so neither do its pods) is left out, so that policies reading it report a
// missing fact instead of deciding on a made-up value; so may a costly fact that
// want does not name.
func Gather(ctx context.Context, r client.Reader, action string, params map[string]any, phase Phase, want Wanted) (map[string]any, error) {
	provide, ok := providers[action]
	if !ok {
		return nil, fmt.Errorf("no facts provider for action %q", action)
	}
	doc, err := provide(context.WithValue(ctx, wantedKey{}, want), r, params)
	if err != nil {
		return nil, fmt.Errorf("gathering the facts of %s: %w", action, err)
	}
	doc["action"] = action
	doc["parameters"] = params
	doc["phase"] = string(phase)
	return doc, nil
}

// target reads the {name, namespace} object parameter named param, which the
// webhook has validated.
func target(params map[string]any, param string) (name, namespace string, err error) {
	obj, _ := params[param].(map[string]any)
	name, _ = obj["name"].(string)
	namespace, _ = obj["namespace"].(string)
	if name == "" {
		return "", "", fmt.Errorf("parameters.%s.name is missing", param)
	}
	return name, namespace, nil
}

// intParam reads an integer parameter as JSON decoding gives it.
func intParam(obj map[string]any, key string) (int64, bool) {
	switch n := obj[key].(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}
