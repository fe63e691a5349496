package execution

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/executors"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/evaluation"
	"kubernaut.io/stepvalidation/reconcilers/mode"
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

	safetyDoc, err := facts.SafetyInput(ctx, r.Conditions.Reader, action.Name, params,
		facts.SafetyOptions{ManagerNamespace: r.Namespace, ReplicaCeiling: r.ReplicaCeiling})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading the safety input: %w", err)
	}
	targetNamespace, _ := safetyDoc["target_namespace"].(string)

	denied, err := r.authorize(ctx, action.Name, targetNamespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if denied != "" {
		results.RBAC = s.check(false, denied)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.ForbiddenReason, denied)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.ForbiddenReason, denied)
		return ctrl.Result{}, nil
	}
	results.RBAC = s.check(true, fmt.Sprintf("the requester and %s may do what %s needs", executors.Username(r.Namespace, action.Name), action.Name))

	if refusals := r.safety(ctx, safetyDoc); len(refusals) > 0 {
		msg := "safety policy denied the action: " + strings.Join(refusals, "; ")
		results.Safety = s.check(false, msg)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.SafetyPolicyDeniedReason, msg)
		s.finish(r, kev1alpha1.ExecutionDenied, commonv1alpha1.SafetyPolicyDeniedReason, msg)
		return ctrl.Result{}, nil
	}
	results.Safety = s.check(true, fmt.Sprintf("%d safety policies allow the action", len(r.Conditions.Library.SafetyPolicies())))

	enforcement, err := r.enforcement(ctx, ke)
	if err != nil {
		return ctrl.Result{}, err
	}
	report, err := evaluation.Preconditions(ctx, r.Conditions, enforcement, evaluation.Round{
		Service: metrics.ServiceExecution, Action: action.Name, Parameters: factParams(params, ke, nil),
		Phase: facts.Pre, Conditions: ke.Spec.PreConditions,
	}, s.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	results.PreConditionResults = report.Results
	r.warn(s, "PreconditionWarning", report.Warnings, enforcement.Mode)
	if !report.Passed() {
		for _, f := range report.Blocking {
			metrics.RecordBlocked(action.Name, metrics.ConditionTypeLabel(f.Type, r.Conditions.Library.Has))
		}
		msg := "blocked by required precondition: " + evaluation.Summary(report.Blocking)
		s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionFalse, commonv1alpha1.PreconditionFailedReason, msg)
		s.finish(r, kev1alpha1.ExecutionBlocked, commonv1alpha1.PreconditionFailedReason, msg)
		return ctrl.Result{}, nil
	}
	s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionTrue, commonv1alpha1.PreconditionsPassedReason,
		preconditionsMessage(report, enforcement.Mode))

	if msg, ok := r.dryRun(ctx, s, action.Name, params); !ok {
		results.DryRun = s.check(false, msg)
		s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, commonv1alpha1.DryRunFailedReason, msg)
		s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.DryRunFailedReason, msg)
		return ctrl.Result{}, nil
	} else {
		results.DryRun = s.check(true, msg)
	}
	s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionTrue, commonv1alpha1.ValidationPassedReason,
		"parameters, RBAC, safety policies and the server-side dry run passed")

	if ke.Spec.ExecutionStrategy.ApprovalRequired && len(ke.Spec.Approvals) == 0 {
		s.transition(r, kev1alpha1.ExecutionWaitingApproval, commonv1alpha1.AwaitingApprovalReason,
			"waiting for approval: set spec.approvalReceived to true to let the action run")
		return ctrl.Result{RequeueAfter: approvalTimeout(ke)}, nil
	}
	return r.recordIntent(ctx, s, action, params)
}

// reconsider lifts a precondition block once every blocking condition is listed in
// the override annotation (which only authorized users can set): validation runs
// again, the overridden conditions recorded as such.
func (r *Reconciler) reconsider(ctx context.Context, s *scope) (ctrl.Result, error) {
	results := s.ke.Status.ValidationResults
	if results == nil || len(results.PreConditionResults) == 0 {
		return ctrl.Result{}, nil
	}
	enforcement, err := r.enforcement(ctx, s.ke)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, res := range results.PreConditionResults {
		if !res.Passed && res.Required && !enforcement.Overridden[res.ConditionType] {
			return ctrl.Result{}, nil
		}
	}
	s.ke.Status.CompletionTime = nil
	s.transition(r, kev1alpha1.ExecutionValidating, "Overridden",
		"the blocking preconditions are overridden ("+commonv1alpha1.OverrideConditionAnnotation+"); validating again")
	return ctrl.Result{}, nil
}

// awaitApproval waits for spec.approvalReceived, up to the approval timeout.
func (r *Reconciler) awaitApproval(ctx context.Context, s *scope) (ctrl.Result, error) {
	ke := s.ke
	if len(ke.Spec.Approvals) > 0 {
		action, params, problem := parameters(ke)
		if problem != "" {
			s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.InvalidParametersReason, problem)
			return ctrl.Result{}, nil
		}
		// An approval may come long after validation: the requester must still hold
		// their rights before the target is read again.
		if denied, err := r.recheck(ctx, s, action, params); err != nil || denied {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(ke, nil, corev1.EventTypeNormal, "Approved", "Approve", "approval received")
		return r.recordIntent(ctx, s, action, params)
	}
	deadline := s.now.Add(approvalTimeout(ke))
	if ke.Status.StartTime != nil {
		deadline = ke.Status.StartTime.Add(approvalTimeout(ke))
	}
	if !s.now.Before(deadline) {
		s.finish(r, kev1alpha1.ExecutionFailed, "ApprovalTimedOut",
			fmt.Sprintf("no approval within %s", approvalTimeout(ke)))
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: deadline.Sub(s.now)}, nil
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
	if _, ok := executors.For(action.Name); !ok {
		return nil, nil, fmt.Sprintf("action %s has no executor", action.Name)
	}
	return action, params, ""
}

// authorize asks the API server whether the action's ServiceAccount holds every
// permission the catalog says the action needs, in the target's namespace. It
// returns what is missing, or "". Allowed answers are reused as the requester's
// are (authority.Reviewer); a revoked one is still refused by the API server when
// the executor acts, since it acts as that ServiceAccount.
func (r *Reconciler) authorize(ctx context.Context, action, namespace string) (string, error) {
	rules, err := executors.Permissions(action)
	if err != nil {
		return "", err
	}
	sa := authority.Requester{
		Username: executors.Username(r.Namespace, action),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + r.Namespace, "system:authenticated"},
	}
	missing, err := r.Authority.Missing(ctx, sa, authority.Granted(rules, namespace))
	if err != nil || len(missing) == 0 {
		return "", err
	}
	what := make([]string, len(missing))
	for i, p := range missing {
		what[i] = p.What()
	}
	where := "cluster-wide"
	if namespace != "" {
		where = "in namespace " + namespace
	}
	return fmt.Sprintf("ServiceAccount %s may not %s %s; bind it ClusterRole %s (config/rbac/actions.yaml)",
		sa.Username, strings.Join(what, ", "), where, executors.ClusterRoleName(action)), nil
}

// safety evaluates every safety policy on the safety input and returns the reasons
// of those that deny. A policy that cannot decide denies: a guard rail fails closed.
func (r *Reconciler) safety(ctx context.Context, doc map[string]any) []string {
	var refusals []string
	for _, e := range r.Conditions.Library.SafetyPolicies() {
		res := r.Conditions.Engine.Evaluate(ctx, e.Policy, doc)
		if !res.Passed() {
			refusals = append(refusals, e.Name+": "+res.Message)
		}
	}
	return refusals
}

// enforcement resolves the validation mode and the overrides of a run. An execution
// a workflow created follows the workflow: its mode (the canary hashes the
// workflow's UID), its override annotation and its conditionOverrides.
func (r *Reconciler) enforcement(ctx context.Context, ke *kev1alpha1.KubernetesExecution) (evaluation.Enforcement, error) {
	annotations := []map[string]string{ke.Annotations}
	var overrides []commonv1alpha1.ConditionOverride
	uid := ke.UID
	if owner := metav1.GetControllerOf(ke); owner != nil && owner.Kind == "WorkflowExecution" {
		var wfe workflowv1alpha1.WorkflowExecution
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: owner.Name}, &wfe)
		switch {
		case err == nil:
			annotations = append(annotations, wfe.Annotations)
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
	return evaluation.NewEnforcement(m, annotations, overrides), nil
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
	r.Recorder.Eventf(s.ke, nil, corev1.EventTypeWarning, reason, "Evaluate", "%s", truncate(note, 1024))
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

// dryRun captures the target and runs the action as a server-side dry run, as the
// action's ServiceAccount. An executor asking to wait (a PodDisruptionBudget refusing
// evictions now) passes, with the reason: acting will wait the same way.
func (r *Reconciler) dryRun(ctx context.Context, s *scope, action string, params map[string]any) (string, bool) {
	exec, _ := executors.For(action)
	c, err := r.clientFor(action)
	if err != nil {
		return err.Error(), false
	}
	target, before, err := exec.Capture(ctx, c, executorParams(params, s.ke), s.ke.Namespace)
	if err != nil {
		return err.Error(), false
	}
	if _, err := exec.Act(ctx, c, executorParams(params, s.ke), before, s.ke.Namespace, true); err != nil {
		if errors.Is(err, executors.ErrRetryLater) {
			return "the dry run passed, but acting will wait: " + err.Error(), true
		}
		return err.Error(), false
	}
	return "the API server accepted the change to " + target.String() + " as a dry run", true
}

// factParams are the parameters the facts providers see: the action's, the
// execution's namespace and, after acting, the values recorded before.
func factParams(params map[string]any, ke *kev1alpha1.KubernetesExecution, before map[string]string) map[string]any {
	out := maps.Clone(params)
	out[facts.NamespaceParam] = ke.Namespace
	if before != nil {
		out[facts.BeforeParam] = before
	}
	return out
}

func approvalTimeout(ke *kev1alpha1.KubernetesExecution) time.Duration {
	return ke.Spec.ExecutionStrategy.ApprovalWait()
}
