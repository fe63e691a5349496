package catalog

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Fact is a top-level key of the input document an action's conditions decide on,
// with what it means, for the people who write policies over it (docs/input-keys.md
// lists them).
type Fact struct {
	Key, Description string
}

// Provider reads the facts of one action with the given parameters through r,
// normally the manager's cache, so that gathering reads informers rather than
// listing from the API server. It returns the keys of the action's Facts; a fact
// that cannot be known (the target does not exist, so neither do its pods) is left
// out, so that policies reading it report a missing fact instead of deciding on a
// made-up value; so may a costly fact that want does not name.
type Provider func(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error)

// Wanted names the top-level keys a round's policies read; nil wants every key. A
// provider may leave out a key that is not wanted, when computing it costs more
// than reading its target: the free capacity of the cluster's nodes sums the
// requests of every pod.
type Wanted map[string]bool

// Has reports whether key is wanted.
func (w Wanted) Has(key string) bool { return w == nil || w[key] }

// Any reports whether any of keys is wanted.
func (w Wanted) Any(keys ...string) bool { return slices.ContainsFunc(keys, w.Has) }

// Some facts are defined against what the executor recorded before acting (e.g.
// the pod actions'): the pod's UID, its controller, the time it acted, the name of
// the Event notify_only records. Those records live in the KubernetesExecution's
// status (status.executionResults...before), which a provider does not see, so the
// caller hands them over inside the parameters, under reserved keys that no action's
// parameter schema uses (they start with an underscore):
//
//   - params["_before"]: the before values, as map[string]string (the API type) or
//     map[string]any of strings. Present after acting (phase post); absent before
//     acting, when "the pod" is the pod of that name now and its controller is the
//     one its ownerReferences name.
//   - params["_namespace"]: the namespace of the KubernetesExecution. notify_only
//     has no target: its Event is recorded in that namespace.
//
// The facts document copies params, so policies see them as
// input.parameters._before and input.parameters._namespace.
const (
	BeforeParam    = "_before"
	NamespaceParam = "_namespace"
)

// beforeValues reads params["_before"]; nil before acting.
func beforeValues(params map[string]any) (map[string]string, error) {
	switch b := params[BeforeParam].(type) {
	case nil:
		return nil, nil
	case map[string]string:
		return b, nil
	case map[string]any:
		before := make(map[string]string, len(b))
		for k, v := range b {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("parameters.%s.%s is %T, want a string", BeforeParam, k, v)
			}
			before[k] = s
		}
		return before, nil
	default:
		return nil, fmt.Errorf("parameters.%s is %T, want an object of strings", BeforeParam, b)
	}
}

// FactDescription says what a fact key means; "" when no action declares it. Every
// action that declares a key gives it the same meaning (TestFactsMeanOneThing).
func FactDescription(key string) string {
	for _, name := range Names() {
		a, _ := Lookup(name)
		for _, f := range a.Facts {
			if f.Key == key {
				return f.Description
			}
		}
	}
	return ""
}

// FactKeys returns the keys of a's Facts, in order.
func (a *Action) FactKeys() []string {
	keys := make([]string, len(a.Facts))
	for i, f := range a.Facts {
		keys[i] = f.Key
	}
	return keys
}
