package harness_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// TestWebhooksAreCalledWithTheAPIServersCertificate checks what every suite with
// Options.Webhooks relies on: kube-apiserver presents the client certificate
// WebhookClientCN to our webhooks, and WebhookServer serves nobody else.
func TestWebhooksAreCalledWithTheAPIServersCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := harness.Start(ctx, harness.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Stop() }()
	if h.WebhookClientCA() == "" {
		t.Fatal("no webhook client CA with Options.Webhooks")
	}

	// Every webhook path the installed configurations call allows everything,
	// and records the CommonName of the client certificate it was called with.
	var mu sync.Mutex
	calledBy := map[string]bool{}
	server := h.WebhookServer()
	var paths []string
	var mutating admissionregistrationv1.MutatingWebhookConfigurationList
	var validating admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := h.Client.List(ctx, &mutating); err != nil {
		t.Fatal(err)
	}
	if err := h.Client.List(ctx, &validating); err != nil {
		t.Fatal(err)
	}
	for _, c := range mutating.Items {
		for _, w := range c.Webhooks {
			paths = append(paths, webhookPath(t, w.ClientConfig))
		}
	}
	for _, c := range validating.Items {
		for _, w := range c.Webhooks {
			paths = append(paths, webhookPath(t, w.ClientConfig))
		}
	}
	if len(paths) == 0 {
		t.Fatal("no webhook configurations installed")
	}
	allow := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	for _, p := range paths {
		server.Register(p, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
				mu.Lock()
				calledBy[req.TLS.PeerCertificates[0].Subject.CommonName] = true
				mu.Unlock()
			}
			allow.ServeHTTP(w, req)
		}))
	}
	serverCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Start(serverCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	}()
	check := server.StartedChecker()
	for check(nil) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("the webhook server did not start")
		case <-time.After(50 * time.Millisecond):
		}
	}

	// The API server gets through (failurePolicy Fail: a refused call would fail
	// the create).
	wfe := &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "client-auth-", Namespace: "default"},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
			Steps: []workflowv1alpha1.WorkflowStep{{StepNumber: 1, Action: "scale_deployment", Parameters: &runtime.RawExtension{
				Raw: []byte(`{"deployment":{"name":"web","namespace":"default","replicas":2}}`)}}},
		}},
	}
	if err := h.Client.Create(ctx, wfe, client.DryRunAll); err != nil {
		t.Fatalf("create through the webhooks: %v", err)
	}
	mu.Lock()
	if len(calledBy) != 1 || !calledBy[harness.WebhookClientCN] {
		t.Errorf("webhooks called with client certificates %v, want only %s", calledBy, harness.WebhookClientCN)
	}
	mu.Unlock()

	// Anyone else does not, even trusting the serving certificate.
	port, _ := h.WebhookServing()
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		// TLS 1.3: the server's refusal arrives with the first read.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = fmt.Fprint(conn, "POST "+paths[0]+" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		_ = conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("a client without a certificate: %v, want refused with \"certificate required\"", err)
	}
}

// webhookPath is the path of the URL envtest points a webhook at, as the
// server registers it.
func webhookPath(t *testing.T, cc admissionregistrationv1.WebhookClientConfig) string {
	t.Helper()
	if cc.URL == nil {
		t.Fatalf("webhook client config without URL: %+v", cc)
	}
	u, err := url.Parse(*cc.URL)
	if err != nil || u.Path == "" {
		t.Fatalf("webhook URL %s has no path: %v", *cc.URL, err)
	}
	// envtest writes "https://host:port/" + path, with the path's own slash.
	return path.Clean(u.Path)
}
