package facts_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
)

// safetyParams are parameters of every catalog action, as JSON decoding gives them
// (numbers are float64), each acting on web in namespace production or on the Node
// worker-1.
var safetyParams = func() map[string]string {
	deployment := `"deployment": {"name": "web", "namespace": "production"}`
	return map[string]string{
		"scale_deployment":    `{"deployment": {"name": "web", "namespace": "production", "replicas": 5, "baselineReplicas": 3}}`,
		"scale_statefulset":   `{"statefulset": {"name": "db", "namespace": "production", "replicas": 4}}`,
		"rollout_restart":     `{` + deployment + `}`,
		"restart_daemonset":   `{"daemonset": {"name": "agent", "namespace": "production"}}`,
		"restart_statefulset": `{"statefulset": {"name": "db", "namespace": "production"}}`,
		"increase_resources":  `{` + deployment + `, "container": "web", "requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}}`,
		"rollback_deployment": `{` + deployment + `, "revision": 4}`,
		"update_image":        `{` + deployment + `, "container": "web", "image": "registry.example/web:1.3"}`,
		"patch_deployment":    `{` + deployment + `, "patch": {"spec": {"minReadySeconds": 10}}}`,
		"update_hpa":          `{"hpa": {"name": "web", "namespace": "production"}, "minReplicas": 2, "maxReplicas": 12}`,
		"update_configmap":    `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug"}}`,
		"restart_pod":         `{"pod": {"name": "web-1", "namespace": "production"}}`,
		"delete_pod":          `{"pod": {"name": "web-1", "namespace": "production"}, "gracePeriodSeconds": 0}`,
		"quarantine_pod":      `{"pod": {"name": "web-1", "namespace": "production"}}`,
		"expand_pvc":          `{"pvc": {"name": "data", "namespace": "production", "size": "20Gi"}}`,
		"notify_only":         `{"message": "web is degraded", "severity": "warning"}`,
		"cordon_node":         `{"node": {"name": "worker-1"}}`,
		"uncordon_node":       `{"node": {"name": "worker-1"}}`,
		"drain_node":          `{"node": {"name": "worker-1", "ignoreDaemonSets": true, "gracePeriodSeconds": 30}}`,
		"taint_node":          `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/maintenance", "value": "planned", "effect": "NoExecute"}}`,
		"untaint_node":        `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/maintenance", "effect": "NoExecute"}}`,
	}
}()

func decodeParams(raw string) map[string]any {
	GinkgoHelper()
	params, err := catalog.DecodeParameters([]byte(raw))
	Expect(err).NotTo(HaveOccurred())
	return params
}

// safetyNode is a Node that is Ready unless notReady, with spec.unschedulable and
// taints as given.
func safetyNode(name string, notReady, unschedulable bool, taints ...corev1.Taint) *corev1.Node {
	status := corev1.ConditionTrue
	if notReady {
		status = corev1.ConditionFalse
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}},
	}
}

// safetyCluster holds worker-1, the target of the node actions, and six other
// nodes of which two (worker-2, and worker-6 whose taint only prefers) could run
// pods that tolerate nothing.
func safetyCluster() client.Reader {
	return fake.NewClientBuilder().WithObjects(
		safetyNode("worker-1", false, false),
		safetyNode("worker-2", false, false),
		safetyNode("worker-3", false, true),
		safetyNode("worker-4", true, false),
		safetyNode("worker-5", false, false, corev1.Taint{Key: "example.com/gpu", Effect: corev1.TaintEffectNoExecute}),
		safetyNode("worker-6", false, false, corev1.Taint{Key: "example.com/spot", Effect: corev1.TaintEffectPreferNoSchedule}),
		safetyNode("control-plane", false, false, corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}),
	).Build()
}

// evaluateSafety evaluates every embedded safety policy on doc and returns the deny
// messages, sorted.
func evaluateSafety(ctx context.Context, doc map[string]any) []string {
	GinkgoHelper()
	var denied []string
	for name, source := range conditions.EmbeddedSafetyPolicies() {
		p, err := engine.CompileSafety(ctx, name, source)
		Expect(err).NotTo(HaveOccurred())
		r := engine.Evaluate(ctx, p, doc)
		Expect(r.Outcome).NotTo(Equal(conditions.Errored), "%s: %s", name, r.Message)
		if !r.Passed() {
			denied = append(denied, name+": "+r.Message)
		}
	}
	slices.Sort(denied)
	return denied
}

var _ = Describe("safety input", func() {
	It("has parameters of every catalog action that its schema accepts", func() {
		Expect(slices.Sorted(maps.Keys(safetyParams))).To(Equal(catalog.Names()))
		for action, raw := range safetyParams {
			a, _ := catalog.Lookup(action)
			Expect(a.ValidateParameters(decodeParams(raw), field.NewPath("parameters"))).To(BeEmpty(), action)
		}
	})

	DescribeTable("names the target of every catalog action",
		func(ctx context.Context, action, kind, namespace, name string, replicas any) {
			params := decodeParams(safetyParams[action])
			doc, err := facts.SafetyInput(ctx, safetyCluster(), action, params, facts.SafetyOptions{})
			Expect(err).NotTo(HaveOccurred())

			Expect(doc).To(HaveKeyWithValue("action", action))
			Expect(doc).To(HaveKeyWithValue("parameters", params))
			Expect(doc).To(HaveKeyWithValue("target_kind", kind))
			Expect(doc).To(HaveKeyWithValue("target_namespace", namespace))
			Expect(doc).To(HaveKeyWithValue("target_name", name))
			Expect(doc).To(HaveKeyWithValue("replica_ceiling", facts.DefaultReplicaCeiling))
			Expect(doc).To(HaveKeyWithValue("manager_namespace", facts.DefaultManagerNamespace))
			Expect(doc).To(HaveKeyWithValue("protected_namespaces",
				[]any{"kube-node-lease", "kube-public", "kube-system", facts.DefaultManagerNamespace}))
			if replicas == nil {
				Expect(doc).NotTo(HaveKey("target_replicas"))
			} else {
				Expect(doc).To(HaveKeyWithValue("target_replicas", replicas))
			}
			if kind == "Node" {
				Expect(doc).To(HaveKeyWithValue("other_ready_schedulable_nodes", 2))
			} else {
				Expect(doc).NotTo(HaveKey("other_ready_schedulable_nodes"))
			}
			for key := range doc {
				Expect(facts.SafetyKeyDescription(key)).NotTo(BeEmpty(), "key %s is not documented", key)
			}
			// Nothing here is at risk: no default safety policy denies.
			Expect(evaluateSafety(ctx, doc)).To(BeEmpty())
		},
		Entry(nil, "scale_deployment", "Deployment", "production", "web", int64(5)),
		Entry(nil, "scale_statefulset", "StatefulSet", "production", "db", int64(4)),
		Entry(nil, "rollout_restart", "Deployment", "production", "web", nil),
		Entry(nil, "restart_daemonset", "DaemonSet", "production", "agent", nil),
		Entry(nil, "restart_statefulset", "StatefulSet", "production", "db", nil),
		Entry(nil, "increase_resources", "Deployment", "production", "web", nil),
		Entry(nil, "rollback_deployment", "Deployment", "production", "web", nil),
		Entry(nil, "update_image", "Deployment", "production", "web", nil),
		Entry(nil, "patch_deployment", "Deployment", "production", "web", nil),
		Entry(nil, "update_hpa", "HorizontalPodAutoscaler", "production", "web", int64(12)),
		Entry(nil, "update_configmap", "ConfigMap", "production", "web-config", nil),
		Entry(nil, "restart_pod", "Pod", "production", "web-1", nil),
		Entry(nil, "delete_pod", "Pod", "production", "web-1", nil),
		Entry(nil, "quarantine_pod", "Pod", "production", "web-1", nil),
		Entry(nil, "expand_pvc", "PersistentVolumeClaim", "production", "data", nil),
		Entry(nil, "notify_only", "Event", "", "", nil),
		Entry(nil, "cordon_node", "Node", "", "worker-1", nil),
		Entry(nil, "uncordon_node", "Node", "", "worker-1", nil),
		Entry(nil, "drain_node", "Node", "", "worker-1", nil),
		Entry(nil, "taint_node", "Node", "", "worker-1", nil),
		Entry(nil, "untaint_node", "Node", "", "worker-1", nil),
	)

	It("documents every key it may give", func() {
		Expect(facts.SafetyKeys()).To(ConsistOf(
			"action", "parameters", "target_kind", "target_namespace", "target_name", "target_replicas",
			"replica_ceiling", "manager_namespace", "protected_namespaces", "other_ready_schedulable_nodes",
		))
		Expect(facts.SafetyKeys()).To(Equal(slices.Sorted(slices.Values(facts.SafetyKeys()))))
	})

	It("protects the manager's namespace and uses the ceiling it is given", func(ctx context.Context) {
		params := decodeParams(`{"deployment": {"name": "web", "namespace": "remediation", "replicas": 60}}`)
		doc, err := facts.SafetyInput(ctx, safetyCluster(), "scale_deployment", params,
			facts.SafetyOptions{ManagerNamespace: "remediation", ReplicaCeiling: 50})
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("manager_namespace", "remediation"))
		Expect(doc).To(HaveKeyWithValue("protected_namespaces", []any{"kube-node-lease", "kube-public", "kube-system", "remediation"}))
		Expect(doc).To(HaveKeyWithValue("replica_ceiling", 50))
		Expect(evaluateSafety(ctx, doc)).To(ConsistOf(
			HavePrefix("protected_namespaces: scale_deployment on Deployment remediation/web refused: namespace remediation is protected"),
			HavePrefix("replica_ceiling: scale_deployment to replicas 60 refused for Deployment remediation/web: above the replica ceiling of 50"),
		))
	})

	It("names the namespace of notify_only's Event, which no default policy refuses", func(ctx context.Context) {
		params := decodeParams(safetyParams["notify_only"])
		params[catalog.NamespaceParam] = "kube-system"
		doc, err := facts.SafetyInput(ctx, safetyCluster(), "notify_only", params, facts.SafetyOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("target_namespace", "kube-system"))
		Expect(evaluateSafety(ctx, doc)).To(BeEmpty())
	})

	DescribeTable("is refused by the default policies when the action is unsafe",
		func(ctx context.Context, action, raw string, nodes []client.Object, denied ...string) {
			r := fake.NewClientBuilder().WithObjects(nodes...).Build()
			doc, err := facts.SafetyInput(ctx, r, action, decodeParams(raw), facts.SafetyOptions{})
			Expect(err).NotTo(HaveOccurred())
			got := evaluateSafety(ctx, doc)
			Expect(got).To(HaveLen(len(denied)), strings.Join(got, "\n"))
			for i, prefix := range denied {
				Expect(got[i]).To(HavePrefix(prefix))
			}
		},
		Entry("a Deployment in kube-system", "rollout_restart", `{"deployment": {"name": "coredns", "namespace": "kube-system"}}`, nil,
			"protected_namespaces: rollout_restart on Deployment kube-system/coredns refused: namespace kube-system is protected"),
		Entry("a pod in the manager's namespace", "delete_pod", `{"pod": {"name": "manager-1", "namespace": "kubernaut-system"}}`, nil,
			"protected_namespaces: delete_pod on Pod kubernaut-system/manager-1 refused"),
		Entry("a Deployment to zero", "scale_deployment", `{"deployment": {"name": "web", "namespace": "production", "replicas": 0}}`, nil,
			"no_scale_to_zero: scale_deployment to 0 replicas refused for Deployment production/web"),
		Entry("a StatefulSet to zero", "scale_statefulset", `{"statefulset": {"name": "db", "namespace": "production", "replicas": 0}}`, nil,
			"no_scale_to_zero: scale_statefulset to 0 replicas refused for StatefulSet production/db"),
		Entry("a StatefulSet above the ceiling", "scale_statefulset", `{"statefulset": {"name": "db", "namespace": "production", "replicas": 101}}`, nil,
			"replica_ceiling: scale_statefulset to replicas 101 refused"),
		Entry("an HPA above the ceiling", "update_hpa", `{"hpa": {"name": "web", "namespace": "production"}, "minReplicas": 2, "maxReplicas": 500}`, nil,
			"replica_ceiling: update_hpa to maxReplicas 500 refused"),
		Entry("drain the only node", "drain_node", `{"node": {"name": "worker-1"}}`,
			[]client.Object{safetyNode("worker-1", false, false)},
			"last_schedulable_node: drain_node refused for Node worker-1: it is the last Ready, schedulable node"),
		Entry("cordon the last node others cannot replace", "cordon_node", `{"node": {"name": "worker-1"}}`,
			[]client.Object{
				safetyNode("worker-1", false, false), safetyNode("worker-2", true, false), safetyNode("worker-3", false, true),
				safetyNode("worker-4", false, false, corev1.Taint{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoSchedule}),
			},
			"last_schedulable_node: cordon_node refused for Node worker-1"),
		Entry("taint the last node NoSchedule", "taint_node", `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/x", "effect": "NoSchedule"}}`,
			[]client.Object{safetyNode("worker-1", false, false)},
			"last_schedulable_node: taint_node refused for Node worker-1"),
		Entry("taint the last node PreferNoSchedule", "taint_node", `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/x", "effect": "PreferNoSchedule"}}`,
			[]client.Object{safetyNode("worker-1", false, false)}),
		Entry("uncordon the last node", "uncordon_node", `{"node": {"name": "worker-1"}}`,
			[]client.Object{safetyNode("worker-1", false, true)}),
		Entry("drain with another node left", "drain_node", `{"node": {"name": "worker-1"}}`,
			[]client.Object{safetyNode("worker-1", false, false), safetyNode("worker-2", false, false)}),
	)

	DescribeTable("fails when the parameters do not say what the action changes",
		func(ctx context.Context, action, raw, message string) {
			var params map[string]any
			Expect(json.Unmarshal([]byte(raw), &params)).To(Succeed())
			_, err := facts.SafetyInput(ctx, safetyCluster(), action, params, facts.SafetyOptions{})
			Expect(err).To(MatchError(ContainSubstring(message)))
		},
		Entry(nil, "restart_everything", `{}`, `no safety input for action "restart_everything"`),
		Entry(nil, "rollout_restart", `{}`, "parameters.deployment.name is missing"),
		Entry(nil, "restart_pod", `{"pod": {"name": "web-1"}}`, "parameters.pod.namespace is missing"),
		Entry(nil, "scale_deployment", `{"deployment": {"name": "web", "namespace": "production"}}`, "parameters.deployment.replicas is missing"),
		Entry(nil, "update_hpa", `{"hpa": {"name": "web", "namespace": "production"}}`, "parameters.maxReplicas is missing"),
		Entry(nil, "drain_node", `{"node": {}}`, "parameters.node.name is missing"),
	)
})
