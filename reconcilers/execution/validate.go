package execution

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/approval"
	"kubernaut.io/stepvalidation/reconcilers/evaluation"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/runstatus"
)

// validate runs the checks before acting, in order, and stops at the first that
// does not pass: parameters, RBAC, safety policies, preconditions, dry run. Then it
// waits for approval, or records the intent to act.
func (r *Reconciler) validate(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	results := s.results()

	action, params, problem := parameters(ke)
	if problem != "" {
		results.Parameters = s.check(false, problem)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.InvalidParametersReason, problem)
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.InvalidParametersReason, problem)
		return ctrl.Result{}, nil
	}
	results.Parameters = s.check(true, "parameters fit the action's schema")

	// Nothing about the target is read before its requester may act on it.
	if refused, err := r.Authority.Check(ctx, ke.Annotations, action, params, ke.Namespace); err != nil || refused != "" {
		if err != nil {
			return ctrl.Result{}, err
		}
		results.RBAC = s.check(false, refused)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.ForbiddenReason, refused)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.ForbiddenReason, refused)
		return ctrl.Result{}, nil
	}

	safetyDoc, err := r.Preflight.SafetyInput(ctx, action.Name, params)
	if err != nil {
		return ctrl.Result{}, err
	}
	targetNamespace, _ := safetyDoc["target_namespace"].(string)

	denied, err := r.Preflight.ServiceAccount(ctx, action, targetNamespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if denied != "" {
		results.RBAC = s.check(false, denied)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.ForbiddenReason, denied)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.ForbiddenReason, denied)
		return ctrl.Result{}, nil
	}
	results.RBAC = s.check(true, fmt.Sprintf("the requester and %s may do what %s needs", r.Preflight.ServiceAccountUsername(action), action.Name))

	if refusals := r.Preflight.Safety(ctx, safetyDoc); len(refusals) > 0 {
		msg := preflight.SafetyRefusal(refusals)
		results.Safety = s.check(false, msg)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.SafetyPolicyDeniedReason, msg)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.SafetyPolicyDeniedReason, msg)
		return ctrl.Result{}, nil
	}
	results.Safety = s.check(true, fmt.Sprintf("%d safety policies allow the action", len(r.Conditions.Library.SafetyPolicies())))
	s.checked = true

	enforcement, err := r.enforcement(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	report, err := evaluation.Preconditions(ctx, r.Conditions, enforcement, evaluation.Round{Round: check.Round{
		Service: metrics.ServiceExecution, Action: action.Name, Parameters: factParams(params, ke, nil),
		Phase: facts.Pre, Conditions: ke.Spec.PreConditions, Target: check.RecordedTarget(action.Name, params, ke),
	}}, s.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	results.PreConditionResults = report.Results
	r.warn(s, commonv1alpha1.PreconditionWarningReason, report.Warnings, enforcement.Mode)
	if !report.Passed() {
		s.block(r, "blocked by required precondition: "+evaluation.Summary(report.Blocking))
		return ctrl.Result{RequeueAfter: ke.Spec.ExecutionStrategy.BlockedWait()}, nil
	}
	s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionTrue, commonv1alpha1.PreconditionsPassedReason,
		preconditionsMessage(report, enforcement.Mode))

	if msg, ok := r.dryRun(ctx, s, action, params); !ok {
		results.DryRun = s.check(false, msg)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.DryRunFailedReason, msg)
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.DryRunFailedReason, msg)
		return ctrl.Result{}, nil
	} else {
		results.DryRun = s.check(true, msg)
	}
	s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionTrue, commonv1alpha1.ValidationPassedReason,
		"parameters, RBAC, safety policies and the server-side dry run passed")

	if ke.Spec.ExecutionStrategy.ApprovalRequired {
		return r.awaitApproval(ctx, s)
	}
	return r.proceed(ctx, s, action, params)
}

// undecided reports whether a blocked run waits on inconclusive postconditions
// (runstatus.Undecided) rather than on failed preconditions.
func undecided(conds []metav1.Condition) bool {
	c := apimeta.FindStatusCondition(conds, commonv1alpha1.PostconditionsVerifiedCondition)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == commonv1alpha1.InconclusiveReason
}

// reconsider keeps a blocked run waiting for an override, up to blockedTimeout.
// Once every blocking condition is listed in an override that applies (its own or
// its workflow's annotation, which only authorized users can set, and not
// expired), validation runs again, the overridden conditions recorded as such. A run
// that acted and waits on inconclusive postconditions is verified again instead.
func (r *Reconciler) reconsider(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	wait := ke.Spec.ExecutionStrategy.BlockedWait()
	deadline := runstatus.BlockedSince(ke.Status.Conditions, s.now).Add(wait)
	if !s.now.Before(deadline) {
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.BlockedTimedOutReason,
			fmt.Sprintf("no override within the blockedTimeout of %s; %s", wait, ke.Status.Message))
		return ctrl.Result{}, nil
	}
	enforcement, err := r.enforcement(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	if undecided(ke.Status.Conditions) {
		// Acted, and its postconditions were left inconclusive: an override of
		// them accepts the change, verified again with them skipped.
		if !evaluation.Lifted(s.results().PostConditionResults, enforcement) {
			return ctrl.Result{RequeueAfter: deadline.Sub(s.now)}, nil
		}
		ke.Status.CompletionTime = nil
		s.transition(r, kev1alpha1.ExecutionVerifying, commonv1alpha1.OverriddenReason,
			"the inconclusive postconditions are overridden ("+evaluation.Describe(enforcement.Overrides)+")")
		return r.verify(ctx, s)
	}
	var results []commonv1alpha1.ConditionResult
	if ke.Status.ValidationResults != nil {
		results = ke.Status.ValidationResults.PreConditionResults
	}
	if !evaluation.Lifted(results, enforcement) {
		return ctrl.Result{RequeueAfter: deadline.Sub(s.now)}, nil
	}
	ke.Status.CompletionTime = nil
	msg := "the blocking preconditions are overridden (" + evaluation.Describe(enforcement.Overrides) + "); validating again"
	s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionUnknown, commonv1alpha1.OverriddenReason, msg)
	s.transition(r, kev1alpha1.ExecutionValidating, commonv1alpha1.OverriddenReason, msg)
	return r.validate(ctx, s)
}

// awaitApproval waits for approvalsRequired approvers in spec.approvals, up to the
// approval timeout; one reject fails the run. Once approved, the requester's
// rights are checked again (an approval may come long after validation) before
// the run goes on.
func (r *Reconciler) awaitApproval(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	since := s.now
	if ke.Status.StartTime != nil {
		since = ke.Status.StartTime.Time
	}
	v := approval.Decide(&ke.Spec.ExecutionStrategy, ke.Spec.Approvals, ke.Status.RequestedBy, r.AllowSelfApproval, since, s.now)
	switch v.Outcome {
	case approval.Rejected:
		s.setCondition(commonv1alpha1.ExecutedCondition, metav1.ConditionFalse, commonv1alpha1.RejectedReason, v.Message)
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.RejectedReason, v.Message)
		return ctrl.Result{}, nil
	case approval.TimedOut:
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.ApprovalTimedOutReason, v.Message)
		return ctrl.Result{}, nil
	case approval.Approved:
		action, params, problem := parameters(ke)
		if problem != "" {
			s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.InvalidParametersReason, problem)
			return ctrl.Result{}, nil
		}
		if denied, err := r.recheck(ctx, s, action, params); err != nil || denied {
			return ctrl.Result{}, err
		}
		s.setCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, commonv1alpha1.ApprovedReason, v.Message)
		return r.proceed(ctx, s, action, params)
	}
	s.transition(r, kev1alpha1.ExecutionWaitingApproval, commonv1alpha1.AwaitingApprovalReason,
		fmt.Sprintf("%s: kubernaut approve ke/%s -n %s --reason ...", v.Message, ke.Name, ke.Namespace))
	return ctrl.Result{RequeueAfter: v.Deadline.Sub(s.now)}, nil
}

// proceed records the intent to act, unless an administrator paused new actions:
// then the run waits in paused and validates again when the pause ends.
func (r *Reconciler) proceed(ctx context.Context, s *scope, action *catalog.Action, params map[string]any) (ctrl.Result, error) {
	p, err := r.Pauses.For(ctx, s.ke.Namespace, action.TargetNamespace(params))
	if err != nil {
		return ctrl.Result{}, err
	}
	if p.Active() {
		s.transition(r, kev1alpha1.ExecutionPaused, commonv1alpha1.PausedReason, p.String())
		return ctrl.Result{RequeueAfter: pause.PollInterval}, nil
	}
	return r.recordIntent(ctx, s, action, params)
}

// awaitResume keeps a paused run waiting until the pause ends, then validates it
// again from the start: the cluster may have changed meanwhile.
func (r *Reconciler) awaitResume(ctx context.Context, s *scope) (ctrl.Result, error) {
	var target string
	if action, params, problem := parameters(s.ke); problem == "" {
		target = action.TargetNamespace(params)
	}
	p, err := r.Pauses.For(ctx, s.ke.Namespace, target)
	if err != nil {
		return ctrl.Result{}, err
	}
	if p.Active() {
		s.transition(r, kev1alpha1.ExecutionPaused, commonv1alpha1.PausedReason, p.String())
		return ctrl.Result{RequeueAfter: pause.PollInterval}, nil
	}
	s.transition(r, kev1alpha1.ExecutionValidating, commonv1alpha1.ResumedReason, "the pause ended; validating again before acting")
	return r.validate(ctx, s)
}

// observeApprovals records new entries of spec.approvals in status, with an Event
// for each.
func (r *Reconciler) observeApprovals(s *scope) {
	records, fresh := approval.Observe(s.ke.Status.Approvals, s.ke.Spec.Approvals, s.now)
	s.ke.Status.Approvals = records
	for _, a := range fresh {
		r.Recorder.Eventf(s.ke, nil, corev1.EventTypeNormal, approval.EventReason(a), "Approve", "%s", text.CapMessage(approval.Describe(a)))
	}
}

// parameters looks the action up and checks its parameters; problem says what is
// wrong, naming the fields.
func parameters(ke *kev1alpha1.KubernetesExecution) (_ *catalog.Action, _ map[string]any, problem string) {
	path := field.NewPath("spec", "parameters")
	action, ok := catalog.Lookup(ke.Spec.Action)
	if !ok {
		return nil, nil, field.NotSupported(field.NewPath("spec", "action"), ke.Spec.Action, catalog.Names()).Error()
	}
	var raw []byte
	if ke.Spec.Parameters != nil {
		raw = ke.Spec.Parameters.Raw
	}
	params, err := catalog.DecodeParameters(raw)
	if err != nil {
		return nil, nil, field.Invalid(path, string(raw), err.Error()).Error()
	}
	if errs := action.ValidateParameters(params, path); len(errs) > 0 {
		return nil, nil, errs.ToAggregate().Error()
	}
	return action, params, ""
}

// enforcement resolves the validation mode and the overrides of a run, and
// records the overrides in status. An execution a workflow created follows the
// workflow: its mode (the canary hashes the workflow's UID), its override
// annotation and its conditionOverrides.
func (r *Reconciler) enforcement(ctx context.Context, s *scope) (evaluation.Enforcement, error) {
	ke := s.ke
	sources := []evaluation.OverrideSource{{Name: "KubernetesExecution/" + ke.Name, Annotations: ke.Annotations}}
	var overrides []commonv1alpha1.ConditionOverride
	uid := ke.UID
	if owner := metav1.GetControllerOf(ke); owner != nil && owner.Kind == "WorkflowExecution" {
		var wfe workflowv1alpha1.WorkflowExecution
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: owner.Name}, &wfe)
		switch {
		case err == nil:
			sources = append(sources, evaluation.OverrideSource{Name: "WorkflowExecution/" + wfe.Name, Annotations: wfe.Annotations})
			overrides = wfe.Spec.ConditionOverrides
			uid = wfe.UID
		case client.IgnoreNotFound(err) != nil:
			return evaluation.Enforcement{}, fmt.Errorf("reading workflow %s: %w", owner.Name, err)
		}
	}
	m, err := r.Modes.For(ctx, ke.Namespace, uid)
	if err != nil {
		return evaluation.Enforcement{}, err
	}
	e := evaluation.NewEnforcement(m, sources, overrides, s.now)
	for _, o := range evaluation.NewOverrides(ke.Status.Overrides, e.Overrides) {
		r.Recorder.Eventf(ke, nil, corev1.EventTypeNormal, commonv1alpha1.OverriddenReason, "Override", "%s", text.CapMessage(evaluation.Describe([]commonv1alpha1.OverrideRecord{o})))
	}
	ke.Status.Overrides = e.Overrides
	return e, nil
}

// warn emits one Warning Event for the conditions that failed without blocking.
func (r *Reconciler) warn(s *scope, reason string, failures []evaluation.Failure, m mode.Mode) {
	if len(failures) == 0 {
		return
	}
	note := evaluation.Summary(failures)
	if m == mode.Warn {
		note = "validation mode warn, not enforced: " + note
	}
	r.Recorder.Eventf(s.ke, nil, corev1.EventTypeWarning, reason, "Evaluate", "%s", text.CapMessage(note))
}

func preconditionsMessage(report evaluation.Report, m mode.Mode) string {
	switch {
	case m == mode.Off:
		return "validation mode off: preconditions not evaluated"
	case len(report.Warnings) > 0:
		return fmt.Sprintf("%d preconditions evaluated; not enforced: %s", len(report.Results), evaluation.Summary(report.Warnings))
	}
	return fmt.Sprintf("%d preconditions passed", len(report.Results))
}

// dryRun runs the action as a server-side dry run (preflight.Checker.DryRun) and
// keeps what it captured of the target, for acting in this same reconcile.
func (r *Reconciler) dryRun(ctx context.Context, s *scope, action *catalog.Action, params map[string]any) (string, bool) {
	captured, msg, ok := r.Preflight.DryRun(ctx, action, executorParams(params, s.ke), s.ke.Namespace)
	s.captured = captured
	return msg, ok
}

// factParams are the parameters the facts providers see: the action's, the
// execution's namespace and, after acting, the values recorded before.
func factParams(params map[string]any, ke *kev1alpha1.KubernetesExecution, before map[string]string) map[string]any {
	out := maps.Clone(params)
	out[catalog.NamespaceParam] = ke.Namespace
	if before != nil {
		out[catalog.BeforeParam] = before
	}
	return out
}
