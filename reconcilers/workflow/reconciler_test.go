package workflow_test

import (
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/metricstest"
	rt "kubernaut.io/stepvalidation/internal/reconcilertest"
	"kubernaut.io/stepvalidation/reconcilers/workflow"
)

// TestReconciler drives the workflow reconciler, with the execution reconciler
// its steps need, in this process against a real API server: no manager binary,
// no webhooks (the catalog's conditions are not injected; each test gives its
// own).
func TestReconciler(t *testing.T) {
	env := rt.Start(t)
	c := env.Client
	t.Run("paths", func(t *testing.T) { testPaths(t, env) })

	t.Run("a step runs its execution, and completes once its postcondition holds, not at its 1h interval", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "scale", "web", 2, "package scaled\nallow if input.current_replicas == 2", time.Hour)
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)

		st := done.Status.StepStatuses
		if len(st) != 1 || st[0].Status != workflowv1alpha1.StepCompleted || st[0].K8sExecutionRef == nil ||
			st[0].K8sExecutionRef.Name != "scale-step-1" || len(st[0].PostConditionResults) != 1 || !st[0].PostConditionResults[0].Passed {
			t.Errorf("step status = %+v, want step 1 completed by scale-step-1, its postcondition passed", st)
		}
		var ke kev1alpha1.KubernetesExecution
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "scale-step-1"}, &ke); err != nil {
			t.Fatal(err)
		}
		if ke.Status.Phase != kev1alpha1.ExecutionCompleted || !metav1.IsControlledBy(&ke, done) {
			t.Errorf("execution %s, controlled by the workflow %v; want completed and controlled", ke.Status.Phase, metav1.IsControlledBy(&ke, done))
		}
		if got := rt.Replicas(t, c, ns, "web"); got != 2 {
			t.Errorf("Deployment at %d replicas, want 2", got)
		}
	})

	t.Run("a critical step whose postcondition fails is rolled back, and the workflow fails", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "scale", "web", 3, "package never\nallow if input.current_replicas == 99", time.Second)
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions[0].Timeout = &metav1.Duration{Duration: 2 * time.Second}
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)

		if reason := succeeded(done).Reason; reason != commonv1alpha1.RolledBackReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.RolledBackReason)
		}
		if st := done.Status.StepStatuses; len(st) != 1 || st[0].Status != workflowv1alpha1.StepRolledBack {
			t.Errorf("step status = %+v, want rolled back", st)
		}
		var rollback kev1alpha1.KubernetesExecution
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "scale-rollback-1"}, &rollback); err != nil {
			t.Fatal(err)
		}
		if rollback.Status.Phase != kev1alpha1.ExecutionCompleted || rollback.Spec.Action != "scale_deployment" {
			t.Errorf("rollback execution %s %s, want a completed scale_deployment", rollback.Spec.Action, rollback.Status.Phase)
		}
		if got := rt.Replicas(t, c, ns, "web"); got != 1 {
			t.Errorf("Deployment at %d replicas after the rollback, want 1", got)
		}
	})

	t.Run("a critical step that fails while another runs waits for it, then both are rolled back", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		rt.Deployment(t, c, ns, "api", 1)
		wfe := scaleWorkflow(ns, "pair", "web", 3, "package never\nallow if input.current_replicas == 99", time.Second)
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions[0].Timeout = &metav1.Duration{Duration: 2 * time.Second}
		// Step 2, independent of step 1, verifies until 5s from now: still running
		// when step 1 fails.
		later := time.Now().Add(5 * time.Second).UnixNano()
		slow := scaleWorkflow(ns, "", "api", 2, fmt.Sprintf("package later\nallow if time.now_ns() > %d", later), time.Second).
			Spec.WorkflowDefinition.Steps[0]
		slow.StepNumber, slow.Name, slow.CriticalStep, slow.DependsOn = 2, "scale-api", false, []int32{}
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, slow)
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)

		if reason := succeeded(done).Reason; reason != commonv1alpha1.RolledBackReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.RolledBackReason)
		}
		for _, st := range done.Status.StepStatuses {
			if st.Status != workflowv1alpha1.StepRolledBack {
				t.Errorf("step %d is %s (%s), want rolled back", st.StepNumber, st.Status, st.Message)
			}
		}
		if web, api := rt.Replicas(t, c, ns, "web"), rt.Replicas(t, c, ns, "api"); web != 1 || api != 1 {
			t.Errorf("replicas web %d, api %d after the rollback; want 1 and 1", web, api)
		}
		if time.Now().UnixNano() < later {
			t.Error("the rollback did not wait for step 2 to finish")
		}
	})

	t.Run("a workflow still running at its timeout fails, whatever its steps wait for", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "slow", "web", 2, "package never\nallow if input.current_replicas == 99", time.Hour)
		wfe.Spec.ExecutionStrategy.Timeout = &metav1.Duration{Duration: 3 * time.Second}
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.TimedOutReason {
			t.Errorf("Succeeded reason %q (%s), want TimedOut", reason, done.Status.Message)
		}
	})

	t.Run("a blocked workflow past its timeout waits for a person without spinning", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "held", "web", 2, "package ok\nallow := true", time.Hour)
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{{
			Type: "big_enough", Rego: "package big\nallow if input.current_replicas >= 10",
		}}
		wfe.Spec.ExecutionStrategy.Timeout = &metav1.Duration{Duration: time.Second}
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowBlocked)
		time.Sleep(2 * time.Second) // past its timeout, which does not apply while blocked
		before := reconciles(t)
		time.Sleep(2 * time.Second)
		if n := reconciles(t) - before; n > 5 {
			t.Errorf("%v workflow reconciles in 2s while nothing changed", n)
		}
		var got workflowv1alpha1.WorkflowExecution
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(wfe), &got); err != nil || got.Status.Phase != workflowv1alpha1.WorkflowBlocked {
			t.Errorf("phase %s (%v), want still blocked", got.Status.Phase, err)
		}
	})

	t.Run("a workflow that asks for an approval nobody gives fails at its approval timeout, before any step", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "unapproved", "web", 2, "package ok\nallow := true", time.Hour)
		wfe.Spec.ExecutionStrategy.ApprovalRequired = true
		wfe.Spec.ExecutionStrategy.ApprovalTimeout = &metav1.Duration{Duration: 2 * time.Second}
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowWaitingApproval)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.ApprovalTimedOutReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.ApprovalTimedOutReason)
		}
		if got := rt.Replicas(t, c, ns, "web"); got != 1 {
			t.Errorf("an unapproved workflow scaled to %d", got)
		}
	})

	t.Run("with rollbackStrategy none, a failed critical step stays as it acted", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "scale", "web", 3, "package never\nallow if input.current_replicas == 99", time.Second)
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions[0].Timeout = &metav1.Duration{Duration: 2 * time.Second}
		wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackNone
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)

		if st := done.Status.StepStatuses; len(st) != 1 || st[0].Status != workflowv1alpha1.StepFailed {
			t.Errorf("step status = %+v, want failed", st)
		}
		var rollback kev1alpha1.KubernetesExecution
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "scale-rollback-1"}, &rollback); err == nil {
			t.Error("a rollback execution was created with rollbackStrategy none")
		}
		if got := rt.Replicas(t, c, ns, "web"); got != 3 {
			t.Errorf("Deployment at %d replicas, want 3 (not rolled back)", got)
		}
	})

	// Last: it moves the clock a day ahead.
	t.Run("a finished workflow is deleted once kept for the finished-run TTL, and its execution with it", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		wfe := scaleWorkflow(ns, "scale", "web", 2, "package scaled\nallow if input.current_replicas == 2", time.Hour)
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)

		env.Expire(t, wfe, "workflowexecution")
		// Deleted by the workflow's finalizer, not by a TTL of its own (Expire counted one run).
		step := &kev1alpha1.KubernetesExecution{}
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "scale-step-1"}, step); !apierrors.IsNotFound(err) {
			t.Errorf("the workflow's execution outlived it: %v", err)
		}
	})
}

// scaleWorkflow is a one-step critical scale_deployment workflow as the mutating
// webhook leaves it (its requester recorded), with one postcondition.
func scaleWorkflow(ns, name, deployment string, replicas int, rego string, interval time.Duration) *workflowv1alpha1.WorkflowExecution {
	return &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: rt.Requested("admin")},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
			Steps: []workflowv1alpha1.WorkflowStep{{
				StepNumber: 1, Name: "scale", Action: "scale_deployment", CriticalStep: true,
				Parameters: &runtime.RawExtension{Raw: rt.ScaleParameters(ns, deployment, replicas)},
				PostConditions: []commonv1alpha1.ValidationCondition{{
					Type: "replicas", Rego: rego, Required: new(true),
					Timeout: &metav1.Duration{Duration: 2 * time.Hour}, Interval: &metav1.Duration{Duration: interval},
				}},
			}},
		}},
	}
}

// reconciles returns how many reconciles the workflow controller has run in
// this process.
func reconciles(t *testing.T) float64 {
	t.Helper()
	n, err := metricstest.Sum("controller_runtime_reconcile_total", map[string]string{"controller": workflow.ControllerName})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// succeeded returns the workflow's Succeeded condition.
func succeeded(wfe *workflowv1alpha1.WorkflowExecution) metav1.Condition {
	for _, c := range wfe.Status.Conditions {
		if c.Type == commonv1alpha1.SucceededCondition {
			return c
		}
	}
	return metav1.Condition{}
}

// waitPhase waits for wfe to reach phase and returns it then; it fails the test
// at once when wfe ends in another phase.
func waitPhase(t *testing.T, c client.Client, wfe *workflowv1alpha1.WorkflowExecution, phase workflowv1alpha1.WorkflowPhase) *workflowv1alpha1.WorkflowExecution {
	t.Helper()
	var got workflowv1alpha1.WorkflowExecution
	rt.Eventually(t, fmt.Sprintf("%s %s", wfe.Name, phase), func() (bool, error) {
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(wfe), &got); err != nil {
			return false, err
		}
		switch got.Status.Phase {
		case phase:
			return true, nil
		case workflowv1alpha1.WorkflowCompleted, workflowv1alpha1.WorkflowFailed:
			return false, fmt.Errorf("ended %s (%s)", got.Status.Phase, got.Status.Message)
		}
		return false, nil
	})
	return &got
}
