// Package workflow reconciles WorkflowExecutions: it schedules the steps by their
// dependencies (steps with no path between them run in parallel), evaluates each
// step's preconditions, creates the step's KubernetesExecution
// (<workflow>-step-<n>, owned by the workflow), waits for it, verifies the step's
// postconditions, and on the failure of a critical step rolls the completed steps
// back, newest first, each as a KubernetesExecution of its own
// (<workflow>-rollback-<n>).
//
// Everything the reconciler knows between reconciles is in status; it writes
// status once per reconcile and requeues instead of waiting.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/approval"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/retention"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
	"kubernaut.io/stepvalidation/reconcilers/wake"
)

// ControllerName names the controller, in logs, metrics and wake.Key.
const ControllerName = "workflowexecution"

// Finalizer keeps a WorkflowExecution until its KubernetesExecutions are gone, so
// that no action of a deleted workflow is still running.
const Finalizer = workflowv1alpha1.Finalizer

// ownerIndex indexes KubernetesExecutions by the name of their controlling
// WorkflowExecution.
const ownerIndex = ".metadata.controller.workflow"

// DefaultTimeout bounds a workflow when spec.executionStrategy.timeout is unset.
const DefaultTimeout = time.Hour

// Reconciler runs WorkflowExecutions.
type Reconciler struct {
	Client     client.Client
	Conditions *check.Service
	// Preflight checks every step before the first acts, for a workflow that
	// asks for executionStrategy.dryRunFirst.
	Preflight *preflight.Checker
	// Authority asks whether the workflow's requester holds what a step needs.
	Authority *authority.Reviewer
	Modes     *mode.Resolver
	// Pauses says whether an administrator paused new actions.
	Pauses *pause.Resolver
	// Waker reconciles a workflow when an object its verifying steps'
	// postconditions read changes; without one, they are evaluated at their
	// interval only.
	Waker    *wake.Waker
	Recorder events.EventRecorder
	// AllowSelfApproval counts the requester's own approval (--allow-self-approval).
	AllowSelfApproval bool
	// Retention deletes a finished workflow once it has been kept for its TTL
	// (--finished-run-ttl), its executions with it; the zero Policy keeps them.
	Retention retention.Policy
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// versions tells a stale copy in the cache from the latest.
	versions statuspatch.Versions
}

// SetupWithManager registers the reconciler and the index it lists a workflow's
// executions with.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, concurrency int) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("kubernaut-workflow")
	}
	if r.Authority == nil {
		r.Authority = &authority.Reviewer{Client: r.Client}
	}
	if r.Preflight == nil {
		return errors.New("workflow reconciler: Preflight must be set")
	}
	err := mgr.GetFieldIndexer().IndexField(ctx, &kev1alpha1.KubernetesExecution{}, ownerIndex, func(o client.Object) []string {
		if owner := metav1.GetControllerOf(o); owner != nil && owner.Kind == "WorkflowExecution" &&
			owner.APIVersion == workflowv1alpha1.GroupVersion.String() {
			return []string{owner.Name}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing executions by workflow: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		// Not its own status writes: whatever follows one, the reconcile that
		// wrote it asked for (a requeue, or the executions it waits on).
		For(&workflowv1alpha1.WorkflowExecution{}, builder.WithPredicates(statuspatch.NotStatusOnly)).
		Owns(&kev1alpha1.KubernetesExecution{}, builder.WithPredicates(executionMoved)).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency})
	if r.Waker != nil {
		b = b.WatchesRawSource(r.Waker.Source(ControllerName))
	}
	return r.Pauses.Watch(b, pause.Held(r.Client, &workflowv1alpha1.WorkflowExecutionList{}, func(o client.Object) bool {
		return o.(*workflowv1alpha1.WorkflowExecution).Status.Phase == workflowv1alpha1.WorkflowPaused
	})).Complete(r)
}

// executionMoved passes the changes of an execution its workflow acts on: it
// enters or leaves a phase its step mirrors (blocked, paused, or one that ends
// the run), its message changes there, or it is being deleted. Not the hops of a
// run going its way (validating, executing, verifying), nor its writes of results.
var executionMoved = predicate.TypedFuncs[client.Object]{
	UpdateFunc: func(e event.TypedUpdateEvent[client.Object]) bool {
		before, okBefore := e.ObjectOld.(*kev1alpha1.KubernetesExecution)
		after, okAfter := e.ObjectNew.(*kev1alpha1.KubernetesExecution)
		if !okBefore || !okAfter {
			return true
		}
		was, is := mirrored(before.Status.Phase), mirrored(after.Status.Phase)
		return (was || is) && before.Status.Phase != after.Status.Phase ||
			is && before.Status.Message != after.Status.Message ||
			!before.DeletionTimestamp.Equal(after.DeletionTimestamp)
	},
}

// mirrored reports whether a step (or the rollback) acts on its execution
// entering phase p: see watchStep and rollBack.
func mirrored(p kev1alpha1.ExecutionPhase) bool {
	switch p {
	case kev1alpha1.ExecutionValidating, kev1alpha1.ExecutionExecuting, kev1alpha1.ExecutionVerifying, "":
		return false
	}
	return true
}

// +kubebuilder:rbac:groups=workflow.kubernaut.io,resources=workflowexecutions,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=workflow.kubernaut.io,resources=workflowexecutions/status;workflowexecutions/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions,verbs=get;list;watch;create;delete

// Reconcile advances one WorkflowExecution.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	wfe := &workflowv1alpha1.WorkflowExecution{}
	if err := r.Client.Get(ctx, req.NamespacedName, wfe); err != nil {
		if apierrors.IsNotFound(err) {
			r.Waker.Forget(ControllerName, req)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.versions.Stale(wfe) {
		return ctrl.Result{RequeueAfter: statuspatch.Retry}, nil // see statuspatch.Versions
	}
	defer func() {
		if finished(wfe.Status.Phase) || !wfe.DeletionTimestamp.IsZero() {
			r.Waker.Forget(ControllerName, req)
			r.versions.Forget(wfe)
		}
	}()
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("workflow", klog.KObj(wfe)))

	if !wfe.DeletionTimestamp.IsZero() {
		return r.release(ctx, wfe)
	}
	if !controllerutil.ContainsFinalizer(wfe, Finalizer) {
		controllerutil.AddFinalizer(wfe, Finalizer)
		return ctrl.Result{}, r.Client.Update(ctx, wfe)
	}
	if finished(wfe.Status.Phase) {
		return r.Retention.Expire(ctx, r.Client, metrics.ServiceWorkflow, wfe, wfe.Status.CompletionTime, r.now())
	}

	orig := wfe.DeepCopy() // before newScope, which records approvals and overrides in status
	s, err := r.newScope(ctx, wfe)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer func() {
		if err == nil {
			wfe.Status.ObservedGeneration = wfe.Generation
		}
		wfe.Status.Progress = progress(wfe)
		conflicted, werr := statuspatch.Write(ctx, r.Client, wfe, orig, budget(wfe), &r.versions)
		if err = errors.Join(err, werr); conflicted {
			// The newer version may be a status write of ours, which the
			// controller does not watch.
			res = ctrl.Result{RequeueAfter: statuspatch.Retry}
		} else if err == nil && finished(wfe.Status.Phase) {
			// Nothing wakes a finished run: come back when it is to be deleted.
			res, err = r.Retention.Expire(ctx, r.Client, metrics.ServiceWorkflow, wfe, wfe.Status.CompletionTime, r.now())
		}
	}()
	return r.runPhase(ctx, s)
}

// runPhase runs the phase the status is in.
func (r *Reconciler) runPhase(ctx context.Context, s *scope) (ctrl.Result, error) {
	wfe := s.wfe
	if wfe.Status.Phase == "" {
		s.start()
		if wfe.Spec.ExecutionStrategy.ApprovalRequired {
			return r.awaitApproval(ctx, s)
		}
		return r.begin(ctx, s, commonv1alpha1.RunningReason, "running the steps")
	}
	if res, done := r.enforceTimeout(s); done {
		return res, nil
	}
	switch wfe.Status.Phase {
	case workflowv1alpha1.WorkflowWaitingApproval:
		return r.awaitApproval(ctx, s)
	case workflowv1alpha1.WorkflowBlocked:
		return r.reconsider(ctx, s)
	case workflowv1alpha1.WorkflowRollingBack:
		return r.rollBack(ctx, s)
	case workflowv1alpha1.WorkflowValidating:
		// The preflight did not finish (its reconcile failed): it runs again.
		return r.begin(ctx, s, commonv1alpha1.RunningReason, "running the steps")
	case workflowv1alpha1.WorkflowPaused,
		workflowv1alpha1.WorkflowExecuting, workflowv1alpha1.WorkflowMonitoring:
		res, err := r.runSteps(ctx, s)
		if err != nil || wfe.Status.Phase != workflowv1alpha1.WorkflowRollingBack {
			return res, err
		}
		// A critical step failed: the rollback starts in the same reconcile, since
		// the workflow is not reconciled on its own status write.
		return r.rollBack(ctx, s)
	}
	return ctrl.Result{}, nil
}

// begin starts the steps, after the whole-workflow preflight when the workflow
// asks for dryRunFirst.
func (r *Reconciler) begin(ctx context.Context, s *scope, reason, message string) (ctrl.Result, error) {
	if s.wfe.Spec.ExecutionStrategy.DryRunFirst {
		s.transition(r, workflowv1alpha1.WorkflowValidating, commonv1alpha1.RunningReason, "checking every step before the first acts")
		if passed, err := r.preflight(ctx, s); err != nil || !passed {
			return ctrl.Result{}, err
		}
	}
	s.transition(r, workflowv1alpha1.WorkflowExecuting, reason, message)
	return r.runSteps(ctx, s)
}

// awaitApproval starts the workflow once approvalsRequired approvers approved in
// spec.approvals, fails it on a reject, or when the approval timeout runs out.
func (r *Reconciler) awaitApproval(ctx context.Context, s *scope) (ctrl.Result, error) {
	wfe := s.wfe
	v := approval.Decide(&wfe.Spec.ExecutionStrategy.Gates, wfe.Spec.Approvals, wfe.Status.RequestedBy, r.AllowSelfApproval,
		wfe.Status.StartTime.Time, s.now)
	switch v.Outcome {
	case approval.Rejected:
		s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.RejectedReason, v.Message)
		return ctrl.Result{}, nil
	case approval.TimedOut:
		s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.ApprovalTimedOutReason, v.Message)
		return ctrl.Result{}, nil
	case approval.Approved:
		return r.begin(ctx, s, commonv1alpha1.ApprovedReason, v.Message+"; running the steps")
	}
	s.transition(r, workflowv1alpha1.WorkflowWaitingApproval, commonv1alpha1.AwaitingApprovalReason,
		fmt.Sprintf("%s: kubernaut approve wfe/%s -n %s --reason ...", v.Message, wfe.Name, wfe.Namespace))
	return ctrl.Result{RequeueAfter: v.Deadline.Sub(s.now)}, nil
}

// enforceTimeout fails a workflow that outlived its timeout. What its steps
// changed stays: the status lists it.
func (r *Reconciler) enforceTimeout(s *scope) (ctrl.Result, bool) {
	wfe := s.wfe
	deadline, limit := workflowDeadline(wfe)
	if deadline.IsZero() || s.now.Before(deadline) {
		return ctrl.Result{}, false
	}
	s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.TimedOutReason,
		fmt.Sprintf("the workflow did not finish within its timeout of %s (phase %s)", limit, wfe.Status.Phase))
	return ctrl.Result{}, true
}

// workflowDeadline is when a started workflow times out, and its timeout. It
// has none (zero) while it waits for a person (an approval, an override, the end
// of a pause): those waits have limits of their own.
func workflowDeadline(wfe *workflowv1alpha1.WorkflowExecution) (time.Time, time.Duration) {
	limit := DefaultTimeout
	if t := wfe.Spec.ExecutionStrategy.Timeout; t != nil && t.Duration > 0 {
		limit = t.Duration
	}
	switch wfe.Status.Phase {
	case workflowv1alpha1.WorkflowWaitingApproval, workflowv1alpha1.WorkflowBlocked, workflowv1alpha1.WorkflowPaused:
		return time.Time{}, limit
	}
	if wfe.Status.StartTime == nil {
		return time.Time{}, limit
	}
	return wfe.Status.StartTime.Add(limit), limit
}

// releasePoll is how often a deleted workflow looks whether its executions are
// gone (each releases its own finalizer first).
const releasePoll = time.Second

// release deletes the workflow's executions and waits until they are gone, so
// nothing of a deleted workflow is left acting.
func (r *Reconciler) release(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(wfe, Finalizer) {
		return ctrl.Result{}, nil
	}
	children, err := r.children(ctx, wfe)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, ke := range children {
		if ke.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, ke); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting execution %s: %w", ke.Name, err)
			}
		}
	}
	if len(children) > 0 {
		return ctrl.Result{RequeueAfter: releasePoll}, nil
	}
	controllerutil.RemoveFinalizer(wfe, Finalizer)
	if err := r.Client.Update(ctx, wfe); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// children returns the workflow's executions by name, from the cache.
func (r *Reconciler) children(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) (map[string]*kev1alpha1.KubernetesExecution, error) {
	var list kev1alpha1.KubernetesExecutionList
	if err := r.Client.List(ctx, &list, client.InNamespace(wfe.Namespace), client.MatchingFields{ownerIndex: wfe.Name}); err != nil {
		return nil, fmt.Errorf("listing the workflow's executions: %w", err)
	}
	out := make(map[string]*kev1alpha1.KubernetesExecution, len(list.Items))
	for i := range list.Items {
		if ours(wfe, &list.Items[i]) {
			out[list.Items[i].Name] = &list.Items[i]
		}
	}
	return out, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// finished reports whether a workflow's phase is final.
func finished(p workflowv1alpha1.WorkflowPhase) bool {
	return p == workflowv1alpha1.WorkflowCompleted || p == workflowv1alpha1.WorkflowFailed
}
