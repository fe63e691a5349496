package execution_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	rt "kubernaut.io/stepvalidation/internal/reconcilertest"
)

// TestReconciler drives the execution reconciler in this process against a real
// API server: no manager binary, no webhooks.
func TestReconciler(t *testing.T) {
	env := rt.Start(t)
	c := env.Client
	ctx := t.Context()
	t.Run("paths", func(t *testing.T) { testPaths(t, env) })

	t.Run("records its intent, acts once and verifies, woken by the change it made", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		// Passes once the cache holds the scaled Deployment: its interval (1h)
		// cannot be what evaluates it again.
		ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{{
			Type: "scaled", Rego: "package scaled\nallow if input.current_replicas == 2",
			Timeout: &metav1.Duration{Duration: 2 * time.Hour}, Interval: &metav1.Duration{Duration: time.Hour},
		}}
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)

		affected := done.Status.ExecutionResults.ResourcesAffected
		if len(affected) != 1 || affected[0].Before["replicas"] != "1" || affected[0].After["replicas"] != "2" {
			t.Errorf("executionResults = %+v, want replicas 1 before and 2 after", affected)
		}
		if rb := done.Status.RollbackInformation; rb == nil || rb.Action != "scale_deployment" {
			t.Errorf("rollbackInformation = %+v, want a scale_deployment back", rb)
		}
		if got := rt.Replicas(t, c, ns, "web"); got != 2 {
			t.Errorf("Deployment at %d replicas, want 2", got)
		}
		results := done.Status.ValidationResults.PostConditionResults
		if len(results) != 1 || !results[0].Passed {
			t.Errorf("postcondition results = %+v, want one that passed", results)
		}
	})

	t.Run("a requester who may not scale is denied, and nothing acts", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 3, "mallory")
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionDenied)
		if done.Status.ExecutionResults != nil {
			t.Errorf("a denied run recorded an action: %+v", done.Status.ExecutionResults)
		}
		if got := rt.Replicas(t, c, ns, "web"); got != 1 {
			t.Errorf("Deployment scaled to %d by a denied run", got)
		}
	})

	t.Run("a failing required precondition blocks the run before it acts, until its blockedTimeout", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		ke.Spec.PreConditions = []commonv1alpha1.ValidationCondition{{
			Type: "big_enough", Rego: "package big\nallow if input.current_replicas >= 10",
		}}
		ke.Spec.ExecutionStrategy.BlockedTimeout = &metav1.Duration{Duration: 2 * time.Second}
		rt.Create(t, c, ke)
		blocked := waitPhase(t, c, ke, kev1alpha1.ExecutionBlocked)
		if r := blocked.Status.ValidationResults.PreConditionResults; len(r) != 1 || r[0].Passed {
			t.Errorf("precondition results = %+v, want one that failed", r)
		}
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		if done.Status.ExecutionResults != nil || rt.Replicas(t, c, ns, "web") != 1 {
			t.Errorf("a blocked run acted: %+v", done.Status.ExecutionResults)
		}
	})

	t.Run("a postcondition that never holds ends the run at its timeout, ready to roll back", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{{
			Type: "never", Rego: "package never\nallow if input.current_replicas == 99",
			Timeout: &metav1.Duration{Duration: 2 * time.Second}, Interval: &metav1.Duration{Duration: time.Second},
		}}
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionRollbackReady)
		r := done.Status.ValidationResults.PostConditionResults
		if len(r) != 1 || r[0].Passed || r[0].Attempts < 2 {
			t.Errorf("postcondition results = %+v, want one that failed after evaluations at its interval", r)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the action did not act")
		}
	})

	t.Run("a run still verifying at its own timeout ends then, whatever its postconditions' intervals", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		ke.Spec.Timeout = &metav1.Duration{Duration: 3 * time.Second}
		ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{{
			Type: "never", Rego: "package never\nallow if input.current_replicas == 99",
			Timeout: &metav1.Duration{Duration: 2 * time.Hour}, Interval: &metav1.Duration{Duration: time.Hour},
		}}
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionRollbackReady)
		if !strings.Contains(done.Status.Message, "timeout") {
			t.Errorf("message %q, want the run's timeout", done.Status.Message)
		}
	})

	t.Run("a pause holds a run before it acts; when it ends, the run validates again and acts", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		switchOn := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: commonv1alpha1.PauseConfigMap, Namespace: rt.ManagerNamespace},
			Data:       map[string]string{commonv1alpha1.PauseReasonKey: "maintenance"},
		}
		rt.Create(t, c, switchOn)
		t.Cleanup(func() { _ = c.Delete(context.Background(), switchOn) })
		// The switch is read from the manager's cache: give it the time a watch
		// event takes to get there.
		time.Sleep(time.Second)

		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		rt.Create(t, c, ke)
		waitPhase(t, c, ke, kev1alpha1.ExecutionPaused)
		if got := rt.Replicas(t, c, ns, "web"); got != 1 {
			t.Fatalf("a paused run scaled to %d", got)
		}
		if err := c.Delete(ctx, switchOn); err != nil {
			t.Fatal(err)
		}
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if a := done.Status.ExecutionResults.ResourcesAffected; len(a) != 1 || a[0].After["replicas"] != "2" {
			t.Errorf("executionResults = %+v, want the scale to 2", a)
		}
	})

	// Last: it moves the clock a day ahead. A workflow's executions are left to
	// it: see the workflow reconciler's test.
	t.Run("a finished run is deleted once kept for the finished-run TTL", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 3, "mallory")
		rt.Create(t, c, ke)
		waitPhase(t, c, ke, kev1alpha1.ExecutionDenied)
		env.Expire(t, ke, "kubernetesexecution")
	})
}

// scaleExecution is a scale_deployment run as the mutating webhook leaves it:
// its requester recorded, and no conditions of its own.
func scaleExecution(ns, name, deployment string, replicas int, requester string) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: rt.Requested(requester)},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action:     "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: rt.ScaleParameters(ns, deployment, replicas)},
		},
	}
}

// waitPhase waits for ke to reach phase and returns it then; it fails the test at
// once when ke ends in another phase.
func waitPhase(t *testing.T, c client.Client, ke *kev1alpha1.KubernetesExecution, phase kev1alpha1.ExecutionPhase) *kev1alpha1.KubernetesExecution {
	t.Helper()
	var got kev1alpha1.KubernetesExecution
	rt.Eventually(t, fmt.Sprintf("%s %s", ke.Name, phase), func() (bool, error) {
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(ke), &got); err != nil {
			return false, err
		}
		switch got.Status.Phase {
		case phase:
			return true, nil
		case kev1alpha1.ExecutionCompleted, kev1alpha1.ExecutionFailed, kev1alpha1.ExecutionDenied, kev1alpha1.ExecutionRollbackReady:
			return false, fmt.Errorf("ended %s (%s)", got.Status.Phase, got.Status.Message)
		}
		return false, nil
	})
	return &got
}
