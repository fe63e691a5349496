package facts

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// Defaults of SafetyOptions.
const (
	// DefaultManagerNamespace is the namespace the manager runs in unless told
	// otherwise; the policy library's ConfigMaps live there too.
	DefaultManagerNamespace = "kubernaut-system"
	// DefaultReplicaCeiling is the most replicas a scale action may set.
	DefaultReplicaCeiling = 100
)

// systemNamespaces are the namespaces of Kubernetes itself, always protected.
var systemNamespaces = []string{"kube-node-lease", "kube-public", "kube-system"}

// SafetyOptions configure SafetyInput. The zero value uses the defaults.
type SafetyOptions struct {
	// ManagerNamespace is the manager's own namespace, protected like the system
	// namespaces; DefaultManagerNamespace when empty.
	ManagerNamespace string
	// ReplicaCeiling is the most replicas an action may ask for;
	// DefaultReplicaCeiling when not positive.
	ReplicaCeiling int
	// ProtectedNamespaces are protected beside the system namespaces and the
	// manager's (the manager's --protected-namespaces).
	ProtectedNamespaces []string
}

// safetyGlossary says what each key of a safety input document means, for the
// people who write safety policies over it.
var safetyGlossary = map[string]string{
	"action":            "string: the catalog action about to run, e.g. scale_deployment",
	"parameters":        "object: the action's parameters as the KubernetesExecution gives them (validated against the catalog's schema)",
	"target_kind":       `string: the kind of the object the action changes: Deployment, StatefulSet, DaemonSet, HorizontalPodAutoscaler, ConfigMap, Pod, PersistentVolumeClaim, Node, or Event for notify_only (which records one)`,
	"target_namespace":  `string: the namespace of the target; "" for a Node; for notify_only, the namespace its Event is recorded in (parameters._namespace, "" when not given)`,
	"target_name":       `string: the name of the target; "" for notify_only, whose Event is named when it is recorded`,
	"target_replicas":   "integer, scale_deployment, scale_statefulset and update_hpa only: the replica count the action sets; for update_hpa its maxReplicas, the most the autoscaler may then set",
	"replica_ceiling":   "integer: the most replicas an action may ask for (the manager's setting, 100 unless configured)",
	"manager_namespace": "string: the namespace the manager runs in",
	"protected_namespaces": "array of strings, sorted: the namespaces no action may change: kube-system, kube-public, " +
		"kube-node-lease, manager_namespace and those of the manager's --protected-namespaces",
	"other_ready_schedulable_nodes": "integer, node actions only (cordon_node, uncordon_node, drain_node, taint_node, untaint_node): " +
		"nodes other than the target that are Ready, not cordoned (spec.unschedulable false) and carry no NoSchedule or NoExecute taint, " +
		"whatever its key: the nodes left to run pods that tolerate nothing",
}

// SafetyKeys returns the keys a safety input document may hold, sorted.
func SafetyKeys() []string { return slices.Sorted(maps.Keys(safetyGlossary)) }

// SafetyKeyDescription says what a key of a safety input document means; "" when
// the key is unknown.
func SafetyKeyDescription(key string) string { return safetyGlossary[key] }

// SafetyInput returns the document the safety policies decide on before action
// runs with params (the keys SafetyKeys lists): the manager's settings, and what
// the action is about to change, its safety target (catalog.Action.SafetyTarget),
// which for node actions counts the other nodes that could run pods, through r. It
// fails for an action of no catalog, or parameters that do not name the target; the
// caller should not act then.
func SafetyInput(ctx context.Context, r client.Reader, action string, params map[string]any, opts SafetyOptions) (map[string]any, error) {
	if opts.ManagerNamespace == "" {
		opts.ManagerNamespace = DefaultManagerNamespace
	}
	if opts.ReplicaCeiling <= 0 {
		opts.ReplicaCeiling = DefaultReplicaCeiling
	}
	protected := slices.Concat(systemNamespaces, []string{opts.ManagerNamespace}, opts.ProtectedNamespaces)
	slices.Sort(protected)
	protected = slices.Compact(protected)
	protectedList := make([]any, len(protected))
	for i, ns := range protected {
		protectedList[i] = ns
	}
	doc := map[string]any{
		"action":               action,
		"parameters":           params,
		"replica_ceiling":      opts.ReplicaCeiling,
		"manager_namespace":    opts.ManagerNamespace,
		"protected_namespaces": protectedList,
	}

	a, ok := catalog.Lookup(action)
	if !ok {
		return nil, fmt.Errorf("no safety input for action %q: it is not in the catalog", action)
	}
	t, err := a.SafetyTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	doc["target_kind"], doc["target_namespace"], doc["target_name"] = t.Kind, t.Namespace, t.Name
	if t.Replicas != nil {
		doc["target_replicas"] = *t.Replicas
	}
	if t.OtherReadySchedulableNodes != nil {
		doc["other_ready_schedulable_nodes"] = *t.OtherReadySchedulableNodes
	}
	return doc, nil
}
