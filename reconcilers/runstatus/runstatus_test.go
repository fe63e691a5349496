package runstatus_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/reconcilers/runstatus"
)

// run returns a Run over a fresh execution's status and the Events it records.
func run(step bool, now time.Time) (runstatus.Run[kev1alpha1.ExecutionPhase], *kev1alpha1.KubernetesExecution, *events.FakeRecorder) {
	ke := &kev1alpha1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	rec := events.NewFakeRecorder(10)
	st := &ke.Status
	return runstatus.Run[kev1alpha1.ExecutionPhase]{
		Object: ke, Generation: ke.Generation, Phase: &st.Phase, Message: &st.Message, Conditions: &st.Conditions,
		CompletionTime: &st.CompletionTime, Now: now, Recorder: rec, Step: step,
	}, ke, rec
}

func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, strings.SplitN(e, " ", 3)[1])
		default:
			return out
		}
	}
}

func TestTransitionsRecordEventsAPersonCaresAbout(t *testing.T) {
	for _, tc := range []struct {
		name string
		step bool
		hops []kev1alpha1.ExecutionPhase
		want []string
	}{
		{name: "a run of its own says it started, not its hops", hops: []kev1alpha1.ExecutionPhase{"validating", "executing", "verifying"}, want: []string{"Running"}},
		{name: "a workflow's step leaves its start to the workflow", step: true, hops: []kev1alpha1.ExecutionPhase{"validating", "executing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, rec := run(tc.step, time.Now())
			for _, p := range tc.hops {
				r.Transition(p, commonv1alpha1.RunningReason, "going")
			}
			if got := drain(rec); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Events %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("a phase a person waits on has its Event, once", func(t *testing.T) {
		r, ke, rec := run(true, time.Now())
		r.Transition(kev1alpha1.ExecutionWaitingApproval, commonv1alpha1.AwaitingApprovalReason, "waiting")
		r.Transition(kev1alpha1.ExecutionWaitingApproval, commonv1alpha1.AwaitingApprovalReason, "still waiting")
		if got := drain(rec); len(got) != 1 || got[0] != commonv1alpha1.AwaitingApprovalReason {
			t.Errorf("Events %v, want one AwaitingApproval", got)
		}
		if ke.Status.Message != "still waiting" {
			t.Errorf("message %q, want the latest", ke.Status.Message)
		}
	})
}

func TestFinishSetsSucceededAndTheCompletionTime(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	r, ke, rec := run(true, now)
	r.Finish(kev1alpha1.ExecutionCompleted, true, commonv1alpha1.SucceededReason, "done")
	c := meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.SucceededCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != 3 || !c.LastTransitionTime.Time.Equal(now) {
		t.Errorf("Succeeded = %+v, want True at generation 3, since the reconcile's time", c)
	}
	if ke.Status.CompletionTime == nil || !ke.Status.CompletionTime.Time.Equal(now) {
		t.Errorf("completionTime %v, want %v", ke.Status.CompletionTime, now)
	}
	if got := drain(rec); len(got) != 0 {
		t.Errorf("a step's success recorded Events %v; its workflow says it", got)
	}

	r, ke, rec = run(true, now)
	r.Finish(kev1alpha1.ExecutionFailed, false, commonv1alpha1.ExecutionFailedReason, "broke")
	if c := meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.SucceededCondition); c.Status != metav1.ConditionFalse {
		t.Errorf("Succeeded %s after a failure", c.Status)
	}
	if got := drain(rec); len(got) != 1 || got[0] != commonv1alpha1.ExecutionFailedReason {
		t.Errorf("Events %v, want the failure's", got)
	}
}

func TestBlockLeavesTheRunOpen(t *testing.T) {
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	r, ke, rec := run(false, start)
	r.Block(kev1alpha1.ExecutionBlocked, "too small")
	r.Now = start.Add(time.Minute)
	r.Block(kev1alpha1.ExecutionBlocked, "still too small")
	pre := meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.PreconditionsPassedCondition)
	if pre == nil || pre.Status != metav1.ConditionFalse || !pre.LastTransitionTime.Time.Equal(start) {
		t.Errorf("PreconditionsPassed = %+v, want False since the first block: blockedTimeout counts from it", pre)
	}
	if c := meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.SucceededCondition); c.Status != metav1.ConditionUnknown {
		t.Errorf("Succeeded %s while blocked, want Unknown", c.Status)
	}
	if ke.Status.CompletionTime != nil {
		t.Error("a blocked run has a completion time")
	}
	if got := drain(rec); len(got) != 1 {
		t.Errorf("Events %v, want one for the block", got)
	}
}
