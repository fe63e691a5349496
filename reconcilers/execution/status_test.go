package execution

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
)

func TestBudgetKeepsEveryResultAndTheNewestMessages(t *testing.T) {
	// 32 precondition and 32 postcondition results and 20 approvals, as the schema
	// allows, each with a message or reason of 1 KiB that JSON writes as 6 KiB;
	// every other result passed.
	message := strings.Repeat("<", 1024)
	results := func(kind string) []commonv1alpha1.ConditionResult {
		var out []commonv1alpha1.ConditionResult
		for i := range 32 {
			out = append(out, commonv1alpha1.ConditionResult{ConditionType: fmt.Sprintf("%s_%d", kind, i),
				Evaluated: true, Passed: i%2 == 0, ErrorMessage: message, Attempts: 2})
		}
		return out
	}
	ke := &kev1alpha1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	ke.Status = kev1alpha1.KubernetesExecutionStatus{
		Phase: kev1alpha1.ExecutionVerifying, Message: "verifying the postconditions",
		ValidationResults: &kev1alpha1.ValidationResults{
			Parameters:          &kev1alpha1.CheckResult{Passed: true, Message: message},
			PreConditionResults: results("pre"), PostConditionResults: results("post"),
		},
		Approvals:  slices.Repeat([]commonv1alpha1.ApprovalRecord{{Approval: commonv1alpha1.Approval{Approver: "alice", Reason: message}}}, 20),
		Conditions: []metav1.Condition{{Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionUnknown, Reason: commonv1alpha1.RunningReason}},
	}
	if size := statuspatch.Size(&ke.Status); size <= statuspatch.MaxStatusBytes {
		t.Fatalf("the test status is only %d bytes", size)
	}

	dropped, err := statuspatch.Fit(budget(ke), statuspatch.MaxStatusBytes)
	if err != nil {
		t.Fatal(err)
	}
	if want := "errorMessage of passed precondition results"; dropped != want {
		t.Errorf("dropped = %q, want %q", dropped, want)
	}
	if size := statuspatch.Size(&ke.Status); size > statuspatch.MaxStatusBytes {
		t.Errorf("status is %d bytes, over %d", size, statuspatch.MaxStatusBytes)
	}
	v := ke.Status.ValidationResults
	if len(v.PreConditionResults) != 32 || len(v.PostConditionResults) != 32 || v.PostConditionResults[1].ErrorMessage != message ||
		v.PostConditionResults[1].Attempts != 2 {
		t.Error("a result, or the failures of the postconditions, went")
	}
	if ke.Status.Phase != kev1alpha1.ExecutionVerifying || meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.SucceededCondition) == nil {
		t.Error("phase or Succeeded changed")
	}
	if c := meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.StatusTruncatedCondition); c == nil ||
		c.Reason != commonv1alpha1.BudgetExceededReason || c.ObservedGeneration != 2 || !strings.HasSuffix(c.Message, "dropped, oldest first: errorMessage of passed precondition results") {
		t.Errorf("note = %+v", c)
	}
}

func TestMessagesAreCapped(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	recorder := events.NewFakeRecorder(10)
	r := &Reconciler{Recorder: recorder}
	s := &scope{ke: &kev1alpha1.KubernetesExecution{}, now: time.Now()}

	check := s.check(false, long)
	s.block(r, long)
	s.finish(r, kev1alpha1.ExecutionFailed, commonv1alpha1.FailedReason, long)

	messages := []string{check.Message, s.ke.Status.Message}
	for _, c := range s.ke.Status.Conditions {
		messages = append(messages, c.Message)
	}
	for len(recorder.Events) > 0 {
		e := <-recorder.Events // "type reason note"
		messages = append(messages, strings.SplitN(e, " ", 3)[2])
	}
	if len(messages) != 6 {
		t.Fatalf("want 6 messages, got %d", len(messages))
	}
	for _, m := range messages {
		if len(m) > text.MaxMessageBytes || !strings.HasSuffix(m, text.Marker) {
			t.Errorf("message of %d bytes, not cut to %d: %.40q", len(m), text.MaxMessageBytes, m)
		}
	}
}
