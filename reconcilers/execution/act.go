package execution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/evaluation"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
	"kubernaut.io/stepvalidation/reconcilers/wake"
)

// recordIntent captures the target as it is now, records in status that the
// action is about to act and how to undo it, writes that status, and only then
// acts, in the same reconcile: a crash before the write leaves nothing done, and
// one after it finds the values the idempotent executor needs.
func (r *Reconciler) recordIntent(ctx context.Context, s *scope, action *catalog.Action, params map[string]any) (ctrl.Result, error) {
	target, before, err := r.capture(ctx, s, action, params)
	if err != nil {
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.ExecutionFailedReason, "reading the target before acting: "+err.Error())
		return ctrl.Result{}, nil
	}
	s.ke.Status.ExecutionResults = &kev1alpha1.ExecutionResults{ResourcesAffected: []kev1alpha1.AffectedResource{{
		Kind: target.Kind, Namespace: target.Namespace, Name: target.Name, Before: before,
	}}}
	if action.Inverse != nil {
		if rb, err := action.Inverse(params, before); err == nil {
			raw, err := json.Marshal(rb.Parameters)
			if err != nil {
				return ctrl.Result{}, fmt.Errorf("encoding the rollback parameters: %w", err)
			}
			now := metav1.NewTime(s.now)
			s.ke.Status.RollbackInformation = &kev1alpha1.RollbackInformation{
				Action: rb.Action, Parameters: &runtime.RawExtension{Raw: raw}, CapturedAt: &now,
			}
		} else {
			ctrl.LoggerFrom(ctx).Info("no rollback for this run", "reason", err.Error())
		}
	}
	s.transition(r, kev1alpha1.ExecutionExecuting, commonv1alpha1.RunningReason,
		fmt.Sprintf("acting on %s as %s", target, action.ServiceAccountName()))
	if written, err := s.persist(ctx, r); err != nil || !written {
		return ctrl.Result{}, err
	}
	return r.act(ctx, s)
}

// capture reads the target as it is before acting, or takes what the dry run of
// this same reconcile read a moment ago.
func (r *Reconciler) capture(ctx context.Context, s *scope, action *catalog.Action, params map[string]any) (catalog.ObjectRef, map[string]string, error) {
	if s.captured != nil {
		return s.captured.Target, s.captured.Before, nil
	}
	c, err := r.Preflight.ClientFor(action)
	if err != nil {
		return catalog.ObjectRef{}, nil, err
	}
	return action.Capture(ctx, c, executorParams(params, s.ke), s.ke.Namespace)
}

// recheck repeats, right before the executor runs, the checks that status alone
// must not vouch for: the requester still holds what the action needs (a revoked
// Role stops a pending run) and the safety policies still allow it. denied means
// the run ended here.
func (r *Reconciler) recheck(ctx context.Context, s *scope, action *catalog.Action, params map[string]any) (denied bool, _ error) {
	if s.checked {
		return false, nil
	}
	refused, err := r.Authority.Check(ctx, s.ke.Annotations, action, params, s.ke.Namespace)
	if err != nil {
		return false, err
	}
	if refused != "" {
		s.setCondition(commonv1alpha1.ExecutedCondition, metav1.ConditionFalse, commonv1alpha1.ForbiddenReason, refused)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.ForbiddenReason, refused)
		return true, nil
	}
	safetyDoc, err := r.Preflight.SafetyInput(ctx, action.Name, params)
	if err != nil {
		return false, err
	}
	if refusals := r.Preflight.Safety(ctx, safetyDoc); len(refusals) > 0 {
		msg := preflight.SafetyRefusal(refusals)
		s.setCondition(commonv1alpha1.ExecutedCondition, metav1.ConditionFalse, commonv1alpha1.SafetyPolicyDeniedReason, msg)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.SafetyPolicyDeniedReason, msg)
		return true, nil
	}
	s.checked = true
	return false, nil
}

// act runs the executor with the recorded before values. After a restart it runs
// again; the executor then finds the work done.
func (r *Reconciler) act(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	action, params, problem := parameters(ke)
	if problem != "" {
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.InvalidParametersReason, problem)
		return ctrl.Result{}, nil
	}
	affected := affectedResource(ke)
	if affected == nil {
		// The intent was not recorded (an older object): record it first, once the
		// requester may still act.
		if denied, err := r.recheck(ctx, s, action, params); err != nil || denied {
			return ctrl.Result{}, err
		}
		return r.recordIntent(ctx, s, action, params)
	}
	if at, waiting := r.retryAt.Load(ke.UID); waiting && s.now.Before(at.(time.Time)) {
		// Woken by a change, before the executor's delay is over.
		return ctrl.Result{RequeueAfter: at.(time.Time).Sub(s.now)}, nil
	}
	if !s.persisted {
		current, err := r.isCurrent(ctx, ke)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !current {
			// A newer version exists: look again once the cache has it (this
			// controller does not see status writes).
			return ctrl.Result{RequeueAfter: statuspatch.Retry}, nil
		}
	}
	if denied, err := r.recheck(ctx, s, action, params); err != nil || denied {
		return ctrl.Result{}, err
	}
	c, err := r.Preflight.ClientFor(action)
	if err != nil {
		return ctrl.Result{}, err
	}
	after, err := action.Act(ctx, c, executorParams(params, ke), affected.Before, ke.Namespace, false)
	if err != nil {
		if errors.Is(err, catalog.ErrRetryLater) {
			delay := retryLaterDelay
			var later *catalog.RetryLaterError
			if errors.As(err, &later) && later.After > 0 {
				delay = later.After
			}
			s.transition(r, kev1alpha1.ExecutionExecuting, commonv1alpha1.RunningReason, err.Error())
			r.retryAt.Store(ke.UID, s.now.Add(delay))
			return ctrl.Result{RequeueAfter: delay}, nil
		}
		limit := int32(DefaultMaxRetries)
		if ke.Spec.MaxRetries != nil {
			limit = *ke.Spec.MaxRetries
		}
		if ke.Status.RetriesAttempted < limit {
			ke.Status.RetriesAttempted++
			s.transition(r, kev1alpha1.ExecutionExecuting, commonv1alpha1.RunningReason,
				fmt.Sprintf("try %d of %d failed, trying again: %v", ke.Status.RetriesAttempted, limit+1, err))
			return ctrl.Result{RequeueAfter: backoff(ke.Status.RetriesAttempted)}, nil
		}
		msg := err.Error()
		s.setCondition(commonv1alpha1.ExecutedCondition, metav1.ConditionFalse, commonv1alpha1.ExecutionFailedReason, msg)
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.ExecutionFailedReason, msg)
		return ctrl.Result{}, nil
	}
	r.retryAt.Delete(ke.UID)
	affected.After = after
	msg := fmt.Sprintf("%s acted on %s %s", action.Name, affected.Kind, objectName(affected))
	s.setCondition(commonv1alpha1.ExecutedCondition, metav1.ConditionTrue, commonv1alpha1.ExecutedReason, msg)
	r.Recorder.Eventf(ke, nil, corev1.EventTypeNormal, commonv1alpha1.ExecutedReason, "Act", "%s", text.CapMessage(msg))
	s.transition(r, kev1alpha1.ExecutionVerifying, commonv1alpha1.RunningReason, "verifying the postconditions")
	// The first verification goes into the same status write: one that fails
	// registers what it read, to be woken when that changes.
	return r.verify(ctx, s)
}

// verify evaluates the postconditions that are due and decides: completed when
// every required one passed, rollback_ready (or failed, when the action cannot be
// undone) when one failed for good, else a requeue for the next evaluation.
func (r *Reconciler) verify(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	action, params, problem := parameters(ke)
	if problem != "" {
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.InvalidParametersReason, problem)
		return ctrl.Result{}, nil
	}
	enforcement, err := r.enforcement(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	var before map[string]string
	if a := affectedResource(ke); a != nil {
		before = a.Before
	}
	results := s.results()
	waiting := wake.Key{Controller: ControllerName, Request: reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ke)}, Round: "postconditions"}
	report, err := evaluation.Postconditions(ctx, r.Conditions, enforcement, r.Waker.Round(waiting, r.Conditions.Reader, evaluation.Round{Round: check.Round{
		Service: metrics.ServiceExecution, Action: action.Name, Parameters: factParams(params, ke, before),
		Phase: facts.Post, Conditions: ke.Spec.PostConditions, Target: check.RecordedTarget(action.Name, params, ke),
	}}), results.PostConditionResults, s.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	results.PostConditionResults = report.Results
	if !report.Done {
		return ctrl.Result{RequeueAfter: max(report.NextAt.Sub(s.now), time.Millisecond)}, nil
	}
	r.warn(s, commonv1alpha1.PostconditionWarningReason, report.Warnings, enforcement.Mode)
	if len(report.Blocking) > 0 {
		for _, f := range report.Blocking {
			metrics.RecordFailedByPostcondition(action.Name, metrics.ConditionTypeLabel(f.Type, r.Conditions.Library.Has))
		}
		msg := "required postcondition failed: " + evaluation.Summary(report.Blocking)
		s.setCondition(commonv1alpha1.PostconditionsVerifiedCondition, metav1.ConditionFalse, commonv1alpha1.PostconditionFailedReason, msg)
		if ke.Status.RollbackInformation != nil {
			s.finish(r, kev1alpha1.ExecutionRollbackReady, commonv1alpha1.PostconditionFailedReason,
				msg+"; rollback ready: "+ke.Status.RollbackInformation.Action)
		} else {
			s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.PostconditionFailedReason, msg+"; the action has no inverse")
		}
		return ctrl.Result{}, nil
	}
	if len(report.Undecided) > 0 {
		s.undecided(r, "required postconditions inconclusive, no data to decide on: "+evaluation.Summary(report.Undecided)+
			"; override them to accept the change (nothing is rolled back meanwhile)")
		return ctrl.Result{RequeueAfter: ke.Spec.ExecutionStrategy.BlockedWait()}, nil
	}
	msg := fmt.Sprintf("%d postconditions verified", len(report.Results))
	if enforcement.Mode == "off" {
		msg = "validation mode off: postconditions not evaluated"
	}
	s.setCondition(commonv1alpha1.PostconditionsVerifiedCondition, metav1.ConditionTrue, commonv1alpha1.PostconditionsVerifiedReason, msg)
	s.finish(r, kev1alpha1.ExecutionCompleted, commonv1alpha1.SucceededReason, msg)
	return ctrl.Result{}, nil
}

// isCurrent reports whether ke is the latest version on the API server. The cache
// may lag behind this reconciler's own last status write; acting on a stale copy
// would call the (idempotent) executor once more for nothing.
func (r *Reconciler) isCurrent(ctx context.Context, ke *kev1alpha1.KubernetesExecution) (bool, error) {
	if r.APIReader == nil {
		return true, nil
	}
	var live kev1alpha1.KubernetesExecution
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ke), &live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return live.ResourceVersion == ke.ResourceVersion, nil
}

func affectedResource(ke *kev1alpha1.KubernetesExecution) *kev1alpha1.AffectedResource {
	if ke.Status.ExecutionResults == nil || len(ke.Status.ExecutionResults.ResourcesAffected) == 0 {
		return nil
	}
	return &ke.Status.ExecutionResults.ResourcesAffected[0]
}

func objectName(a *kev1alpha1.AffectedResource) string {
	if a.Namespace == "" {
		return a.Name
	}
	return a.Namespace + "/" + a.Name
}

// Backoff between tries of a failed call.
const (
	firstBackoff = time.Second
	maxBackoff   = 30 * time.Second
)

// backoff is the delay before try n+1 of a failed call: 1s, 2s, 4s, ... up to 30s.
func backoff(n int32) time.Duration {
	d := firstBackoff << min(n-1, 5)
	return min(d, maxBackoff)
}

// executorParams are the parameters an executor sees: the action's, and the
// execution it acts for (notify_only's Event points at it).
func executorParams(params map[string]any, ke *kev1alpha1.KubernetesExecution) map[string]any {
	return catalog.WithExecution(params, ke.Name, ke.UID)
}
