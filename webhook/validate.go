package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/metrics"
)

var (
	_ admission.Validator[*workflowv1alpha1.WorkflowExecution]              = &workflowValidator{}
	_ admission.Validator[*kubernetesexecutionv1alpha1.KubernetesExecution] = &executionValidator{}
)

// Bounds on a condition's durations beyond what the schema checks.
const (
	maxConditionTimeout = time.Hour
	// minInterval keeps one postcondition from making the manager evaluate and
	// write status many times a second.
	minInterval = time.Second
	// A required postcondition given less than this rarely sees pods settle.
	shortPostconditionTimeout = 10 * time.Second
	// maxConditions bounds a workflow's preconditions and postconditions across its
	// steps, those the mutating webhook injected included (this webhook sees the
	// object after it): each is evaluated and keeps a result in status, and 256
	// results of about 1.3 KiB (a 1 KiB message and the fields around it) leave the
	// status well within its budget (statuspatch.MaxStatusBytes). The schema alone
	// allows 50 steps of 32 and 32.
	maxConditions = 256
	// maxDeclared bounds the metrics queries and objects a run's conditions
	// declare, across its steps: each costs a SubjectAccessReview (and for an
	// unknown kind a discovery request) at admission, and a query or a GET at
	// every evaluation.
	maxDeclared = 32
)

type workflowValidator struct{ w *Webhooks }

func (v *workflowValidator) ValidateCreate(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	return observe(ctx, "WorkflowExecution", "create", func() (admission.Warnings, error) { return v.validate(ctx, nil, wfe) })
}

func (v *workflowValidator) ValidateUpdate(ctx context.Context, old, wfe *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	return observe(ctx, "WorkflowExecution", "update", func() (admission.Warnings, error) { return v.validate(ctx, old, wfe) })
}

func (v *workflowValidator) ValidateDelete(context.Context, *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	return nil, nil
}

// validate checks a workflow on CREATE (old is nil) and UPDATE.
func (v *workflowValidator) validate(ctx context.Context, old, wfe *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	r := review{kind: workflowv1alpha1.GroupVersion.WithKind("WorkflowExecution").GroupKind(), noun: "workflow", obj: wfe}
	if old != nil {
		r.old = old
		r.oldAnnotations, r.startedPhase = old.Annotations, string(old.Status.Phase)
		r.specUnchanged = equality.Semantic.DeepEqual(withoutApproval(old.Spec), withoutApproval(wfe.Spec))
	}
	r.gates = workflowGates(old, wfe, v.w)
	r.checkSpec = func(spec *field.Path) (errs field.ErrorList, warnings admission.Warnings, demands []demand) {
		steps := wfe.Spec.WorkflowDefinition.Steps
		stepsPath := spec.Child("workflowDefinition", "steps")
		tooMany := countConditions(steps, stepsPath)
		errs = append(errs, tooMany...)
		for i := range steps {
			e, w, d := v.w.validateStep(ctx, &steps[i], wfe.Namespace, stepsPath.Index(i), len(tooMany) == 0)
			errs, warnings, demands = append(errs, e...), append(warnings, w...), append(demands, d...)
		}
		errs = append(errs, validateDependencies(steps, stepsPath)...)
		errs = append(errs, validateOverrides(wfe, spec.Child("conditionOverrides"))...)
		return errs, warnings, demands
	}
	r.preflight = func() []string { return v.w.preflightWorkflow(ctx, wfe) }
	return v.w.decide(ctx, r)
}

type executionValidator struct{ w *Webhooks }

func (v *executionValidator) ValidateCreate(ctx context.Context, ke *kubernetesexecutionv1alpha1.KubernetesExecution) (admission.Warnings, error) {
	return observe(ctx, "KubernetesExecution", "create", func() (admission.Warnings, error) { return v.validate(ctx, nil, ke) })
}

func (v *executionValidator) ValidateUpdate(ctx context.Context, old, ke *kubernetesexecutionv1alpha1.KubernetesExecution) (admission.Warnings, error) {
	return observe(ctx, "KubernetesExecution", "update", func() (admission.Warnings, error) { return v.validate(ctx, old, ke) })
}

func (v *executionValidator) ValidateDelete(context.Context, *kubernetesexecutionv1alpha1.KubernetesExecution) (admission.Warnings, error) {
	return nil, nil
}

func (v *executionValidator) validate(ctx context.Context, old, ke *kubernetesexecutionv1alpha1.KubernetesExecution) (admission.Warnings, error) {
	r := review{kind: kubernetesexecutionv1alpha1.GroupVersion.WithKind("KubernetesExecution").GroupKind(), noun: "execution", obj: ke}
	if old != nil {
		r.old = old
		r.oldAnnotations, r.startedPhase = old.Annotations, string(old.Status.Phase)
		r.specUnchanged = equality.Semantic.DeepEqual(withoutApprovalKE(old.Spec), withoutApprovalKE(ke.Spec))
	}
	r.gates = executionGates(old, ke, v.w)
	r.checkSpec = func(spec *field.Path) (field.ErrorList, admission.Warnings, []demand) {
		errs, d := v.w.validateAction(ke.Spec.Action, ke.Spec.Parameters, ke.Namespace, spec)
		if tooMany := countDeclared(spec, ke.Spec.PreConditions, ke.Spec.PostConditions); len(tooMany) > 0 {
			return append(errs, tooMany...), nil, d
		}
		e, w, cd := v.w.validateConditions(ctx, conditionScope{ke.Spec.Action, ke.Spec.Parameters, ke.Namespace},
			ke.Spec.PreConditions, ke.Spec.PostConditions, spec)
		return append(errs, e...), w, append(d, cd...)
	}
	r.guardOwners = true
	r.preflight = func() []string { return v.w.preflightExecution(ctx, ke) }
	return v.w.decide(ctx, r)
}

// withoutApproval and withoutApprovalKE drop the approvals, the one spec field an
// approver may change on a started object (checkApprovals admits the entries), so
// the rest can be compared.
func withoutApproval(spec workflowv1alpha1.WorkflowExecutionSpec) workflowv1alpha1.WorkflowExecutionSpec {
	spec.Approvals = nil
	return spec
}

func withoutApprovalKE(spec kubernetesexecutionv1alpha1.KubernetesExecutionSpec) kubernetesexecutionv1alpha1.KubernetesExecutionSpec {
	spec.Approvals = nil
	return spec
}

// review is one admission request of either kind: what decide needs to apply the
// rules both kinds share around their own spec checks.
type review struct {
	kind schema.GroupKind
	noun string // "workflow", "execution": for messages
	obj  metav1.Object
	// old, oldAnnotations, startedPhase and specUnchanged describe the old object
	// of an UPDATE; on CREATE they are zero.
	old            metav1.Object
	oldAnnotations map[string]string
	startedPhase   string
	specUnchanged  bool
	// checkSpec checks the spec and returns, beside errors and warnings, what its
	// actions need their requester to be allowed.
	checkSpec func(spec *field.Path) (field.ErrorList, admission.Warnings, []demand)
	// guardOwners keeps anyone but the manager from making the object a
	// workflow's (checkOwners): for executions.
	guardOwners bool
	// gates are what the approval and override rules read (checkGates).
	gates     gates
	preflight func() []string
}

// decide checks the recorded requester, checks the spec unless only metadata
// changed, keeps the spec of a started object, asks whether the requester may do
// what the spec's actions do, applies the approval and override rules
// (checkGates), and on a dry run adds the preflight's warnings. Every error is
// returned at once. Nothing about a target is read (the preflight's facts)
// unless the requester may act on it.
func (w *Webhooks) decide(ctx context.Context, r review) (admission.Warnings, error) {
	var warnings admission.Warnings
	var demands []demand
	who, subjectErrs := w.subject(ctx, r.old, r.obj)
	errs := subjectErrs
	spec := field.NewPath("spec")
	specChecked := false
	switch {
	case r.specUnchanged:
		// Metadata only (annotations, labels): the spec was checked when it was written.
	case r.startedPhase != "":
		errs = append(errs, field.Forbidden(spec, fmt.Sprintf(
			"the spec cannot change once the %s has started (phase %s); create a new %s", r.noun, r.startedPhase, r.kind.Kind)))
	default:
		specChecked = true
		var e field.ErrorList
		e, warnings, demands = r.checkSpec(spec)
		errs = append(errs, e...)
	}
	if len(subjectErrs) == 0 {
		errs = append(errs, w.authorize(ctx, who, demands)...)
	}
	if r.guardOwners {
		errs = append(errs, w.checkOwners(ctx, r.old, r.obj)...)
	}
	errs = append(errs, w.checkGates(ctx, r, specChecked, len(subjectErrs) == 0)...)
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(r.kind, r.obj.GetName(), errs)
	}
	if isDryRun(ctx) {
		warnings = append(warnings, r.preflight()...)
	}
	return warnings, nil
}

// validateStep checks one step: its action and parameters, its conditions (unless
// checkConditions is false) and its rollback, and returns what the step's action
// and its rollback need.
func (w *Webhooks) validateStep(ctx context.Context, step *workflowv1alpha1.WorkflowStep, namespace string, path *field.Path, checkConditions bool) (field.ErrorList, admission.Warnings, []demand) {
	errs, demands := w.validateAction(step.Action, step.Parameters, namespace, path)
	var warnings admission.Warnings
	if checkConditions {
		e, ws, d := w.validateConditions(ctx, conditionScope{step.Action, step.Parameters, namespace},
			step.PreConditions, step.PostConditions, path)
		errs, warnings, demands = append(errs, e...), ws, append(demands, d...)
	}
	if r := step.RollbackSpec; r != nil {
		e, d := w.validateAction(r.Action, r.Parameters, namespace, path.Child("rollbackSpec"))
		errs, demands = append(errs, e...), append(demands, d...)
	}
	return errs, warnings, demands
}

// validateAction checks that action is in the catalog and params fit its schema,
// and returns what the action needs of its requester, run from namespace.
func (w *Webhooks) validateAction(action string, raw *runtime.RawExtension, namespace string, path *field.Path) (field.ErrorList, []demand) {
	a, ok := catalog.Lookup(action)
	if !ok {
		return field.ErrorList{field.NotSupported(path.Child("action"), action, catalog.Names())}, nil
	}
	paramsPath := path.Child("parameters")
	params, err := catalog.DecodeParameters(rawOf(raw))
	if err != nil {
		return field.ErrorList{field.Invalid(paramsPath, field.OmitValueType{}, err.Error())}, nil
	}
	if errs := a.ValidateParameters(params, paramsPath); len(errs) > 0 {
		return errs, nil
	}
	d, err := demandOf(a, params, namespace, paramsPath)
	if err != nil {
		return field.ErrorList{field.Invalid(paramsPath, field.OmitValueType{}, err.Error())}, nil
	}
	return nil, []demand{d}
}

// conditionScope is the run whose conditions are checked: what the conditions'
// declared metrics and objects are read about, and for whom.
type conditionScope struct {
	action    string
	params    *runtime.RawExtension
	namespace string
}

// validateConditions checks the pre- and postconditions under path, and returns
// what reading their declared metrics and objects needs of the requester.
func (w *Webhooks) validateConditions(ctx context.Context, sc conditionScope, pre, post []commonv1alpha1.ValidationCondition, path *field.Path) (field.ErrorList, admission.Warnings, []demand) {
	var errs field.ErrorList
	var warnings admission.Warnings
	var demands []demand
	// A condition's path is made only for its errors and warnings: most have none.
	for i := range pre {
		p := func() *field.Path { return path.Child("preConditions").Index(i) }
		e, _ := w.validateCondition(ctx, &pre[i], p, false)
		de, d := w.declared(sc, &pre[i], p)
		errs, demands = append(append(errs, e...), de...), append(demands, d...)
	}
	for i := range post {
		p := func() *field.Path { return path.Child("postConditions").Index(i) }
		e, ws := w.validateCondition(ctx, &post[i], p, true)
		de, d := w.declared(sc, &post[i], p)
		errs, warnings, demands = append(append(errs, e...), de...), append(warnings, ws...), append(demands, d...)
	}
	return errs, warnings, demands
}

// validateCondition compiles the condition's policy (its rego, or the library's for
// its type) and checks its durations.
func (w *Webhooks) validateCondition(ctx context.Context, c *commonv1alpha1.ValidationCondition, path func() *field.Path, post bool) (field.ErrorList, admission.Warnings) {
	var errs field.ErrorList
	var warnings admission.Warnings
	if _, err := w.Conditions.Resolve(ctx, c); err != nil {
		var compileErr *conditions.CompileError
		var noPolicy *check.NoPolicyError
		switch {
		case errors.As(err, &compileErr):
			errs = append(errs, field.Invalid(path().Child("rego"), field.OmitValueType{}, compileErr.Detail()))
		case errors.As(err, &noPolicy):
			errs = append(errs, field.Invalid(path().Child("type"), c.Type,
				"no rego is given and the policy library has no policy of this type: write the rego, or use a type the library has"))
		default:
			errs = append(errs, field.InternalError(path(), err))
		}
	}
	timeout := commonv1alpha1.DefaultPreConditionTimeout
	if post {
		timeout = commonv1alpha1.DefaultPostConditionTimeout
	}
	if c.Timeout != nil {
		timeout = c.Timeout.Duration
		switch {
		case timeout <= 0:
			errs = append(errs, field.Invalid(path().Child("timeout"), c.Timeout.Duration.String(), "must be positive"))
		case timeout > maxConditionTimeout:
			errs = append(errs, field.Invalid(path().Child("timeout"), c.Timeout.Duration.String(), "must be at most 1h"))
		}
	}
	if c.Interval != nil {
		switch {
		case c.Interval.Duration < minInterval:
			errs = append(errs, field.Invalid(path().Child("interval"), c.Interval.Duration.String(),
				"must be at least 1s: each evaluation reads the cluster and writes status"))
		case c.Interval.Duration > timeout:
			errs = append(errs, field.Invalid(path().Child("interval"), c.Interval.Duration.String(),
				fmt.Sprintf("must not exceed the timeout (%s)", timeout)))
		}
	}
	if post && c.IsRequired() && timeout > 0 && timeout < shortPostconditionTimeout {
		warnings = append(warnings, fmt.Sprintf("%s: required postcondition %s has a %s timeout: workloads rarely settle that fast",
			path(), c.Type, timeout))
	}
	return errs, warnings
}

// countConditions refuses more than maxConditions conditions across the steps.
// The conditions of a workflow over the limit are not compiled: that is the cost
// the limit bounds.
func countConditions(steps []workflowv1alpha1.WorkflowStep, path *field.Path) field.ErrorList {
	n, injected := 0, 0
	var lists [][]commonv1alpha1.ValidationCondition
	for _, s := range steps {
		lists = append(lists, s.PreConditions, s.PostConditions)
		for _, list := range lists[len(lists)-2:] {
			n += len(list)
			for i := range list {
				if list[i].Injected {
					injected++
				}
			}
		}
	}
	var errs field.ErrorList
	if n > maxConditions {
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, fmt.Sprintf(
			"the steps have %d preconditions and postconditions (%d of them added from the action catalog), more than the %d a workflow may have: "+
				"split it into several workflows", n, injected, maxConditions)))
	}
	return append(errs, countDeclared(path, lists...)...)
}

// countDeclared refuses conditions that declare more than maxDeclared metrics
// queries and objects in all. Over the limit, none of them is checked: that is the
// cost the limit bounds.
func countDeclared(path *field.Path, lists ...[]commonv1alpha1.ValidationCondition) field.ErrorList {
	n := 0
	for _, list := range lists {
		for i := range list {
			n += len(list[i].Metrics) + len(list[i].Objects)
		}
	}
	if n <= maxDeclared {
		return nil
	}
	return field.ErrorList{field.Invalid(path, field.OmitValueType{}, fmt.Sprintf(
		"the conditions declare %d metrics queries and objects, more than the %d a run may read", n, maxDeclared))}
}

// validateDependencies checks that dependsOn names other, existing steps and that
// the steps form no cycle; a cycle is reported with the steps that form it.
func validateDependencies(steps []workflowv1alpha1.WorkflowStep, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	exists := map[int32]bool{}
	for _, s := range steps {
		exists[s.StepNumber] = true
	}
	graph := map[int32][]int32{}
	for i, s := range steps {
		for j, d := range s.DependsOn {
			p := path.Index(i).Child("dependsOn").Index(j)
			switch {
			case d == s.StepNumber:
				errs = append(errs, field.Invalid(p, d, "a step cannot depend on itself"))
			case !exists[d]:
				errs = append(errs, field.Invalid(p, d, "no step has this stepNumber"))
			default:
				graph[s.StepNumber] = append(graph[s.StepNumber], d)
			}
		}
	}
	if cycle := findCycle(steps, graph); cycle != nil {
		names := make([]string, len(cycle))
		for i, n := range cycle {
			names[i] = strconv.Itoa(int(n))
		}
		errs = append(errs, field.Invalid(path, field.OmitValueType{},
			"the dependencies form a cycle: step "+strings.Join(names, " -> step ")))
	}
	return errs
}

// findCycle returns a cycle of graph (first node repeated at the end), or nil.
func findCycle(steps []workflowv1alpha1.WorkflowStep, graph map[int32][]int32) []int32 {
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[int32]int{}
	var path []int32
	var visit func(n int32) []int32
	visit = func(n int32) []int32 {
		state[n] = onPath
		path = append(path, n)
		for _, d := range graph[n] {
			switch state[d] {
			case onPath:
				start := slices.Index(path, d)
				return append(slices.Clone(path[start:]), d)
			case unvisited:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, s := range steps {
		if state[s.StepNumber] == unvisited {
			if c := visit(s.StepNumber); c != nil {
				return c
			}
		}
	}
	return nil
}

// validateOverrides checks that each conditionOverride names a condition the
// workflow has: a step's, or one the catalog gives its action's executions.
func validateOverrides(wfe *workflowv1alpha1.WorkflowExecution, path *field.Path) field.ErrorList {
	if len(wfe.Spec.ConditionOverrides) == 0 {
		return nil
	}
	var known []string
	for _, s := range wfe.Spec.WorkflowDefinition.Steps {
		for _, list := range [][]commonv1alpha1.ValidationCondition{s.PreConditions, s.PostConditions} {
			for i := range list {
				known = append(known, list[i].Type)
			}
		}
		if a, ok := catalog.Lookup(s.Action); ok {
			for _, list := range [][]catalog.Suggested{a.PreConditions, a.PostConditions} {
				for i := range list {
					known = append(known, list[i].Type)
				}
			}
		}
	}
	var errs field.ErrorList
	for i, o := range wfe.Spec.ConditionOverrides {
		if !slices.Contains(known, o.Type) {
			errs = append(errs, field.Invalid(path.Index(i).Child("type"), o.Type, "no step of the workflow has a condition of this type"))
		}
	}
	return errs
}

// observe counts the decision of validate in the admission metrics.
func observe(ctx context.Context, kind, operation string, validate func() (admission.Warnings, error)) (admission.Warnings, error) {
	start := time.Now()
	warnings, err := validate()
	outcome := metrics.AdmissionAllowed
	switch {
	case apierrors.IsInvalid(err):
		outcome = metrics.AdmissionDenied
	case err != nil:
		outcome = metrics.AdmissionError
	}
	metrics.RecordAdmission(kind, operation, outcome, isDryRun(ctx), time.Since(start))
	return warnings, err
}

func isDryRun(ctx context.Context) bool {
	req, err := admission.RequestFromContext(ctx)
	return err == nil && req.DryRun != nil && *req.DryRun
}
