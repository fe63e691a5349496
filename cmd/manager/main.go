// Command manager runs the admission webhooks of WorkflowExecution and
// KubernetesExecution and the condition service behind them (policy engine, policy
// library watching its ConfigMaps, facts from the manager's cache) in one
// controller-runtime manager. The reconcilers join it in their own issue.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"kubernaut.io/stepvalidation/certs"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/internal/scheme"
	admissionwebhook "kubernaut.io/stepvalidation/webhook"
)

type options struct {
	metricsAddr     string
	probeAddr       string
	webhookPort     int
	certDir         string
	namespace       string
	leaderElect     bool
	evalDeadline    time.Duration
	preflightBudget time.Duration

	selfSignedCerts  bool
	webhookService   string
	validatingConfig string
	mutatingConfig   string
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.IntVar(&o.webhookPort, "webhook-port", 9443, "port the admission webhooks are served on")
	flag.StringVar(&o.certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"folder with the webhook serving certificate (tls.crt, tls.key), e.g. cert-manager's secret mounted")
	flag.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", library.DefaultNamespace),
		"namespace of the policy library ConfigMaps ("+library.ConditionsConfigMap+", "+library.SafetyConfigMap+")")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader among replicas (for the reconcilers; webhooks serve on every replica)")
	flag.DurationVar(&o.evalDeadline, "eval-deadline", conditions.DefaultEvalDeadline, "deadline of one evaluation of one policy")
	flag.DurationVar(&o.preflightBudget, "preflight-budget", admissionwebhook.DefaultPreflightBudget,
		"time a dry-run request may spend evaluating preconditions")
	flag.BoolVar(&o.selfSignedCerts, "self-signed-certs", false,
		"generate and rotate the webhook serving certificate into --webhook-cert-dir and keep the caBundle of the webhook configurations current, instead of reading a certificate cert-manager provides")
	flag.StringVar(&o.webhookService, "webhook-service", "kubernaut-webhook-service", "Service in front of the webhooks, named in the serving certificate (--self-signed-certs)")
	flag.StringVar(&o.validatingConfig, "validating-webhook-configuration", "kubernaut-validating-webhook-configuration",
		"ValidatingWebhookConfiguration whose caBundle is kept current (--self-signed-certs)")
	flag.StringVar(&o.mutatingConfig, "mutating-webhook-configuration", "kubernaut-mutating-webhook-configuration",
		"MutatingWebhookConfiguration whose caBundle is kept current (--self-signed-certs)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	webhookServer := webhook.NewServer(webhook.Options{Port: o.webhookPort, CertDir: o.certDir})
	var rotator *certs.Rotator
	if o.selfSignedCerts {
		var err error
		rotator, err = certs.NewRotator(certs.Options{
			CertDir:                         o.certDir,
			ServiceName:                     o.webhookService,
			ServiceNamespace:                o.namespace,
			ValidatingWebhookConfigurations: []string{o.validatingConfig},
			MutatingWebhookConfigurations:   []string{o.mutatingConfig},
		})
		if err != nil {
			return fmt.Errorf("webhook certificates: %w", err)
		}
		// The server waits for the first certificate the rotator writes.
		webhookServer = rotator.Gate(webhookServer)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "kubernaut-manager.kubernaut.io",
		WebhookServer:          webhookServer,
		// The library reads only its own ConfigMaps; image pull secrets are read
		// one at a time, uncached, so the manager holds no Secret in memory.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Namespaces: map[string]cache.Config{o.namespace: {}}},
		}},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	if rotator != nil {
		if err := rotator.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("webhook certificates: %w", err)
		}
	}
	engine := conditions.NewEngine(conditions.Options{EvalDeadline: o.evalDeadline})
	lib, err := library.New(ctx, engine)
	if err != nil {
		return err
	}
	if err := (&library.Watcher{Library: lib, Namespace: o.namespace}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("watching the policy library: %w", err)
	}
	hooks := &admissionwebhook.Webhooks{
		Conditions:      &check.Service{Engine: engine, Library: lib, Reader: mgr.GetClient()},
		Client:          mgr.GetClient(),
		PreflightBudget: o.preflightBudget,
	}
	if err := hooks.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhooks", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return err
	}
	ctrl.Log.Info("starting the manager", "namespace", o.namespace, "webhookPort", o.webhookPort)
	return mgr.Start(ctx)
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
