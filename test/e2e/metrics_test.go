package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/test/promtest"
)

// errorRate is the share of the target Deployment's requests that failed in the
// last 5 s, as the exporter's http_requests_total{service=<deployment>} counts
// them (the suite scrapes every second).
const errorRate = `sum(rate(http_requests_total{namespace="{{namespace}}",service="{{name}}",code=~"5.."}[5s]))` +
	` / sum(rate(http_requests_total{namespace="{{namespace}}",service="{{name}}"}[5s]))`

// errorRateBelow1Percent is a postcondition on errorRate.
func errorRateBelow1Percent(timeout time.Duration) commonv1alpha1.ValidationCondition {
	c := condition("error_rate_acceptable", `package error_rate
import rego.v1
allow if input.metrics.error_rate < 0.01
error_message := sprintf("error rate %v%% is over 1%%", [round(input.metrics.error_rate * 10000) / 100])`, true, timeout)
	c.Metrics = []commonv1alpha1.MetricQuery{{Name: "error_rate", Query: errorRate}}
	return c
}

// serving makes the exporter report traffic for Deployment ns/name with that
// share of errors, and waits until Prometheus has scraped it.
func serving(ctx context.Context, ns, name string, errors float64) {
	GinkgoHelper()
	Expect(cluster.Exporter().SetHTTPTraffic(promtest.HTTPApp{Namespace: ns, Service: name}, 100, errors)).To(Succeed())
	q := fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,service=%q}[5s]))`, ns, name)
	_, err := cluster.Prometheus().WaitFor(ctx, q, func(v float64) bool { return v > 50 })
	Expect(err).NotTo(HaveOccurred())
}

// metricsOnlyWorkflow scales ns/web-app 3 -> 4 with the given postconditions
// only (no catalog conditions), rolled back automatically when one fails.
func metricsOnlyWorkflow(ns, name string, post ...commonv1alpha1.ValidationCondition) *workflowv1alpha1.WorkflowExecution {
	wfe := scaleWorkflow(ns, name, "web-app", 4)
	wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
	wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = nil
	wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = post
	wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackAutomatic
	return wfe
}

var _ = Describe("Conditions on what operators see", Label("metrics"), func() {
	It("rolls back a scale after which the error rate is 5%", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		serving(ctx, ns, "web-app", 0.05)
		wfe := metricsOnlyWorkflow(ns, "scale-into-errors", errorRateBelow1Percent(5*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		Expect(failed.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepRolledBack))
		Expect(failed.Status.StepStatuses[0].PostConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "error_rate_acceptable"), HaveField("Passed", false), HaveField("Inconclusive", false),
			HaveField("ErrorMessage", MatchRegexp(`error rate [45](\.\d+)?% is over 1%`)))))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))
	})

	It("completes a scale after which the error rate is fine", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		serving(ctx, ns, "web-app", 0)
		wfe := metricsOnlyWorkflow(ns, "scale-healthy", errorRateBelow1Percent(30*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, time.Minute)
		Expect(done.Status.StepStatuses[0].PostConditionResults).To(allPassed())
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
	})

	It("waits for a person when the query has no data, and completes on an override", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		// No traffic is reported for this Deployment: the query returns nothing.
		wfe := metricsOnlyWorkflow(ns, "scale-unobserved", errorRateBelow1Percent(3*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(blocked.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Reason", commonv1alpha1.InconclusiveReason))))
		Expect(blocked.Status.StepStatuses[0].PostConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "error_rate_acceptable"), HaveField("Inconclusive", true), HaveField("Passed", false),
			HaveField("ErrorMessage", ContainSubstring("inconclusive after 3s")))))
		Expect(warningEvents(ctx, ns, wfe.Name)).To(ContainElement(HavePrefix(commonv1alpha1.InconclusiveReason + ":")))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)), "neither rolled back nor undone")

		kubectl("annotate", "-n", ns, "wfe", wfe.Name,
			commonv1alpha1.OverrideConditionAnnotation+"=error_rate_acceptable",
			commonv1alpha1.OverrideReasonAnnotation+"=the service takes no traffic at night")
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, time.Minute)
	})

	Describe("a custom resource read by a precondition", Ordered, func() {
		BeforeAll(func() {
			kubectl("apply", "-f", "testdata/certificate-crd.yaml")
			kubectl("wait", "--for=condition=Established", "crd/certificates.e2e.kubernaut.io", "--timeout=30s")
		})

		It("runs a step whose target's Certificate is ready, and blocks one whose Certificate is not", func(ctx context.Context) {
			for _, ready := range []bool{true, false} {
				ns := newNamespace(ctx)
				createDeployment(ctx, ns, "web-app", 3, nil)
				Eventually(func() error { return k8s.Create(ctx, certificate(ns, "web-app-tls", ready)) }).WithTimeout(30 * time.Second).Should(Succeed())
				wfe := metricsOnlyWorkflow(ns, "scale-with-tls")
				wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{certificateReady()}
				Expect(k8s.Create(ctx, wfe)).To(Succeed())
				if ready {
					done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, time.Minute)
					Expect(done.Status.StepStatuses[0].PreConditionResults).To(allPassed())
					Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
					continue
				}
				blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
				Expect(blocked.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
					HaveField("ConditionType", "certificate_ready"), HaveField("Passed", false),
					HaveField("ErrorMessage", ContainSubstring("Certificate web-app-tls is not ready")))))
				Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))
			}
		})

		It("refuses, at admission, a requester who may not get the Certificate", func(ctx context.Context) {
			ns := newNamespace(ctx)
			createDeployment(ctx, ns, "web-app", 3, nil)
			grant(ctx, ns, "tenant-nocert", "runs-and-scales", append(append([]rbacv1.PolicyRule{}, harness.TenantRules...), harness.ScalerRules...))
			wfe := metricsOnlyWorkflow(ns, "scale-peeking")
			wfe.Annotations = nil // leaving the catalog's conditions out would need the override right
			wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{certificateReady()}
			Expect(apierr.Causes(clientAs("tenant-nocert").Create(ctx, wfe))).To(apierr.HaveCause("spec.workflowDefinition.steps[0].preConditions[0]",
				`user "tenant-nocert" cannot get certificates.e2e.kubernaut.io "web-app-tls" in namespace "`+ns+`"`))
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &workflowv1alpha1.WorkflowExecution{})).NotTo(Succeed())

			grant(ctx, ns, "tenant-nocert", "read-tls", []rbacv1.PolicyRule{{APIGroups: []string{"e2e.kubernaut.io"},
				Resources: []string{"certificates"}, ResourceNames: []string{"web-app-tls"}, Verbs: []string{"get"}}})
			Eventually(func() error { return clientAs("tenant-nocert").Create(ctx, wfe) }).WithTimeout(10 * time.Second).Should(Succeed())
		})
	})
})

// certificate is a Certificate-like custom resource, ready or not.
func certificate(ns, name string, ready bool) client.Object {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "e2e.kubernaut.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"secretName": name},
		"status": map[string]any{"conditions": []any{map[string]any{
			"type": "Ready", "status": map[bool]string{true: "True", false: "False"}[ready]}}},
	}}
	return u
}

// certificateReady is a precondition that the target's <name>-tls Certificate is
// ready.
func certificateReady() commonv1alpha1.ValidationCondition {
	c := condition("certificate_ready", `package certificate_ready
import rego.v1
allow if { some c in input.objects.cert.status.conditions; c.type == "Ready"; c.status == "True" }
error_message := sprintf("Certificate %s is not ready", [input.objects.cert.metadata.name])`, true, 10*time.Second)
	c.Objects = []commonv1alpha1.ObjectQuery{{Key: "cert", APIVersion: "e2e.kubernaut.io/v1", Kind: "Certificate",
		Namespace: "{{namespace}}", Name: "{{name}}-tls"}}
	return c
}

var _ = Describe("CPU throttling read from Prometheus", Label("metrics"), func() {
	It("fails resource_usage_acceptable on a scale whose pods are throttled, and rolls it back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		d := createDeployment(ctx, ns, "hot-app", 2, nil)
		// A CPU limit gives the pods a CFS quota: only then can they be throttled.
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		base := d.DeepCopy()
		d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
		Expect(k8s.Patch(ctx, d, client.MergeFrom(base))).To(Succeed())
		waitReady(ctx, ns, "hot-app", 2)
		var pods corev1.PodList
		Eventually(func(g Gomega) {
			g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "hot-app"})).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(2))
			for _, p := range pods.Items {
				g.Expect(p.Spec.Containers[0].Resources.Limits).To(HaveKey(corev1.ResourceCPU))
			}
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		for _, p := range pods.Items {
			Expect(cluster.Exporter().SetCPUThrottling(promtest.Container{Namespace: ns, Pod: p.Name, Container: "web"}, 0.6)).To(Succeed())
		}
		q := fmt.Sprintf(`count(sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{namespace=%q}[10s]))`+
			` / sum by (pod) (rate(container_cpu_cfs_periods_total{namespace=%q}[10s])) > 0.5)`, ns, ns)
		_, err := cluster.Prometheus().WaitFor(ctx, q, func(v float64) bool { return v == 2 })
		Expect(err).NotTo(HaveOccurred())

		wfe := scaleWorkflow(ns, "scale-throttled", "hot-app", 3)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = nil
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = []commonv1alpha1.ValidationCondition{{
			Type: "resource_usage_acceptable", Required: ptr.To(true),
			Timeout: &metav1.Duration{Duration: 5 * time.Second}, Interval: &metav1.Duration{Duration: time.Second},
		}}
		wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackAutomatic
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		Expect(failed.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepRolledBack))
		Expect(failed.Status.StepStatuses[0].PostConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "resource_usage_acceptable"), HaveField("Passed", false),
			HaveField("ErrorMessage", MatchRegexp(`pods .*hot-app-.* are CPU-throttled \(more than 25% of their CFS periods over 10s\)`)))))
		Expect(replicas(ctx, ns, "hot-app")).To(Equal(int32(2)))
	})
})
