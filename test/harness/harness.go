// Package harness starts a real Kubernetes control plane for the project's test
// suites: envtest's etcd and kube-apiserver with our CRDs installed and, in cluster
// mode, kube-controller-manager, kube-scheduler and kwok with fake nodes, so that
// Deployments really scale and pods really turn Ready.
//
// The binaries come from bin/, built by `make tools`. Every process the harness
// starts is stopped by Stop, and is killed by the kernel if the test binary dies
// without calling it (a go test timeout, a kill -9), so no etcd or apiserver is
// left behind.
package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"kubernaut.io/stepvalidation/certs/clientauth"
	"kubernaut.io/stepvalidation/internal/metricsapi"
	"kubernaut.io/stepvalidation/internal/repo"
	"kubernaut.io/stepvalidation/internal/scheme"
	"kubernaut.io/stepvalidation/test/promtest"
)

// Options says what to start.
type Options struct {
	// Nodes, when not empty, turns on cluster mode: kube-controller-manager,
	// kube-scheduler and kwok run beside the API server, and these nodes are
	// created and become Ready before Start returns.
	Nodes []Node

	// MetricsAPI runs metrics-server in cluster mode, so that the Metrics API
	// (metrics.k8s.io, kubectl top) serves the CPU and memory kwok simulates for
	// the pods (annotations kwok.x-k8s.io/usage-cpu and -memory; see
	// internal/metricsapi).
	MetricsAPI bool

	// Chaos adds kwok's failure stages, which make containers of pods that opt in
	// fail (CrashLoopBackOff). Cluster mode only.
	Chaos bool

	// Webhooks installs our webhook configurations (config/webhook), pointed at a
	// local port with a certificate of envtest's: serve them with WebhookServer,
	// or run the manager with the flags WebhookServing and WebhookClientCA give.
	// kube-apiserver then presents a client certificate (CommonName
	// WebhookClientCN) to every webhook it calls, so the suites run with the
	// webhooks' client authentication on, as security invariant 9 asks.
	Webhooks bool
	// WebhookPort, when not zero, is the port the webhook configurations name
	// (Options.Webhooks): a manager run with a fixed --webhook-port, as the
	// install's Deployment does. Zero picks a free one.
	WebhookPort int

	// Prometheus, when not nil, runs a real Prometheus (bin/prometheus) and a
	// promtest.Exporter beside the control plane, the exporter added to its
	// Targets: see PrometheusFlags, Prometheus and Exporter.
	Prometheus *promtest.Options
}

// WebhookClientCN is the CommonName of the client certificate kube-apiserver
// presents to webhooks (Options.Webhooks): the manager's --webhook-client-cn.
const WebhookClientCN = clientauth.APIServerCommonName

// ValidatingWebhookConfiguration is the name the harness installs
// config/webhook's validating webhooks under (Options.Webhooks): the manager's
// --validating-webhook-configuration.
const ValidatingWebhookConfiguration = "validating-webhook-configuration"

// Harness is a running control plane.
type Harness struct {
	// Config reaches the API server as an admin.
	Config *rest.Config
	// Client is a controller-runtime client with Scheme.
	Client client.Client
	// Scheme knows the built-in kinds and both of our API groups.
	Scheme *runtime.Scheme
	// KubeconfigPath is an admin kubeconfig file, for kubectl and the cluster
	// components.
	KubeconfigPath string

	env        *envtest.Environment
	dir        string
	components []*component
	processes  []*Process

	// webhookClientCA and webhookClientAuth: see WebhookClientCA and
	// WebhookServer.
	webhookClientCA   string
	webhookClientAuth func(*tls.Config)

	// prometheus and exporter: see Options.Prometheus.
	prometheus *promtest.Prometheus
	exporter   *promtest.Exporter

	// metricsAPI is set when Options.MetricsAPI asks for metrics-server.
	metricsAPI *metricsapi.Files
}

// StartForTest starts the control plane described by opts for one test, which
// fails if it cannot start, and stops it when the test ends.
func StartForTest(t testing.TB, opts Options) *Harness {
	t.Helper()
	h, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return h
}

// Start starts the control plane described by opts. On error, everything already
// started has been stopped again.
func Start(ctx context.Context, opts Options) (_ *Harness, err error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "stepvalidation-harness-")
	if err != nil {
		return nil, fmt.Errorf("creating the harness folder: %w", err)
	}
	h := &Harness{dir: dir, Scheme: NewScheme()}
	defer func() {
		if err != nil {
			err = errors.Join(err, h.Stop())
		}
	}()

	etcd, err := dieWithParent(dir, filepath.Join(bin, "etcd"))
	if err != nil {
		return nil, err
	}
	apiserver, err := dieWithParent(dir, filepath.Join(bin, "kube-apiserver"))
	if err != nil {
		return nil, err
	}
	// A folder of our own for the API server's certificates, so that
	// RestartAPIServer keeps them (envtest regenerates a folder it made itself).
	certDir := filepath.Join(dir, "apiserver-certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the API server's folder: %w", err)
	}
	h.env = &envtest.Environment{
		BinaryAssetsDirectory: bin,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{Path: etcd},
			APIServer: &envtest.APIServer{Path: apiserver, CertDir: certDir},
		},
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                h.Scheme,
	}
	// Without it, a graceful stop waits for open watches up to the request
	// timeout (60 s); with it, the API server ends them, as kubelets' and
	// controllers' watches are ended when a real one restarts.
	h.env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "2s")
	if opts.Webhooks {
		h.env.WebhookInstallOptions.Paths = []string{filepath.Join(root, "config", "webhook")}
		if opts.WebhookPort != 0 {
			h.env.WebhookInstallOptions.LocalServingHost = "127.0.0.1"
			h.env.WebhookInstallOptions.LocalServingPort = opts.WebhookPort
		}
		if err := h.presentWebhookClientCertificate(); err != nil {
			return nil, err
		}
	}
	if opts.MetricsAPI && len(opts.Nodes) > 0 {
		if err := h.prepareMetricsAPI(); err != nil {
			return nil, err
		}
	}
	if h.Config, err = h.env.Start(); err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	if h.Client, err = client.New(h.Config, client.Options{Scheme: h.Scheme}); err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	if h.KubeconfigPath, err = h.writeAdminKubeconfig(); err != nil {
		return nil, err
	}

	if len(opts.Nodes) > 0 {
		if err := h.startCluster(ctx, bin, opts); err != nil {
			return nil, err
		}
	}
	if opts.Prometheus != nil {
		if err := h.startPrometheus(ctx, bin, *opts.Prometheus); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Stop stops every process Start started and removes the harness folder. It is
// safe to call more than once.
func (h *Harness) Stop() error {
	var errs []error
	for _, p := range h.processes {
		p.Kill()
	}
	h.processes = nil
	errs = append(errs, h.stopPrometheus())
	for i := len(h.components) - 1; i >= 0; i-- {
		errs = append(errs, h.components[i].Stop())
	}
	h.components = nil
	if h.env != nil {
		if err := h.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping etcd and kube-apiserver: %w", err))
		}
		h.env = nil
	}
	if h.dir != "" {
		errs = append(errs, os.RemoveAll(h.dir))
		h.dir = ""
	}
	return errors.Join(errs...)
}

// RestartAPIServer stops kube-apiserver gracefully, leaves it down for down, and
// starts it again, as a control plane upgrade does. etcd
// keeps running, and the API server comes back on the same address with the same
// serving certificate and client CA, so every client (the cluster components, the
// manager, Client) reconnects on its own.
func (h *Harness) RestartAPIServer(down time.Duration) error {
	apiserver := h.env.ControlPlane.APIServer
	if err := apiserver.Stop(); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	time.Sleep(down)
	if err := apiserver.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// WebhookServing returns where the installed webhook configurations expect the
// webhooks (Options.Webhooks): the port on 127.0.0.1 and the certificate's folder.
func (h *Harness) WebhookServing() (port int, certDir string) {
	o := h.env.WebhookInstallOptions
	return o.LocalServingPort, o.LocalServingCertDir
}

// WebhookClientCA returns the PEM file of the CA that signed the client
// certificate kube-apiserver presents to webhooks (Options.Webhooks): the
// manager's --webhook-client-ca, beside --webhook-client-cn=WebhookClientCN.
func (h *Harness) WebhookClientCA() string { return h.webhookClientCA }

// WebhookServer returns a webhook server on the address and with the certificate
// the installed webhook configurations expect (Options.Webhooks). Like the
// manager run with --webhook-client-ca and --webhook-client-cn, it serves only
// clients with the API server's client certificate.
func (h *Harness) WebhookServer() webhook.Server {
	o := h.env.WebhookInstallOptions
	opts := webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir}
	if h.webhookClientAuth == nil {
		return webhook.NewServer(opts)
	}
	opts.TLSOpts = []func(*tls.Config){h.webhookClientAuth}
	return clientauth.QuietReadiness(webhook.NewServer(opts))
}

// presentWebhookClientCertificate makes a client CA and certificate and has
// kube-apiserver, not started yet, present the certificate to every webhook
// (an AdmissionConfiguration for the webhook admission plugins).
func (h *Harness) presentWebhookClientCertificate() error {
	files, err := clientauth.WriteAPIServerFiles(filepath.Join(h.dir, "webhook-client"), WebhookClientCN, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("making the API server's webhook client certificate: %w", err)
	}
	if h.webhookClientAuth, err = clientauth.TLSOption(files.CA, []string{WebhookClientCN}); err != nil {
		return err
	}
	h.webhookClientCA = files.CA
	h.env.ControlPlane.APIServer.Configure().Set(clientauth.AdmissionConfigFlag, files.AdmissionConfig)
	return nil
}

// NewScheme returns a scheme with the built-in kinds and both of our API groups.
func NewScheme() *runtime.Scheme { return scheme.New() }

func (h *Harness) writeAdminKubeconfig() (string, error) {
	admin, err := h.env.ControlPlane.AddUser(envtest.User{Name: "harness-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("adding an admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	path := filepath.Join(h.dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return "", fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	return path, nil
}

// BinDir is the folder of the tools `make tools` builds: $KUBEBUILDER_ASSETS when
// set (make test sets it), else bin/ at the top of the repository.
func BinDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}
