package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/internal/repo"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/webhook"
)

// errorRateLow reads the result of its query error_rate.
const errorRateLow = `package error_rate_low
import rego.v1
allow if input.metrics.error_rate < 0.05
error_message := sprintf("error rate %v", [input.metrics.error_rate])
`

// errorRateQuery is a query in the shape the API documents, with a template
// variable inside a string.
const errorRateQuery = `sum(rate(http_requests_total{namespace="{{namespace}}",code=~"5.."}[5m]))`

// metricsCondition declares one query and reads its result.
func metricsCondition() commonv1alpha1.ValidationCondition {
	return commonv1alpha1.ValidationCondition{Type: "error_rate_low", Rego: errorRateLow,
		Metrics: []commonv1alpha1.MetricQuery{{Name: "error_rate", Query: errorRateQuery}}}
}

// objectCondition declares objects and allows when the first of them has a
// status.
func objectCondition(objects ...commonv1alpha1.ObjectQuery) commonv1alpha1.ValidationCondition {
	return commonv1alpha1.ValidationCondition{Type: "object_read", Objects: objects,
		Rego: "package object_read\nimport rego.v1\nallow if input.objects." + objects[0].Key + ".metadata.name\n"}
}

func configMapRef(key, namespace, name string) commonv1alpha1.ObjectQuery {
	return commonv1alpha1.ObjectQuery{Key: key, APIVersion: "v1", Kind: "ConfigMap", Namespace: namespace, Name: name}
}

// declaringRun is a run of kind in ns that scales Deployment web-app of ns, with
// pre and post as the conditions written on its step (a workflow) or on itself
// (an execution), and the path of those lists' parent ("spec." or a step's).
func declaringRun(kind, ns string, pre, post []commonv1alpha1.ValidationCondition) (client.Object, string) {
	if kind == "WorkflowExecution" {
		wfe := libraryWorkflow(ns)
		step(wfe).PreConditions, step(wfe).PostConditions = pre, post
		return wfe, "spec.workflowDefinition.steps[0]."
	}
	ke := scaleExecution(ns, ns)
	ke.Spec.PreConditions, ke.Spec.PostConditions = pre, post
	return ke, "spec."
}

// tenantNamespace is a namespace where user may create both kinds and scale
// Deployments, and nothing else.
func tenantNamespace(ctx context.Context, user string) string {
	GinkgoHelper()
	ns := newNamespace(ctx)
	grantRole(ctx, ns, user, user+"-tenant", harness.TenantRules)
	grantRole(ctx, ns, user, user+"-scaler", harness.ScalerRules)
	return ns
}

// metricsQueryRole is the ClusterRole the project ships for people whose
// conditions declare queries, created from its manifest once.
func metricsQueryRole(ctx context.Context) string {
	GinkgoHelper()
	root, err := repo.Root()
	Expect(err).NotTo(HaveOccurred())
	manifest, err := os.ReadFile(filepath.Join(root, "config", "rbac", "metrics-query-clusterrole.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var role rbacv1.ClusterRole
	Expect(yaml.UnmarshalStrict(manifest, &role)).To(Succeed())
	if err := k8s.Create(ctx, &role); !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	return role.Name
}

// bindClusterRole binds user to ClusterRole role in ns, with a RoleBinding.
func bindClusterRole(ctx context.Context, ns, user, role string) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})).To(Succeed())
}

// getOnly lets a user get the named objects of resource in group, and no other.
func getOnly(group, resource string, names ...string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: []string{resource}, ResourceNames: names, Verbs: []string{"get"}}}
}

// warningLog collects the warnings the API server sends a client.
type warningLog struct {
	mu    sync.Mutex
	texts []string
}

func (w *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.texts = append(w.texts, text)
}

func (w *warningLog) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.texts...)
}

// warnedClientAs is clientAs that keeps the warnings the API server sends.
func warnedClientAs(user string) (client.Client, *warningLog) {
	GinkgoHelper()
	log := &warningLog{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	cfg.WarningHandler = log
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c, log
}

var _ = Describe("Declared metrics and objects", func() {
	Context("metrics queries", func() {
		DescribeTable("need verb query on metrics.kubernaut.io in the run's namespace, which the shipped ClusterRole grants",
			func(ctx context.Context, kind string) {
				ns := tenantNamespace(ctx, "tenant")
				run, spec := declaringRun(kind, ns, nil, []commonv1alpha1.ValidationCondition{metricsCondition()})
				tenant := clientAs("tenant")

				causes := apierr.Causes(tenant.Create(ctx, run.DeepCopyObject().(client.Object)))
				Expect(causes).To(ConsistOf(apierr.Cause{Field: spec + "postConditions[0]", Message: fmt.Sprintf(
					`Forbidden: user "tenant" cannot query metrics.kubernaut.io in namespace %q (needed by condition error_rate_low)`, ns)}))

				// Bound in another namespace, the role does not count here.
				other := newNamespace(ctx)
				role := metricsQueryRole(ctx)
				bindClusterRole(ctx, other, "tenant", role)
				Expect(apierr.Causes(tenant.Create(ctx, run.DeepCopyObject().(client.Object)))).To(
					apierr.HaveCause(spec+"postConditions[0]", "cannot query metrics.kubernaut.io"))

				bindClusterRole(ctx, ns, "tenant", role)
				Expect(tenant.Create(ctx, run)).To(Succeed())
			},
			Entry("a WorkflowExecution", "WorkflowExecution"),
			Entry("a KubernetesExecution", "KubernetesExecution"),
		)

		It("are bounded: a run declaring more than 32 queries and objects is refused before any is reviewed", func(ctx context.Context) {
			var conds []commonv1alpha1.ValidationCondition
			for i := range 9 {
				c := metricsCondition()
				c.Type = fmt.Sprintf("rate_%d", i)
				c.Metrics = nil
				for j := range 4 {
					c.Metrics = append(c.Metrics, commonv1alpha1.MetricQuery{Name: fmt.Sprintf("q%d", j), Query: "up"})
				}
				conds = append(conds, c)
			}
			for _, kind := range kinds {
				run, _ := declaringRun(kind, newNamespace(ctx), nil, conds)
				field := map[string]string{"WorkflowExecution": "spec.workflowDefinition.steps", "KubernetesExecution": "spec"}[kind]
				causes := apierr.Causes(k8s.Create(ctx, run))
				Expect(causes).To(HaveLen(1), kind)
				Expect(causes).To(apierr.HaveCause(field, "the conditions declare 36 metrics queries and objects, more than the 32 a run may read"), kind)
			}
		})

		It("cannot skip that check by claiming the condition was injected", func(ctx context.Context) {
			ns := tenantNamespace(ctx, "tenant")
			c := metricsCondition()
			c.Injected = true
			for _, kind := range kinds {
				run, spec := declaringRun(kind, ns, []commonv1alpha1.ValidationCondition{c}, nil)
				Expect(apierr.Causes(clientAs("tenant").Create(ctx, run))).To(apierr.HaveCause(spec+"preConditions[0]",
					`user "tenant" cannot query metrics.kubernaut.io`), kind)
			}
		})

		It("are reviewed when an update adds them to a run that has not started", func(ctx context.Context) {
			ns := tenantNamespace(ctx, "tenant")
			run, _ := declaringRun("KubernetesExecution", ns, nil, nil)
			tenant := clientAs("tenant")
			Expect(tenant.Create(ctx, run)).To(Succeed())
			ke := run.(*kubernetesexecutionv1alpha1.KubernetesExecution)
			ke.Spec.PostConditions = append(ke.Spec.PostConditions, metricsCondition())
			Expect(apierr.Causes(tenant.Update(ctx, ke))).To(apierr.HaveCause(fmt.Sprintf("spec.postConditions[%d]", len(ke.Spec.PostConditions)-1),
				`user "tenant" cannot query metrics.kubernaut.io`))
		})

		DescribeTable("are refused, with the reason at the query, when they cannot run",
			func(ctx context.Context, query, message string) {
				c := metricsCondition()
				c.Metrics[0].Query = query
				run, _ := declaringRun("KubernetesExecution", newNamespace(ctx), nil, []commonv1alpha1.ValidationCondition{c})
				causes := apierr.Causes(k8s.Create(ctx, run))
				Expect(causes).To(HaveLen(1))
				Expect(causes).To(apierr.HaveCause("spec.postConditions[0].metrics[0].query", message))
			},
			Entry("PromQL that does not parse, with the parser's explanation",
				`sum(rate(http_requests_total[5m])`, "query is not valid PromQL: 1:34: parse error: unclosed left parenthesis"),
			Entry("a range vector", `http_requests_total[5m]`, "query returns a range vector (matrix); use an instant query"),
			Entry("a string", `"ok"`, "query returns a string"),
			Entry("an unknown template variable", `up{pod="{{pod}}"}`, "unknown template variable {{pod}}"),
			Entry("a variable outside a string, where a name would become an expression",
				`up{pod={{name}}}`, "outside a quoted string"),
			Entry("an unclosed variable", `up{pod="{{name"}`, "unclosed {{"),
		)

		It("make a dry run's preflight warn that the precondition is inconclusive when Prometheus does not answer", func(ctx context.Context) {
			ns := tenantNamespace(ctx, "tenant")
			bindClusterRole(ctx, ns, "tenant", metricsQueryRole(ctx))
			tenant, warned := warnedClientAs("tenant")
			run, _ := declaringRun("KubernetesExecution", ns, []commonv1alpha1.ValidationCondition{metricsCondition()}, nil)
			Expect(tenant.Create(ctx, run, client.DryRunAll)).To(Succeed())
			Expect(warned.all()).To(ContainElement(HavePrefix(
				"precondition error_rate_low (required) cannot be decided now: metrics error_rate: inconclusive (Unreachable): cannot reach Prometheus at " +
					closedPrometheus + "/api/v1/query: dial tcp ")))
		})

		It("are refused when the manager has no Prometheus", func(ctx context.Context) {
			label := noPrometheusWebhooks(ctx)
			ns := newNamespace(ctx)
			Expect(k8s.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{label: "true"}}},
				client.Merge)).To(Succeed())
			for _, kind := range kinds {
				// The API server takes up the new webhook configuration within a few seconds.
				Eventually(func(g Gomega, ctx context.Context) {
					run, spec := declaringRun(kind, ns, nil, []commonv1alpha1.ValidationCondition{metricsCondition()})
					err := k8s.Create(ctx, run, client.DryRunAll)
					g.Expect(err).To(HaveOccurred())
					g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
					g.Expect(err.(apierrors.APIStatus).Status().Details.Causes).To(ContainElement(And(
						HaveField("Field", spec+"postConditions[0].metrics[0].query"),
						HaveField("Message", ContainSubstring("the manager has no Prometheus to run queries against: its administrator sets --prometheus-url")))))
				}).WithContext(ctx).WithTimeout(10 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
			}
			// A condition without queries is admitted there.
			run, _ := declaringRun("KubernetesExecution", ns, nil, nil)
			Expect(k8s.Create(ctx, run)).To(Succeed())
		})
	})

	Context("objects", func() {
		var ns string
		BeforeEach(func(ctx context.Context) {
			ns = tenantNamespace(ctx, "tenant")
		})

		It("need get on each object, by name", func(ctx context.Context) {
			c := objectCondition(configMapRef("settings", "", "app-settings"))
			for _, kind := range kinds {
				run, spec := declaringRun(kind, ns, nil, []commonv1alpha1.ValidationCondition{c})
				Expect(apierr.Causes(clientAs("tenant").Create(ctx, run))).To(ConsistOf(apierr.Cause{Field: spec + "postConditions[0]",
					Message: fmt.Sprintf(`Forbidden: user "tenant" cannot get configmaps "app-settings" in namespace %q (needed by condition object_read)`, ns)}))
			}
			allow(ctx, ns, "tenant", "settings", getOnly("", "configmaps", "app-settings"))
			for _, kind := range kinds {
				run, _ := declaringRun(kind, ns, nil, []commonv1alpha1.ValidationCondition{c})
				Expect(clientAs("tenant").Create(ctx, run)).To(Succeed(), kind)
			}
		})

		It("cannot skip that check by claiming the condition was injected", func(ctx context.Context) {
			c := objectCondition(configMapRef("settings", "kube-system", "extension-apiserver-authentication"))
			c.Injected = true
			run, _ := declaringRun("KubernetesExecution", ns, []commonv1alpha1.ValidationCondition{c}, nil)
			Expect(apierr.Causes(clientAs("tenant").Create(ctx, run))).To(apierr.HaveCause("spec.preConditions[0]",
				`user "tenant" cannot get configmaps "extension-apiserver-authentication" in namespace "kube-system"`))
		})

		It("stand for the action's target with {{name}} and {{namespace}}: the review asks about the expanded name", func(ctx context.Context) {
			c := objectCondition(commonv1alpha1.ObjectQuery{Key: "settings", APIVersion: "v1", Kind: "ConfigMap",
				Namespace: "{{namespace}}", Name: "{{name}}-settings"})
			run, _ := declaringRun("WorkflowExecution", ns, nil, []commonv1alpha1.ValidationCondition{c})
			Expect(apierr.Causes(clientAs("tenant").Create(ctx, run.DeepCopyObject().(client.Object)))).To(apierr.HaveCause(
				"spec.workflowDefinition.steps[0].postConditions[0]",
				fmt.Sprintf(`user "tenant" cannot get configmaps "web-app-settings" in namespace %q`, ns)))
			allow(ctx, ns, "tenant", "settings", getOnly("", "configmaps", "web-app-settings"))
			Expect(clientAs("tenant").Create(ctx, run)).To(Succeed())
		})

		It("in another namespace need get there", func(ctx context.Context) {
			other := newNamespace(ctx)
			allow(ctx, ns, "tenant", "configmaps", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}})
			c := objectCondition(configMapRef("settings", other, "app-settings"))
			run, _ := declaringRun("KubernetesExecution", ns, nil, []commonv1alpha1.ValidationCondition{c})
			Expect(apierr.Causes(clientAs("tenant").Create(ctx, run))).To(apierr.HaveCause("spec.postConditions[0]",
				fmt.Sprintf(`user "tenant" cannot get configmaps "app-settings" in namespace %q`, other)))
		})

		It("of a cluster-scoped kind need get cluster-wide, whatever namespace they name", func(ctx context.Context) {
			allow(ctx, ns, "tenant", "nodes", getOnly("", "nodes", "worker-1"))
			c := objectCondition(commonv1alpha1.ObjectQuery{Key: "node", APIVersion: "v1", Kind: "Node", Namespace: ns, Name: "worker-1"})
			run, _ := declaringRun("KubernetesExecution", ns, nil, []commonv1alpha1.ValidationCondition{c})
			Expect(apierr.Causes(clientAs("tenant").Create(ctx, run))).To(apierr.HaveCause("spec.postConditions[0]",
				`user "tenant" cannot get nodes "worker-1" cluster-wide (needed by condition object_read)`))
		})

		DescribeTable("are refused, naming the field, when they name no object the API server serves",
			func(ctx context.Context, ref commonv1alpha1.ObjectQuery, field, message string) {
				run, _ := declaringRun("KubernetesExecution", ns, nil, []commonv1alpha1.ValidationCondition{objectCondition(ref)})
				causes := apierr.Causes(clientAs("tenant").Create(ctx, run))
				Expect(causes).To(HaveLen(1))
				Expect(causes).To(apierr.HaveCause("spec.postConditions[0].objects[0]"+field, message))
			},
			Entry("a group the API server does not serve",
				commonv1alpha1.ObjectQuery{Key: "widget", APIVersion: "example.com/v1", Kind: "Widget", Name: "w"},
				".kind", "the API server serves no kind Widget in example.com/v1"),
			Entry("a kind the core group does not have",
				commonv1alpha1.ObjectQuery{Key: "widget", APIVersion: "v1", Kind: "Widget", Name: "w"},
				".kind", "the API server serves no kind Widget in v1"),
			Entry("an apiVersion that is not group/version",
				commonv1alpha1.ObjectQuery{Key: "cm", APIVersion: "a/b/c", Kind: "ConfigMap", Name: "w"},
				"", `apiVersion "a/b/c" is not group/version or version`),
			Entry("an unknown template variable",
				commonv1alpha1.ObjectQuery{Key: "cm", APIVersion: "v1", Kind: "ConfigMap", Name: "{{pod}}"},
				"", "unknown variable {{pod}}"),
			Entry("a name that is no object name",
				commonv1alpha1.ObjectQuery{Key: "cm", APIVersion: "v1", Kind: "ConfigMap", Name: "../secrets"},
				"", `name "../secrets"`),
			Entry("a templated name that is no object name once expanded",
				commonv1alpha1.ObjectQuery{Key: "cm", APIVersion: "v1", Kind: "ConfigMap", Name: "{{name}}/../x"},
				"", `name "web-app/../x"`),
		)

		It("name the target only for an action that has one", func(ctx context.Context) {
			allow(ctx, ns, "tenant", "notifier", []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}}})
			ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
				ObjectMeta: metav1.ObjectMeta{Name: "notify", Namespace: ns},
				Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{Action: "notify_only",
					Parameters:     &runtime.RawExtension{Raw: []byte(`{"message":"disk almost full","severity":"warning"}`)},
					PostConditions: []commonv1alpha1.ValidationCondition{objectCondition(configMapRef("settings", "", "{{name}}"))}},
			}
			causes := apierr.Causes(clientAs("tenant").Create(ctx, ke))
			Expect(causes).To(HaveLen(1))
			Expect(causes).To(apierr.HaveCause("spec.postConditions[0].objects[0]", "name: {{name}} stands for the action's target, and the action has none"))
		})

		It("of a custom resource kind installed after the manager started are reviewed, and read in a dry run", func(ctx context.Context) {
			installCertificateCRD()
			cert := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "test.kubernaut.io/v1", "kind": "Certificate",
				"metadata": map[string]any{"name": "web-app-tls", "namespace": ns},
				"spec":     map[string]any{"secretName": "web-app-tls", "dnsNames": []any{"web.example.com"}},
			}}
			Expect(k8s.Create(ctx, cert)).To(Succeed())
			cert.Object["status"] = map[string]any{"conditions": []any{map[string]any{
				"type": "Ready", "status": "False", "reason": "Issuing", "message": "waiting for the issuer",
				"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}
			Expect(k8s.Status().Update(ctx, cert)).To(Succeed())

			certReady := commonv1alpha1.ValidationCondition{Type: "certificate_ready",
				Objects: []commonv1alpha1.ObjectQuery{{Key: "cert", APIVersion: "test.kubernaut.io/v1", Kind: "Certificate", Name: "{{name}}-tls"}},
				Rego: `package certificate_ready
import rego.v1
ready contains c if {
  some c in input.objects.cert.status.conditions
  c.type == "Ready"
}
allow if { some c in ready; c.status == "True" }
error_message := sprintf("certificate %s is not ready: %s", [input.objects.cert.metadata.name, c.reason]) if { some c in ready; c.status != "True" }
`}
			run, _ := declaringRun("KubernetesExecution", ns, []commonv1alpha1.ValidationCondition{certReady}, nil)
			tenant, warned := warnedClientAs("tenant")
			Expect(apierr.Causes(tenant.Create(ctx, run.DeepCopyObject().(client.Object), client.DryRunAll))).To(ConsistOf(apierr.Cause{
				Field:   "spec.preConditions[0]",
				Message: fmt.Sprintf(`Forbidden: user "tenant" cannot get certificates.test.kubernaut.io "web-app-tls" in namespace %q (needed by condition certificate_ready)`, ns)}))
			Expect(warned.all()).To(BeEmpty(), "a refused dry run reads nothing")

			allow(ctx, ns, "tenant", "certificate", getOnly("test.kubernaut.io", "certificates", "web-app-tls"))
			Expect(tenant.Create(ctx, run.DeepCopyObject().(client.Object), client.DryRunAll)).To(Succeed())
			Expect(warned.all()).To(ContainElement(
				"precondition certificate_ready (required) would fail now: certificate web-app-tls is not ready: Issuing"))
			Expect(tenant.Create(ctx, run)).To(Succeed())
		})
	})
})

// installCertificateCRD installs test/testdata/certificates.test.kubernaut.io.yaml,
// a Certificate in cert-manager's shape, and waits until it is served.
func installCertificateCRD() {
	GinkgoHelper()
	root, err := repo.Root()
	Expect(err).NotTo(HaveOccurred())
	_, err = envtest.InstallCRDs(cluster.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(root, "test", "testdata", "certificates.test.kubernaut.io.yaml")}, ErrorIfPathMissing: true,
	})
	Expect(err).NotTo(HaveOccurred())
}

// noPrometheusWebhooks serves the validating webhooks of a manager without a
// Prometheus, for the namespaces with the label it returns set to "true", until
// the spec ends: beside the suite's, which serve every namespace.
func noPrometheusWebhooks(ctx context.Context) string {
	GinkgoHelper()
	const label = "webhook-test.kubernaut.io/no-prometheus"
	var installed admissionregistrationv1.ValidatingWebhookConfiguration
	Expect(k8s.Get(ctx, client.ObjectKey{Name: "validating-webhook-configuration"}, &installed)).To(Succeed())
	served, err := url.Parse(*installed.Webhooks[0].ClientConfig.URL)
	Expect(err).NotTo(HaveOccurred())

	l, err := net.Listen("tcp", net.JoinHostPort(served.Hostname(), "0"))
	Expect(err).NotTo(HaveOccurred())
	port := l.Addr().(*net.TCPAddr).Port
	Expect(l.Close()).To(Succeed())
	_, certDir := cluster.WebhookServing()
	server := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: served.Hostname(), Port: port, CertDir: certDir})
	// A manager only to register the webhooks with: its server is started alone.
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{Scheme: cluster.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, WebhookServer: server})
	Expect(err).NotTo(HaveOccurred())
	hooks := &webhook.Webhooks{
		Conditions:      &check.Service{Engine: service.Engine, Library: service.Library, Reader: service.Reader},
		Client:          k8s,
		ManagerUsername: managerUser,
	}
	Expect(hooks.SetupWithManager(mgr)).To(Succeed())
	serverCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(server.Start(serverCtx)).To(Succeed())
	}()
	DeferCleanup(func() { stop(); <-done })
	Eventually(func() error { return server.StartedChecker()(nil) }).Should(Succeed())

	config := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "webhook-test-no-prometheus"}}
	for _, h := range installed.Webhooks {
		if h.Name == "vstatus.kubernaut.io" {
			continue
		}
		u, err := url.Parse(*h.ClientConfig.URL)
		Expect(err).NotTo(HaveOccurred())
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
		h.ClientConfig.URL = ptr.To(u.String())
		h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}}
		config.Webhooks = append(config.Webhooks, h)
	}
	Expect(k8s.Create(ctx, config)).To(Succeed())
	DeferCleanup(func(ctx context.Context) { Expect(k8s.Delete(ctx, config)).To(Succeed()) })
	return label
}

var _ = Describe("Suggestions the manager cannot measure", func() {
	It("injects resource_usage_acceptable as optional without a throttling source, and writing it so needs no override", func(ctx context.Context) {
		ns := tenantNamespace(ctx, "tenant")
		ke := scaleExecution(ns, ns)
		Expect(clientAs("tenant").Create(ctx, ke)).To(Succeed())
		Expect(ke.Spec.PostConditions).To(ContainElement(And(HaveField("Type", "resource_usage_acceptable"),
			HaveField("Injected", true), HaveField("Required", HaveValue(BeFalse())))))
		Expect(ke.Spec.PostConditions).To(ContainElement(And(HaveField("Type", "no_crashloop_pods"),
			HaveField("Required", HaveValue(BeTrue())))), "conditions that need no source stay required")

		// The tenant may not override, yet may say what the manager would inject.
		written := scaleExecution(ns, ns)
		written.Name = "written"
		written.Spec.PostConditions = []commonv1alpha1.ValidationCondition{{Type: "resource_usage_acceptable", Required: ptr.To(false)}}
		Expect(clientAs("tenant").Create(ctx, written)).To(Succeed())
	})
})
