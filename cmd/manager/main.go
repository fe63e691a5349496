// Command manager runs the admission webhooks of WorkflowExecution and
// KubernetesExecution and the condition service behind them (policy engine, policy
// library watching its ConfigMaps, facts from the manager's cache) in one
// controller-runtime manager, beside the WorkflowExecution and KubernetesExecution
// reconcilers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/certs"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/conditions/promquery"
	"kubernaut.io/stepvalidation/internal/metricsauth"
	"kubernaut.io/stepvalidation/internal/scheme"
	"kubernaut.io/stepvalidation/reconcilers/execution"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/retention"
	"kubernaut.io/stepvalidation/reconcilers/wake"
	"kubernaut.io/stepvalidation/reconcilers/workflow"
	admissionwebhook "kubernaut.io/stepvalidation/webhook"
)

// version is the manager's version, set by the release build
// (-ldflags "-X main.version=v0.1.0"); logged at start and printed by --version.
var version = "dev"

type options struct {
	metricsAddr     string
	probeAddr       string
	webhookPort     int
	certDir         string
	namespace       string
	leaderElect     bool
	leaseDuration   time.Duration
	renewDeadline   time.Duration
	retryPeriod     time.Duration
	evalDeadline    time.Duration
	evalMemoryMiB   int
	evalConcurrency int
	runsPerNS       int
	preflightBudget time.Duration
	finishedRunTTL  time.Duration

	metricsSecure     bool
	pprofAddr         string
	validationMode    string
	canaryPercent     int
	replicaCeiling    int
	protectedNS       string
	concurrency       int
	managerUser       string
	authzCacheTTL     time.Duration
	allowSelfApproval bool

	selfSignedCerts  bool
	webhookService   string
	validatingConfig string
	mutatingConfig   string

	webhookClientCA string
	webhookClientCN string

	prometheus         promquery.Config
	throttlingFromProm bool
	throttling         facts.Throttling
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"serve metrics over HTTPS, to callers the API server authenticates and authorizes (get on nonResourceURL /metrics); false serves plain HTTP")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "address of the Go pprof endpoints (/debug/pprof), for profiling; empty turns them off")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.IntVar(&o.webhookPort, "webhook-port", 9443, "port the admission webhooks are served on")
	flag.StringVar(&o.certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"folder with the webhook serving certificate (tls.crt, tls.key), e.g. cert-manager's secret mounted")
	flag.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", library.DefaultNamespace),
		"namespace of the policy library ConfigMaps ("+library.ConditionsConfigMap+", "+library.SafetyConfigMap+")")
	flag.BoolVar(&o.leaderElect, "leader-elect", true, "elect a leader among replicas (for the reconcilers; webhooks serve on every replica)")
	flag.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second,
		"how long a replica waits, after the leader last renewed the lease, before it may take the lead (--leader-elect)")
	flag.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"how long the leader keeps trying to renew the lease before it gives up the lead and exits; less than the lease duration (--leader-elect)")
	flag.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second,
		"how often replicas try to take or renew the lease (--leader-elect)")
	flag.StringVar(&o.validationMode, "validation-mode", string(mode.Enforce),
		"enforce: required conditions block; warn: every condition only warns; off: conditions are not evaluated. The namespace label "+mode.NamespaceLabel+" overrides it")
	flag.IntVar(&o.canaryPercent, "validation-canary-percent", 100,
		"share of runs, by UID hash, that --validation-mode applies to; the others run with validation off")
	flag.IntVar(&o.replicaCeiling, "replica-ceiling", facts.DefaultReplicaCeiling, "most replicas an action may set (the replica_ceiling safety policy)")
	flag.StringVar(&o.protectedNS, "protected-namespaces", "",
		"comma-separated namespaces no action may change (the protected_namespaces safety policy), beside kube-system, kube-public, kube-node-lease and the manager's")
	flag.IntVar(&o.concurrency, "concurrency", 8, "workflows and executions each reconciled at once")
	flag.IntVar(&o.runsPerNS, "max-runs-per-namespace", execution.DefaultMaxRunsPerNamespace,
		"executions of one namespace that validate, act or verify at once; more wait unstarted with reason Queued (-1: no limit)")
	flag.DurationVar(&o.finishedRunTTL, "finished-run-ttl", 0,
		"how long a finished run is kept before the manager deletes it (a workflow with its executions), e.g. 168h; 0 keeps runs for good")
	flag.DurationVar(&o.authzCacheTTL, "authorization-cache-ttl", authority.MaxAllowedFor,
		"how long a requester's allowed SubjectAccessReview is reused (at most 1m; a denial never is): a revoked permission stops pending runs within this")
	flag.StringVar(&o.managerUser, "manager-username", "",
		"the user name the manager authenticates as, the only one the webhooks let write status and create executions for another requester; empty asks the API server (SelfSubjectReview)")
	flag.BoolVar(&o.allowSelfApproval, "allow-self-approval", false,
		"let a run's requester approve it; off by default, so that an approval is a second person's decision")
	flag.DurationVar(&o.evalDeadline, "eval-deadline", conditions.DefaultEvalDeadline, "deadline of one evaluation of one policy")
	flag.IntVar(&o.evalMemoryMiB, "eval-memory-mib", conditions.DefaultMaxEvalMemory>>20,
		"MiB one policy evaluation may raise the manager's memory by; past it the evaluation ends with reason ResourceLimit")
	flag.IntVar(&o.evalConcurrency, "eval-concurrency", conditions.DefaultMaxConcurrentEvals,
		"policy evaluations in flight at once; with --eval-memory-mib it bounds what hostile policies can take together")
	flag.DurationVar(&o.preflightBudget, "preflight-budget", admissionwebhook.DefaultPreflightBudget,
		"time a dry-run request may spend evaluating preconditions")
	flag.BoolVar(&o.selfSignedCerts, "self-signed-certs", false,
		"generate and rotate the webhook serving certificate into --webhook-cert-dir and keep the caBundle of the webhook configurations current, instead of reading a certificate cert-manager provides")
	flag.StringVar(&o.webhookService, "webhook-service", "kubernaut-webhook-service", "Service in front of the webhooks, named in the serving certificate (--self-signed-certs)")
	flag.StringVar(&o.validatingConfig, "validating-webhook-configuration", "kubernaut-validating-webhook-configuration",
		"ValidatingWebhookConfiguration whose caBundle is kept current (--self-signed-certs), and whose status webhook the manager's own status writes skip")
	flag.StringVar(&o.mutatingConfig, "mutating-webhook-configuration", "kubernaut-mutating-webhook-configuration",
		"MutatingWebhookConfiguration whose caBundle is kept current (--self-signed-certs)")
	flag.StringVar(&o.webhookClientCA, "webhook-client-ca", "",
		"PEM file of the CA(s) that sign the API server's client certificate for webhooks (its AdmissionConfiguration's kubeConfigFile); the webhooks then serve only clients with a certificate it signed. Empty: no client authentication")
	flag.StringVar(&o.webhookClientCN, "webhook-client-cn", "",
		"comma-separated CommonNames the webhooks' client certificate may have (with --webhook-client-ca); empty: any certificate the CA signed")
	var showVersion bool
	flag.StringVar(&o.prometheus.URL, "prometheus-url", "",
		"Prometheus that conditions' metrics queries run against, e.g. http://prometheus.monitoring:9090; empty refuses conditions with metrics")
	flag.StringVar(&o.prometheus.CAFile, "prometheus-ca-file", "", "PEM CA bundle that signs the Prometheus server's certificate (https); empty: the system's")
	flag.StringVar(&o.prometheus.BearerTokenFile, "prometheus-bearer-token-file", "",
		"file holding a bearer token sent to Prometheus, read at each query so a rotated token is used")
	flag.DurationVar(&o.prometheus.Timeout, "prometheus-timeout", promquery.DefaultTimeout,
		"how long one query may take; a slower Prometheus makes the condition inconclusive")
	flag.BoolVar(&o.throttlingFromProm, "throttling-from-prometheus", false,
		"read pods' CPU throttling from cAdvisor's CFS counters in the --prometheus-url Prometheus (container_cpu_cfs_throttled_periods_total); "+
			"without it, no pod's throttling is known and the catalog suggests resource_usage_acceptable as optional")
	flag.DurationVar(&o.throttling.Window, "throttling-window", facts.DefaultThrottlingWindow, "rate window of the throttling query")
	flag.Float64Var(&o.throttling.Threshold, "throttling-threshold", facts.DefaultThrottlingThreshold,
		"share of a container's CFS periods throttled over the window above which its pod counts as throttled")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println("kubernaut manager", version)
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	validationMode, err := mode.Parse(o.validationMode)
	if err != nil {
		return fmt.Errorf("--validation-mode: %w", err)
	}
	if o.finishedRunTTL < 0 {
		return fmt.Errorf("--finished-run-ttl: %s is negative (0 keeps finished runs)", o.finishedRunTTL)
	}
	if o.canaryPercent < 0 || o.canaryPercent > 100 {
		return fmt.Errorf("--validation-canary-percent: %d is not between 0 and 100", o.canaryPercent)
	}
	// Zero leaves the engine's defaults (as options built in Go, not from flags, do).
	if o.evalMemoryMiB < 0 || (o.evalMemoryMiB > 0 && o.evalMemoryMiB < 8) || o.evalConcurrency < 0 {
		return fmt.Errorf("--eval-memory-mib must be at least 8 (is %d) and --eval-concurrency at least 1 (is %d)", o.evalMemoryMiB, o.evalConcurrency)
	}
	if o.leaderElect && (o.retryPeriod <= 0 || o.renewDeadline <= o.retryPeriod || o.leaseDuration <= o.renewDeadline) {
		return fmt.Errorf("leader election needs 0 < --leader-election-retry-period (%s) < --leader-election-renew-deadline (%s) < --leader-election-lease-duration (%s)",
			o.retryPeriod, o.renewDeadline, o.leaseDuration)
	}
	if o.authzCacheTTL < 0 || o.authzCacheTTL > authority.MaxAllowedFor {
		return fmt.Errorf("--authorization-cache-ttl: %s is not between 0 and %s", o.authzCacheTTL, authority.MaxAllowedFor)
	}
	if err := o.throttling.Validate(); err != nil {
		return fmt.Errorf("--throttling-window, --throttling-threshold: %w", err)
	}
	if o.throttlingFromProm && o.prometheus.URL == "" {
		return fmt.Errorf("--throttling-from-prometheus needs --prometheus-url")
	}
	protected, err := namespaceList(o.protectedNS)
	if err != nil {
		return fmt.Errorf("--protected-namespaces: %w", err)
	}
	var webhookServer webhook.Server
	if webhookServer, err = newWebhookServer(o); err != nil {
		return err
	}
	var rotator *certs.Rotator
	if o.selfSignedCerts {
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
	// Read one at a time around the cache: see Cache below. The Metrics API's
	// PodMetrics have no watch, so no informer could hold them: always read from
	// the API server (its aggregator, metrics-server), and they wake nothing.
	uncached := []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &metricsv1beta1.PodMetrics{}}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "kubernaut-manager.kubernaut.io",
		LeaderElectionNamespace: o.namespace,
		LeaseDuration:           &o.leaseDuration,
		RenewDeadline:           &o.renewDeadline,
		RetryPeriod:             &o.retryPeriod,
		WebhookServer:           webhookServer,
		// The cache holds only the library's own ConfigMaps (the library watches
		// them); the client reads other ConfigMaps (update_configmap's target) and
		// image pull secrets one at a time, uncached, so the manager holds neither
		// the cluster's ConfigMaps nor any Secret in memory.
		Cache: cache.Options{DefaultTransform: leanCache(), ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Namespaces: map[string]cache.Config{o.namespace: {}}},
		}},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: uncached}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	if rotator != nil {
		if err := rotator.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("webhook certificates: %w", err)
		}
	}
	engine := conditions.NewEngine(conditions.Options{
		EvalDeadline: o.evalDeadline, MaxEvalMemory: uint64(o.evalMemoryMiB) << 20, MaxConcurrentEvals: o.evalConcurrency,
	})
	lib, err := library.New(ctx, engine)
	if err != nil {
		return err
	}
	if err := (&library.Watcher{Library: lib, Namespace: o.namespace}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("watching the policy library: %w", err)
	}
	managerUser, err := managerUsername(ctx, mgr, o.managerUser)
	if err != nil {
		return err
	}
	reviewer, err := authority.NewReviewer(mgr.GetConfig(), o.authzCacheTTL)
	if err != nil {
		return err
	}
	service := &check.Service{Engine: engine, Library: lib, Reader: mgr.GetClient(), Authority: reviewer,
		Objects: &objects.Reader{Client: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Reviewer: reviewer},
		Facts:   facts.Gatherer{MetricsAPI: &catalog.MetricsAPIMemo{}}}
	if o.prometheus.URL != "" {
		prom, err := promquery.New(o.prometheus)
		if err != nil {
			return fmt.Errorf("--prometheus-url: %w", err)
		}
		service.Metrics = prom
		if o.throttlingFromProm {
			o.throttling.Querier = prom
			service.Facts.Throttling = &o.throttling
		}
	}
	hooks := &admissionwebhook.Webhooks{
		Conditions:          service,
		Client:              mgr.GetClient(),
		Authority:           reviewer,
		ManagerUsername:     managerUser,
		StatusConfiguration: o.validatingConfig,
		PreflightBudget:     o.preflightBudget,
		AllowSelfApproval:   o.allowSelfApproval,
	}
	if err := hooks.SetupWithManager(mgr); err != nil {
		return err
	}
	modes := &mode.Resolver{Default: validationMode, CanaryPercent: o.canaryPercent, Reader: mgr.GetClient()}
	// The pause switch is in the manager's namespace, whose ConfigMaps the cache
	// holds: read there, not from the API server on every run.
	pauses := &pause.Resolver{Reader: mgr.GetCache(), Namespace: o.namespace}
	// Facts read uncached wake nothing: the manager does not watch them.
	waker := wake.New(mgr.GetCache(), mgr.GetScheme(), uncached...)
	checker := &preflight.Checker{
		Authority: reviewer, Conditions: service, Config: mgr.GetConfig(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		Namespace: o.namespace, ReplicaCeiling: o.replicaCeiling, ProtectedNamespaces: protected,
	}
	executions := &execution.Reconciler{
		Conditions: service, Preflight: checker, Authority: reviewer, Modes: modes, Pauses: pauses, Waker: waker,
		AllowSelfApproval: o.allowSelfApproval, MaxRunsPerNamespace: o.runsPerNS, Retention: retention.Policy{TTL: o.finishedRunTTL},
	}
	if err := executions.SetupWithManager(mgr, o.concurrency); err != nil {
		return fmt.Errorf("setting up the execution reconciler: %w", err)
	}
	workflows := &workflow.Reconciler{
		Conditions: service, Preflight: checker, Authority: reviewer, Modes: modes, Pauses: pauses, Waker: waker, AllowSelfApproval: o.allowSelfApproval,
		Retention: retention.Policy{TTL: o.finishedRunTTL},
	}
	if err := workflows.SetupWithManager(ctx, mgr, o.concurrency); err != nil {
		return fmt.Errorf("setting up the workflow reconciler: %w", err)
	}
	if err := (&pause.Reporter{Namespace: o.namespace}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the pause reporter: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the webhooks serve (after the first certificate) and the policy
	// library's ConfigMaps are loaded from a synced cache.
	if err := mgr.AddReadyzCheck("webhooks", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("policy-library", librarySynced(mgr)); err != nil {
		return err
	}
	ctrl.Log.Info("starting the manager", "version", version, "namespace", o.namespace, "webhookPort", o.webhookPort)
	return mgr.Start(ctx)
}

// metricsOptions serves metrics over HTTPS behind the API server's authentication
// and authorization, unless --metrics-secure=false. metricsauth asks the API
// server as controller-runtime's filters package would, without linking
// k8s.io/apiserver (11 MB of resident memory).
func metricsOptions(o options) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.metricsAddr}
	if o.metricsSecure {
		opts.SecureServing = true
		opts.FilterProvider = metricsauth.Filter
	}
	return opts
}

// librarySynced is ready once the ConfigMap informer the policy library is loaded
// from has synced: before that, the library holds only the embedded defaults.
func librarySynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		informer, err := mgr.GetCache().GetInformer(req.Context(), &corev1.ConfigMap{})
		if err != nil {
			return err
		}
		if !informer.HasSynced() {
			return errors.New("the policy library's ConfigMaps are not loaded yet")
		}
		return nil
	}
}

// managerUsername is --manager-username, or else who the API server says the
// manager is.
func managerUsername(ctx context.Context, mgr ctrl.Manager, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return "", err
	}
	user, err := authority.Self(ctx, c)
	if err != nil {
		return "", fmt.Errorf("%w; set --manager-username", err)
	}
	ctrl.Log.Info("the manager authenticates as", "user", user)
	return user, nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// namespaceList splits a comma-separated list of namespace names, dropping
// blanks; a name that cannot be a namespace's is an error.
func namespaceList(list string) ([]string, error) {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", n, strings.Join(errs, "; "))
		}
		names = append(names, n)
	}
	return names, nil
}
