package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// The API server calls a controller-runtime webhook server that serves the
// Rotator's files, and verifies it against the caBundle the Rotator keeps. Each
// call is a new TLS connection, so every call checks the certificate served at
// that moment against the caBundle the API server holds at that moment.
var _ = Describe("A webhook server serving the Rotator's files", func() {
	It("admits every request of the API server through a CA rotation", func(ctx context.Context) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "certs-e2e-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		port := freePort()
		vwc := admittingWebhook(ctx, ns.Name, port)

		// The fake clock starts two hours behind, so that the certificates of
		// the rotation, made at its renewal time, are valid for the API server
		// (which reads the real clock).
		clk := clocktesting.NewFakeClock(time.Now().Add(-2 * time.Hour))
		r, err := NewRotator(Options{
			CertDir:  GinkgoT().TempDir(),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ValidatingWebhookConfigurations: []string{vwc.Name},
			CAValidity:                      3 * time.Hour, ServingValidity: 3 * time.Hour,
			Interval: time.Minute, PropagationDelay: 10 * time.Second,
			Clock: clk,
		})
		Expect(err).NotTo(HaveOccurred())

		// Wired as the manager will: the manager starts its webhook server
		// before the Rotator; the gate holds the server until the files exist.
		var calls atomic.Int64
		server := startManager(r, port, &calls)
		Eventually(r.Ready()).Should(BeClosed())
		Eventually(server.StartedChecker()).WithArguments((*http.Request)(nil)).Should(Succeed())
		Eventually(createConfigMap).WithContext(ctx).WithArguments(ns.Name).Should(Succeed(),
			"the API server does not reach the webhook")

		traffic := startLoad(ns.Name)
		Eventually(traffic.admitted.Load).Should(BeNumerically(">=", 5))

		// At its renewal time, the Rotator trusts a new CA beside the old one,
		// and waits. The API server picks the new caBundle up meanwhile.
		oldCA := caFile(r)[0]
		Expect(servedCertificate(port).CheckSignatureFrom(oldCA)).To(Succeed())
		clk.SetTime(r.policy.renewalTime(oldCA))
		Eventually(clk.Waiters).Should(Equal(2), "the Rotator waits (beside its ticker)")
		Consistently(traffic.errors).WithTimeout(time.Second).Should(BeEmpty())

		// Then it writes the new certificate, and the server loads it.
		clk.Step(10 * time.Second)
		Eventually(func() bool { return caFile(r)[0].Equal(oldCA) }).Should(BeFalse())
		newCA := caFile(r)[0]
		Eventually(func() error { return servedCertificate(port).CheckSignatureFrom(newCA) }).
			WithTimeout(15 * time.Second).Should(Succeed())
		admitted, called := traffic.admitted.Load(), calls.Load()
		Eventually(traffic.admitted.Load).Should(BeNumerically(">=", admitted+5))
		Eventually(calls.Load).Should(BeNumerically(">=", called+5), "the API server calls the webhook after the rotation")
		traffic.stop()
		Expect(traffic.errors()).To(BeEmpty(), "admissions failed during the rotation")

		// The control: without our CA in the caBundle, the API server refuses
		// the webhook's certificate. The next check puts it back.
		var wiped admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(vwc), &wiped)).To(Succeed())
		wiped.Webhooks[0].ClientConfig.CABundle = nil
		Expect(k8s.Update(ctx, &wiped)).To(Succeed())
		Eventually(createConfigMap).WithContext(ctx).WithArguments(ns.Name).
			Should(MatchError(ContainSubstring("x509")))
		clk.Step(time.Minute)
		Eventually(createConfigMap).WithContext(ctx).WithArguments(ns.Name).Should(Succeed())
	})
})

// admittingWebhook creates a ValidatingWebhookConfiguration that sends the
// creation of every ConfigMap in namespace to https://127.0.0.1:port/validate,
// and fails it when the call fails.
func admittingWebhook(ctx context.Context, namespace string, port int) *admissionregistrationv1.ValidatingWebhookConfiguration {
	GinkgoHelper()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("certs-e2e")},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "configmaps.certs-e2e.kubernaut.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(fmt.Sprintf("https://127.0.0.1:%d/validate", port))},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
	Expect(k8s.Create(ctx, vwc)).To(Succeed())
	DeferCleanup(func(ctx context.Context) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, vwc))).To(Succeed()) })
	return vwc
}

// startManager starts a manager with r and controller-runtime's webhook server
// on port, gated by r, with a webhook at /validate that allows everything and
// counts its calls. The server closes every connection after one request, so
// that the API server does a TLS handshake per call.
func startManager(r *Rotator, port int, calls *atomic.Int64) webhook.Server {
	GinkgoHelper()
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:  cluster.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: r.Gate(webhook.NewServer(webhook.Options{
			Host: "127.0.0.1", Port: port, CertDir: r.CertDir(),
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		})),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.SetupWithManager(mgr)).To(Succeed())
	hook := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		calls.Add(1)
		return admission.Allowed("")
	})}
	mgr.GetWebhookServer().Register("/validate", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Connection", "close")
		hook.ServeHTTP(w, req)
	}))

	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), GinkgoLogr))
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		<-done
	})
	return mgr.GetWebhookServer()
}

// freePort returns a TCP port nothing listens on.
func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// servedCertificate returns the certificate the server on port presents now.
func servedCertificate(port int) *x509.Certificate {
	GinkgoHelper()
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true})
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0]
}

// createConfigMap creates a ConfigMap in namespace, through the webhook.
func createConfigMap(ctx context.Context, namespace string) error {
	return k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "admitted-", Namespace: namespace}})
}

// loadGen creates ConfigMaps one after the other until stopped, and keeps the
// errors.
type loadGen struct {
	admitted atomic.Int64
	mu       sync.Mutex
	errs     []error
	cancel   context.CancelFunc
	done     chan struct{}
}

func startLoad(namespace string) *loadGen {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loadGen{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			err := createConfigMap(ctx, namespace)
			switch {
			case err == nil:
				l.admitted.Add(1)
			case ctx.Err() == nil:
				l.mu.Lock()
				l.errs = append(l.errs, err)
				l.mu.Unlock()
			}
		}
	}()
	DeferCleanup(l.stop)
	return l
}

// stop stops the load and waits for it; it can be called more than once.
func (l *loadGen) stop() {
	l.cancel()
	<-l.done
}

// errors returns the errors so far.
func (l *loadGen) errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}
