package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/evaluation"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/runstatus"
	"kubernaut.io/stepvalidation/reconcilers/wake"
)

// runSteps advances every step that can move, then decides the workflow's phase
// from the steps' states.
func (r *Reconciler) runSteps(ctx context.Context, s *scope) (ctrl.Result, error) {
	var next time.Time
	wake := func(at time.Time) {
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	steps := s.wfe.Spec.WorkflowDefinition.Steps
	for i := range steps {
		step := &steps[i]
		st := s.stepStatus(step.StepNumber)
		var at time.Time
		var err error
		switch st.Status {
		case workflowv1alpha1.StepPending:
			if s.criticalFailure() != nil {
				continue // no new step after a critical failure
			}
			at, err = r.startStep(ctx, s, i, st)
		case workflowv1alpha1.StepExecuting:
			at, err = r.watchStep(ctx, s, step, st)
		case workflowv1alpha1.StepBlocked:
			if st.K8sExecutionRef != nil {
				at, err = r.watchStep(ctx, s, step, st) // blocked by its execution
			}
		case workflowv1alpha1.StepVerifying:
			at, err = r.verifyStep(ctx, s, step, st)
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		wake(at)
	}
	r.decide(s)
	// Whatever the steps wait for, the workflow's own timeout ends the wait.
	deadline, _ := workflowDeadline(s.wfe)
	wake(deadline)
	switch s.wfe.Status.Phase {
	case workflowv1alpha1.WorkflowBlocked:
		wake(runstatus.BlockedSince(s.wfe.Status.Conditions, s.now).Add(s.wfe.Spec.ExecutionStrategy.BlockedWait()))
	case workflowv1alpha1.WorkflowPaused:
		wake(s.now.Add(pause.PollInterval))
	}
	if next.IsZero() || terminalPhase(s.wfe.Status.Phase) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(s.now), time.Millisecond)}, nil
}

// decide sets the workflow's phase from its steps.
func (r *Reconciler) decide(s *scope) {
	var running, blocked, failed []int32
	done := true
	for _, st := range s.wfe.Status.StepStatuses {
		switch st.Status {
		case workflowv1alpha1.StepExecuting, workflowv1alpha1.StepVerifying:
			done = false
			if !slices.Contains(s.heldSteps, st.StepNumber) {
				running = append(running, st.StepNumber)
			}
		case workflowv1alpha1.StepBlocked:
			blocked = append(blocked, st.StepNumber)
			done = false
		case workflowv1alpha1.StepFailed:
			failed = append(failed, st.StepNumber)
		case workflowv1alpha1.StepPending:
			done = false
		}
	}
	if critical := s.criticalFailure(); critical != nil {
		if len(running) > 0 {
			s.transition(r, workflowv1alpha1.WorkflowExecuting, commonv1alpha1.RunningReason,
				fmt.Sprintf("step %d failed; waiting for steps %s to finish before reacting", critical.StepNumber, numbers(running)))
			return
		}
		r.onCriticalFailure(s, critical)
		return
	}
	switch {
	case s.held != "" && len(running) == 0 && len(blocked) == 0:
		s.transition(r, workflowv1alpha1.WorkflowPaused, commonv1alpha1.PausedReason, s.held)
	case len(blocked) > 0 && len(running) == 0:
		var reasons []string
		undecided := true
		for _, n := range blocked {
			st := s.stepStatus(n)
			reasons = append(reasons, fmt.Sprintf("step %d: %s", n, st.Message))
			undecided = undecided && st.K8sExecutionRef != nil && slices.ContainsFunc(st.PostConditionResults,
				func(c commonv1alpha1.ConditionResult) bool { return c.Inconclusive })
		}
		if undecided {
			s.undecided(r, strings.Join(reasons, "; "))
		} else {
			s.block(r, strings.Join(reasons, "; "))
		}
	case done && len(failed) == 0:
		s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionTrue, commonv1alpha1.PreconditionsPassedReason, "every step's required preconditions passed")
		s.setCondition(commonv1alpha1.ExecutedCondition, metav1.ConditionTrue, commonv1alpha1.ExecutedReason, "every step acted")
		s.setCondition(commonv1alpha1.PostconditionsVerifiedCondition, metav1.ConditionTrue, commonv1alpha1.PostconditionsVerifiedReason, "every step's required postconditions passed")
		s.finish(r, workflowv1alpha1.WorkflowCompleted, commonv1alpha1.SucceededReason,
			fmt.Sprintf("all %d steps completed", len(s.wfe.Status.StepStatuses)))
	case done:
		s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.FailedReason,
			fmt.Sprintf("steps %s failed (not critical: nothing rolled back): %s", numbers(failed), s.stepStatus(failed[0]).Message))
	case len(running) > 0 && allVerifying(s):
		s.transition(r, workflowv1alpha1.WorkflowMonitoring, commonv1alpha1.RunningReason, "verifying the postconditions of steps "+numbers(running))
	default:
		s.transition(r, workflowv1alpha1.WorkflowExecuting, commonv1alpha1.RunningReason, "running the steps")
	}
}

// startStep starts a pending step whose dependencies completed: its preconditions,
// then its KubernetesExecution. A dependency that did not complete skips it.
func (r *Reconciler) startStep(ctx context.Context, s *scope, i int, st *workflowv1alpha1.StepStatus) (time.Time, error) {
	step := &s.wfe.Spec.WorkflowDefinition.Steps[i]
	for _, dep := range dependencies(s.wfe.Spec.WorkflowDefinition.Steps, i) {
		switch s.stepStatus(dep).Status {
		case workflowv1alpha1.StepCompleted:
			continue
		case workflowv1alpha1.StepFailed, workflowv1alpha1.StepSkipped, workflowv1alpha1.StepRolledBack:
			setStep(st, workflowv1alpha1.StepSkipped, fmt.Sprintf("skipped: step %d it depends on did not complete", dep))
			s.stepEvent(r, corev1.EventTypeWarning, commonv1alpha1.StepSkippedReason, step.StepNumber, "%s", st.Message)
			return time.Time{}, nil
		default:
			return time.Time{}, nil // waits for dep
		}
	}

	params, err := decodeParameters(step)
	if err != nil {
		r.failStep(s, st, err.Error())
		return time.Time{}, nil
	}
	action, ok := catalog.Lookup(step.Action)
	if !ok {
		r.failStep(s, st, fmt.Sprintf("action %q is not in the catalog", step.Action))
		return time.Time{}, nil
	}
	if held, err := r.heldByPause(ctx, s, action, params); err != nil || held {
		return time.Time{}, err
	}
	// The step's facts are read only for a requester who may act on its target.
	if refused, err := r.Authority.Check(ctx, s.wfe.Annotations, action, params, s.wfe.Namespace); err != nil || refused != "" {
		if refused != "" {
			r.failStep(s, st, refused)
		}
		return time.Time{}, err
	}
	report, err := evaluation.Preconditions(ctx, r.Conditions, s.enforcement, evaluation.Round{Round: check.Round{
		Service: metrics.ServiceWorkflow, Action: step.Action, Parameters: withNamespace(params, s.wfe.Namespace),
		Phase: facts.Pre, Conditions: step.PreConditions, Target: check.RecordedTarget(step.Action, params, s.wfe),
	}}, s.now)
	if err != nil {
		return time.Time{}, err
	}
	st.PreConditionResults = report.Results
	r.warn(s, step.StepNumber, commonv1alpha1.PreconditionWarningReason, report.Warnings)
	if !report.Passed() {
		setStep(st, workflowv1alpha1.StepBlocked, "blocked by required precondition: "+evaluation.Summary(report.Blocking))
		s.stepEvent(r, corev1.EventTypeWarning, commonv1alpha1.PreconditionFailedReason, step.StepNumber, "%s", st.Message)
		return time.Time{}, nil
	}
	name := executionName(s.wfe.Name, step.StepNumber, 0)
	if ok, err := r.startExecution(ctx, s, st, name, step); !ok {
		return time.Time{}, err
	}
	now := metav1.NewTime(s.now)
	st.StartTime = &now
	setStep(st, workflowv1alpha1.StepExecuting, "running "+name)
	st.K8sExecutionRef = &workflowv1alpha1.ExecutionReference{Name: name}
	// No Event: the execution's own says what it did, and the step's end is one.
	return stepDeadline(step, st), nil
}

// cacheLag bounds how long a step waits for the execution it created to reach the
// cache, in case the watch event that normally wakes it is lost.
const cacheLag = 2 * time.Second

// watchStep follows a step's KubernetesExecution until it ends.
func (r *Reconciler) watchStep(ctx context.Context, s *scope, step *workflowv1alpha1.WorkflowStep, st *workflowv1alpha1.StepStatus) (time.Time, error) {
	// A blocked step waits for a person: the blocked timeout bounds that, not the step's.
	if deadline := stepDeadline(step, st); st.Status != workflowv1alpha1.StepBlocked && !deadline.IsZero() && !s.now.Before(deadline) {
		r.failStep(s, st, fmt.Sprintf("timed out after %s", step.Timeout.Duration))
		return time.Time{}, nil
	}
	var ke *kev1alpha1.KubernetesExecution
	if st.K8sExecutionRef != nil {
		ke = s.children[st.K8sExecutionRef.Name]
	}
	if ke == nil {
		// Created, and not yet in the cache; its creation will wake us.
		return s.now.Add(cacheLag), nil
	}
	switch ke.Status.Phase {
	case kev1alpha1.ExecutionBlocked:
		// The execution waits for an override; so does the step, and the workflow.
		if st.Status != workflowv1alpha1.StepBlocked {
			setStep(st, workflowv1alpha1.StepBlocked, fmt.Sprintf("%s blocked: %s", ke.Name, ke.Status.Message))
			s.stepEvent(r, corev1.EventTypeWarning, commonv1alpha1.PreconditionFailedReason, step.StepNumber, "%s", st.Message)
		}
		return time.Time{}, nil
	case kev1alpha1.ExecutionCompleted:
		if st.Status != workflowv1alpha1.StepBlocked { // blocked: on inconclusive postconditions
			setStep(st, workflowv1alpha1.StepVerifying, "verifying the step's postconditions")
		}
		return r.verifyStep(ctx, s, step, st)
	case kev1alpha1.ExecutionFailed:
		if st.RetriesAttempted < maxRetries(s.wfe, step) && retryable(ke) {
			st.RetriesAttempted++
			name := executionName(s.wfe.Name, step.StepNumber, st.RetriesAttempted)
			if ok, err := r.startExecution(ctx, s, st, name, step); !ok {
				return time.Time{}, err
			}
			st.K8sExecutionRef = &workflowv1alpha1.ExecutionReference{Name: name}
			setStep(st, st.Status, fmt.Sprintf("retry %d: %s failed: %s; running %s", st.RetriesAttempted, ke.Name, ke.Status.Message, name))
			s.stepEvent(r, corev1.EventTypeWarning, commonv1alpha1.StepRetriedReason, step.StepNumber, "%s", st.Message)
			return stepDeadline(step, st), nil
		}
		r.failStep(s, st, fmt.Sprintf("%s failed: %s", ke.Name, ke.Status.Message))
	case kev1alpha1.ExecutionDenied, kev1alpha1.ExecutionRollbackReady:
		r.failStep(s, st, fmt.Sprintf("%s %s: %s", ke.Name, ke.Status.Phase, ke.Status.Message))
	case kev1alpha1.ExecutionPaused:
		setStep(st, workflowv1alpha1.StepExecuting, ke.Name+" paused: "+ke.Status.Message)
		s.held = ke.Status.Message
		s.heldSteps = append(s.heldSteps, st.StepNumber)
	default:
		if st.Status == workflowv1alpha1.StepBlocked {
			// An override lifted the execution's block: it runs again.
			setStep(st, workflowv1alpha1.StepExecuting, "running "+ke.Name+" again: "+ke.Status.Message)
		}
	}
	return stepDeadline(step, st), nil
}

// heldByPause reports whether an administrator paused new actions in the
// workflow's namespace, the step's target namespace or cluster-wide, so that the
// step does not start; the reason is kept for the workflow's status.
func (r *Reconciler) heldByPause(ctx context.Context, s *scope, action *catalog.Action, params map[string]any) (bool, error) {
	p, err := r.Pauses.For(ctx, s.wfe.Namespace, action.TargetNamespace(params))
	if err != nil || !p.Active() {
		return false, err
	}
	s.held = p.String()
	return true, nil
}

// verifyStep polls the step's postconditions, within the step's timeout.
func (r *Reconciler) verifyStep(ctx context.Context, s *scope, step *workflowv1alpha1.WorkflowStep, st *workflowv1alpha1.StepStatus) (time.Time, error) {
	waiting := wake.Key{Controller: ControllerName, Request: reconcile.Request{NamespacedName: client.ObjectKeyFromObject(s.wfe)},
		Round: fmt.Sprintf("step-%d", step.StepNumber)}
	defer func() {
		if st.Status != workflowv1alpha1.StepVerifying {
			r.Waker.ForgetRound(waiting)
		}
	}()
	deadline := stepDeadline(step, st)
	if st.Status == workflowv1alpha1.StepBlocked {
		deadline = time.Time{} // waiting for a person: the blocked timeout bounds it
	}
	if !deadline.IsZero() && !s.now.Before(deadline) {
		r.failStep(s, st, fmt.Sprintf("timed out after %s while verifying its postconditions", step.Timeout.Duration))
		return time.Time{}, nil
	}
	params, err := decodeParameters(step)
	if err != nil {
		r.failStep(s, st, err.Error())
		return time.Time{}, nil
	}
	params = withNamespace(params, s.wfe.Namespace)
	if ke := s.children[st.K8sExecutionRef.Name]; ke != nil {
		if a := affected(ke); a != nil {
			params[catalog.BeforeParam] = a.Before
		}
	}
	report, err := evaluation.Postconditions(ctx, r.Conditions, s.enforcement, r.Waker.Round(waiting, r.Conditions.Reader, evaluation.Round{Round: check.Round{
		Service: metrics.ServiceWorkflow, Action: step.Action, Parameters: params,
		Phase: facts.Post, Conditions: step.PostConditions, Target: check.RecordedTarget(step.Action, params, s.wfe),
	}}), st.PostConditionResults, s.now)
	if err != nil {
		return time.Time{}, err
	}
	st.PostConditionResults = report.Results
	if !report.Done {
		if !deadline.IsZero() && deadline.Before(report.NextAt) {
			return deadline, nil
		}
		return report.NextAt, nil
	}
	r.warn(s, step.StepNumber, commonv1alpha1.PostconditionWarningReason, report.Warnings)
	if len(report.Blocking) > 0 {
		for _, f := range report.Blocking {
			metrics.RecordFailedByPostcondition(step.Action, metrics.ConditionTypeLabel(f.Type, r.Conditions.Library.Has))
		}
		r.failStep(s, st, "required postcondition failed: "+evaluation.Summary(report.Blocking))
		return time.Time{}, nil
	}
	if len(report.Undecided) > 0 {
		if st.Status != workflowv1alpha1.StepBlocked {
			setStep(st, workflowv1alpha1.StepBlocked, "required postconditions inconclusive, no data to decide on: "+
				evaluation.Summary(report.Undecided)+"; override them to accept the change (nothing is rolled back meanwhile)")
			s.stepEvent(r, corev1.EventTypeWarning, commonv1alpha1.InconclusiveReason, step.StepNumber, "%s", st.Message)
		}
		return time.Time{}, nil
	}
	now := metav1.NewTime(s.now)
	st.EndTime = &now
	setStep(st, workflowv1alpha1.StepCompleted, "completed")
	s.stepEvent(r, corev1.EventTypeNormal, commonv1alpha1.StepCompletedReason, step.StepNumber, "%s completed; %d postconditions verified", step.Action, len(report.Results))
	return time.Time{}, nil
}

// failStep ends a step as failed. Its message may quote many refusals (one per
// missing permission of a refused execution): status keeps the first
// text.MaxMessageBytes.
func (r *Reconciler) failStep(s *scope, st *workflowv1alpha1.StepStatus, message string) {
	now := metav1.NewTime(s.now)
	st.EndTime = &now
	setStep(st, workflowv1alpha1.StepFailed, message)
	s.stepEvent(r, corev1.EventTypeWarning, commonv1alpha1.StepFailedReason, st.StepNumber, "%s", message)
}

// createExecution creates one KubernetesExecution owned by the workflow, for the
// workflow's requester. One that exists already is the workflow's own from a
// reconcile whose status write was lost, if it is ours (see ours); anything else
// in the way is a *notOursError, which waiting does not fix.
func (r *Reconciler) createExecution(ctx context.Context, s *scope, name, action string, params *runtime.RawExtension, timeout *metav1.Duration) error {
	ke := &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.wfe.Namespace,
			Labels: map[string]string{WorkflowLabel: truncateLabel(s.wfe.Name)},
			// The webhook keeps this only because the manager sends it.
			Annotations: map[string]string{commonv1alpha1.RequestedByAnnotation: s.wfe.Annotations[commonv1alpha1.RequestedByAnnotation]},
		},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action: action, Parameters: params.DeepCopy(), Timeout: timeout,
			// A step blocked by its execution waits as long as the workflow would.
			ExecutionStrategy: commonv1alpha1.Gates{BlockedTimeout: s.wfe.Spec.ExecutionStrategy.BlockedTimeout},
		},
	}
	// A workflow that opted out of the catalog's conditions opted its steps out too.
	if v, ok := s.wfe.Annotations[commonv1alpha1.InjectConditionsAnnotation]; ok {
		ke.Annotations[commonv1alpha1.InjectConditionsAnnotation] = v
	}
	if err := controllerutil.SetControllerReference(s.wfe, ke, r.Client.Scheme()); err != nil {
		return err
	}
	err := r.Client.Create(ctx, ke)
	if apierrors.IsAlreadyExists(err) {
		var existing kev1alpha1.KubernetesExecution
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.wfe.Namespace, Name: name}, &existing); err != nil {
			return fmt.Errorf("reading KubernetesExecution %s, which exists already: %w", name, err)
		}
		if !ours(s.wfe, &existing) || existing.Spec.Action != action {
			return &cannotCreateError{fmt.Sprintf("KubernetesExecution %s exists and was not created by the manager for this workflow; "+
				"delete it, or run the workflow under another name", name)}
		}
		return nil
	}
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
		// The webhooks refused it: the requester lost a permission the step needs,
		// say. Trying again asks the same.
		return &cannotCreateError{fmt.Sprintf("KubernetesExecution %s was refused: %v", name, err)}
	}
	if err != nil {
		return fmt.Errorf("creating KubernetesExecution %s: %w", name, err)
	}
	return nil
}

// ours says whether ke is an execution the manager created for wfe: controlled by
// it (only the manager may set that reference: the webhook refuses it to anyone
// else) and run for the workflow's requester.
func ours(wfe *workflowv1alpha1.WorkflowExecution, ke *kev1alpha1.KubernetesExecution) bool {
	requester, ok := wfe.Annotations[commonv1alpha1.RequestedByAnnotation]
	return ok && metav1.IsControlledBy(ke, wfe) && ke.Annotations[commonv1alpha1.RequestedByAnnotation] == requester
}

// cannotCreateError says why an execution the workflow needs cannot be created,
// for as long as nobody changes something: another object holds its name, or the
// webhooks refuse it.
type cannotCreateError struct{ msg string }

func (e *cannotCreateError) Error() string { return e.msg }

// startExecution creates a step's execution; ok is false when it cannot be
// created, which failed the step.
func (r *Reconciler) startExecution(ctx context.Context, s *scope, st *workflowv1alpha1.StepStatus, name string, step *workflowv1alpha1.WorkflowStep) (ok bool, _ error) {
	err := r.createExecution(ctx, s, name, step.Action, step.Parameters, step.Timeout)
	var cannot *cannotCreateError
	if errors.As(err, &cannot) {
		r.failStep(s, st, cannot.Error())
		return false, nil
	}
	return err == nil, err
}

// reconsider keeps a blocked workflow waiting for an override, up to
// blockedTimeout. Steps blocked by their own preconditions go back to pending once
// every blocking condition is overridden; steps blocked by their execution follow
// it (the execution sees the workflow's override and validates again).
func (r *Reconciler) reconsider(ctx context.Context, s *scope) (ctrl.Result, error) {
	wait := s.wfe.Spec.ExecutionStrategy.BlockedWait()
	if !s.now.Before(runstatus.BlockedSince(s.wfe.Status.Conditions, s.now).Add(wait)) {
		s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.BlockedTimedOutReason,
			fmt.Sprintf("no override within the blockedTimeout of %s; %s", wait, s.wfe.Status.Message))
		return ctrl.Result{}, nil
	}
	for i := range s.wfe.Status.StepStatuses {
		st := &s.wfe.Status.StepStatuses[i]
		if st.Status == workflowv1alpha1.StepBlocked && st.K8sExecutionRef == nil && evaluation.Lifted(st.PreConditionResults, s.enforcement) {
			setStep(st, workflowv1alpha1.StepPending, "")
			st.PreConditionResults = nil
		}
	}
	res, err := r.runSteps(ctx, s)
	if err == nil && s.wfe.Status.Phase != workflowv1alpha1.WorkflowBlocked && !terminalPhase(s.wfe.Status.Phase) {
		msg := "the blocking preconditions are overridden (" + evaluation.Describe(s.enforcement.Overrides) + ")"
		s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionUnknown, commonv1alpha1.OverriddenReason, msg)
	}
	return res, err
}

// warn emits one Warning Event for a step's conditions that failed without
// blocking.
func (r *Reconciler) warn(s *scope, n int32, reason string, failures []evaluation.Failure) {
	if len(failures) == 0 {
		return
	}
	note := evaluation.Summary(failures)
	if s.enforcement.Mode == mode.Warn {
		note = "validation mode warn, not enforced: " + note
	}
	s.stepEvent(r, corev1.EventTypeWarning, reason, n, "%s", note)
}

// criticalFailure returns the status of a failed critical step, if any.
func (s *scope) criticalFailure() *workflowv1alpha1.StepStatus {
	for _, step := range s.wfe.Spec.WorkflowDefinition.Steps {
		if st := s.stepStatus(step.StepNumber); step.CriticalStep && st.Status == workflowv1alpha1.StepFailed {
			return st
		}
	}
	return nil
}

// dependencies returns the step numbers step i waits for: its dependsOn, or the
// previous step when dependsOn is absent (the webhook writes that default; this
// covers objects admitted without it).
func dependencies(steps []workflowv1alpha1.WorkflowStep, i int) []int32 {
	if steps[i].DependsOn != nil {
		return steps[i].DependsOn
	}
	if i == 0 {
		return nil
	}
	return []int32{steps[i-1].StepNumber}
}

func decodeParameters(step *workflowv1alpha1.WorkflowStep) (map[string]any, error) {
	var raw []byte
	if step.Parameters != nil {
		raw = step.Parameters.Raw
	}
	params, err := catalog.DecodeParameters(raw)
	if err != nil {
		return nil, fmt.Errorf("spec.workflowDefinition.steps[stepNumber=%d].parameters: %w", step.StepNumber, err)
	}
	return params, nil
}

func withNamespace(params map[string]any, namespace string) map[string]any {
	out := maps.Clone(params)
	out[catalog.NamespaceParam] = namespace
	return out
}

// executionName is <workflow>-step-<n> for a step's first try, with -retry-<k> for
// its retries.
func executionName(workflow string, n, retry int32) string {
	suffix := "step-" + strconv.Itoa(int(n))
	if retry > 0 {
		suffix += "-retry-" + strconv.Itoa(int(retry))
	}
	return childName(workflow, suffix)
}

// maxChildName keeps the names of a workflow's executions within a DNS label, as
// tools that put an object's name in a label expect.
const maxChildName = 63

// childName is <workflow>-<suffix>, or, when that is longer than maxChildName, the
// workflow's name cut short with a hash of the whole name before the suffix, so
// that two long workflow names with a common start still name different children.
func childName(workflow, suffix string) string {
	if name := workflow + "-" + suffix; len(name) <= maxChildName {
		return name
	}
	sum := sha256.Sum256([]byte(workflow))
	hash := hex.EncodeToString(sum[:])[:8]
	keep := maxChildName - len(suffix) - len(hash) - 2
	return strings.TrimRight(workflow[:keep], "-.") + "-" + hash + "-" + suffix
}

func stepDeadline(step *workflowv1alpha1.WorkflowStep, st *workflowv1alpha1.StepStatus) time.Time {
	if step.Timeout == nil || step.Timeout.Duration <= 0 || st.StartTime == nil {
		return time.Time{}
	}
	return st.StartTime.Add(step.Timeout.Duration)
}

func maxRetries(wfe *workflowv1alpha1.WorkflowExecution, step *workflowv1alpha1.WorkflowStep) int32 {
	if step.MaxRetries != nil {
		return *step.MaxRetries
	}
	if wfe.Spec.ExecutionStrategy.MaxRetries != nil {
		return *wfe.Spec.ExecutionStrategy.MaxRetries
	}
	return 0
}

// retryable reports whether trying the step again could help: not when its
// parameters are wrong or a dry run refused it, which a retry repeats.
func retryable(ke *kev1alpha1.KubernetesExecution) bool {
	c := apimeta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.SucceededCondition)
	if c == nil {
		return true
	}
	switch c.Reason {
	case commonv1alpha1.InvalidParametersReason, commonv1alpha1.DryRunFailedReason,
		// A person decided, or did not within the time given: a retry would ask again.
		commonv1alpha1.RejectedReason, commonv1alpha1.ApprovalTimedOutReason, commonv1alpha1.BlockedTimedOutReason:
		return false
	}
	return true
}

func allVerifying(s *scope) bool {
	for _, st := range s.wfe.Status.StepStatuses {
		if st.Status == workflowv1alpha1.StepExecuting || st.Status == workflowv1alpha1.StepPending || st.Status == workflowv1alpha1.StepBlocked {
			return false
		}
	}
	return true
}

func numbers(ns []int32) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(int(n))
	}
	return strings.Join(parts, ", ")
}

// terminalPhase reports whether the workflow is over. blocked is not: it waits
// for an override up to blockedTimeout.
func terminalPhase(p workflowv1alpha1.WorkflowPhase) bool {
	return p == workflowv1alpha1.WorkflowCompleted || p == workflowv1alpha1.WorkflowFailed
}

// WorkflowLabel is set on a workflow's executions to its name (cut to 63
// characters), for kubectl get ke -l.
const WorkflowLabel = "kubernaut.io/workflow"

func truncateLabel(s string) string {
	if len(s) <= 63 {
		return s
	}
	return strings.TrimRight(s[:63], "-_.")
}

func affected(ke *kev1alpha1.KubernetesExecution) *kev1alpha1.AffectedResource {
	if ke.Status.ExecutionResults == nil || len(ke.Status.ExecutionResults.ResourcesAffected) == 0 {
		return nil
	}
	return &ke.Status.ExecutionResults.ResourcesAffected[0]
}
