package workflow

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/reconcilers/approval"
	"kubernaut.io/stepvalidation/reconcilers/evaluation"
	"kubernaut.io/stepvalidation/reconcilers/runstatus"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
)

// scope is one reconcile of one workflow.
type scope struct {
	wfe         *workflowv1alpha1.WorkflowExecution
	now         time.Time
	children    map[string]*kev1alpha1.KubernetesExecution
	enforcement evaluation.Enforcement
	// held says why a pause keeps steps from starting (or their executions from
	// acting) in this reconcile; heldSteps are the started steps it holds.
	held      string
	heldSteps []int32
}

func (r *Reconciler) newScope(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) (*scope, error) {
	children, err := r.children(ctx, wfe)
	if err != nil {
		return nil, err
	}
	m, err := r.Modes.For(ctx, wfe.Namespace, wfe.UID)
	if err != nil {
		return nil, err
	}
	s := &scope{wfe: wfe, now: r.now(), children: children}
	sources := []evaluation.OverrideSource{{Name: "WorkflowExecution/" + wfe.Name, Annotations: wfe.Annotations}}
	s.enforcement = evaluation.NewEnforcement(m, sources, wfe.Spec.ConditionOverrides, s.now)
	for _, o := range evaluation.NewOverrides(wfe.Status.Overrides, s.enforcement.Overrides) {
		r.Recorder.Eventf(wfe, nil, corev1.EventTypeNormal, commonv1alpha1.OverriddenReason, "Override", "%s",
			text.CapMessage(evaluation.Describe([]commonv1alpha1.OverrideRecord{o})))
	}
	wfe.Status.Overrides = s.enforcement.Overrides
	records, fresh := approval.Observe(wfe.Status.Approvals, wfe.Spec.Approvals, s.now)
	wfe.Status.Approvals = records
	for _, a := range fresh {
		r.Recorder.Eventf(wfe, nil, corev1.EventTypeNormal, approval.EventReason(a), "Approve", "%s", text.CapMessage(approval.Describe(a)))
	}
	return s, nil
}

// start records the start and one pending status per step.
func (s *scope) start() {
	now := metav1.NewTime(s.now)
	s.wfe.Status.StartTime = &now
	if who, err := authority.Recorded(s.wfe.Annotations); err == nil {
		s.wfe.Status.RequestedBy = who.Username
	}
	s.wfe.Status.StepStatuses = nil
	for _, step := range s.wfe.Spec.WorkflowDefinition.Steps {
		s.wfe.Status.StepStatuses = append(s.wfe.Status.StepStatuses, workflowv1alpha1.StepStatus{
			StepNumber: step.StepNumber, Action: step.Action, Status: workflowv1alpha1.StepPending,
		})
	}
}

// stepStatus returns the status of step n, adding it when missing.
func (s *scope) stepStatus(n int32) *workflowv1alpha1.StepStatus {
	statuses := s.wfe.Status.StepStatuses
	if i := slices.IndexFunc(statuses, func(st workflowv1alpha1.StepStatus) bool { return st.StepNumber == n }); i >= 0 {
		return &statuses[i]
	}
	s.wfe.Status.StepStatuses = append(statuses, workflowv1alpha1.StepStatus{StepNumber: n, Status: workflowv1alpha1.StepPending})
	return &s.wfe.Status.StepStatuses[len(s.wfe.Status.StepStatuses)-1]
}

// status is the workflow's status, for this reconcile.
func (s *scope) status(r *Reconciler) runstatus.Run[workflowv1alpha1.WorkflowPhase] {
	st := &s.wfe.Status
	return runstatus.Run[workflowv1alpha1.WorkflowPhase]{
		Object: s.wfe, Generation: s.wfe.Generation,
		Phase: &st.Phase, Message: &st.Message, Conditions: &st.Conditions, CompletionTime: &st.CompletionTime,
		Now: s.now, Recorder: r.Recorder,
	}
}

// transition moves the workflow to a phase that is not final
// (runstatus.Run.Transition).
func (s *scope) transition(r *Reconciler, phase workflowv1alpha1.WorkflowPhase, reason, message string) {
	s.status(r).Transition(phase, reason, message)
}

// block stops the workflow at a required precondition of a step or of a step's
// execution, to wait for an override up to blockedTimeout.
func (s *scope) block(r *Reconciler, message string) {
	s.status(r).Block(workflowv1alpha1.WorkflowBlocked, message)
}

// undecided stops the workflow at steps whose required postconditions were left
// inconclusive, to wait for an override (reconsider).
func (s *scope) undecided(r *Reconciler, message string) {
	s.status(r).Undecided(workflowv1alpha1.WorkflowBlocked, message)
}

// finish moves the workflow to completed or failed.
func (s *scope) finish(r *Reconciler, phase workflowv1alpha1.WorkflowPhase, reason, message string) {
	s.status(r).Finish(phase, phase == workflowv1alpha1.WorkflowCompleted, reason, message)
}

// setCondition sets one status condition.
func (s *scope) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	st := &s.wfe.Status
	runstatus.Run[workflowv1alpha1.WorkflowPhase]{Generation: s.wfe.Generation, Conditions: &st.Conditions, Now: s.now}.
		SetCondition(conditionType, status, reason, message)
}

// stepEvent records an Event about one step.
func (s *scope) stepEvent(r *Reconciler, eventType, reason string, n int32, format string, args ...any) {
	r.Recorder.Eventf(s.wfe, nil, eventType, reason, "Step", "%s", text.CapMessage(fmt.Sprintf("step %d: ", n)+fmt.Sprintf(format, args...)))
}

// setStep moves a step to state with message, capped: it may quote an execution's
// message or a policy's.
func setStep(st *workflowv1alpha1.StepStatus, state workflowv1alpha1.StepState, message string) {
	st.Status, st.Message = state, text.CapMessage(message)
}

// progress reads "2/3": steps completed of all.
func progress(wfe *workflowv1alpha1.WorkflowExecution) string {
	done := 0
	for _, st := range wfe.Status.StepStatuses {
		if st.Status == workflowv1alpha1.StepCompleted {
			done++
		}
	}
	return fmt.Sprintf("%d/%d", done, len(wfe.Spec.WorkflowDefinition.Steps))
}

// budget lets statuspatch keep the status within its size budget. What goes first
// is what a reader misses least: the errorMessage of passed condition results, then
// the errorMessage and then the results of finished steps, oldest first; as a last
// resort the errorMessage of unfinished steps' results and the messages of finished
// steps. The results of an unfinished step stay: an override lifts a block by them,
// and a postcondition's polling goes on from them.
func budget(wfe *workflowv1alpha1.WorkflowExecution) statuspatch.Budget {
	return statuspatch.Budget{
		Status: &wfe.Status,
		Drops:  func() []statuspatch.Drop { return drops(wfe.Status.StepStatuses) },
		Note:   statuspatch.Truncated(&wfe.Status.Conditions, wfe.Generation),
	}
}

func drops(statuses []workflowv1alpha1.StepStatus) []statuspatch.Drop {
	finished, unfinished := byAge(statuses)
	var out []statuspatch.Drop
	add := func(what string, steps []*workflowv1alpha1.StepStatus, do func(*workflowv1alpha1.StepStatus) int) {
		for _, st := range steps {
			out = append(out, statuspatch.Drop{What: what, Of: strconv.Itoa(int(st.StepNumber)), Do: func() int { return do(st) }})
		}
	}
	add("errorMessage of passed condition results of steps", slices.Concat(finished, unfinished), func(st *workflowv1alpha1.StepStatus) int {
		return statuspatch.DropMessages(st.PreConditionResults, true) + statuspatch.DropMessages(st.PostConditionResults, true)
	})
	allMessages := func(st *workflowv1alpha1.StepStatus) int {
		return statuspatch.DropMessages(st.PreConditionResults, false) + statuspatch.DropMessages(st.PostConditionResults, false)
	}
	add("errorMessage of the condition results of finished steps", finished, allMessages)
	add("condition results of finished steps", finished, func(st *workflowv1alpha1.StepStatus) int {
		saved := statuspatch.Size(st.PreConditionResults) + statuspatch.Size(st.PostConditionResults)
		st.PreConditionResults, st.PostConditionResults = nil, nil
		return saved
	})
	add("errorMessage of the condition results of unfinished steps", unfinished, allMessages)
	add("message of finished steps", finished, func(st *workflowv1alpha1.StepStatus) int {
		saved := statuspatch.Size(st.Message)
		st.Message = ""
		return saved
	})
	return out
}

// byAge splits the steps into those that finished, by end time, and the others,
// by start time: oldest first, then by step number.
func byAge(statuses []workflowv1alpha1.StepStatus) (finished, unfinished []*workflowv1alpha1.StepStatus) {
	for i := range statuses {
		switch st := &statuses[i]; st.Status {
		case workflowv1alpha1.StepCompleted, workflowv1alpha1.StepFailed, workflowv1alpha1.StepSkipped, workflowv1alpha1.StepRolledBack:
			finished = append(finished, st)
		default:
			unfinished = append(unfinished, st)
		}
	}
	oldest := func(at func(*workflowv1alpha1.StepStatus) *metav1.Time) func(a, b *workflowv1alpha1.StepStatus) int {
		return func(a, b *workflowv1alpha1.StepStatus) int {
			if c := timeOf(at(a)).Compare(timeOf(at(b))); c != 0 {
				return c
			}
			return cmp.Compare(a.StepNumber, b.StepNumber)
		}
	}
	slices.SortStableFunc(finished, oldest(func(st *workflowv1alpha1.StepStatus) *metav1.Time { return st.EndTime }))
	slices.SortStableFunc(unfinished, oldest(func(st *workflowv1alpha1.StepStatus) *metav1.Time { return st.StartTime }))
	return finished, unfinished
}

// timeOf is t, or the zero time (the oldest) when unset: a skipped step has no end.
func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
