// Package execution reconciles KubernetesExecutions: one catalog action against the
// cluster, checked in the order of DESIGN.md (parameters, RBAC of the action's
// ServiceAccount, safety policies, action preconditions, server-side dry run,
// approval), then acted on by the action's executor while impersonating that
// ServiceAccount, then verified by polling its postconditions.
//
// Every phase is a function of the status it finds; status is written once per
// reconcile. Before acting, the intent and the values rollback needs are written in
// a reconcile of their own, so that a restart at any moment either has not acted or
// acts again through an executor that is idempotent given those values: no
// non-idempotent action runs twice.
package execution

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/retention"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
	"kubernaut.io/stepvalidation/reconcilers/wake"
)

// ControllerName names the controller, in logs, metrics and wake.Key.
const ControllerName = "kubernetesexecution"

// Finalizer keeps a KubernetesExecution until its reconciler has recorded how far
// the run got.
const Finalizer = kev1alpha1.Finalizer

// Defaults of a run's limits.
const (
	// DefaultTimeout bounds a run from validation to the last postcondition when
	// spec.timeout is unset.
	DefaultTimeout = 30 * time.Minute
	// DefaultMaxRetries is how often a failed call of the executor is tried again
	// when spec.maxRetries is unset.
	DefaultMaxRetries = 3
	// retryLaterDelay is how long an executor that asked to wait (an eviction a
	// PodDisruptionBudget refused) waits before the next try.
	retryLaterDelay = 5 * time.Second
	// DefaultMaxRunsPerNamespace is MaxRunsPerNamespace when unset.
	DefaultMaxRunsPerNamespace = 20
	// queuedRetry is how often a queued run looks for a free place.
	queuedRetry = 2 * time.Second
)

// Reconciler runs KubernetesExecutions.
type Reconciler struct {
	Client client.Client
	// APIReader reads around the cache: before acting, the reconciler checks that
	// the status it acts on is the latest.
	APIReader  client.Reader
	Conditions *check.Service
	// Preflight runs the checks before acting (the requester's and the action's
	// ServiceAccount's rights, the safety policies, the dry run) and builds the
	// clients that act as the action's ServiceAccount.
	Preflight *preflight.Checker
	// Authority asks whether a run's requester holds what its action needs.
	Authority *authority.Reviewer
	Modes     *mode.Resolver
	// Pauses says whether an administrator paused new actions.
	Pauses *pause.Resolver
	// Waker reconciles a verifying run when an object its postconditions read
	// changes; without one, postconditions are evaluated at their interval only.
	Waker    *wake.Waker
	Recorder events.EventRecorder
	// AllowSelfApproval counts the requester's own approval (--allow-self-approval).
	AllowSelfApproval bool
	// MaxRunsPerNamespace bounds the executions of one namespace that validate,
	// act or verify at once (DefaultMaxRunsPerNamespace when 0, none when
	// negative): one namespace's many runs cannot fill the workers every
	// namespace shares. Others wait, unstarted, with reason Queued.
	MaxRunsPerNamespace int
	// Retention deletes a finished execution that no workflow owns once it has
	// been kept for its TTL (--finished-run-ttl); the zero Policy keeps them.
	Retention retention.Policy
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// retryAt holds, by UID, when an executor that asked to wait may be called
	// again: in memory only, since after a restart trying at once is harmless.
	retryAt sync.Map
	// versions tells a stale copy in the cache from the latest.
	versions statuspatch.Versions
}

// SetupWithManager registers the reconciler. It does not reconcile on its own
// status writes (statuspatch.NotStatusOnly): a reconcile goes on to the next
// phase itself, or asks for a requeue.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Authority == nil {
		r.Authority = &authority.Reviewer{Client: r.Client}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("kubernaut-execution")
	}
	if r.Preflight == nil {
		return errors.New("execution reconciler: Preflight must be set")
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&kev1alpha1.KubernetesExecution{}, builder.WithPredicates(statuspatch.NotStatusOnly)).
		// An override or a decision on a workflow reaches its waiting executions.
		Watches(&workflowv1alpha1.WorkflowExecution{}, handler.EnqueueRequestsFromMapFunc(r.executionsOf),
			builder.WithPredicates(predicate.Or(predicate.AnnotationChangedPredicate{}, predicate.GenerationChangedPredicate{}))).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency})
	if r.Waker != nil {
		b = b.WatchesRawSource(r.Waker.Source(ControllerName))
	}
	return r.Pauses.Watch(b, pause.Held(r.Client, &kev1alpha1.KubernetesExecutionList{}, func(o client.Object) bool {
		return o.(*kev1alpha1.KubernetesExecution).Status.Phase == kev1alpha1.ExecutionPaused
	})).Complete(r)
}

// executionsOf maps a workflow to its executions that wait for a person.
func (r *Reconciler) executionsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list kev1alpha1.KubernetesExecutionList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the executions of a workflow", "workflow", klog.KObj(o))
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		ke := &list.Items[i]
		if metav1.IsControlledBy(ke, o) && !terminal(ke.Status.Phase) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ke)})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions/status;kubernetesexecutions/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups=workflow.kubernaut.io,resources=workflowexecutions,verbs=get;list;watch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
//
// Impersonating the actions' ServiceAccounts is granted by the Role
// kubernaut-action-impersonator (config/rbac/actions.yaml), for those names only.

// Reconcile advances one KubernetesExecution as far as it can go now: from new
// through validation, intent, the action and its first verification in one
// reconcile when nothing holds it.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	ke := &kev1alpha1.KubernetesExecution{}
	if err := r.Client.Get(ctx, req.NamespacedName, ke); err != nil {
		if apierrors.IsNotFound(err) {
			r.Waker.Forget(ControllerName, req)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.versions.Stale(ke) {
		return ctrl.Result{RequeueAfter: statuspatch.Retry}, nil // see statuspatch.Versions
	}
	defer func() {
		// Only a verifying run waits on the cluster.
		if ke.Status.Phase != kev1alpha1.ExecutionVerifying || !ke.DeletionTimestamp.IsZero() {
			r.Waker.Forget(ControllerName, req)
		}
		if terminal(ke.Status.Phase) || !ke.DeletionTimestamp.IsZero() {
			r.versions.Forget(ke)
		}
	}()
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("execution", klog.KObj(ke), "action", ke.Spec.Action))

	if !ke.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.release(ctx, ke)
	}
	if !controllerutil.ContainsFinalizer(ke, Finalizer) {
		controllerutil.AddFinalizer(ke, Finalizer)
		return ctrl.Result{}, r.Client.Update(ctx, ke)
	}
	if terminal(ke.Status.Phase) {
		return r.Retention.Expire(ctx, r.Client, metrics.ServiceExecution, ke, ke.Status.CompletionTime, r.now())
	}

	s := &scope{ke: ke, orig: ke.DeepCopy(), now: r.now()}
	defer func() {
		if err == nil {
			ke.Status.ObservedGeneration = ke.Generation
		}
		conflicted, werr := statuspatch.Write(ctx, r.Client, ke, s.orig, budget(ke), &r.versions)
		if err = errors.Join(err, werr); conflicted {
			// The newer version may be a status write of ours, which the
			// controller does not watch.
			res = ctrl.Result{RequeueAfter: statuspatch.Retry}
		} else if err == nil && terminal(ke.Status.Phase) {
			// Nothing wakes a finished run: come back when it is to be deleted.
			res, err = r.Retention.Expire(ctx, r.Client, metrics.ServiceExecution, ke, ke.Status.CompletionTime, s.now)
		}
	}()
	return r.advance(ctx, s)
}

// advance runs the phase the status is in.
func (r *Reconciler) advance(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	r.observeApprovals(s)
	if ke.Status.Phase == "" {
		if res, queued, err := r.queue(ctx, s); err != nil || queued {
			return res, err
		}
		// Validation needs nothing written first: one status write does both.
		r.start(s)
	}
	if res, done := r.enforceTimeout(s); done {
		return res, nil
	}
	res, err := r.runPhase(ctx, s)
	return untilDeadline(s, res), err
}

// runPhase runs the phase the status is in.
func (r *Reconciler) runPhase(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	switch ke.Status.Phase {
	case kev1alpha1.ExecutionValidating:
		return r.validate(ctx, s)
	case kev1alpha1.ExecutionBlocked:
		return r.reconsider(ctx, s)
	case kev1alpha1.ExecutionWaitingApproval:
		return r.awaitApproval(ctx, s)
	case kev1alpha1.ExecutionPaused:
		return r.awaitResume(ctx, s)
	case kev1alpha1.ExecutionExecuting:
		return r.act(ctx, s)
	case kev1alpha1.ExecutionVerifying:
		return r.verify(ctx, s)
	}
	return ctrl.Result{}, nil
}

// start moves a new execution to validating.
func (r *Reconciler) start(s *scope) {
	now := metav1.NewTime(s.now)
	s.ke.Status.StartTime = &now
	if who, err := authority.Recorded(s.ke.Annotations); err == nil {
		s.ke.Status.RequestedBy = who.Username
	}
	s.ke.Status.ValidationResults = &kev1alpha1.ValidationResults{}
	s.transition(r, kev1alpha1.ExecutionValidating, commonv1alpha1.RunningReason, "validating the action")
}

// queue keeps a new run from starting while its namespace has MaxRunsPerNamespace
// runs validating, acting or verifying: it waits, unstarted, with reason Queued.
// Its own timeout does not run while it waits; it starts as soon as a place is
// free.
func (r *Reconciler) queue(ctx context.Context, s *scope) (ctrl.Result, bool, error) {
	limit := r.MaxRunsPerNamespace
	if limit == 0 {
		limit = DefaultMaxRunsPerNamespace
	}
	if limit < 0 {
		return ctrl.Result{}, false, nil
	}
	var list kev1alpha1.KubernetesExecutionList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.ke.Namespace)); err != nil {
		return ctrl.Result{}, false, fmt.Errorf("counting the namespace's runs in flight: %w", err)
	}
	running := 0
	for i := range list.Items {
		switch list.Items[i].Status.Phase {
		case kev1alpha1.ExecutionValidating, kev1alpha1.ExecutionExecuting, kev1alpha1.ExecutionVerifying:
			running++
		}
	}
	if running < limit {
		return ctrl.Result{}, false, nil
	}
	s.setCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, commonv1alpha1.QueuedReason, fmt.Sprintf(
		"namespace %s has %d runs in flight, its limit (--max-runs-per-namespace); this run starts when one ends", s.ke.Namespace, running))
	return ctrl.Result{RequeueAfter: queuedRetry}, true, nil
}

// enforceTimeout fails a run that outlived spec.timeout. A run waiting for a
// person (approval, override) has its own limit, and a paused one waits for the
// administrator.
func (r *Reconciler) enforceTimeout(s *scope) (ctrl.Result, bool) {
	ke := s.ke
	switch ke.Status.Phase {
	case kev1alpha1.ExecutionWaitingApproval, kev1alpha1.ExecutionBlocked, kev1alpha1.ExecutionPaused:
		return ctrl.Result{}, false
	}
	if ke.Status.StartTime == nil || terminal(ke.Status.Phase) {
		return ctrl.Result{}, false
	}
	deadline, limit := runDeadline(ke)
	if s.now.Before(deadline) {
		return ctrl.Result{}, false
	}
	msg := fmt.Sprintf("the run did not finish within its timeout of %s (phase %s)", limit, ke.Status.Phase)
	if ke.Status.Phase == kev1alpha1.ExecutionVerifying && ke.Status.RollbackInformation != nil {
		s.finish(r, kev1alpha1.ExecutionRollbackReady, commonv1alpha1.PostconditionFailedReason, msg)
	} else {
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.FailedReason, msg)
	}
	return ctrl.Result{}, true
}

// runDeadline is when a started run times out (spec.timeout), and its timeout.
func runDeadline(ke *kev1alpha1.KubernetesExecution) (time.Time, time.Duration) {
	limit := DefaultTimeout
	if ke.Spec.Timeout != nil && ke.Spec.Timeout.Duration > 0 {
		limit = ke.Spec.Timeout.Duration
	}
	if ke.Status.StartTime == nil {
		return time.Time{}, limit
	}
	return ke.Status.StartTime.Add(limit), limit
}

// untilDeadline makes a run that validates, acts or verifies reconcile again at
// its timeout at the latest, whatever it waits for (a postcondition's interval
// may be longer).
func untilDeadline(s *scope, res ctrl.Result) ctrl.Result {
	switch s.ke.Status.Phase {
	case kev1alpha1.ExecutionValidating, kev1alpha1.ExecutionExecuting, kev1alpha1.ExecutionVerifying:
	default:
		return res
	}
	deadline, _ := runDeadline(s.ke)
	if deadline.IsZero() {
		return res
	}
	if left := max(deadline.Sub(s.now), time.Millisecond); res.RequeueAfter == 0 || left < res.RequeueAfter {
		res.RequeueAfter = left
	}
	return res
}

// release lets a deleted execution go, saying how far it got: an action that was
// recorded as about to act may or may not have acted.
func (r *Reconciler) release(ctx context.Context, ke *kev1alpha1.KubernetesExecution) error {
	if !controllerutil.ContainsFinalizer(ke, Finalizer) {
		return nil
	}
	if !terminal(ke.Status.Phase) && ke.Status.Phase != "" {
		note := fmt.Sprintf("deleted in phase %s; the run stops here", ke.Status.Phase)
		if ke.Status.Phase == kev1alpha1.ExecutionExecuting || ke.Status.Phase == kev1alpha1.ExecutionVerifying {
			note += "; what the action changed is not undone: see status.executionResults and status.rollbackInformation"
		}
		r.Recorder.Eventf(ke, nil, corev1.EventTypeWarning, commonv1alpha1.AbandonedReason, "Delete", "%s", text.CapMessage(note))
	}
	controllerutil.RemoveFinalizer(ke, Finalizer)
	if err := r.Client.Update(ctx, ke); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// terminal reports whether a phase is final. blocked is not: it waits for an
// override up to blockedTimeout (see reconsider).
func terminal(p kev1alpha1.ExecutionPhase) bool {
	switch p {
	case kev1alpha1.ExecutionCompleted, kev1alpha1.ExecutionFailed, kev1alpha1.ExecutionDenied,
		kev1alpha1.ExecutionRollbackReady:
		return true
	}
	return false
}
