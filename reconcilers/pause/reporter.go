package pause

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/metrics"
)

// Reporter marks both edges of every pause: an Event on the switch (the ConfigMap
// or the Namespace) and the kubernaut_paused gauge. It only reports: the runs read
// the switches themselves (Resolver). After a restart it reports the pauses it
// finds as new.
type Reporter struct {
	Client    client.Reader
	Namespace string // the manager's
	Recorder  events.EventRecorder

	mu    sync.Mutex
	known map[types.NamespacedName]switchState
}

type switchState struct {
	reason string
	obj    runtime.Object // what the Events are about, kept for the resumed edge
}

// SetupWithManager reports pauses of Namespaces and of the cluster-wide ConfigMap.
func (r *Reporter) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("kubernaut-pause")
	}
	resolver := &Resolver{Namespace: r.Namespace}
	return ctrl.NewControllerManagedBy(mgr).
		Named("pause").
		For(&corev1.Namespace{}, builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(predicate.NewPredicateFuncs(resolver.isSwitch))).
		Complete(r)
}

// Reconcile compares one switch with what was last reported.
func (r *Reporter) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	scope, reason, obj, err := r.read(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil {
		r.known = map[types.NamespacedName]switchState{}
	}
	before, was := r.known[req.NamespacedName]
	namespace := req.Name
	if scope == ScopeCluster {
		namespace = ""
	}
	switch {
	case obj != nil && !was:
		r.known[req.NamespacedName] = switchState{reason: reason, obj: obj}
		metrics.SetPaused(scope, namespace, true)
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, commonv1alpha1.PausedReason, "Pause", "%s", text.CapMessage("new kubernaut actions are paused: "+reason))
	case obj != nil && before.reason != reason:
		r.known[req.NamespacedName] = switchState{reason: reason, obj: obj}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, commonv1alpha1.PausedReason, "Pause", "%s", text.CapMessage("new kubernaut actions stay paused: "+reason))
	case obj == nil && was:
		delete(r.known, req.NamespacedName)
		metrics.SetPaused(scope, namespace, false)
		r.Recorder.Eventf(before.obj, nil, corev1.EventTypeNormal, commonv1alpha1.ResumedReason, "Resume", "%s", text.CapMessage("kubernaut actions resumed (paused for: "+before.reason+")"))
	}
	return ctrl.Result{}, nil
}

// read returns the scope of the switch key names and, when it is on, its reason
// and the object that holds it.
func (r *Reporter) read(ctx context.Context, key types.NamespacedName) (scope, reason string, on runtime.Object, _ error) {
	if key.Namespace != "" {
		var cm corev1.ConfigMap
		err := r.Client.Get(ctx, key, &cm)
		if err == nil && cm.DeletionTimestamp.IsZero() {
			return ScopeCluster, reasonOf(cm.Data[commonv1alpha1.PauseReasonKey]), &cm, nil
		}
		return ScopeCluster, "", nil, client.IgnoreNotFound(err)
	}
	var ns corev1.Namespace
	err := r.Client.Get(ctx, key, &ns)
	if v, set := ns.Annotations[commonv1alpha1.PauseAnnotation]; err == nil && set {
		return ScopeNamespace, reasonOf(v), &ns, nil
	}
	return ScopeNamespace, "", nil, client.IgnoreNotFound(err)
}
