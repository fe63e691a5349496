package clientauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"kubernaut.io/stepvalidation/certs"
	"kubernaut.io/stepvalidation/certs/ca"
)

// server is controller-runtime's webhook server, as the manager builds it, on a
// loopback port with a serving certificate of its own CA.
type server struct {
	url     string
	roots   *x509.CertPool
	started func(*http.Request) error
}

// startServer serves /validate (200, "ok") with client authentication by the
// CAs of caFile and the CommonNames allowed.
func startServer(t *testing.T, caFile string, allowed []string) server {
	t.Helper()
	now := time.Now()
	servingCA, err := certs.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := servingCA.Issue(certs.Names{IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	for name, data := range map[string][]byte{certs.CertFile: serving.CertPEM, certs.KeyFile: serving.KeyPEM} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	option, err := TLSOption(caFile, allowed)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir, TLSOpts: []func(*tls.Config){option}})
	srv.Register("/validate", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(servingCA.Cert)
	s := server{url: fmt.Sprintf("https://127.0.0.1:%d/validate", port), roots: roots, started: srv.StartedChecker()}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.started(nil)
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call posts to the server with client certificate cert (none when nil), on a
// new connection.
func (s server) call(cert *ca.KeyPair) error {
	cfg := &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			return err
		}
		// Present it whatever CAs the server asks for, as an impostor would (a Go
		// client by default sends no certificate the server's CAs did not sign).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	res, err := c.Post(s.url, "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "ok" {
		return fmt.Errorf("%s: %s", res.Status, body)
	}
	return nil
}

// writeCA writes the PEM certificates of cas into a file and returns its path.
func writeCA(t *testing.T, cas ...*ca.KeyPair) string {
	t.Helper()
	var data []byte
	for _, signer := range cas {
		data = append(data, signer.CertPEM...)
	}
	path := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustCA(t *testing.T) *ca.KeyPair {
	t.Helper()
	signer, err := ca.New(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func mustIssue(t *testing.T, signer *ca.KeyPair, cn string) *ca.KeyPair {
	t.Helper()
	c, err := signer.IssueClient(cn, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWebhookServerRequiresTheAPIServersCertificate runs controller-runtime's
// webhook server on loopback with the option the manager builds from
// --webhook-client-ca and --webhook-client-cn, and calls it as the API server
// and as impostors.
func TestWebhookServerRequiresTheAPIServersCertificate(t *testing.T) {
	trusted := mustCA(t)
	other := mustCA(t)
	apiserver := mustIssue(t, trusted, APIServerCommonName)
	// Signed by the trusted CA, but for serving, not client authentication.
	servingOnly, err := trusted.Issue(ca.Names{DNSNames: []string{APIServerCommonName}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The CA file may hold more than one CA (a rotation): both are trusted.
	next := mustCA(t)
	caFile := writeCA(t, trusted, next)

	t.Run("CommonNames allowed", func(t *testing.T) {
		s := startServer(t, caFile, []string{"front-proxy", APIServerCommonName})
		for _, tc := range []struct {
			name    string
			cert    *ca.KeyPair
			wantErr string
		}{
			{"no certificate", nil, "certificate required"},
			{"a certificate of another CA", mustIssue(t, other, APIServerCommonName), "unknown certificate authority"},
			{"a CommonName not allowed", mustIssue(t, trusted, "system:anonymous"), "bad certificate"},
			{"a serving certificate of the trusted CA", servingOnly, "bad certificate"},
			{"the API server's certificate", apiserver, ""},
			{"another allowed CommonName, signed by the second CA", mustIssue(t, next, "front-proxy"), ""},
		} {
			err := s.call(tc.cert)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%s: refused: %v", tc.name, err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("%s: served, want refused", tc.name)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("%s: refused with %q, want an error with %q", tc.name, err, tc.wantErr)
			}
		}
		// The manager's readiness check dials the server without a certificate;
		// with TLS 1.3 its side of the handshake completes, so it stays ready.
		if err := s.started(nil); err != nil {
			t.Errorf("StartedChecker with client authentication on: %v", err)
		}
	})

	t.Run("any CommonName", func(t *testing.T) {
		s := startServer(t, caFile, nil)
		if err := s.call(mustIssue(t, trusted, "anyone-the-ca-signed")); err != nil {
			t.Errorf("a certificate of the trusted CA with any CommonName: refused: %v", err)
		}
		if err := s.call(nil); err == nil {
			t.Error("no certificate: served, want refused")
		}
		if err := s.call(mustIssue(t, other, APIServerCommonName)); err == nil {
			t.Error("a certificate of another CA: served, want refused")
		}
	})
}

// TestWriteAPIServerFiles checks that the files the harness and the local
// cluster give kube-apiserver present a certificate the manager's option
// accepts.
func TestWriteAPIServerFiles(t *testing.T) {
	files, err := WriteAPIServerFiles(filepath.Join(t.TempDir(), "client-auth"), APIServerCommonName, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admission, err := os.ReadFile(files.AdmissionConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: AdmissionConfiguration", "name: ValidatingAdmissionWebhook", "name: MutatingAdmissionWebhook",
		"kind: WebhookAdmissionConfiguration", strconv.Quote(files.Kubeconfig)} {
		if !strings.Contains(string(admission), want) {
			t.Errorf("the admission configuration lacks %q:\n%s", want, admission)
		}
	}
	kubeconfig, err := clientcmd.LoadFromFile(files.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	user := kubeconfig.AuthInfos["*"]
	if user == nil {
		t.Fatalf("the kubeconfig has no user \"*\": %v", kubeconfig.AuthInfos)
	}
	client := &ca.KeyPair{CertPEM: user.ClientCertificateData, KeyPEM: user.ClientKeyData}
	s := startServer(t, files.CA, []string{APIServerCommonName})
	if err := s.call(client); err != nil {
		t.Errorf("the kubeconfig's certificate is refused: %v", err)
	}
	if info, err := os.Stat(files.Kubeconfig); err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("the kubeconfig, with a private key, is readable by others: %v %v", info.Mode(), err)
	}
}

func TestTLSOptionErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no file", "", "no client CA file"},
		{"missing", filepath.Join(dir, "missing.crt"), "no such file"},
		{"empty", write("empty.crt", ""), "no PEM certificate"},
		{"a key only", write("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "no PEM certificate"},
		{"a broken certificate", write("broken.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "PEM block 0"},
	} {
		_, err := TLSOption(tc.file, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
}

func TestParseCommonNames(t *testing.T) {
	for in, want := range map[string][]string{
		"":        nil,
		" , ":     nil,
		"a":       {"a"},
		" a, b ,": {"a", "b"},
		"kube-apiserver-webhook-client,system:kube-apiserver": {"kube-apiserver-webhook-client", "system:kube-apiserver"},
	} {
		if got := ParseCommonNames(in); !slices.Equal(got, want) {
			t.Errorf("ParseCommonNames(%q) = %q, want %q", in, got, want)
		}
	}
}

// countingServer is a webhook server whose readiness check counts its calls and
// fails until ready.
type countingServer struct {
	webhook.Server
	calls int
	ready bool
}

func (s *countingServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.calls++
		if !s.ready {
			return errors.New("not started")
		}
		return nil
	}
}

func TestQuietReadinessDialsUntilTheServerAnswered(t *testing.T) {
	inner := &countingServer{}
	check := QuietReadiness(inner).StartedChecker()
	if err := check(nil); err == nil {
		t.Fatal("ready before the server answered")
	}
	inner.ready = true
	for range 3 {
		if err := check(nil); err != nil {
			t.Fatal(err)
		}
	}
	if inner.calls != 2 {
		t.Errorf("the server was dialed %d times, want 2 (until it answered)", inner.calls)
	}
}
