package execution_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	rt "kubernaut.io/stepvalidation/internal/reconcilertest"
)

// testPaths drives the execution reconciler through every way a run can go:
// refusals before it acts, the gates that wait for a person, retries, and a
// restart between recording its intent and acting. TestReconciler runs it on its
// API server (one manager per test binary: controller names are global).
func testPaths(t *testing.T, env rt.Env) {
	c := env.Client
	ctx := t.Context()

	t.Run("parameters that do not fit the action's schema fail the run, naming the field", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		ke.Spec.Parameters = &runtime.RawExtension{Raw: []byte(`{"deployment":{"name":"web","namespace":"` + ns + `","replicas":"two"}}`)}
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		expectReason(t, done, commonv1alpha1.InvalidParametersReason)
		if !strings.Contains(done.Status.Message, "spec.parameters.deployment.replicas") {
			t.Errorf("message %q does not name spec.parameters.deployment.replicas", done.Status.Message)
		}
	})

	t.Run("a target that does not exist fails the dry run, and nothing is recorded as acted", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		ke := scaleExecution(ns, "scale", "missing", 2, "admin")
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		expectReason(t, done, commonv1alpha1.DryRunFailedReason)
		if done.Status.ExecutionResults != nil {
			t.Errorf("executionResults = %+v after a failed dry run", done.Status.ExecutionResults)
		}
	})

	t.Run("the safety policies deny an action on a protected namespace, whoever asks", func(t *testing.T) {
		rt.Deployment(t, c, "kube-system", "guarded", 1)
		ke := scaleExecution(rt.Namespace(t, c), "scale", "guarded", 2, "admin")
		ke.Spec.Parameters = &runtime.RawExtension{Raw: rt.ScaleParameters("kube-system", "guarded", 2)}
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionDenied)
		expectReason(t, done, commonv1alpha1.SafetyPolicyDeniedReason)
		if got := rt.Replicas(t, c, "kube-system", "guarded"); got != 1 {
			t.Errorf("a denied run scaled kube-system/guarded to %d", got)
		}
	})

	t.Run("an action's ServiceAccount without its permissions is denied, naming the ClusterRole to bind", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		binding := &rbacv1.ClusterRoleBinding{}
		key := client.ObjectKey{Name: scaleAction(t).ClusterRoleName()}
		if err := c.Get(ctx, key, binding); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, binding); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			binding.ResourceVersion = ""
			if err := c.Create(context.Background(), binding); err != nil {
				t.Errorf("restoring %s: %v", key.Name, err)
			}
			time.Sleep(1100 * time.Millisecond) // the reviewer's cache TTL: later runs see the grant again
		})
		time.Sleep(1100 * time.Millisecond) // an allowed answer is cached for 1s
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionDenied)
		expectReason(t, done, commonv1alpha1.ForbiddenReason)
		if !strings.Contains(done.Status.Message, scaleAction(t).ClusterRoleName()) {
			t.Errorf("message %q does not name the ClusterRole to bind", done.Status.Message)
		}
	})

	t.Run("an optional precondition that fails warns, and the run acts", func(t *testing.T) {
		ns, ke := webScale(t, c, "admin")
		ke.Spec.PreConditions = []commonv1alpha1.ValidationCondition{{
			Type: "nice_to_have", Required: ptr.To(false), Rego: "package nice\nallow if input.current_replicas >= 10",
		}}
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if r := done.Status.ValidationResults.PreConditionResults; len(r) != 1 || r[0].Passed {
			t.Errorf("precondition results = %+v, want one that failed", r)
		}
		rt.WaitEvent(t, c, ns, ke.Name, commonv1alpha1.PreconditionWarningReason)
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("a warned run did not act")
		}
	})

	t.Run("an override of the blocking condition lets a blocked run validate again and act", func(t *testing.T) {
		ns, ke := webScale(t, c, "admin")
		ke.Spec.PreConditions = tooFew()
		rt.Create(t, c, ke)
		waitPhase(t, c, ke, kev1alpha1.ExecutionBlocked)
		annotate(t, c, ke, map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "big_enough",
			commonv1alpha1.OverrideReasonAnnotation:    "INC-1: capacity checked by hand",
			commonv1alpha1.OverrideByAnnotation:        "oncall",
		})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if o := done.Status.Overrides; len(o) != 1 || o[0].By != "oncall" || !slices.Equal(o[0].Conditions, []string{"big_enough"}) {
			t.Errorf("status.overrides = %+v, want big_enough overridden by oncall", o)
		}
		if r := done.Status.ValidationResults.PreConditionResults; len(r) != 1 || !strings.Contains(r[0].ErrorMessage, "skipped") {
			t.Errorf("precondition results = %+v, want big_enough skipped", r)
		}
		rt.WaitEvent(t, c, ns, ke.Name, commonv1alpha1.OverriddenReason)
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the overridden run did not act")
		}
	})

	t.Run("a required postcondition without data at its timeout neither passes nor rolls back: the run waits for an override", func(t *testing.T) {
		ns, ke := webScale(t, c, "admin")
		ke.Spec.PostConditions = appStateReady(2 * time.Second)
		ke.Spec.ExecutionStrategy.BlockedTimeout = &metav1.Duration{Duration: time.Hour}
		rt.Create(t, c, ke)
		blocked := waitPhase(t, c, ke, kev1alpha1.ExecutionBlocked)
		expectReason(t, blocked, commonv1alpha1.InconclusiveReason)
		r := blocked.Status.ValidationResults.PostConditionResults
		if len(r) != 1 || !r[0].Inconclusive || r[0].Passed || r[0].Attempts < 2 ||
			!strings.Contains(r[0].ErrorMessage, "ConfigMap "+ns+"/app-state does not exist") {
			t.Errorf("postcondition results = %+v, want one inconclusive after evaluations at its interval, saying why", r)
		}
		if !strings.Contains(blocked.Status.Message, "inconclusive") || !strings.Contains(blocked.Status.Message, "override") {
			t.Errorf("message %q must say the run waits for an override of inconclusive conditions", blocked.Status.Message)
		}
		rt.WaitEvent(t, c, ns, ke.Name, commonv1alpha1.InconclusiveReason)
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("an inconclusive run was rolled back, or never acted")
		}
		if blocked.Status.RollbackInformation == nil {
			t.Error("the inverse must stay recorded, for a person who decides to roll back")
		}

		annotate(t, c, ke, map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "app_state_ready",
			commonv1alpha1.OverrideReasonAnnotation:    "INC-7: the app has no state object, checked by hand",
			commonv1alpha1.OverrideByAnnotation:        "oncall",
		})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if r := done.Status.ValidationResults.PostConditionResults; len(r) != 1 || !r[0].Overridden {
			t.Errorf("postcondition results = %+v, want app_state_ready overridden", r)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("accepting the change undid it")
		}
	})

	t.Run("an inconclusive postcondition that gets its data passes or fails as usual", func(t *testing.T) {
		ns, ke := webScale(t, c, "admin")
		ke.Spec.PostConditions = appStateReady(time.Hour)
		rt.Create(t, c, ke)
		rt.Eventually(t, "an inconclusive evaluation", func() (bool, error) {
			got := get(t, c, ke)
			r := got.Status.ValidationResults
			return r != nil && len(r.PostConditionResults) == 1 && r.PostConditionResults[0].Inconclusive, nil
		})
		rt.Create(t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-state", Namespace: ns}, Data: map[string]string{"ready": "true"}})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if r := done.Status.ValidationResults.PostConditionResults; len(r) != 1 || !r[0].Passed || r[0].Inconclusive {
			t.Errorf("postcondition results = %+v, want app_state_ready passed", r)
		}
	})

	t.Run("an override on the workflow that owns a blocked run reaches it, and the run acts", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		// A workflow that waits for approval, so that it creates no execution of
		// its own; the run below is its step as far as the run can tell.
		wfe := &workflowv1alpha1.WorkflowExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: ns, Annotations: rt.Requested("admin")},
			Spec: workflowv1alpha1.WorkflowExecutionSpec{
				ExecutionStrategy: workflowv1alpha1.ExecutionStrategy{Gates: commonv1alpha1.Gates{ApprovalRequired: true}},
				WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{Steps: []workflowv1alpha1.WorkflowStep{{
					StepNumber: 1, Name: "scale", Action: "scale_deployment",
					Parameters: &runtime.RawExtension{Raw: rt.ScaleParameters(ns, "web", 2)},
				}}},
			},
		}
		rt.Create(t, c, wfe)
		ke := scaleExecution(ns, "owned", "web", 2, "admin")
		ke.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(wfe, workflowv1alpha1.GroupVersion.WithKind("WorkflowExecution"))}
		ke.Spec.PreConditions = tooFew()
		rt.Create(t, c, ke)
		waitPhase(t, c, ke, kev1alpha1.ExecutionBlocked)
		rt.Annotate(t, c, wfe, map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "big_enough",
			commonv1alpha1.OverrideReasonAnnotation:    "INC-5",
			commonv1alpha1.OverrideByAnnotation:        "oncall",
		})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if o := done.Status.Overrides; len(o) != 1 || o[0].Source != "WorkflowExecution/owner" {
			t.Errorf("status.overrides = %+v, want the workflow's", o)
		}
	})

	t.Run("a run that needs approval waits; another person's approval lets it act", func(t *testing.T) {
		ns, ke := webScale(t, c, "admin")
		awaitApproval(t, c, ke)
		// The requester's own approval does not count.
		approve(t, c, ke, commonv1alpha1.Approval{Approver: "admin", Decision: commonv1alpha1.Approve, Reason: "mine"})
		rt.WaitEvent(t, c, ns, ke.Name, commonv1alpha1.ApprovedReason)
		time.Sleep(500 * time.Millisecond)
		if got := get(t, c, ke); got.Status.Phase != kev1alpha1.ExecutionWaitingApproval || rt.Replicas(t, c, ns, "web") != 1 {
			t.Fatalf("the requester approved their own run and it went on: %s", got.Status.Phase)
		}
		approve(t, c, ke, commonv1alpha1.Approval{Approver: "lead", Decision: commonv1alpha1.Approve, Reason: "INC-2"})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if a := done.Status.Approvals; len(a) != 2 || a[1].Approver != "lead" {
			t.Errorf("status.approvals = %+v, want both entries observed", a)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the approved run did not act")
		}
	})

	t.Run("a reject fails a run waiting for approval, and nothing acts", func(t *testing.T) {
		ns, ke := webScale(t, c, "admin")
		awaitApproval(t, c, ke)
		approve(t, c, ke, commonv1alpha1.Approval{Approver: "lead", Decision: commonv1alpha1.Reject, Reason: "not during the freeze"})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		expectReason(t, done, commonv1alpha1.RejectedReason)
		if rt.Replicas(t, c, ns, "web") != 1 {
			t.Error("a rejected run acted")
		}
	})

	t.Run("a run waiting for approval fails at its approvalTimeout, on the reconcilers' clock", func(t *testing.T) {
		_, ke := webScale(t, c, "admin")
		ke.Spec.ExecutionStrategy.ApprovalTimeout = &metav1.Duration{Duration: time.Hour}
		awaitApproval(t, c, ke)
		env.Clock.Advance(61 * time.Minute)
		rt.Poke(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		expectReason(t, done, commonv1alpha1.ApprovalTimedOutReason)
	})

	t.Run("a blocked run fails at its blockedTimeout, on the reconcilers' clock", func(t *testing.T) {
		_, ke := webScale(t, c, "admin")
		ke.Spec.PreConditions = tooFew()
		rt.Create(t, c, ke)
		waitPhase(t, c, ke, kev1alpha1.ExecutionBlocked)
		env.Clock.Advance(31 * time.Minute) // the default blockedTimeout is 30m
		rt.Poke(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		expectReason(t, done, commonv1alpha1.BlockedTimedOutReason)
	})

	t.Run("a failing call is tried maxRetries more times, then fails the run with its error", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		rt.RefuseScales(t, c, ns)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		ke.Spec.MaxRetries = ptr.To[int32](1)
		rt.Create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionFailed)
		expectReason(t, done, commonv1alpha1.ExecutionFailedReason)
		if done.Status.RetriesAttempted != 1 || !strings.Contains(done.Status.Message, "frozen for the test") {
			t.Errorf("retriesAttempted %d, message %q: want 1 retry and the API server's refusal", done.Status.RetriesAttempted, done.Status.Message)
		}
		if done.Status.ExecutionResults == nil || done.Status.ExecutionResults.ResourcesAffected[0].Before["replicas"] != "1" {
			t.Errorf("executionResults = %+v, want the intent recorded before the failed calls", done.Status.ExecutionResults)
		}
	})

	t.Run("a run found with its intent recorded but not acted (a restart) acts once, with the recorded values", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		ke := heldWithIntent(t, c, ns, "admin", func() {})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if a := done.Status.ExecutionResults.ResourcesAffected; a[0].Before["replicas"] != "1" || a[0].After["replicas"] != "2" {
			t.Errorf("executionResults = %+v, want replicas 1 before and 2 after", a)
		}
		if rt.Replicas(t, c, ns, "web") != 2 {
			t.Error("the recorded intent was not carried out")
		}
	})

	t.Run("a run found with its intent recorded is denied when its requester may no longer act", func(t *testing.T) {
		ns := rt.Namespace(t, c)
		rt.Deployment(t, c, ns, "web", 1)
		rt.Create(t, c, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "scaler", Namespace: ns},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update", "patch"}},
			},
		})
		grant := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "mallory-scales", Namespace: ns},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "scaler"},
		}
		rt.Create(t, c, grant)
		ke := heldWithIntent(t, c, ns, "mallory", func() {
			if err := c.Delete(ctx, grant); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // the reviewer's cache TTL
		})
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionDenied)
		expectReason(t, done, commonv1alpha1.ForbiddenReason)
		if rt.Replicas(t, c, ns, "web") != 1 {
			t.Error("a run whose requester may not scale acted on its recorded intent")
		}
	})

	t.Run("deleting a run waiting for approval releases it, with an Event", func(t *testing.T) {
		_, ke := webScale(t, c, "admin")
		awaitApproval(t, c, ke)
		if err := c.Delete(ctx, ke); err != nil {
			t.Fatal(err)
		}
		rt.Eventually(t, "the run gone", func() (bool, error) {
			err := c.Get(ctx, client.ObjectKeyFromObject(ke), &kev1alpha1.KubernetesExecution{})
			return client.IgnoreNotFound(err) == nil && err != nil, nil
		})
	})
}

// webScale returns a namespace of the test's own with Deployment web at 1
// replica, and a run that scales it to 2 for requester, not yet created.
func webScale(t *testing.T, c client.Client, requester string) (string, *kev1alpha1.KubernetesExecution) {
	t.Helper()
	ns := rt.Namespace(t, c)
	rt.Deployment(t, c, ns, "web", 1)
	return ns, scaleExecution(ns, "scale", "web", 2, requester)
}

// appStateReady is a required postcondition on ConfigMap app-state of the run's
// namespace, polled every second until timeout: inconclusive while it does not
// exist.
func appStateReady(timeout time.Duration) []commonv1alpha1.ValidationCondition {
	return []commonv1alpha1.ValidationCondition{{
		Type:    "app_state_ready",
		Objects: []commonv1alpha1.ObjectQuery{{Key: "state", APIVersion: "v1", Kind: "ConfigMap", Name: "app-state"}},
		Rego:    "package app\nallow if input.objects.state.data.ready == \"true\"",
		Timeout: &metav1.Duration{Duration: timeout}, Interval: &metav1.Duration{Duration: time.Second},
	}}
}

// tooFew is a required precondition that web, at 1 replica, does not pass.
func tooFew() []commonv1alpha1.ValidationCondition {
	return []commonv1alpha1.ValidationCondition{{Type: "big_enough", Rego: "package big\nallow if input.current_replicas >= 10"}}
}

// awaitApproval creates ke asking for approval and waits until it waits for one.
func awaitApproval(t *testing.T, c client.Client, ke *kev1alpha1.KubernetesExecution) {
	t.Helper()
	ke.Spec.ExecutionStrategy.ApprovalRequired = true
	rt.Create(t, c, ke)
	waitPhase(t, c, ke, kev1alpha1.ExecutionWaitingApproval)
}

// expectReason checks the reason of ke's Succeeded condition.
func expectReason(t *testing.T, ke *kev1alpha1.KubernetesExecution, reason string) {
	t.Helper()
	c := meta.FindStatusCondition(ke.Status.Conditions, commonv1alpha1.SucceededCondition)
	if c == nil || c.Reason != reason {
		t.Errorf("Succeeded condition %+v, want reason %s (message %q)", c, reason, ke.Status.Message)
	}
}

func get(t *testing.T, c client.Client, ke *kev1alpha1.KubernetesExecution) *kev1alpha1.KubernetesExecution {
	t.Helper()
	var got kev1alpha1.KubernetesExecution
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(ke), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

// annotate adds annotations to ke, as an authorized person (through the webhook)
// would.
func annotate(t *testing.T, c client.Client, ke *kev1alpha1.KubernetesExecution, annotations map[string]string) {
	t.Helper()
	patch := client.MergeFrom(get(t, c, ke))
	latest := get(t, c, ke)
	for k, v := range annotations {
		latest.Annotations[k] = v
	}
	if err := c.Patch(t.Context(), latest, patch); err != nil {
		t.Fatal(err)
	}
}

// approve appends a decision to spec.approvals, as kubernaut approve does.
func approve(t *testing.T, c client.Client, ke *kev1alpha1.KubernetesExecution, a commonv1alpha1.Approval) {
	t.Helper()
	latest := get(t, c, ke)
	latest.Spec.Approvals = append(latest.Spec.Approvals, a)
	if err := c.Update(t.Context(), latest); err != nil {
		t.Fatal(err)
	}
}

// heldWithIntent creates a scale of Deployment ns/web from 1 to 2 replicas
// requested by requester, and leaves it as a manager that stopped after recording
// its intent would: phase executing, the replicas before recorded, nothing done.
// A namespace pause holds the run while the test writes that status and does
// what meanwhile does.
func heldWithIntent(t *testing.T, c client.Client, ns, requester string, meanwhile func()) *kev1alpha1.KubernetesExecution {
	t.Helper()
	rt.PauseNamespace(t, c, ns, "hold for the test")
	ke := scaleExecution(ns, "scale", "web", 2, requester)
	rt.Create(t, c, ke)
	held := waitPhase(t, c, ke, kev1alpha1.ExecutionPaused)
	held.Status.Phase = kev1alpha1.ExecutionExecuting
	held.Status.Message = "acting on Deployment " + ns + "/web"
	held.Status.ExecutionResults = &kev1alpha1.ExecutionResults{ResourcesAffected: []kev1alpha1.AffectedResource{{
		Kind: "Deployment", Namespace: ns, Name: "web", Before: map[string]string{"replicas": "1"},
	}}}
	if err := c.Status().Update(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	meanwhile()
	rt.PauseNamespace(t, c, ns, "")
	// The run is no longer paused in status, so the end of the pause does not
	// wake it: a restarted manager's first reconcile does.
	rt.Poke(t, c, ke)
	return ke
}

func scaleAction(t *testing.T) *catalog.Action {
	t.Helper()
	a, ok := catalog.Lookup("scale_deployment")
	if !ok {
		t.Fatal("no scale_deployment in the catalog")
	}
	return a
}
