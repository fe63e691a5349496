package library_test

import (
	"context"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/internal/metricstest"
	"kubernaut.io/stepvalidation/test/harness"
)

var (
	k8s    client.Client
	engine *conditions.Engine
	lib    *library.Library
)

func TestLibrary(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Policy library")
}

var _ = BeforeSuite(func(ctx context.Context) {
	cluster, err := harness.Start(ctx, harness.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	k8s = cluster.Client
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: library.DefaultNamespace}})).To(Succeed())

	engine = conditions.NewEngine(conditions.Options{})
	lib, err = library.New(ctx, engine)
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:  cluster.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Namespaces: map[string]cache.Config{library.DefaultNamespace: {}}},
		}},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&library.Watcher{Library: lib, Namespace: library.DefaultNamespace}).SetupWithManager(mgr)).To(Succeed())
	mgrCtx, stop := context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(stop)
})

func conditionsConfigMap(version string, policies map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: library.ConditionsConfigMap, Namespace: library.DefaultNamespace,
			Labels: map[string]string{library.VersionLabel: version},
		},
		Data: policies,
	}
}

// put creates cm or replaces the one there, and removes it after the test.
func put(ctx context.Context, cm *corev1.ConfigMap) {
	var existing corev1.ConfigMap
	err := k8s.Get(ctx, client.ObjectKeyFromObject(cm), &existing)
	if apierrors.IsNotFound(err) {
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, cm))).To(Succeed())
		})
		return
	}
	Expect(err).NotTo(HaveOccurred())
	cm.ResourceVersion = existing.ResourceVersion
	Expect(k8s.Update(ctx, cm)).To(Succeed())
}

func versionOf(conditionType string) func() string {
	return func() string {
		e, ok, err := lib.Lookup(conditionType)
		if !ok || err != nil {
			return ""
		}
		return e.Version
	}
}

func evaluate(ctx context.Context, conditionType string, input map[string]any) conditions.Outcome {
	GinkgoHelper()
	e, ok, err := lib.Lookup(conditionType)
	Expect(err).NotTo(HaveOccurred())
	Expect(ok).To(BeTrue(), "no policy for %s", conditionType)
	return engine.Evaluate(ctx, e.Policy, input).Outcome
}

const requireFound = "package precondition.scale_deployment\nallow if input.deployment_found == true\n"

var _ = Describe("The policy library", func() {
	It("serves the embedded defaults when no ConfigMap exists", func() {
		e, ok, err := lib.Lookup("deployment_exists")
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(e.Source).To(Equal(commonv1alpha1.PolicySourceEmbedded))
		Expect(lib.Has("no_such_condition")).To(BeFalse())
	})

	It("loads the seed's ConfigMap (seed 001, section 3.5.3) as it is", func(ctx context.Context) {
		data, err := os.ReadFile("testdata/seed-001-section-3.5.3-configmap.yaml")
		Expect(err).NotTo(HaveOccurred())
		var cm corev1.ConfigMap
		Expect(yaml.Unmarshal(data, &cm)).To(Succeed())
		Expect(cm.Data).To(HaveLen(4))
		put(ctx, &cm)

		for key := range cm.Data {
			conditionType := key[:len(key)-len(".rego")]
			Eventually(func() commonv1alpha1.PolicySource {
				e, _, _ := lib.Lookup(conditionType)
				return e.Source
			}).Should(Equal(commonv1alpha1.PolicySourceLibrary), conditionType)
		}
		// The ConfigMap's deployment_exists and cluster_capacity_available share a
		// package; each still decides alone.
		input := map[string]any{
			"deployment_found": false, "available_cpu": "4", "required_cpu_per_pod": "500m",
			"available_memory": "8Gi", "required_memory_per_pod": "512Mi", "additional_replicas": 2,
		}
		Expect(evaluate(ctx, "deployment_exists", input)).To(Equal(conditions.Failed))
		Expect(evaluate(ctx, "cluster_capacity_available", input)).To(Equal(conditions.Passed))
	})

	It("uses a changed policy at the next evaluation", func(ctx context.Context) {
		input := map[string]any{"deployment_found": true, "namespace": "production"}
		put(ctx, conditionsConfigMap("1", map[string]string{"deployment_exists.rego": requireFound}))
		Eventually(versionOf("deployment_exists")).Should(Equal("1"))
		Expect(evaluate(ctx, "deployment_exists", input)).To(Equal(conditions.Passed))

		put(ctx, conditionsConfigMap("2", map[string]string{"deployment_exists.rego": "package precondition.scale_deployment\n" +
			"allow if {\n  input.deployment_found == true\n  input.namespace != \"production\"\n}\n"}))
		Eventually(versionOf("deployment_exists")).Should(Equal("2"))
		Expect(evaluate(ctx, "deployment_exists", input)).To(Equal(conditions.Failed))
	})

	It("keeps the last good set when a new version does not compile, and says why", func(ctx context.Context) {
		put(ctx, conditionsConfigMap("good", map[string]string{"deployment_exists.rego": requireFound}))
		Eventually(versionOf("deployment_exists")).Should(Equal("good"))
		errorsBefore := loadErrors()

		put(ctx, conditionsConfigMap("broken", map[string]string{
			"deployment_exists.rego":        requireFound,
			"desired_replicas_running.rego": "package postcondition.scale_deployment\nallow if {\n  input.ready_pods >=\n}\n",
		}))
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(library.DefaultNamespace))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(And(
				HaveField("Reason", library.ReasonPolicyCompileFailed),
				HaveField("Regarding.Name", library.ConditionsConfigMap),
				HaveField("Note", And(
					ContainSubstring("kept good"),
					ContainSubstring(`key "desired_replicas_running.rego": condition desired_replicas_running: line 4, column 1: rego_parse_error`),
				)),
			)))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(loadErrors()).To(BeNumerically(">", errorsBefore))
		Consistently(versionOf("deployment_exists")).WithTimeout(time.Second).Should(Equal("good"))
		e, _, _ := lib.Lookup("desired_replicas_running")
		Expect(e.Source).To(Equal(commonv1alpha1.PolicySourceEmbedded), "nothing of the broken version is in use")
	})

	It("falls back to the embedded policy when the ConfigMap is deleted", func(ctx context.Context) {
		cm := conditionsConfigMap("3", map[string]string{"deployment_exists.rego": requireFound})
		put(ctx, cm)
		Eventually(versionOf("deployment_exists")).Should(Equal("3"))
		Expect(k8s.Delete(ctx, cm)).To(Succeed())
		Eventually(func() commonv1alpha1.PolicySource {
			e, _, _ := lib.Lookup("deployment_exists")
			return e.Source
		}).Should(Equal(commonv1alpha1.PolicySourceEmbedded))
	})

	It("serves the embedded safety policies when no ConfigMap exists", func() {
		Expect(safetyNames()).To(Equal(embeddedSafetyNames()))
		for _, e := range lib.SafetyPolicies() {
			Expect(e.Source).To(Equal(commonv1alpha1.PolicySourceEmbedded), e.Name)
		}
	})

	It("adds the safety ConfigMap's policies to the defaults, and refuses a key that is not <name>.rego", func(ctx context.Context) {
		safety := safetyConfigMap(map[string]string{"no_kube_system.rego": "package safety.namespaces\n" +
			"deny contains \"no remediation in kube-system\" if input.namespace == \"kube-system\"\n"})
		put(ctx, safety)
		Eventually(safetyNames).Should(Equal(withEmbeddedSafety("no_kube_system")))
		p, ok := safetyPolicy("no_kube_system")
		Expect(ok).To(BeTrue())
		Expect(p.Source).To(Equal(commonv1alpha1.PolicySourceLibrary))
		Expect(engine.Evaluate(ctx, p.Policy, map[string]any{"namespace": "kube-system"}).Message).To(Equal("no remediation in kube-system"))

		safety.Data["No-Kube-System.rego"] = "package x\ndeny contains \"x\" if false\n"
		put(ctx, safety)
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(library.DefaultNamespace))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(And(
				HaveField("Regarding.Name", library.SafetyConfigMap),
				HaveField("Note", ContainSubstring(`key "No-Kube-System.rego": want <name>.rego with name in snake_case`)),
			)))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(safetyNames()).To(Equal(withEmbeddedSafety("no_kube_system")), "the last good set stays")
	})

	It("replaces a default safety policy with the ConfigMap's policy of the same name, until the ConfigMap goes", func(ctx context.Context) {
		kubePublic := map[string]any{
			"action": "rollout_restart", "target_kind": "Deployment", "target_namespace": "kube-public", "target_name": "web",
			"protected_namespaces": []any{"kube-node-lease", "kube-public", "kube-system", "kubernaut-system"},
			"manager_namespace":    "kubernaut-system",
		}
		p, _ := safetyPolicy("protected_namespaces")
		Expect(engine.Evaluate(ctx, p.Policy, kubePublic).Outcome).To(Equal(conditions.Failed), "the default protects kube-public")

		// The replacement protects only kube-system; last_schedulable_node is switched off.
		cm := safetyConfigMap(map[string]string{
			"protected_namespaces.rego": "package safety.protected_namespaces\n" +
				"deny contains \"kube-system is protected\" if input.target_namespace == \"kube-system\"\n",
			"last_schedulable_node.rego": "package safety.last_schedulable_node\ndeny := set()\n",
		})
		cm.Labels = map[string]string{library.VersionLabel: "ops-1"}
		put(ctx, cm)
		Eventually(func() string {
			e, _ := safetyPolicy("protected_namespaces")
			return e.Version
		}).Should(Equal("ops-1"))
		Expect(safetyNames()).To(Equal(embeddedSafetyNames()), "replaced, not added")
		for _, e := range lib.SafetyPolicies() {
			want := commonv1alpha1.PolicySourceEmbedded
			if e.Name == "protected_namespaces" || e.Name == "last_schedulable_node" {
				want = commonv1alpha1.PolicySourceLibrary
			}
			Expect(e.Source).To(Equal(want), e.Name)
		}
		p, _ = safetyPolicy("protected_namespaces")
		Expect(engine.Evaluate(ctx, p.Policy, kubePublic).Outcome).To(Equal(conditions.Passed))
		Expect(engine.Evaluate(ctx, p.Policy, map[string]any{"target_namespace": "kube-system"}).Message).To(Equal("kube-system is protected"))
		p, _ = safetyPolicy("last_schedulable_node")
		Expect(engine.Evaluate(ctx, p.Policy, map[string]any{
			"action": "drain_node", "target_name": "worker-1", "other_ready_schedulable_nodes": 0,
		}).Outcome).To(Equal(conditions.Passed))

		Expect(k8s.Delete(ctx, cm)).To(Succeed())
		Eventually(func() commonv1alpha1.PolicySource {
			e, _ := safetyPolicy("protected_namespaces")
			return e.Source
		}).Should(Equal(commonv1alpha1.PolicySourceEmbedded))
		Expect(safetyNames()).To(Equal(embeddedSafetyNames()))
		p, _ = safetyPolicy("protected_namespaces")
		Expect(engine.Evaluate(ctx, p.Policy, kubePublic).Outcome).To(Equal(conditions.Failed))
	})
})

func safetyConfigMap(policies map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: library.SafetyConfigMap, Namespace: library.DefaultNamespace},
		Data:       policies,
	}
}

// safetyNames lists the names of the safety policies in use, in the library's order.
func safetyNames() []string {
	var names []string
	for _, e := range lib.SafetyPolicies() {
		names = append(names, e.Name)
	}
	return names
}

func embeddedSafetyNames() []string {
	return slices.Sorted(maps.Keys(conditions.EmbeddedSafetyPolicies()))
}

// withEmbeddedSafety is the sorted names of the embedded safety policies and extra.
func withEmbeddedSafety(extra ...string) []string {
	names := append(embeddedSafetyNames(), extra...)
	slices.Sort(names)
	return names
}

func safetyPolicy(name string) (library.Entry, bool) {
	for _, e := range lib.SafetyPolicies() {
		if e.Name == name {
			return e, true
		}
	}
	return library.Entry{}, false
}

// loadErrors reads kubernaut_policy_library_load_errors_total for the conditions
// ConfigMap from the manager's metrics registry.
func loadErrors() float64 {
	GinkgoHelper()
	n, err := metricstest.Sum("kubernaut_policy_library_load_errors_total", map[string]string{"configmap": library.ConditionsConfigMap})
	Expect(err).NotTo(HaveOccurred())
	return n
}
