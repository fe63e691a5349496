package library

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/metrics"
)

// Event reasons on the library's ConfigMaps.
const (
	ReasonPoliciesLoaded      = "PoliciesLoaded"
	ReasonPolicyCompileFailed = "PolicyCompileFailed"
)

// maxEventNote is the longest note an events.k8s.io/v1 Event takes.
const maxEventNote = 1024

// Watcher reloads a Library when its ConfigMaps change. It is a reconciler of
// ConfigMaps; the manager's cache should be limited to the watched namespace for
// ConfigMaps (cache.Options.ByObject), so the manager does not hold every
// ConfigMap of the cluster.
type Watcher struct {
	Library   *Library
	Namespace string
	Client    client.Reader
	Recorder  events.EventRecorder

	// lastGood is the version in use per ConfigMap; only Reconcile touches it, and
	// the controller runs one Reconcile at a time.
	lastGood map[string]string
}

// SetupWithManager registers the Watcher with mgr, taking its client and an event
// recorder from it.
func (w *Watcher) SetupWithManager(mgr ctrl.Manager) error {
	if w.Library == nil || w.Namespace == "" {
		return fmt.Errorf("library watcher: Library and Namespace must be set")
	}
	w.Client = mgr.GetClient()
	w.Recorder = mgr.GetEventRecorder("kubernaut-policy-library")
	w.lastGood = map[string]string{}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == w.Namespace && (o.GetName() == ConditionsConfigMap || o.GetName() == SafetyConfigMap)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("policy-library").
		For(&corev1.ConfigMap{}, builder.WithPredicates(ours)).
		Complete(w)
}

// Reconcile compiles the ConfigMap named by req and swaps it into the library, or
// keeps the last good set when it does not compile.
func (w *Watcher) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	safety := req.Name == SafetyConfigMap

	var cm corev1.ConfigMap
	if err := w.Client.Get(ctx, req.NamespacedName, &cm); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// Both sets fall back to the policies built into the manager.
		w.Library.apply(safety, nil)
		const version = "embedded"
		w.lastGood[req.Name] = version
		metrics.SetLibraryVersion(req.Name, version)
		log.Info("policy ConfigMap is absent; using the defaults", "configMap", req.Name)
		return ctrl.Result{}, nil
	}

	entries, err := w.Library.compileConfigMap(ctx, &cm, safety)
	if err != nil {
		kept := w.lastGood[req.Name]
		if kept == "" {
			kept = "the defaults"
		}
		metrics.RecordLibraryLoadError(cm.Name)
		log.Error(err, "policy ConfigMap does not compile; keeping the last good set", "configMap", cm.Name, "kept", kept)
		w.Recorder.Eventf(&cm, nil, corev1.EventTypeWarning, ReasonPolicyCompileFailed, "Load",
			"%s", text.Truncate(fmt.Sprintf("kept %s: %v", kept, err), maxEventNote))
		// No requeue: the next version of the ConfigMap is the next attempt.
		return ctrl.Result{}, nil
	}
	w.Library.apply(safety, entries)
	version := cm.Labels[VersionLabel]
	if version == "" {
		version = "rv-" + cm.ResourceVersion
	}
	w.lastGood[req.Name] = version
	metrics.SetLibraryVersion(cm.Name, version)
	log.Info("policies loaded", "configMap", cm.Name, "version", version, "policies", len(entries))
	w.Recorder.Eventf(&cm, nil, corev1.EventTypeNormal, ReasonPoliciesLoaded, "Load",
		"loaded %d policies, version %s", len(entries), version)
	return ctrl.Result{}, nil
}
