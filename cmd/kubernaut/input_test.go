package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// TestConditionInputUsage checks the errors found before the kubeconfig is read.
func TestConditionInputUsage(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none")) // none of these may get to connect
	scale := `{"deployment": {"name": "web", "namespace": "web", "replicas": 5}}`
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"neither action nor run", nil, "--action ACTION --params JSON, or take it from a run"},
		{"both", []string{"--action", "scale_deployment", "--run", "ke/x"}, "(one of them)"},
		{"unknown action", []string{"--action", "scale_deploy"}, "did you mean scale_deployment?"},
		{"params not JSON", []string{"--action", "scale_deployment", "--params", "{deployment:"}, "--params: parameters are not a JSON object"},
		{"params do not fit", []string{"--action", "scale_deployment", "--params", `{"deployment": {"name": "web", "namespace": "web", "replicas": -1}}`},
			"--params do not fit scale_deployment (kubernaut catalog show scale_deployment):\n  parameters.deployment.replicas: Invalid value: -1: must be between 0 and 1000"},
		{"params miss the target", []string{"--action", "scale_deployment", "--params", `{}`}, "parameters.deployment: Required value"},
		{"namespace in params", []string{"--action", "scale_deployment", "--params", `{"_namespace": "x"}`}, "give it with -n"},
		{"bad phase", []string{"--action", "scale_deployment", "--params", scale, "--phase", "after"}, `--phase is "after"; use pre`},
		{"bad output", []string{"--action", "scale_deployment", "--params", scale, "-o", "table"}, "use -o json or -o yaml"},
		{"params with run", []string{"--run", "ke/x", "--params", scale}, "--params is for --action"},
		{"run not TYPE/NAME", []string{"--run", "x"}, `"x" is not TYPE/NAME`},
		{"wfe without step", []string{"--run", "wfe/x"}, "give the step of wfe/x with --step N"},
		{"ke with step", []string{"--run", "ke/x", "--step", "1"}, "--step is for a workflow run"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := kubernaut(t, "", append([]string{"condition", "input"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("exit code %d, want 2 and %q on stderr\nstdout:\n%s\nstderr:\n%s", code, tt.want, stdout, stderr)
			}
		})
	}
}

// TestConditionInput gathers facts from a real API server (no manager) for an
// action given on the command line and for existing runs, and evaluates a policy
// on what it printed.
func TestConditionInput(t *testing.T) {
	ctx := t.Context()
	ns := "web"
	h, kubeconfig := testCluster(t, ns)
	t.Setenv("KUBECONFIG", kubeconfig)
	c := h.Client
	labels := map[string]string{"app": "web"}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:1"}}},
			},
		},
	}
	if err := c.Create(ctx, deployment); err != nil {
		t.Fatal(err)
	}
	scale := func(name string, replicas int) *runtime.RawExtension {
		return &runtime.RawExtension{Raw: []byte(`{"deployment": {"name": "` + name + `", "namespace": "web", "replicas": ` + jsonString(replicas) + `}}`)}
	}

	t.Run("an action and its parameters", func(t *testing.T) {
		doc := inputDoc(t, "--action", "scale_deployment", "--params", string(scale("web", 5).Raw))
		want := map[string]any{
			"action": "scale_deployment", "phase": "pre", "deployment_found": true, "deployment_name": "web", "namespace": "web",
			"current_replicas": 2.0, "target_replicas": 5.0, "additional_replicas": 3.0, "running_pods": 0.0,
		}
		for k, v := range want {
			if doc[k] != v {
				t.Errorf("%s is %#v, want %#v", k, doc[k], v)
			}
		}
		params, _ := doc["parameters"].(map[string]any)
		if d, _ := params["deployment"].(map[string]any); d["replicas"] != 5.0 || params["_namespace"] != ns {
			t.Errorf("parameters are %v, want the given ones and _namespace %s", params, ns)
		}
		if _, ok := doc["available_cpu"]; !ok {
			t.Errorf("the document lacks the costly fact available_cpu: every fact is wanted\n%v", doc)
		}
	})

	t.Run("the document is an input for condition eval", func(t *testing.T) {
		dir := t.TempDir()
		for name, want := range map[string]struct {
			code int
			out  string
		}{
			"web":     {0, "allow (PolicyAllowed)"},
			"missing": {1, "Deployment missing not found in namespace web"},
		} {
			code, stdout, stderr := kubernaut(t, "", "condition", "input", "-a", "scale_deployment", "--params", string(scale(name, 3).Raw))
			if code != 0 {
				t.Fatalf("condition input: exit code %d\n%s", code, stderr)
			}
			facts := writeFile(t, dir, name+".json", stdout)
			code, stdout, _ = kubernaut(t, "", "condition", "eval", "--embedded", "deployment_exists", "--input", facts)
			if code != want.code || !strings.Contains(stdout, want.out) {
				t.Errorf("eval on the facts of Deployment %s: exit code %d\n%s", name, code, stdout)
			}
		}
		// Through a pipe, as YAML.
		_, stdout, _ := kubernaut(t, "", "condition", "input", "-a", "scale_deployment", "--params", string(scale("web", 3).Raw), "-o", "yaml")
		if code, out, _ := kubernaut(t, stdout, "condition", "eval", "--embedded", "deployment_exists", "--input", "-"); code != 0 {
			t.Errorf("eval of the YAML document: exit code %d\n%s", code, out)
		}
	})

	// A KubernetesExecution that acted, as the manager leaves it.
	ke := &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web-step-1", Namespace: ns},
		Spec: kev1alpha1.KubernetesExecutionSpec{Action: "scale_deployment", Parameters: scale("web", 4),
			PostConditions: []commonv1alpha1.ValidationCondition{{Type: "error_rate_low", Rego: "package p\nallow := true\n",
				Metrics: []commonv1alpha1.MetricQuery{{Name: "error_rate", Query: "sum(rate(errors_total[5m]))"}}}}},
	}
	if err := c.Create(ctx, ke); err != nil {
		t.Fatal(err)
	}
	ke.Status.ExecutionResults = &kev1alpha1.ExecutionResults{ResourcesAffected: []kev1alpha1.AffectedResource{
		{Kind: "Deployment", Namespace: ns, Name: "web", Before: map[string]string{"replicas": "2"}, After: map[string]string{"replicas": "4"}}}}
	if err := c.Status().Update(ctx, ke); err != nil {
		t.Fatal(err)
	}
	wfe := &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web", Namespace: ns},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{Steps: []workflowv1alpha1.WorkflowStep{
			{StepNumber: 1, Action: "scale_deployment", Parameters: scale("web", 4)},
			{StepNumber: 2, Action: "rollout_restart", Parameters: &runtime.RawExtension{Raw: []byte(`{"deployment": {"name": "web", "namespace": "web"}}`)}},
		}}},
	}
	if err := c.Create(ctx, wfe); err != nil {
		t.Fatal(err)
	}
	wfe.Status.StepStatuses = []workflowv1alpha1.StepStatus{{StepNumber: 1, Action: "scale_deployment", Status: workflowv1alpha1.StepVerifying,
		K8sExecutionRef: &workflowv1alpha1.ExecutionReference{Name: ke.Name}}}
	if err := c.Status().Update(ctx, wfe); err != nil {
		t.Fatal(err)
	}

	t.Run("a KubernetesExecution after acting", func(t *testing.T) {
		code, stdout, stderr := kubernaut(t, "", "condition", "input", "--run", "ke/"+ke.Name, "--phase", "post")
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, stderr)
		}
		doc := decodeDoc(t, stdout)
		params, _ := doc["parameters"].(map[string]any)
		before, _ := params["_before"].(map[string]any)
		if doc["phase"] != "post" || doc["target_replicas"] != 4.0 || before["replicas"] != "2" || params["_namespace"] != ns {
			t.Errorf("document %v, want phase post, target_replicas 4 and _before.replicas 2", doc)
		}
		if !strings.Contains(stderr, "note: condition error_rate_low reads metrics.error_rate; their values are not in this document") {
			t.Errorf("stderr does not name the declared metrics:\n%s", stderr)
		}
		// Before acting there are no recorded values, and the postconditions' metrics are not named.
		code, stdout, stderr = kubernaut(t, "", "condition", "input", "--run", "kubernetesexecution/"+ke.Name)
		if doc := decodeDoc(t, stdout); code != 0 || doc["phase"] != "pre" || doc["parameters"].(map[string]any)["_before"] != nil || stderr != "" {
			t.Errorf("pre: exit code %d, document %v\nstderr: %s", code, doc, stderr)
		}
	})

	t.Run("a workflow's step", func(t *testing.T) {
		doc := inputDoc(t, "--run", "wfe/scale-web", "--step", "2")
		if doc["action"] != "rollout_restart" || doc["deployment_found"] != true {
			t.Errorf("step 2: %v", doc)
		}
		doc = inputDoc(t, "--run", "wfe/scale-web", "--step", "1", "--phase", "post", "-n", ns)
		params, _ := doc["parameters"].(map[string]any)
		if before, _ := params["_before"].(map[string]any); doc["action"] != "scale_deployment" || before["replicas"] != "2" {
			t.Errorf("step 1 post: %v, want _before from its execution", doc)
		}
		code, _, stderr := kubernaut(t, "", "condition", "input", "--run", "wfe/scale-web", "--step", "2", "--phase", "post")
		if code != 0 || !strings.Contains(stderr, "step 2 has no values recorded before acting") {
			t.Errorf("step 2 post: exit code %d\n%s", code, stderr)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		expect(t, 1, []string{"condition", "input", "--run", "wfe/scale-web", "--step", "9"}, nil,
			[]string{"workflowexecution web/scale-web has no step 9; its steps are 1, 2"})
		expect(t, 1, []string{"condition", "input", "--run", "ke/nope"}, nil,
			[]string{"kubernetesexecution web/nope not found (kubectl get ke -n web lists them)"})
		// bob may read nothing: the facts follow the reader's own rights.
		expect(t, 1, []string{"condition", "input", "--context", "bob", "-a", "scale_deployment", "--params", string(scale("web", 3).Raw)}, nil,
			[]string{`deployments.apps "web" is forbidden: User "bob"`, "The facts of scale_deployment are read with your own credentials: ask for get and list"})
		expect(t, 1, []string{"condition", "input", "--context", "bob", "--run", "ke/" + ke.Name}, nil,
			[]string{"forbidden", "Ask for get on kubernetesexecutions.kubernetesexecution.kubernaut.io in namespace web."})
	})

	// bob may now read deployments and pods in web, and nothing cluster-wide: every
	// fact needs the nodes, those deployment_exists reads do not.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-reader", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}}}
	for _, o := range []client.Object{role, binding} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("only the facts the policies read", func(t *testing.T) {
		args := []string{"condition", "input", "--context", "bob", "-a", "scale_deployment", "--params", string(scale("web", 3).Raw)}
		expect(t, 1, args, nil, []string{`nodes is forbidden: User "bob"`, "Or gather only what your policies read, with --policy or --embedded."})
		dir := t.TempDir()
		found := writeFile(t, dir, "found.rego", "package p\n\nallow if input.deployment_found\n")
		for _, policy := range [][]string{{"--embedded", "deployment_exists"}, {"--policy", found}, {"-p", found, "--embedded", "deployment_exists"}} {
			doc := inputDoc(t, append(args[2:], policy...)...)
			if _, ok := doc["available_cpu"]; ok || doc["deployment_found"] != true {
				t.Errorf("%s: %v, want deployment_found and no available_cpu", strings.Join(policy, " "), doc)
			}
		}
		// A policy that may read any key wants every fact.
		anyKey := writeFile(t, dir, "any.rego", "package p\n\nallow if input[_] == 1\n")
		expect(t, 1, append(args, "--policy", anyKey), nil, []string{`nodes is forbidden`})
		expect(t, 2, append(args, "--embedded", "deployment_exits"), nil, []string{"did you mean deployment_exists?"})
	})
}

// inputDoc runs condition input with args and decodes the document it prints.
func inputDoc(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := kubernaut(t, "", append([]string{"condition", "input"}, args...)...)
	if code != 0 {
		t.Fatalf("condition input %s: exit code %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return decodeDoc(t, stdout)
}

func decodeDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatalf("the output is not a JSON object: %v\n%s", err, s)
	}
	return doc
}
