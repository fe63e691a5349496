package certs

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// webhookConfigs are a ValidatingWebhookConfiguration and a
// MutatingWebhookConfiguration with two webhooks each, like ours.
type webhookConfigs struct{ validating, mutating string }

// newWebhookConfigs names a pair of webhook configurations for the spec.
func newWebhookConfigs() webhookConfigs {
	return webhookConfigs{validating: uniqueName("certs-validating"), mutating: uniqueName("certs-mutating")}
}

// createWebhookConfigs creates a pair of webhook configurations for the spec,
// with an empty caBundle, and deletes them after it.
func createWebhookConfigs(ctx context.Context) webhookConfigs {
	GinkgoHelper()
	wc := newWebhookConfigs()
	wc.create(ctx)
	return wc
}

// create creates wc's configurations, with an empty caBundle, and deletes them
// after the spec.
func (wc webhookConfigs) create(ctx context.Context) {
	GinkgoHelper()
	clientConfig := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: "kubernaut-system", Name: "kubernaut-webhook-service", Path: ptr.To(path),
		}}
	}
	rules := func(resource string) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{"workflow.kubernaut.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{resource},
			},
		}}
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: wc.validating}}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: wc.mutating}}
	for _, name := range []string{"vworkflowexecution.kubernaut.io", "vkubernetesexecution.kubernaut.io"} {
		vwc.Webhooks = append(vwc.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name: name, ClientConfig: clientConfig("/validate-" + name), Rules: rules("workflowexecutions"),
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			// Ignore: these webhooks point at a Service nobody serves, and the
			// API server is shared with the other specs.
			FailurePolicy: ptr.To(admissionregistrationv1.Ignore),
		})
	}
	for _, name := range []string{"mworkflowexecution.kubernaut.io", "mkubernetesexecution.kubernaut.io"} {
		mwc.Webhooks = append(mwc.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name: name, ClientConfig: clientConfig("/mutate-" + name), Rules: rules("workflowexecutions"),
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			FailurePolicy: ptr.To(admissionregistrationv1.Ignore),
		})
	}
	for _, obj := range []client.Object{vwc, mwc} {
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, obj))).To(Succeed()) })
	}
}

// caBundles returns the caBundle of every webhook of wc.
func (wc webhookConfigs) caBundles(ctx context.Context) ([][]byte, error) {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := k8s.Get(ctx, client.ObjectKey{Name: wc.validating}, &vwc); err != nil {
		return nil, err
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := k8s.Get(ctx, client.ObjectKey{Name: wc.mutating}, &mwc); err != nil {
		return nil, err
	}
	var bundles [][]byte
	for _, b := range append(caBundles(&vwc), caBundles(&mwc)...) {
		bundles = append(bundles, *b)
	}
	return bundles, nil
}

// caSubjects returns, for every webhook of wc, the subjects of the CAs its
// caBundle trusts.
func (wc webhookConfigs) caSubjects(ctx context.Context) ([][]string, error) {
	bundles, err := wc.caBundles(ctx)
	if err != nil {
		return nil, err
	}
	var all [][]string
	for _, b := range bundles {
		certs, err := pemcert.Parse(b)
		if err != nil {
			return nil, err
		}
		all = append(all, names(certs))
	}
	return all, nil
}

// wipe removes the caBundle of every webhook, as a `kubectl apply` of manifests
// without it does.
func (wc webhookConfigs) wipe(ctx context.Context) {
	GinkgoHelper()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	Expect(k8s.Get(ctx, client.ObjectKey{Name: wc.validating}, &vwc)).To(Succeed())
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.CABundle = nil
	}
	Expect(k8s.Update(ctx, &vwc)).To(Succeed())
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	Expect(k8s.Get(ctx, client.ObjectKey{Name: wc.mutating}, &mwc)).To(Succeed())
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig.CABundle = nil
	}
	Expect(k8s.Update(ctx, &mwc)).To(Succeed())
}

// clusterRotator returns a Rotator of wc's caBundles, writing into a new folder.
func clusterRotator(wc webhookConfigs, clk *clocktesting.FakeClock, opts Options) *Rotator {
	GinkgoHelper()
	opts.CertDir = GinkgoT().TempDir()
	opts.ServiceName, opts.ServiceNamespace = "kubernaut-webhook-service", "kubernaut-system"
	opts.ValidatingWebhookConfigurations = []string{wc.validating}
	opts.MutatingWebhookConfigurations = []string{wc.mutating}
	opts.Client, opts.Clock = k8s, clk
	r, err := NewRotator(opts)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// caFile returns the CAs of the Rotator's ca.crt.
func caFile(r *Rotator) []*x509.Certificate {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(r.CertDir(), CAFile))
	Expect(err).NotTo(HaveOccurred())
	certs, err := pemcert.Parse(data)
	Expect(err).NotTo(HaveOccurred())
	return certs
}

// servingFile returns the Rotator's tls.crt.
func servingFile(r *Rotator) *x509.Certificate {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(r.CertDir(), CertFile))
	Expect(err).NotTo(HaveOccurred())
	certs, err := pemcert.Parse(data)
	Expect(err).NotTo(HaveOccurred())
	return certs[0]
}

var _ = Describe("The caBundle of our webhook configurations", func() {
	It("is set on every webhook, and restored on the next check after a wipe", func(ctx context.Context) {
		wc := createWebhookConfigs(ctx)
		clk := clocktesting.NewFakeClock(time.Now())
		r := clusterRotator(wc, clk, Options{Interval: time.Minute})
		run(r)

		ca, err := os.ReadFile(filepath.Join(r.CertDir(), CAFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(wc.caBundles(ctx)).To(HaveExactElements(ca, ca, ca, ca))

		wc.wipe(ctx)
		Expect(wc.caBundles(ctx)).To(HaveEach(BeEmpty()))
		clk.Step(time.Minute)
		Eventually(wc.caBundles).WithContext(ctx).Should(HaveExactElements(ca, ca, ca, ca))
	})

	It("trusts the old and the new CA during a rotation, before the new certificate is written", func(ctx context.Context) {
		wc := createWebhookConfigs(ctx)
		clk := clocktesting.NewFakeClock(time.Now())
		r := clusterRotator(wc, clk, Options{
			CAValidity: 3 * time.Hour, ServingValidity: 3 * time.Hour,
			Interval: time.Minute, PropagationDelay: 10 * time.Second,
		})
		run(r)
		oldCA, oldServing := caFile(r)[0], servingFile(r)
		Expect(wc.caSubjects(ctx)).To(HaveEach(HaveExactElements(oldCA.Subject.CommonName)))

		// At 2/3 of the CA's life, the next check makes a new CA and trusts it
		// beside the old one, then waits for the API servers to see it before
		// it writes a serving certificate signed by it.
		clk.SetTime(r.policy.renewalTime(oldCA))
		Eventually(wc.caSubjects).WithContext(ctx).Should(HaveEach(HaveLen(2)))
		Eventually(clk.Waiters).Should(Equal(2), "the Rotator waits (beside its ticker)")
		Expect(servingFile(r).Equal(oldServing)).To(BeTrue(), "the new certificate was written before the API servers could trust it")
		subjects, err := wc.caSubjects(ctx)
		Expect(err).NotTo(HaveOccurred())
		newCAName := subjects[0][0]
		Expect(subjects).To(HaveEach(HaveExactElements(newCAName, oldCA.Subject.CommonName)))

		clk.Step(10 * time.Second)
		Eventually(func() []string { return names(caFile(r)) }).Should(HaveExactElements(newCAName, oldCA.Subject.CommonName))
		Eventually(func() error { return servingFile(r).CheckSignatureFrom(caFile(r)[0]) }).Should(Succeed())
		Expect(servingFile(r).Equal(oldServing)).To(BeFalse())

		// The old CA stays trusted until the next rotation.
		clk.Step(time.Minute)
		Consistently(wc.caSubjects).WithContext(ctx).WithTimeout(300 * time.Millisecond).
			Should(HaveEach(HaveExactElements(newCAName, oldCA.Subject.CommonName)))
	})

	It("is shared by replicas, which keep each other's CA", func(ctx context.Context) {
		wc := createWebhookConfigs(ctx)
		clk := clocktesting.NewFakeClock(time.Now())
		r1, r2 := clusterRotator(wc, clk, Options{}), clusterRotator(wc, clk, Options{})
		Expect(r1.Ensure(ctx)).To(Succeed())
		Expect(r2.Ensure(ctx)).To(Succeed())
		ca1, ca2 := caFile(r1)[0].Subject.CommonName, caFile(r2)[0].Subject.CommonName
		Expect(wc.caSubjects(ctx)).To(HaveEach(ConsistOf(ca1, ca2)))

		// No replica rewrites a caBundle that trusts it already: they do not
		// take turns.
		var before admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(k8s.Get(ctx, client.ObjectKey{Name: wc.validating}, &before)).To(Succeed())
		Expect(r1.Ensure(ctx)).To(Succeed())
		Expect(r2.Ensure(ctx)).To(Succeed())
		var after admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(k8s.Get(ctx, client.ObjectKey{Name: wc.validating}, &after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	})

	It("is set on a configuration created after the Rotator started", func(ctx context.Context) {
		wc := newWebhookConfigs()
		r := clusterRotator(wc, clocktesting.NewFakeClock(time.Now()), Options{})
		Expect(r.Ensure(ctx)).To(Succeed(), "a missing configuration does not fail a check")
		Expect(r.ReadyCheck(nil)).To(Succeed())

		wc.create(ctx)
		Expect(r.Ensure(ctx)).To(Succeed())
		Expect(wc.caSubjects(ctx)).To(HaveEach(HaveExactElements(caFile(r)[0].Subject.CommonName)))
	})
})
