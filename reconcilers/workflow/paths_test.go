package workflow_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	rt "kubernaut.io/stepvalidation/internal/reconcilertest"
)

// testPaths drives the workflow reconciler through the ways a workflow can go
// beyond one step that passes or fails: retries, skipped steps, a rollback that
// fails, approvals, overrides, pauses, its deadlines on a clock the test
// advances, a name taken by someone else, and deletion. TestReconciler runs it.
func testPaths(t *testing.T, env rt.Env) {
	c := env.Client
	ctx := t.Context()
	const holds = "package ok\nallow := true"

	t.Run("a step whose execution fails is retried with a new execution, and completes", func(t *testing.T) {
		ns := webNamespace(t, c)
		lift := rt.RefuseScales(t, c, ns)
		wfe := scaleWorkflow(ns, "retried", "web", 2, holds, time.Hour)
		wfe.Spec.WorkflowDefinition.Steps[0].MaxRetries = ptr.To[int32](1)
		rt.Create(t, c, wfe)
		// The first execution fails after its own retries; the step then runs a
		// second, which the API server lets act.
		rt.WaitEvent(t, c, ns, wfe.Name, commonv1alpha1.StepRetriedReason)
		lift()
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)
		st := done.Status.StepStatuses[0]
		if st.RetriesAttempted != 1 || st.K8sExecutionRef.Name != "retried-step-1-retry-1" {
			t.Errorf("step status = %+v, want one retry run by retried-step-1-retry-1", st)
		}
		first := execution(t, c, ns, "retried-step-1")
		if first.Status.Phase != kev1alpha1.ExecutionFailed || !strings.Contains(first.Status.Message, rt.RefusedMessage) {
			t.Errorf("first execution %s (%s), want failed by the API server's refusal", first.Status.Phase, first.Status.Message)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the retry did not act")
		}
	})

	t.Run("a step that depends on a failed one is skipped; an independent one still runs", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "api", 1)
		wfe := scaleWorkflow(ns, "partial", "missing", 2, holds, time.Hour)
		first := &wfe.Spec.WorkflowDefinition.Steps[0]
		first.CriticalStep = false
		dependent := scaleStep(ns, 2, "after-first", "api", 2)
		dependent.DependsOn = []int32{1}
		independent := scaleStep(ns, 3, "alone", "api", 3)
		independent.DependsOn, independent.CriticalStep = []int32{}, false
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, dependent, independent)
		rt.Create(t, c, wfe)
		done := waitFinished(t, c, wfe)
		want := []workflowv1alpha1.StepState{workflowv1alpha1.StepFailed, workflowv1alpha1.StepSkipped, workflowv1alpha1.StepCompleted}
		for i, st := range done.Status.StepStatuses {
			if st.Status != want[i] {
				t.Errorf("step %d is %s (%s), want %s", st.StepNumber, st.Status, st.Message, want[i])
			}
		}
		if got := rt.Replicas(t, c, ns, "api"); got != 3 {
			t.Errorf("api at %d replicas, want 3 (step 3 only)", got)
		}
		reasons := rt.EventReasons(t, c, ns, wfe.Name)
		for _, r := range []string{commonv1alpha1.StepFailedReason, commonv1alpha1.StepSkippedReason, commonv1alpha1.StepCompletedReason} {
			if !slices.Contains(reasons, r) {
				t.Errorf("Events %v lack %s", reasons, r)
			}
		}
	})

	t.Run("a rollback that fails leaves the workflow failed with RollbackFailed, naming what to fix", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "stuck", "web", 3, "package never\nallow if input.current_replicas == 99", time.Second)
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions[0].Timeout = &metav1.Duration{Duration: 3 * time.Second}
		rt.Create(t, c, wfe)
		rt.Eventually(t, "the step to act", func() (bool, error) { return rt.Replicas(t, c, ns, "web") == 3, nil })
		rt.RefuseScales(t, c, ns) // the way back is refused
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.RollbackFailedReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.RollbackFailedReason)
		}
		if rt.Replicas(t, c, ns, "web") != 3 {
			t.Error("the refused rollback changed the Deployment")
		}
	})

	t.Run("dryRunFirst: a step that would fail ends the workflow before any step acts, naming it", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "checked", "web", 2, holds, time.Hour)
		wfe.Spec.ExecutionStrategy.DryRunFirst = true
		missing := scaleStep(ns, 2, "scale-missing", "missing", 2)
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, missing)
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.DryRunFailedReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.DryRunFailedReason)
		}
		if !strings.Contains(done.Status.Message, "step 2 (scale-missing, scale_deployment) would not run") || !strings.Contains(done.Status.Message, "not found") {
			t.Errorf("message %q does not name step 2", done.Status.Message)
		}
		var list kev1alpha1.KubernetesExecutionList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 || rt.Replicas(t, c, ns, "web") != 1 {
			t.Errorf("%d executions created, web at %d replicas: a step ran before the preflight failed", len(list.Items), rt.Replicas(t, c, ns, "web"))
		}
	})

	t.Run("dryRunFirst: a requester without rights learns only that, not whether the target exists", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "probe", "secret-app", 2, holds, time.Hour)
		wfe.Annotations = rt.Requested("mallory")
		wfe.Spec.ExecutionStrategy.DryRunFirst = true
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.ForbiddenReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.ForbiddenReason)
		}
		if strings.Contains(done.Status.Message, "not found") {
			t.Errorf("message %q tells a requester without rights whether the target exists", done.Status.Message)
		}
	})

	t.Run("dryRunFirst: the safety policies are asked for every step first", func(t *testing.T) {
		ns := webNamespace(t, c)
		rt.Deployment(t, c, "kube-system", "guarded-"+ns, 1)
		wfe := scaleWorkflow(ns, "guarded", "web", 2, holds, time.Hour)
		wfe.Spec.ExecutionStrategy.DryRunFirst = true
		guarded := scaleStep("kube-system", 2, "scale-system", "guarded-"+ns, 2)
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, guarded)
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.SafetyPolicyDeniedReason {
			t.Errorf("Succeeded reason %q (%s), want %s", reason, done.Status.Message, commonv1alpha1.SafetyPolicyDeniedReason)
		}
		if rt.Replicas(t, c, ns, "web") != 1 {
			t.Error("step 1 acted before the preflight of step 2 failed")
		}
	})

	t.Run("dryRunFirst: a workflow whose steps all pass runs them, Validated true", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "preflown", "web", 2, holds, time.Hour)
		wfe.Spec.ExecutionStrategy.DryRunFirst = true
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)
		v := apimeta.FindStatusCondition(done.Status.Conditions, commonv1alpha1.ValidatedCondition)
		if v == nil || v.Status != metav1.ConditionTrue {
			t.Errorf("Validated = %+v, want True", v)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the workflow did not act")
		}
	})

	t.Run("a workflow that needs approval waits; another person's approval runs it", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "approved", "web", 2, holds, time.Hour)
		wfe.Spec.ExecutionStrategy.ApprovalRequired = true
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowWaitingApproval)
		if rt.Replicas(t, c, ns, "web") != 1 {
			t.Fatal("a workflow waiting for approval acted")
		}
		approveWorkflow(t, c, wfe, commonv1alpha1.Approval{Approver: "lead", Decision: commonv1alpha1.Approve, Reason: "INC-3"})
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)
		if a := done.Status.Approvals; len(a) != 1 || a[0].Approver != "lead" {
			t.Errorf("status.approvals = %+v, want lead's", a)
		}
		rt.WaitEvent(t, c, ns, wfe.Name, commonv1alpha1.ApprovedReason)
	})

	t.Run("a reject fails a workflow waiting for approval", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "rejected", "web", 2, holds, time.Hour)
		wfe.Spec.ExecutionStrategy.ApprovalRequired = true
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowWaitingApproval)
		approveWorkflow(t, c, wfe, commonv1alpha1.Approval{Approver: "lead", Decision: commonv1alpha1.Reject, Reason: "freeze"})
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.RejectedReason {
			t.Errorf("Succeeded reason %q, want %s", reason, commonv1alpha1.RejectedReason)
		}
	})

	t.Run("an override on the workflow lifts a step's blocking precondition", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "overridden", "web", 2, holds, time.Hour)
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = tooFew()
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowBlocked)
		rt.Annotate(t, c, wfe, map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "big_enough",
			commonv1alpha1.OverrideReasonAnnotation:    "INC-4",
			commonv1alpha1.OverrideByAnnotation:        "oncall",
		})
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)
		if o := done.Status.Overrides; len(o) != 1 || o[0].By != "oncall" {
			t.Errorf("status.overrides = %+v, want oncall's", o)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the overridden step did not act")
		}
	})

	t.Run("a step whose required postcondition stays inconclusive blocks the workflow, not rolled back, until an override", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "undecided", "web", 2, holds, time.Hour)
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = []commonv1alpha1.ValidationCondition{{
			Type:    "app_state_ready",
			Objects: []commonv1alpha1.ObjectQuery{{Key: "state", APIVersion: "v1", Kind: "ConfigMap", Name: "{{name}}-state", Namespace: "{{namespace}}"}},
			Rego:    "package app\nallow if input.objects.state.data.ready == \"true\"",
			Timeout: &metav1.Duration{Duration: 2 * time.Second}, Interval: &metav1.Duration{Duration: time.Second},
		}}
		rt.Create(t, c, wfe)
		blocked := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowBlocked)
		if reason := succeeded(blocked).Reason; reason != commonv1alpha1.InconclusiveReason {
			t.Errorf("Succeeded reason %q, want %s", reason, commonv1alpha1.InconclusiveReason)
		}
		st := blocked.Status.StepStatuses[0]
		if st.Status != workflowv1alpha1.StepBlocked || len(st.PostConditionResults) != 1 || !st.PostConditionResults[0].Inconclusive ||
			!strings.Contains(st.PostConditionResults[0].ErrorMessage, "ConfigMap "+ns+"/web-state does not exist") {
			t.Errorf("step status = %+v, want blocked on app_state_ready inconclusive, reading web-state", st)
		}
		rt.WaitEvent(t, c, ns, wfe.Name, commonv1alpha1.InconclusiveReason)
		if slices.Contains(rt.EventReasons(t, c, ns, wfe.Name), commonv1alpha1.RollbackStartedReason) || rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("an inconclusive step was rolled back")
		}
		// Neither the step's timeout nor the workflow's ends the wait for a person.
		env.Clock.Advance(10 * time.Minute)
		rt.Poke(t, c, wfe)
		time.Sleep(time.Second)
		if got := getWorkflow(t, c, wfe); got.Status.Phase != workflowv1alpha1.WorkflowBlocked {
			t.Fatalf("phase %s (%s) 10 minutes on, want still blocked", got.Status.Phase, got.Status.Message)
		}

		rt.Annotate(t, c, wfe, map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "app_state_ready",
			commonv1alpha1.OverrideReasonAnnotation:    "INC-8",
			commonv1alpha1.OverrideByAnnotation:        "oncall",
		})
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)
		if r := done.Status.StepStatuses[0].PostConditionResults; len(r) != 1 || !r[0].Overridden {
			t.Errorf("step postcondition results = %+v, want app_state_ready overridden", r)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("accepting the step undid it")
		}
	})

	t.Run("a blocked workflow fails at its blockedTimeout, on the reconcilers' clock", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "abandoned", "web", 2, holds, time.Hour)
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = tooFew()
		rt.Create(t, c, wfe)
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowBlocked)
		env.Clock.Advance(31 * time.Minute)
		rt.Poke(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if reason := succeeded(done).Reason; reason != commonv1alpha1.BlockedTimedOutReason {
			t.Errorf("Succeeded reason %q, want %s", reason, commonv1alpha1.BlockedTimedOutReason)
		}
	})

	t.Run("a namespace pause holds a step before it starts; it runs when the pause ends", func(t *testing.T) {
		ns := webNamespace(t, c)
		rt.PauseNamespace(t, c, ns, "change freeze")
		time.Sleep(time.Second) // the pause is read from the cache
		wfe := scaleWorkflow(ns, "held", "web", 2, holds, time.Hour)
		rt.Create(t, c, wfe)
		rt.Eventually(t, "the workflow to say it is paused", func() (bool, error) {
			got := getWorkflow(t, c, wfe)
			return strings.Contains(got.Status.Message, "change freeze"), nil
		})
		if rt.Replicas(t, c, ns, "web") != 1 {
			t.Fatal("a paused workflow acted")
		}
		rt.PauseNamespace(t, c, ns, "")
		waitPhase(t, c, wfe, workflowv1alpha1.WorkflowCompleted)
	})

	t.Run("an execution name taken by an object the manager did not create fails the step, saying so", func(t *testing.T) {
		ns := webNamespace(t, c)
		squatter := &kev1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "taken-step-1", Namespace: ns, Annotations: rt.Requested("mallory")},
			Spec:       kev1alpha1.KubernetesExecutionSpec{Action: "notify_only"},
		}
		rt.Create(t, c, squatter)
		wfe := scaleWorkflow(ns, "taken", "web", 2, holds, time.Hour)
		rt.Create(t, c, wfe)
		done := waitPhase(t, c, wfe, workflowv1alpha1.WorkflowFailed)
		if st := done.Status.StepStatuses[0]; !strings.Contains(st.Message, "was not created by the manager") {
			t.Errorf("step message %q, want the name conflict", st.Message)
		}
		if rt.Replicas(t, c, ns, "web") != 1 {
			t.Error("the step acted through another's execution")
		}
	})

	t.Run("deleting a running workflow deletes its executions first", func(t *testing.T) {
		ns := webNamespace(t, c)
		wfe := scaleWorkflow(ns, "deleted", "web", 2, "package never\nallow if input.current_replicas == 99", time.Hour)
		rt.Create(t, c, wfe)
		rt.Eventually(t, "its execution", func() (bool, error) {
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "deleted-step-1"}, &kev1alpha1.KubernetesExecution{})
			return err == nil, client.IgnoreNotFound(err)
		})
		if err := c.Delete(ctx, wfe); err != nil {
			t.Fatal(err)
		}
		rt.Eventually(t, "the workflow and its execution gone", func() (bool, error) {
			var list kev1alpha1.KubernetesExecutionList
			if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
				return false, err
			}
			err := c.Get(ctx, client.ObjectKeyFromObject(wfe), &workflowv1alpha1.WorkflowExecution{})
			return len(list.Items) == 0 && client.IgnoreNotFound(err) == nil && err != nil, nil
		})
	})
}

// webNamespace returns a namespace of the test's own with Deployment web at 1
// replica.
func webNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := rt.Namespace(t, c)
	rt.Deployment(t, c, ns, "web", 1)
	return ns
}

// scaleStep is step n, named name, scaling Deployment ns/deployment to replicas,
// critical, after the step before it, with a postcondition that holds.
func scaleStep(ns string, n int32, name, deployment string, replicas int) workflowv1alpha1.WorkflowStep {
	step := scaleWorkflow(ns, "", deployment, replicas, "package ok\nallow := true", time.Hour).Spec.WorkflowDefinition.Steps[0]
	step.StepNumber, step.Name = n, name
	return step
}

// tooFew is a required precondition that web, at 1 replica, does not pass.
func tooFew() []commonv1alpha1.ValidationCondition {
	return []commonv1alpha1.ValidationCondition{{Type: "big_enough", Rego: "package big\nallow if input.current_replicas >= 10"}}
}

func getWorkflow(t *testing.T, c client.Client, wfe *workflowv1alpha1.WorkflowExecution) *workflowv1alpha1.WorkflowExecution {
	t.Helper()
	var got workflowv1alpha1.WorkflowExecution
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(wfe), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func execution(t *testing.T, c client.Client, ns, name string) *kev1alpha1.KubernetesExecution {
	t.Helper()
	var ke kev1alpha1.KubernetesExecution
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &ke); err != nil {
		t.Fatal(err)
	}
	return &ke
}

// approveWorkflow appends a decision to spec.approvals, as kubernaut approve does.
func approveWorkflow(t *testing.T, c client.Client, wfe *workflowv1alpha1.WorkflowExecution, a commonv1alpha1.Approval) {
	t.Helper()
	latest := getWorkflow(t, c, wfe)
	latest.Spec.Approvals = append(latest.Spec.Approvals, a)
	if err := c.Update(t.Context(), latest); err != nil {
		t.Fatal(err)
	}
}

// waitFinished waits for wfe to end, completed or failed.
func waitFinished(t *testing.T, c client.Client, wfe *workflowv1alpha1.WorkflowExecution) *workflowv1alpha1.WorkflowExecution {
	t.Helper()
	var got *workflowv1alpha1.WorkflowExecution
	rt.Eventually(t, wfe.Name+" to end", func() (bool, error) {
		got = getWorkflow(t, c, wfe)
		return got.Status.Phase == workflowv1alpha1.WorkflowCompleted || got.Status.Phase == workflowv1alpha1.WorkflowFailed, nil
	})
	return got
}
