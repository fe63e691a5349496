package library_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/library"
)

// safetyDoc is the safety input document (facts.SafetyInput) of action in a
// cluster where nothing is at risk: the target is in namespace production (or the
// node worker-1, with two other schedulable nodes), 3 replicas, ceiling 100.
// changes replace keys; nil removes one.
func safetyDoc(action string, changes map[string]any) map[string]any {
	params := map[string]any{}
	doc := map[string]any{
		"action":               action,
		"parameters":           params,
		"target_namespace":     "production",
		"target_name":          "web",
		"replica_ceiling":      100,
		"manager_namespace":    "kubernaut-system",
		"protected_namespaces": []any{"kube-node-lease", "kube-public", "kube-system", "kubernaut-system"},
	}
	switch action {
	case "scale_deployment":
		params["deployment"] = map[string]any{"name": "web", "namespace": "production", "replicas": 3}
		doc["target_kind"], doc["target_replicas"] = "Deployment", 3
	case "scale_statefulset":
		params["statefulset"] = map[string]any{"name": "web", "namespace": "production", "replicas": 3}
		doc["target_kind"], doc["target_replicas"] = "StatefulSet", 3
	case "update_hpa":
		params["hpa"] = map[string]any{"name": "web", "namespace": "production"}
		params["minReplicas"], params["maxReplicas"] = 2, 10
		doc["target_kind"], doc["target_replicas"] = "HorizontalPodAutoscaler", 10
	case "cordon_node", "uncordon_node", "drain_node", "taint_node", "untaint_node":
		params["node"] = map[string]any{"name": "worker-1"}
		if action == "taint_node" || action == "untaint_node" {
			params["taint"] = map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}
		}
		doc["target_kind"], doc["target_namespace"], doc["target_name"] = "Node", "", "worker-1"
		doc["other_ready_schedulable_nodes"] = 2
	case "notify_only":
		params["message"], params["severity"] = "look at web", "info"
		doc["target_kind"], doc["target_name"] = "Event", ""
	default: // the other Deployment actions
		params["deployment"] = map[string]any{"name": "web", "namespace": "production"}
		doc["target_kind"] = "Deployment"
	}
	for k, v := range changes {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	return doc
}

// withTaintEffect is a taint_node document whose taint has effect (none when
// effect is "") and others other schedulable nodes.
func withTaintEffect(effect string, others int) map[string]any {
	doc := safetyDoc("taint_node", map[string]any{"other_ready_schedulable_nodes": others})
	taint := map[string]any{"key": "example.com/maintenance"}
	if effect != "" {
		taint["effect"] = effect
	}
	doc["parameters"].(map[string]any)["taint"] = taint
	return doc
}

// safetyCase is one input for an embedded safety policy; message is a substring of
// the deny message, "" when the policy allows.
type safetyCase struct {
	policy  string
	name    string
	input   map[string]any
	message string
}

var safetyCases = []safetyCase{
	{"protected_namespaces", "an ordinary namespace", safetyDoc("rollout_restart", nil), ""},
	{"protected_namespaces", "a Node has no namespace", safetyDoc("drain_node", nil), ""},
	{"protected_namespaces", "kube-system", safetyDoc("rollout_restart", map[string]any{"target_namespace": "kube-system", "target_name": "coredns"}),
		"rollout_restart on Deployment kube-system/coredns refused: namespace kube-system is protected (kube-node-lease, kube-public, kube-system, kubernaut-system)"},
	{"protected_namespaces", "kube-public", safetyDoc("update_configmap", map[string]any{"target_kind": "ConfigMap", "target_namespace": "kube-public"}),
		"namespace kube-public is protected"},
	{"protected_namespaces", "kube-node-lease", safetyDoc("delete_pod", map[string]any{"target_kind": "Pod", "target_namespace": "kube-node-lease"}),
		"namespace kube-node-lease is protected"},
	{"protected_namespaces", "the manager's own namespace", safetyDoc("scale_deployment", map[string]any{
		"target_namespace": "remediation", "manager_namespace": "remediation",
		"protected_namespaces": []any{"kube-node-lease", "kube-public", "kube-system", "remediation"},
	}), "namespace remediation is protected"},
	{"protected_namespaces", "the manager's namespace even when the list lacks it", safetyDoc("scale_deployment", map[string]any{
		"target_namespace": "remediation", "manager_namespace": "remediation", "protected_namespaces": nil,
	}), "namespace remediation is protected"},
	{"protected_namespaces", "a namespace an operator's list adds", safetyDoc("restart_pod", map[string]any{
		"target_kind": "Pod", "target_namespace": "payments",
		"protected_namespaces": []any{"kube-node-lease", "kube-public", "kube-system", "kubernaut-system", "payments"},
	}), "namespace payments is protected"},
	{"protected_namespaces", "notify_only only records an Event", safetyDoc("notify_only", map[string]any{"target_namespace": "kube-system"}), ""},

	{"no_scale_to_zero", "3 replicas", safetyDoc("scale_deployment", nil), ""},
	{"no_scale_to_zero", "1 replica", safetyDoc("scale_statefulset", map[string]any{"target_replicas": 1}), ""},
	{"no_scale_to_zero", "a Deployment to 0", safetyDoc("scale_deployment", map[string]any{"target_replicas": 0}),
		"scale_deployment to 0 replicas refused for Deployment production/web: scaling to zero stops the workload"},
	{"no_scale_to_zero", "a StatefulSet to 0", safetyDoc("scale_statefulset", map[string]any{"target_replicas": 0}),
		"scale_statefulset to 0 replicas refused for StatefulSet production/web"},
	{"no_scale_to_zero", "not a scale action", safetyDoc("rollout_restart", map[string]any{"target_replicas": 0}), ""},

	{"replica_ceiling", "below the ceiling", safetyDoc("scale_deployment", nil), ""},
	{"replica_ceiling", "at the ceiling", safetyDoc("scale_statefulset", map[string]any{"target_replicas": 100}), ""},
	{"replica_ceiling", "above the ceiling", safetyDoc("scale_deployment", map[string]any{"target_replicas": 250}),
		"scale_deployment to replicas 250 refused for Deployment production/web: above the replica ceiling of 100; ask for at most 100"},
	{"replica_ceiling", "above a ceiling the manager set", safetyDoc("scale_statefulset", map[string]any{"target_replicas": 30, "replica_ceiling": 20}),
		"above the replica ceiling of 20"},
	{"replica_ceiling", "below a raised ceiling", safetyDoc("scale_deployment", map[string]any{"target_replicas": 250, "replica_ceiling": 500}), ""},
	{"replica_ceiling", "no ceiling in the input: 100", safetyDoc("scale_deployment", map[string]any{"target_replicas": 101, "replica_ceiling": nil}),
		"above the replica ceiling of 100"},
	{"replica_ceiling", "an HPA's maxReplicas", safetyDoc("update_hpa", map[string]any{"target_replicas": 300}),
		"update_hpa to maxReplicas 300 refused for HorizontalPodAutoscaler production/web"},
	{"replica_ceiling", "an HPA within the ceiling", safetyDoc("update_hpa", nil), ""},
	{"replica_ceiling", "a replica count not known", safetyDoc("scale_deployment", map[string]any{"target_replicas": nil}),
		"the safety input has no target_replicas"},
	{"replica_ceiling", "not a scale action", safetyDoc("rollout_restart", nil), ""},

	{"last_schedulable_node", "cordon with another node left", safetyDoc("cordon_node", map[string]any{"other_ready_schedulable_nodes": 1}), ""},
	{"last_schedulable_node", "cordon the last node", safetyDoc("cordon_node", map[string]any{"other_ready_schedulable_nodes": 0}),
		"cordon_node refused for Node worker-1: it is the last Ready, schedulable node"},
	{"last_schedulable_node", "drain the last node", safetyDoc("drain_node", map[string]any{"other_ready_schedulable_nodes": 0}),
		"drain_node refused for Node worker-1: it is the last Ready, schedulable node"},
	{"last_schedulable_node", "drain with others left", safetyDoc("drain_node", nil), ""},
	{"last_schedulable_node", "taint NoSchedule the last node", withTaintEffect("NoSchedule", 0), "taint_node refused for Node worker-1"},
	{"last_schedulable_node", "taint NoExecute the last node", withTaintEffect("NoExecute", 0), "taint_node refused for Node worker-1"},
	{"last_schedulable_node", "taint PreferNoSchedule the last node", withTaintEffect("PreferNoSchedule", 0), ""},
	{"last_schedulable_node", "taint the last node with an effect not known", withTaintEffect("", 0), "taint_node refused for Node worker-1"},
	{"last_schedulable_node", "taint NoSchedule with others left", withTaintEffect("NoSchedule", 1), ""},
	{"last_schedulable_node", "uncordon the last node", safetyDoc("uncordon_node", map[string]any{"other_ready_schedulable_nodes": 0}), ""},
	{"last_schedulable_node", "untaint the last node", safetyDoc("untaint_node", map[string]any{"other_ready_schedulable_nodes": 0}), ""},
	{"last_schedulable_node", "the count not known", safetyDoc("drain_node", map[string]any{"other_ready_schedulable_nodes": nil}),
		"the safety input has no other_ready_schedulable_nodes"},
	{"last_schedulable_node", "not a node action", safetyDoc("scale_deployment", map[string]any{"other_ready_schedulable_nodes": 0}), ""},
}

// TestEmbeddedSafetyPolicies runs every case, and requires of every embedded safety
// policy at least one case that allows and one that denies.
func TestEmbeddedSafetyPolicies(t *testing.T) {
	ctx := context.Background()
	e := conditions.NewEngine(conditions.Options{})
	policies := conditions.EmbeddedSafetyPolicies()
	if got, want := slices.Sorted(maps.Keys(policies)), []string{"last_schedulable_node", "no_scale_to_zero", "protected_namespaces", "replica_ceiling"}; !slices.Equal(got, want) {
		t.Fatalf("embedded safety policies are %v, want %v", got, want)
	}
	allows, denies := map[string]bool{}, map[string]bool{}
	for _, c := range safetyCases {
		t.Run(c.policy+"/"+c.name, func(t *testing.T) {
			source, ok := policies[c.policy]
			if !ok {
				t.Fatalf("no embedded safety policy %s", c.policy)
			}
			p, err := e.CompileSafety(ctx, c.policy, source)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if want := "safety." + c.policy; p.Package != want {
				t.Errorf("package %s, want %s", p.Package, want)
			}
			r := e.Evaluate(ctx, p, c.input)
			if c.message == "" {
				allows[c.policy] = true
				if r.Outcome != conditions.Passed {
					t.Errorf("got %s (%s: %s), want Passed", r.Outcome, r.Reason, r.Message)
				}
				return
			}
			denies[c.policy] = true
			if r.Outcome != conditions.Failed || r.Reason != conditions.ReasonDenied || !strings.Contains(r.Message, c.message) {
				t.Errorf("got %s (%s: %q), want Failed, %s, with %q", r.Outcome, r.Reason, r.Message, conditions.ReasonDenied, c.message)
			}
		})
	}
	for name := range policies {
		if !allows[name] || !denies[name] {
			t.Errorf("safety policy %s needs a case that allows and one that denies", name)
		}
	}
}

// TestEmbeddedSafetyInputKeys requires the embedded safety policies to read only
// keys facts.SafetyInput documents.
func TestEmbeddedSafetyInputKeys(t *testing.T) {
	e := conditions.NewEngine(conditions.Options{})
	for name, source := range conditions.EmbeddedSafetyPolicies() {
		p, err := e.CompileSafety(context.Background(), name, source)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		for _, key := range p.InputKeys() {
			if facts.SafetyKeyDescription(key) == "" {
				t.Errorf("safety policy %s reads input.%s, which facts.SafetyInput does not document", name, key)
			}
		}
	}
}

// TestSafetyDefaultsWithoutConfigMap: a new library holds the embedded safety
// policies, sorted by name, before any ConfigMap is read.
func TestSafetyDefaultsWithoutConfigMap(t *testing.T) {
	l, err := library.New(context.Background(), conditions.NewEngine(conditions.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range l.SafetyPolicies() {
		names = append(names, e.Name)
		if e.Source != commonv1alpha1.PolicySourceEmbedded {
			t.Errorf("%s: source %s, want %s", e.Name, e.Source, commonv1alpha1.PolicySourceEmbedded)
		}
	}
	if want := slices.Sorted(maps.Keys(conditions.EmbeddedSafetyPolicies())); !slices.Equal(names, want) {
		t.Errorf("safety policies %v, want %v", names, want)
	}
}

// TestManagerNamespaceDefault: SafetyInput protects the namespace the library reads
// its ConfigMaps from unless told otherwise.
func TestManagerNamespaceDefault(t *testing.T) {
	if facts.DefaultManagerNamespace != library.DefaultNamespace {
		t.Errorf("facts.DefaultManagerNamespace %q, library.DefaultNamespace %q", facts.DefaultManagerNamespace, library.DefaultNamespace)
	}
}
