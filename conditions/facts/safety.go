package facts

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
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
		"kube-node-lease and manager_namespace",
	"other_ready_schedulable_nodes": "integer, node actions only (cordon_node, uncordon_node, drain_node, taint_node, untaint_node): " +
		"nodes other than the target that are Ready, not cordoned (spec.unschedulable false) and carry no NoSchedule or NoExecute taint, " +
		"whatever its key: the nodes left to run pods that tolerate nothing",
}

// SafetyKeys returns the keys a safety input document may hold, sorted.
func SafetyKeys() []string { return slices.Sorted(maps.Keys(safetyGlossary)) }

// SafetyKeyDescription says what a key of a safety input document means; "" when
// the key is unknown.
func SafetyKeyDescription(key string) string { return safetyGlossary[key] }

// notifyOnly is the action that records an Event and changes nothing else.
const notifyOnly = "notify_only"

// SafetyInput returns the document the safety policies decide on before action
// runs with params: what the action is about to change, read from its parameters
// (the keys SafetyKeys lists), and for node actions how many other nodes could run
// pods, read through r. It fails for an action of no catalog, or parameters that do
// not name the target; the caller should not act then.
func SafetyInput(ctx context.Context, r client.Reader, action string, params map[string]any, opts SafetyOptions) (map[string]any, error) {
	if opts.ManagerNamespace == "" {
		opts.ManagerNamespace = DefaultManagerNamespace
	}
	if opts.ReplicaCeiling <= 0 {
		opts.ReplicaCeiling = DefaultReplicaCeiling
	}
	protected := slices.Clone(systemNamespaces)
	if !slices.Contains(protected, opts.ManagerNamespace) {
		protected = append(protected, opts.ManagerNamespace)
	}
	slices.Sort(protected)
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

	if action == notifyOnly {
		namespace, _ := params[NamespaceParam].(string)
		doc["target_kind"], doc["target_namespace"], doc["target_name"] = "Event", namespace, ""
		return doc, nil
	}
	a, ok := catalog.Lookup(action)
	if !ok || a.Target == nil {
		return nil, fmt.Errorf("no safety input for action %q: it is not in the catalog", action)
	}
	t := a.Target
	name, namespace, err := t.Name(params)
	if err != nil {
		return nil, err
	}
	doc["target_kind"], doc["target_namespace"], doc["target_name"] = t.Kind, namespace, name

	switch action {
	case "scale_deployment", "scale_statefulset":
		obj, _ := params[t.Param].(map[string]any)
		replicas, ok := intParam(obj, "replicas")
		if !ok {
			return nil, fmt.Errorf("parameters.%s.replicas is missing or not an integer", t.Param)
		}
		doc["target_replicas"] = replicas
	case "update_hpa":
		replicas, ok := intParam(params, "maxReplicas")
		if !ok {
			return nil, fmt.Errorf("parameters.maxReplicas is missing or not an integer")
		}
		doc["target_replicas"] = replicas
	}
	if t.Kind == "Node" {
		others, err := safetyOtherNodes(ctx, r, name)
		if err != nil {
			return nil, err
		}
		doc["other_ready_schedulable_nodes"] = others
	}
	return doc, nil
}

// safetyOtherNodes counts the nodes other than the one named exclude that are
// Ready, not cordoned, and carry no NoSchedule or NoExecute taint.
func safetyOtherNodes(ctx context.Context, r client.Reader, exclude string) (int, error) {
	return nodeFactsOthers(ctx, r, exclude, func(n *corev1.Node) bool {
		return !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		})
	})
}
