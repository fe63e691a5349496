package catalog

import (
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Action is one remediation action.
type Action struct {
	// Name is what a step's action field says, e.g. scale_deployment.
	Name string
	// Description says what the action does, in a sentence.
	Description string
	// Parameters is the schema of the action's parameters object.
	Parameters []Field
	// Target is the object the action changes, named by one of its parameters;
	// nil for an action that changes no existing object (notify_only).
	Target *Target
	// Permissions are the RBAC rules the action's own ServiceAccount needs, in the
	// namespace of its target (or cluster-wide, for nodes).
	Permissions []rbacv1.PolicyRule

	// StepPreConditions and StepPostConditions are suggested for a workflow step
	// that runs the action; PreConditions and PostConditions for its
	// KubernetesExecution.
	StepPreConditions, StepPostConditions []Suggested
	PreConditions, PostConditions         []Suggested

	// Facts are the top-level keys of the input document its conditions decide on,
	// with what each means: every key Provide may set (besides action, parameters
	// and phase, which every document has), and no other.
	Facts []Fact
	// Provide reads those facts from the cluster (see Provider).
	Provide Provider

	// Safety says what the safety policies are told the action changes (see
	// SafetyTarget); nil: its Target, as the parameters name it.
	Safety SafetyFunc

	// Executor acts on the cluster: Capture records the before values, Act changes
	// the target (see Executor). The reconciler calls them through Capture and Act.
	Executor Executor

	// Inverse builds the action that undoes this one, from its parameters and the
	// fields the executor recorded before acting (status.executionResults...before,
	// e.g. {"replicas": "3"}). Nil when the action cannot be undone.
	Inverse func(params map[string]any, before map[string]string) (Rollback, error)
}

// Target says which object an action changes: the object parameter that names it
// ({name, namespace}, or {name} when cluster-scoped) and the resource it is, for
// RBAC and for the safety policies.
type Target struct {
	// Param is the parameter that names the object, e.g. deployment.
	Param string
	// Kind is the object's kind, e.g. Deployment.
	Kind string
	// Group and Resource name the object's API resource: apps, deployments.
	Group, Resource string
	// ClusterScoped targets (Nodes) have no namespace.
	ClusterScoped bool
}

// TargetNamespace is the namespace of the object the action acts on with params:
// "" for a cluster-scoped target, an action without one, or parameters that do
// not name it.
func (a *Action) TargetNamespace(params map[string]any) string {
	if a.Target == nil {
		return ""
	}
	_, namespace, _ := a.Target.Name(params)
	return namespace
}

// Suggested is a condition the catalog suggests for an action. Its policy is the
// conditions package's embedded policy of the same type.
type Suggested struct {
	Type        string
	Description string
	Required    bool
	Timeout     time.Duration
	// Needs is a source of facts beyond the API server without which the
	// condition's policy cannot pass; "" for none. A manager without that source
	// suggests the condition as optional (Measured): it then warns on what nobody
	// measures instead of blocking every run.
	Needs Source
}

// Source is a source of facts a manager may or may not have.
type Source string

// SourceThrottling is the pods' CPU throttling, from cAdvisor's CFS counters in
// Prometheus (the manager's --throttling-from-prometheus).
const SourceThrottling Source = "throttling"

// Measured returns suggested as a manager with the sources has reports checks
// them: each condition that Needs a source it lacks is made optional.
func Measured(suggested []Suggested, has func(Source) bool) []Suggested {
	out := slices.Clone(suggested)
	for i := range out {
		if out[i].Needs != "" && !has(out[i].Needs) {
			out[i].Required = false
		}
	}
	return out
}

// Timeouts of the seed's table (seed 001, section 5.2).
const (
	quickCheck   = 5 * time.Second
	normalCheck  = 10 * time.Second
	settleWithin = 2 * time.Minute
)

// Rollback is an action with its parameters.
type Rollback struct {
	Action     string
	Parameters map[string]any
}

// registry holds every action of the catalog by name. Each action's file registers
// its definition, once (register).
var registry = map[string]*Action{}

// register adds a to the catalog and returns it: var scaleDeployment =
// register(&Action{...}). A second action of the same name is a programming error.
func register(a *Action) *Action {
	if _, dup := registry[a.Name]; dup {
		panic("catalog: two actions named " + a.Name)
	}
	registry[a.Name] = a
	return a
}

// Lookup returns the action named name.
func Lookup(name string) (*Action, bool) {
	a, ok := registry[name]
	return a, ok
}

// Names returns the names of all actions, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// SuggestedConditions returns every condition the action suggests, at both levels.
func (a *Action) SuggestedConditions() []Suggested {
	return slices.Concat(a.StepPreConditions, a.StepPostConditions, a.PreConditions, a.PostConditions)
}
