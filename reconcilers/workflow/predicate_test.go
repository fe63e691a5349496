package workflow

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/event"

	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
)

func TestExecutionMovedPassesWhatAStepMirrors(t *testing.T) {
	ke := func(phase kev1alpha1.ExecutionPhase, message string) *kev1alpha1.KubernetesExecution {
		e := &kev1alpha1.KubernetesExecution{}
		e.Status.Phase, e.Status.Message = phase, message
		return e
	}
	cases := []struct {
		name          string
		before, after *kev1alpha1.KubernetesExecution
		want          bool
	}{
		{"validating to executing", ke(kev1alpha1.ExecutionValidating, "v"), ke(kev1alpha1.ExecutionExecuting, "x"), false},
		{"executing to verifying", ke(kev1alpha1.ExecutionExecuting, "x"), ke(kev1alpha1.ExecutionVerifying, "y"), false},
		{"results written while verifying", ke(kev1alpha1.ExecutionVerifying, "y"), ke(kev1alpha1.ExecutionVerifying, "y"), false},
		{"verifying to completed", ke(kev1alpha1.ExecutionVerifying, "y"), ke(kev1alpha1.ExecutionCompleted, "done"), true},
		{"validating to blocked", ke(kev1alpha1.ExecutionValidating, "v"), ke(kev1alpha1.ExecutionBlocked, "b"), true},
		{"blocked, overridden, validating again", ke(kev1alpha1.ExecutionBlocked, "b"), ke(kev1alpha1.ExecutionValidating, "v"), true},
		{"a paused run's new reason", ke(kev1alpha1.ExecutionPaused, "p1"), ke(kev1alpha1.ExecutionPaused, "p2"), true},
		{"new to executing (intent)", ke("", ""), ke(kev1alpha1.ExecutionExecuting, "x"), false},
		{"validating to failed", ke(kev1alpha1.ExecutionValidating, "v"), ke(kev1alpha1.ExecutionFailed, "f"), true},
	}
	for _, tc := range cases {
		if got := executionMoved.Update(event.UpdateEvent{ObjectOld: tc.before, ObjectNew: tc.after}); got != tc.want {
			t.Errorf("%s: passes %v, want %v", tc.name, got, tc.want)
		}
	}
}
