package workflow

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
)

// bigWorkflow is a workflow monitoring its last step of n, each step with perStep
// precondition and as many postcondition results; every other result failed with
// message, the others passed, overridden. Step 2 ended before step 1.
func bigWorkflow(n, perStep int, message string) *workflowv1alpha1.WorkflowExecution {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(minutes int) *metav1.Time {
		t := metav1.NewTime(base.Add(time.Duration(minutes) * time.Minute))
		return &t
	}
	results := func(step int, kind string) []commonv1alpha1.ConditionResult {
		var out []commonv1alpha1.ConditionResult
		for i := range perStep {
			r := commonv1alpha1.ConditionResult{
				ConditionType: fmt.Sprintf("%s_condition_%d", kind, i), Evaluated: true, Required: true,
				EvaluationTime: *at(step), Attempts: 3, PolicySource: commonv1alpha1.PolicySourceLibrary, PolicyVersion: "v1",
			}
			if message != "" {
				r.ErrorMessage = message
				if i%2 == 0 {
					r.Passed, r.Overridden, r.ErrorMessage = true, true, "skipped: listed in the kubernaut.io/override-condition annotation"
				}
			}
			out = append(out, r)
		}
		return out
	}
	wfe := &workflowv1alpha1.WorkflowExecution{ObjectMeta: metav1.ObjectMeta{Name: "big", Generation: 1}}
	wfe.Status = workflowv1alpha1.WorkflowExecutionStatus{
		Phase: workflowv1alpha1.WorkflowMonitoring, Message: "verifying the postconditions of steps " + fmt.Sprint(n),
		Conditions: []metav1.Condition{{Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionUnknown,
			Reason: commonv1alpha1.RunningReason, Message: "running", LastTransitionTime: *at(0)}},
	}
	for s := 1; s <= n; s++ {
		st := workflowv1alpha1.StepStatus{StepNumber: int32(s), Action: "scale_deployment", Status: workflowv1alpha1.StepCompleted,
			StartTime: at(s), EndTime: at(s + 1), Message: "completed",
			PreConditionResults: results(s, "pre"), PostConditionResults: results(s, "post")}
		switch s {
		case 1:
			st.EndTime = at(3)
		case 2:
			st.EndTime = at(2)
		case n:
			st.Status, st.EndTime, st.Message = workflowv1alpha1.StepVerifying, nil, "verifying the step's postconditions"
		}
		wfe.Status.StepStatuses = append(wfe.Status.StepStatuses, st)
	}
	return wfe
}

func fit(t *testing.T, wfe *workflowv1alpha1.WorkflowExecution) string {
	t.Helper()
	dropped, err := statuspatch.Fit(budget(wfe), statuspatch.MaxStatusBytes)
	if err != nil {
		t.Fatal(err)
	}
	if size := statuspatch.Size(&wfe.Status); size > statuspatch.MaxStatusBytes {
		t.Fatalf("status is %d bytes of JSON, over %d", size, statuspatch.MaxStatusBytes)
	}
	return dropped
}

func TestBudgetDropsMessagesOfTheOldestFinishedStepsFirst(t *testing.T) {
	// Within the admission bound of 256 conditions, and each message within 1 KiB,
	// which JSON writes as 6 KiB: '<' becomes \u003c.
	message := "policy says: " + strings.Repeat("<", 1000)
	wfe := bigWorkflow(32, 4, message)
	before := wfe.DeepCopy()
	if statuspatch.Size(&before.Status) <= statuspatch.MaxStatusBytes {
		t.Fatalf("the test status is only %d bytes", statuspatch.Size(&before.Status))
	}

	dropped := fit(t, wfe)

	// Messages were enough: no result went.
	if !strings.HasPrefix(dropped, "errorMessage of passed condition results of steps 2, 1, 3, 4,") ||
		!strings.Contains(dropped, "; errorMessage of the condition results of finished steps 2, 1, 3,") ||
		strings.Contains(dropped, "; condition results") {
		t.Errorf("dropped = %q", dropped)
	}
	note := meta.FindStatusCondition(wfe.Status.Conditions, commonv1alpha1.StatusTruncatedCondition)
	if note == nil || note.Status != metav1.ConditionTrue || note.Reason != commonv1alpha1.BudgetExceededReason ||
		!strings.Contains(note.Message, "errorMessage of passed condition results of steps 2, 1") {
		t.Errorf("note = %+v", note)
	}
	// Phase, message and the other conditions are kept, and so is every step's state.
	if wfe.Status.Phase != before.Status.Phase || wfe.Status.Message != before.Status.Message ||
		!equality.Semantic.DeepEqual(meta.FindStatusCondition(wfe.Status.Conditions, commonv1alpha1.SucceededCondition), &before.Status.Conditions[0]) {
		t.Errorf("phase, message or Succeeded changed: %s, %q, %+v", wfe.Status.Phase, wfe.Status.Message, wfe.Status.Conditions)
	}
	for i, st := range wfe.Status.StepStatuses {
		if old := before.Status.StepStatuses[i]; st.Status != old.Status || st.Message != old.Message || len(st.PostConditionResults) != len(old.PostConditionResults) {
			t.Errorf("step %d changed beyond its messages: %s, %q", st.StepNumber, st.Status, st.Message)
		}
	}
	// The newest detail stays: the failures of the unfinished step and of the last
	// finished step.
	for _, i := range []int{31, 30} {
		if r := wfe.Status.StepStatuses[i].PostConditionResults[1]; r.ErrorMessage != message {
			t.Errorf("step %d lost its failure: %.100q", i+1, r.ErrorMessage)
		}
	}
	if r := wfe.Status.StepStatuses[1].PreConditionResults[1]; r.ErrorMessage != "" {
		t.Errorf("the oldest finished step kept its failure: %.100q", r.ErrorMessage)
	}

	// The same status loses the same detail; what fits stays as it is.
	again := before.DeepCopy()
	fit(t, again)
	// Only the note's LastTransitionTime, the clock's, may differ.
	meta.FindStatusCondition(again.Status.Conditions, commonv1alpha1.StatusTruncatedCondition).LastTransitionTime = note.LastTransitionTime
	if !equality.Semantic.DeepEqual(again.Status, wfe.Status) {
		t.Error("two fits of the same status differ")
	}
	if dropped := fit(t, again); dropped != "" {
		t.Errorf("a status that fits lost %q", dropped)
	}
}

func TestBudgetDropsTheResultsOfTheOldestFinishedSteps(t *testing.T) {
	// No messages to drop: 50 steps of 64 results are about 800 KiB.
	wfe := bigWorkflow(50, 32, "")
	before := wfe.DeepCopy()

	dropped := fit(t, wfe)

	if !strings.HasPrefix(dropped, "condition results of finished steps 2, 1, 3") {
		t.Errorf("dropped = %q", dropped)
	}
	if steps := wfe.Status.StepStatuses; steps[1].PreConditionResults != nil || steps[0].PostConditionResults != nil ||
		len(steps[48].PreConditionResults) != 32 || !equality.Semantic.DeepEqual(steps[49], before.Status.StepStatuses[49]) {
		t.Errorf("want the oldest finished steps' results gone, the newest kept")
	}
	if meta.FindStatusCondition(wfe.Status.Conditions, commonv1alpha1.StatusTruncatedCondition) == nil {
		t.Error("no StatusTruncated condition")
	}
}

func TestBudgetLeavesAStatusThatFits(t *testing.T) {
	wfe := bigWorkflow(3, 4, "replicas 1 < 3")
	before := wfe.DeepCopy()
	if dropped := fit(t, wfe); dropped != "" || !equality.Semantic.DeepEqual(wfe, before) {
		t.Errorf("a status that fits changed: dropped %q", dropped)
	}
}

func TestMessagesAreCapped(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	recorder := events.NewFakeRecorder(10)
	r := &Reconciler{Recorder: recorder}
	wfe := &workflowv1alpha1.WorkflowExecution{}
	s := &scope{wfe: wfe, now: time.Now()}
	st := s.stepStatus(1)

	r.failStep(s, st, long)
	s.block(r, long)
	s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.FailedReason, long)

	messages := []string{st.Message, wfe.Status.Message}
	for _, c := range wfe.Status.Conditions {
		messages = append(messages, c.Message)
	}
	for len(recorder.Events) > 0 {
		e := <-recorder.Events // "type reason note"
		messages = append(messages, strings.SplitN(e, " ", 3)[2])
	}
	if len(messages) != 7 {
		t.Fatalf("want 7 messages, got %d", len(messages))
	}
	for _, m := range messages {
		if len(m) > text.MaxMessageBytes || !strings.HasSuffix(m, text.Marker) {
			t.Errorf("message of %d bytes, not cut to %d: %.40q", len(m), text.MaxMessageBytes, m)
		}
	}
}
