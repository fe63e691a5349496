package main

import (
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// adminUser is the user of the harness's admin kubeconfig.
const adminUser = "harness-admin"

// TestGates runs approve, reject, override, pause and resume against one real API
// server, without the webhooks: what the commands write, how they report RBAC's
// refusals, and their usage errors.
func TestGates(t *testing.T) {
	ctx := t.Context()
	ns := "production"
	h, kubeconfig := testCluster(t, ns, defaultManagerNamespace)
	c := h.Client
	// bob may read and update WorkflowExecutions in production, and nothing else.
	_, err := harness.GrantRole(ctx, c, ns, "bob", "wfe-updater", []rbacv1.PolicyRule{{
		APIGroups: []string{workflowv1alpha1.GroupVersion.Group}, Resources: []string{"workflowexecutions"}, Verbs: []string{"get", "update"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)

	wfe := &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web-app", Namespace: ns, Annotations: map[string]string{"team": "web"}},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{
			WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{Steps: []workflowv1alpha1.WorkflowStep{{StepNumber: 1, Action: "scale_deployment"}}},
			ExecutionStrategy: workflowv1alpha1.ExecutionStrategy{
				Gates: commonv1alpha1.Gates{ApprovalRequired: true, ApprovalsRequired: ptr.To[int32](3)},
			},
			Approvals: []commonv1alpha1.Approval{{Approver: "carol", Decision: commonv1alpha1.Approve, Reason: "earlier"}},
		},
	}
	ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web-app-1", Namespace: ns},
		Spec:       kubernetesexecutionv1alpha1.KubernetesExecutionSpec{Action: "scale_deployment"},
	}
	for _, o := range []client.Object{wfe, ke} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	get := func(t *testing.T, o client.Object) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("approve appends one entry under the caller's name", func(t *testing.T) {
		expect(t, 0, []string{"approve", "wfe/scale-web-app", "--reason", "looks good"},
			[]string{"workflowexecution production/scale-web-app: approved by harness-admin (2 of 3 approvals)\n"}, nil)
		expect(t, 0, []string{"approve", "workflowexecutions/scale-web-app", "-n", ns, "--context", "bob", "--reason", "agreed"},
			[]string{"approved by bob (3 of 3 approvals)"}, nil)
		get(t, wfe)
		want := []commonv1alpha1.Approval{
			{Approver: "carol", Decision: commonv1alpha1.Approve, Reason: "earlier"},
			{Approver: adminUser, Decision: commonv1alpha1.Approve, Reason: "looks good"},
			{Approver: "bob", Decision: commonv1alpha1.Approve, Reason: "agreed"},
		}
		if !slices.Equal(wfe.Spec.Approvals, want) {
			t.Errorf("spec.approvals = %+v, want %+v", wfe.Spec.Approvals, want)
		}
	})

	t.Run("reject appends one entry", func(t *testing.T) {
		t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
		expect(t, 0, []string{"reject", "kubernetesexecution/scale-web-app-1", "--kubeconfig", kubeconfig, "--reason", "wrong replicas"},
			[]string{"kubernetesexecution production/scale-web-app-1: rejected by harness-admin\n"}, nil)
		get(t, ke)
		want := []commonv1alpha1.Approval{{Approver: adminUser, Decision: commonv1alpha1.Reject, Reason: "wrong replicas"}}
		if !slices.Equal(ke.Spec.Approvals, want) {
			t.Errorf("spec.approvals = %+v, want %+v", ke.Spec.Approvals, want)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		expect(t, 1, []string{"approve", "ke/scale-web-app-1", "--context", "bob", "--reason", "x"}, nil,
			[]string{`User "bob" cannot get resource "kubernetesexecutions"`,
				"verbs get, update and approve on kubernetesexecutions.kubernetesexecution.kubernaut.io in namespace production",
				"ClusterRole kubernaut-approver"})
		expect(t, 1, []string{"override", "wfe/scale-web-app", "--context", "bob", "--condition", "a", "--reason", "x"}, nil,
			[]string{`User "bob" cannot patch`, "ClusterRole kubernaut-condition-override"})
		expect(t, 1, []string{"pause", "--context", "bob", "--reason", "x"}, nil,
			[]string{"forbidden", "on the ConfigMap kubernaut-pause in namespace kubernaut-system"})
		expect(t, 1, []string{"pause", "--namespace", ns, "--context", "bob", "--reason", "x"}, nil,
			[]string{"forbidden", "get and update on the Namespace production"})
		expect(t, 1, []string{"approve", "wfe/nope", "--reason", "x"}, nil,
			[]string{"workflowexecution production/nope not found (kubectl get wfe -n production lists them)"})
		// The schema's refusal is the API server's message, without an RBAC hint.
		code, _, stderr := kubernaut(t, "", "approve", "wfe/scale-web-app", "--reason", strings.Repeat("x", 1100))
		if code != 1 || !strings.Contains(stderr, "spec.approvals[3].reason") || strings.Contains(stderr, "kubernaut-approver") {
			t.Errorf("a reason too long: exit code %d, stderr:\n%s", code, stderr)
		}
	})

	t.Run("override sets and clears the annotations", func(t *testing.T) {
		before := time.Now().Truncate(time.Second)
		expect(t, 0, []string{"override", "wfe/scale-web-app", "--condition", "deployment_exists, replicas_sane", "--reason", "INC-1", "--expires", "2h"},
			[]string{"workflowexecution production/scale-web-app: conditions deployment_exists,replicas_sane overridden until "}, nil)
		get(t, wfe)
		a := wfe.Annotations
		if a[commonv1alpha1.OverrideConditionAnnotation] != "deployment_exists,replicas_sane" || a[commonv1alpha1.OverrideReasonAnnotation] != "INC-1" {
			t.Errorf("annotations %v", a)
		}
		expires, err := time.Parse(time.RFC3339, a[commonv1alpha1.OverrideExpiresAnnotation])
		if err != nil || !strings.HasSuffix(a[commonv1alpha1.OverrideExpiresAnnotation], "Z") ||
			expires.Before(before.Add(2*time.Hour)) || expires.After(time.Now().Add(2*time.Hour)) {
			t.Errorf("override-expires %q is not now+2h in UTC (%v)", a[commonv1alpha1.OverrideExpiresAnnotation], err)
		}
		if _, ok := a[commonv1alpha1.OverrideByAnnotation]; ok {
			t.Errorf("the CLI wrote override-by, which only the webhook stamps: %v", a)
		}

		// A new override without --expires does not inherit the old expiry.
		expect(t, 0, []string{"override", "wfe/scale-web-app", "--condition", "deployment_exists", "--reason", "INC-2"}, []string{"overridden\n"}, nil)
		get(t, wfe)
		if _, ok := wfe.Annotations[commonv1alpha1.OverrideExpiresAnnotation]; ok || wfe.Annotations[commonv1alpha1.OverrideReasonAnnotation] != "INC-2" {
			t.Errorf("annotations %v", wfe.Annotations)
		}

		expect(t, 0, []string{"override", "wfe/scale-web-app", "--clear"}, []string{"workflowexecution production/scale-web-app: override cleared\n"}, nil)
		get(t, wfe)
		if want := map[string]string{"team": "web"}; !maps.Equal(wfe.Annotations, want) {
			t.Errorf("annotations after --clear: %v, want %v", wfe.Annotations, want)
		}
	})

	t.Run("pause and resume cluster-wide", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: defaultManagerNamespace, Name: commonv1alpha1.PauseConfigMap}}
		expect(t, 0, []string{"pause", "--reason", "INC-4711"}, []string{"paused cluster-wide (ConfigMap kubernaut-system/kubernaut-pause): INC-4711\n"}, nil)
		expect(t, 0, []string{"pause", "--reason", "INC-4712"}, nil, nil)
		get(t, cm)
		if want := map[string]string{"reason": "INC-4712"}; !maps.Equal(cm.Data, want) {
			t.Errorf("ConfigMap data %v, want %v", cm.Data, want)
		}
		expect(t, 0, []string{"resume"}, []string{"resumed cluster-wide: deleted ConfigMap kubernaut-system/kubernaut-pause\n"}, nil)
		if err := c.Get(ctx, client.ObjectKeyFromObject(cm), cm); !apierrors.IsNotFound(err) {
			t.Errorf("the ConfigMap is still there after resume: %v", err)
		}
		expect(t, 0, []string{"resume"}, []string{"not paused cluster-wide: there is no ConfigMap kubernaut-system/kubernaut-pause\n"}, nil)
		expect(t, 1, []string{"pause", "--reason", "x", "--manager-namespace", "elsewhere"}, nil,
			[]string{"namespace elsewhere not found: is the manager installed there? Give its namespace with --manager-namespace"})
	})

	t.Run("pause and resume a namespace", func(t *testing.T) {
		namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		expect(t, 0, []string{"pause", "--namespace", ns, "--reason", "release freeze"}, []string{"namespace production paused: release freeze\n"}, nil)
		get(t, namespace)
		if namespace.Annotations[commonv1alpha1.PauseAnnotation] != "release freeze" {
			t.Errorf("annotations %v", namespace.Annotations)
		}
		expect(t, 0, []string{"resume", "--namespace", ns}, []string{"namespace production resumed\n"}, nil)
		get(t, namespace)
		if _, ok := namespace.Annotations[commonv1alpha1.PauseAnnotation]; ok {
			t.Errorf("annotations after resume %v", namespace.Annotations)
		}
		expect(t, 0, []string{"resume", "--namespace", ns}, []string{"namespace production was not paused\n"}, nil)
		expect(t, 1, []string{"pause", "--namespace", "nope", "--reason", "x"}, nil, []string{"namespace nope not found"})
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, tt := range []struct {
			args   []string
			stderr string
		}{
			{[]string{"approve", "wfe/scale-web-app"}, "--reason is required"},
			{[]string{"reject", "wfe/scale-web-app", "--reason", "  "}, "--reason is required"},
			{[]string{"approve", "deploy/web", "--reason", "x"}, `unknown type "deploy" in deploy/web; use wfe (workflowexecution) or ke (kubernetesexecution)`},
			{[]string{"approve", "scale-web-app", "--reason", "x"}, "is not TYPE/NAME"},
			{[]string{"approve", "--reason", "x"}, "accepts 1 arg"},
			{[]string{"override", "wfe/scale-web-app", "--condition", "a", "--reason", "x", "--expires", "200h"}, "--expires 200h is more than 168h"},
			{[]string{"override", "wfe/scale-web-app", "--condition", "a", "--reason", "x", "--expires", "-1h"}, "--expires -1h0m0s is negative"},
			{[]string{"override", "wfe/scale-web-app", "--reason", "x"}, "--condition is required"},
			{[]string{"override", "wfe/scale-web-app", "--condition", "a"}, "--reason is required"},
			{[]string{"override", "wfe/scale-web-app", "--clear", "--reason", "x"}, "--clear removes the override"},
			{[]string{"pause"}, "--reason is required"},
			{[]string{"pause", "-n", ns, "--reason", "x"}, "unknown shorthand flag: 'n'"},
			{[]string{"resume", "production"}, "unknown command"},
			{[]string{"approve", "wfe/x", "--reason", "x", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, "loading the kubeconfig"},
		} {
			expect(t, 2, tt.args, nil, []string{tt.stderr})
		}
	})

	t.Run("no kubeconfig", func(t *testing.T) {
		t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
		t.Setenv("HOME", t.TempDir())
		expect(t, 2, []string{"resume"}, nil, []string{"no kubeconfig found: set KUBECONFIG or give --kubeconfig"})
	})

	t.Run("help", func(t *testing.T) {
		for _, command := range []string{"approve", "reject", "override", "pause", "resume"} {
			expect(t, 0, []string{command, "--help"}, []string{"Examples:", "Exit codes:", "kubernaut " + command}, nil)
		}
	})
}

// expect runs the command line and checks its exit code and that stdout and
// stderr hold the given substrings.
func expect(t *testing.T, wantCode int, args, stdout, stderr []string) {
	t.Helper()
	code, out, errOut := kubernaut(t, "", args...)
	t.Logf("kubernaut %s: exit code %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	if code != wantCode {
		t.Errorf("kubernaut %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
	}
	for _, want := range stdout {
		if !strings.Contains(out, want) {
			t.Errorf("kubernaut %s: stdout lacks %q:\n%s", strings.Join(args, " "), want, out)
		}
	}
	for _, want := range stderr {
		if !strings.Contains(errOut, want) {
			t.Errorf("kubernaut %s: stderr lacks %q:\n%s", strings.Join(args, " "), want, errOut)
		}
	}
}

// testCluster starts an API server until the test ends (no webhooks, no
// manager) and creates namespaces; the kubeconfig of writeTestKubeconfig, with the
// first namespace as its context's, is what the commands read.
func testCluster(t *testing.T, namespaces ...string) (h *harness.Harness, kubeconfig string) {
	t.Helper()
	h = harness.StartForTest(t, harness.Options{})
	for _, name := range namespaces {
		if err := h.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	return h, writeTestKubeconfig(t, h.KubeconfigPath, namespaces[0])
}

// writeTestKubeconfig copies the admin kubeconfig with namespace as its current
// context's namespace, and adds a context bob that impersonates the user bob.
func writeTestKubeconfig(t *testing.T, admin, namespace string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	current := cfg.Contexts[cfg.CurrentContext]
	current.Namespace = namespace
	bob := cfg.AuthInfos[current.AuthInfo].DeepCopy()
	bob.Impersonate = "bob"
	cfg.AuthInfos["bob"] = bob
	cfg.Contexts["bob"] = &clientcmdapi.Context{Cluster: current.Cluster, AuthInfo: "bob", Namespace: namespace}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRefusal checks that only RBAC's Forbidden gets the permission hint: a
// webhook's denial (a 403 too) and the schema's Invalid explain themselves.
func TestRefusal(t *testing.T) {
	gr := schema.GroupResource{Group: "workflow.kubernaut.io", Resource: "workflowexecutions"}
	webhookDenial := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `admission webhook "vwfe.kubernaut.io" denied the request: user "bob" may not`,
	}}
	for _, tt := range []struct {
		err      error
		wantHint bool
	}{
		{apierrors.NewForbidden(gr, "x", errors.New(`User "bob" cannot update`)), true},
		{webhookDenial, false},
		{apierrors.NewInvalid(workflowRun.gvk.GroupKind(), "x", field.ErrorList{field.Forbidden(field.NewPath("spec", "approvals"), "no")}), false},
	} {
		err := refusal(tt.err, "HINT")
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitFailed || !strings.HasPrefix(err.Error(), tt.err.Error()) ||
			strings.Contains(err.Error(), "HINT") != tt.wantHint {
			t.Errorf("refusal(%v) = %v", tt.err, err)
		}
	}
}
