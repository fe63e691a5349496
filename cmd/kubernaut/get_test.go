package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// syncBuffer is a bytes.Buffer a command may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGet runs get wfe against a real API server (no webhooks, no manager): the
// test writes the status the manager would, and the command draws it; --watch
// follows it to the end.
func TestGet(t *testing.T) {
	ctx := t.Context()
	ns := "web"
	h, kubeconfig := testCluster(t, ns)
	t.Setenv("KUBECONFIG", kubeconfig)
	c := h.Client

	wfe := &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web", Namespace: ns},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{Steps: []workflowv1alpha1.WorkflowStep{
			{StepNumber: 1, Name: "scale up", Action: "scale_deployment",
				PostConditions: []commonv1alpha1.ValidationCondition{{Type: "pods_ready"}, {Type: "latency_ok", Required: ptr.To(false)}}},
			{StepNumber: 2, Action: "restart_deployment"},
		}}},
	}
	if err := c.Create(ctx, wfe); err != nil {
		t.Fatal(err)
	}
	// The step's execution, as the manager creates it; and one of another workflow.
	ke := &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web-step-1", Namespace: ns, Labels: map[string]string{workflowLabel: wfe.Name}},
		Spec:       kev1alpha1.KubernetesExecutionSpec{Action: "scale_deployment"},
	}
	if err := controllerutil.SetControllerReference(wfe, ke, c.Scheme()); err != nil {
		t.Fatal(err)
	}
	stranger := &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "other-step-1", Namespace: ns, Labels: map[string]string{workflowLabel: "other"}},
		Spec:       kev1alpha1.KubernetesExecutionSpec{Action: "scale_deployment"},
	}
	for _, o := range []client.Object{ke, stranger} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	now := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	ke.Status = kev1alpha1.KubernetesExecutionStatus{Phase: kev1alpha1.ExecutionCompleted, StartTime: &now, CompletionTime: &now}
	if err := c.Status().Update(ctx, ke); err != nil {
		t.Fatal(err)
	}
	wfe.Status = workflowv1alpha1.WorkflowExecutionStatus{
		Phase: workflowv1alpha1.WorkflowMonitoring, Progress: "0/2", StartTime: &now,
		Conditions: []metav1.Condition{{Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionUnknown,
			Reason: commonv1alpha1.RunningReason, Message: "step 1 verifying its postconditions", LastTransitionTime: now}},
		StepStatuses: []workflowv1alpha1.StepStatus{{
			StepNumber: 1, Action: "scale_deployment", Status: workflowv1alpha1.StepVerifying, StartTime: &now,
			K8sExecutionRef: &workflowv1alpha1.ExecutionReference{Name: ke.Name},
			PostConditionResults: []commonv1alpha1.ConditionResult{
				{ConditionType: "pods_ready", Evaluated: true, Required: true, Attempts: 3, EvaluationTime: now, ErrorMessage: "2 of 3 pods ready"},
				{ConditionType: "latency_ok", Evaluated: true, Passed: true, Attempts: 1, EvaluationTime: now},
			},
		}},
	}
	if err := c.Status().Update(ctx, wfe); err != nil {
		t.Fatal(err)
	}

	t.Run("draws the steps, their conditions and executions", func(t *testing.T) {
		expect(t, 0, []string{"get", "wfe", "scale-web"}, []string{
			"WorkflowExecution web/scale-web monitoring (Running)\n",
			"message: step 1 verifying its postconditions\n",
			"step 1 scale up (scale_deployment) verifying",
			"post pods_ready waiting      required attempts 3",
			"2 of 3 pods ready",
			"post latency_ok passed       optional",
			"execution scale-web-step-1 completed",
			"└─ step 2 (restart_deployment) pending\n",
		}, nil)
		code, out, _ := kubernaut(t, "", "get", "workflowexecutions/scale-web", "-n", ns)
		if code != 0 || strings.Contains(out, "other-step-1") || strings.Contains(out, "\x1b[") {
			t.Errorf("exit code %d; want no other workflow's execution and no colour off a terminal:\n%s", code, out)
		}
		code, out, _ = kubernaut(t, "", "get", "wfe", "scale-web", "--color=always")
		if code != 0 || !strings.Contains(out, "\x1b[") {
			t.Errorf("--color=always: exit code %d, no ANSI codes:\n%q", code, out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		expect(t, 1, []string{"get", "wfe", "missing"}, nil, []string{"workflowexecution web/missing not found"})
		expect(t, 2, []string{"get", "ke", "scale-web-step-1"}, nil, []string{"give wfe NAME"})
		expect(t, 2, []string{"get", "wfe", "scale-web", "--color=sometimes"}, nil, []string{"--color is auto, always or never"})
		expect(t, 2, []string{"get", "wfe"}, nil, []string{"needs the name"})
	})

	t.Run("--watch follows the run and exits when it completes", func(t *testing.T) {
		// An hour between reads: only a watch sees the change in time.
		followToTheEnd(t, c, wfe, nil, "--interval", "1h")
	})

	// More runs like it, without executions, for the cases below.
	another := func(t *testing.T, name string) *workflowv1alpha1.WorkflowExecution {
		t.Helper()
		w := &workflowv1alpha1.WorkflowExecution{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       *wfe.Spec.DeepCopy(),
		}
		if err := c.Create(ctx, w); err != nil {
			t.Fatal(err)
		}
		w.Status = workflowv1alpha1.WorkflowExecutionStatus{
			Phase: workflowv1alpha1.WorkflowMonitoring, Progress: "0/2", StartTime: &now,
			Conditions: []metav1.Condition{{Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionUnknown,
				Reason: commonv1alpha1.RunningReason, Message: "step 1 verifying its postconditions", LastTransitionTime: now}},
			StepStatuses: []workflowv1alpha1.StepStatus{{
				StepNumber: 1, Action: "scale_deployment", Status: workflowv1alpha1.StepVerifying, StartTime: &now,
				PostConditionResults: []commonv1alpha1.ConditionResult{
					{ConditionType: "pods_ready", Evaluated: true, Required: true, Attempts: 3, EvaluationTime: now, ErrorMessage: "2 of 3 pods ready"},
				},
			}},
		}
		if err := c.Status().Update(ctx, w); err != nil {
			t.Fatal(err)
		}
		return w
	}

	t.Run("--watch opens its watches again when the API server ends them", func(t *testing.T) {
		defer func(d time.Duration) { watchTimeout = d }(watchTimeout)
		watchTimeout = time.Second
		w := another(t, "reopened")
		followToTheEnd(t, c, w, func() { time.Sleep(2500 * time.Millisecond) }, "--interval", "100ms")
	})

	t.Run("--watch on a terminal: colour, redrawn in place", func(t *testing.T) {
		t.Setenv("NO_COLOR", "")
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminal: %v", err)
		}
		defer func() { _ = ptmx.Close() }()
		defer func() { _ = tty.Close() }()
		if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 200}); err != nil {
			t.Fatal(err)
		}
		var screen syncBuffer
		go func() { _, _ = io.Copy(&screen, ptmx) }()
		w := another(t, "on-a-terminal")
		var errOut syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run([]string{"get", "wfe", w.Name, "--watch", "--interval", "200ms"}, strings.NewReader(""), tty, &errOut)
		}()
		waitFor(t, &screen, "monitoring", done)
		if err := c.Get(ctx, client.ObjectKeyFromObject(w), w); err != nil {
			t.Fatal(err)
		}
		w.Status.Phase = workflowv1alpha1.WorkflowCompleted
		if err := c.Status().Update(ctx, w); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("exit code %d, want 0\n%s", code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("--watch did not exit after the run completed:\n%q", screen.String())
		}
		waitFor(t, &screen, "completed", nil)
		got := screen.String()
		// The frame before took 8 rows: back up over them and erase, then draw.
		if !strings.Contains(got, "\r\x1b[8A\x1b[J") {
			t.Errorf("no cursor-up over the last frame and erase:\n%q", got)
		}
		if !strings.Contains(got, "\x1b[") || !strings.Contains(stripANSI(got), "WorkflowExecution web/on-a-terminal completed") {
			t.Errorf("want a coloured frame of the completed run:\n%q", got)
		}
	})

	t.Run("--watch ends with exit code 0 on Ctrl-C", func(t *testing.T) {
		w := another(t, "interrupted")
		cli := filepath.Join(t.TempDir(), "kubernaut")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", cli, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		var out, errOut syncBuffer
		cmd := exec.CommandContext(ctx, cli, "get", "wfe", w.Name, "--watch")
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan int, 1)
		go func() { _ = cmd.Wait(); exited <- cmd.ProcessState.ExitCode() }()
		waitFor(t, &out, "monitoring (Running)", exited)
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("exit code %d after Ctrl-C, want 0\n%s%s", code, out.String(), errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("--watch did not end on Ctrl-C")
		}
	})

	t.Run("--watch without the right to watch reads the run every --interval", func(t *testing.T) {
		// bob may get and list, not watch.
		if _, err := harness.GrantRole(ctx, c, ns, "bob", "run-reader", []rbacv1.PolicyRule{
			{APIGroups: []string{workflowv1alpha1.GroupVersion.Group}, Resources: []string{"workflowexecutions"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{kev1alpha1.GroupVersion.Group}, Resources: []string{"kubernetesexecutions"}, Verbs: []string{"get", "list"}},
		}); err != nil {
			t.Fatal(err)
		}
		w := another(t, "polled")
		errOut := followToTheEnd(t, c, w, nil, "--context", "bob", "--interval", "100ms")
		if !strings.Contains(errOut, "Cannot watch workflowexecution web/polled") || !strings.Contains(errOut, "reading it every 100ms instead") {
			t.Errorf("stderr does not say it reads instead of watching:\n%s", errOut)
		}
	})
}

// followToTheEnd runs get --watch on wfe (in monitoring, step 1 verifying),
// waits for its first frame, calls meanwhile if any, completes the run as the
// manager would, and checks that the command draws exactly one more frame and
// exits 0. It returns the command's stderr.
func followToTheEnd(t *testing.T, c client.Client, wfe *workflowv1alpha1.WorkflowExecution, meanwhile func(), flags ...string) string {
	t.Helper()
	ctx := t.Context()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(append([]string{"get", "wfe", wfe.Name, "--watch"}, flags...), strings.NewReader(""), &out, &errOut)
	}()
	waitFor(t, &out, "monitoring (Running)", done)
	if meanwhile != nil {
		meanwhile()
	}
	// The manager finishes the run.
	if err := c.Get(ctx, client.ObjectKeyFromObject(wfe), wfe); err != nil {
		t.Fatal(err)
	}
	end := metav1.NewTime(time.Now().Truncate(time.Second))
	wfe.Status.Phase, wfe.Status.Progress, wfe.Status.CompletionTime = workflowv1alpha1.WorkflowCompleted, "2/2", &end
	wfe.Status.Conditions[0] = metav1.Condition{Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionTrue,
		Reason: commonv1alpha1.SucceededReason, Message: "all 2 steps completed and verified", LastTransitionTime: end}
	st := &wfe.Status.StepStatuses[0]
	st.Status, st.EndTime = workflowv1alpha1.StepCompleted, &end
	st.PostConditionResults[0].Passed, st.PostConditionResults[0].ErrorMessage = true, ""
	if err := c.Status().Update(ctx, wfe); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d, want 0\n%s%s", code, out.String(), errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("--watch did not exit after the run completed:\n%s", out.String())
	}
	frames := strings.Split(out.String(), "\n\n")
	if len(frames) != 2 {
		t.Fatalf("want 2 frames (one per change) separated by a blank line, got %d:\n%s", len(frames), out.String())
	}
	last := frames[len(frames)-1]
	for _, want := range []string{"WorkflowExecution web/" + wfe.Name + " completed (Succeeded)", "message: all 2 steps completed and verified",
		"(scale_deployment) completed", "post pods_ready passed"} {
		if !strings.Contains(last, want) {
			t.Errorf("last frame lacks %q:\n%s", want, last)
		}
	}
	return errOut.String()
}

// waitFor waits until out contains want, failing if the command ends first.
func waitFor(t *testing.T, out *syncBuffer, want string, done <-chan int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("the command ended (exit code %d) before printing %q:\n%s", code, want, out.String())
		case <-deadline:
			t.Fatalf("no %q after 30s:\n%s", want, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestFrame checks how --watch replaces a frame on a terminal (cursor up over the
// rows the last frame took, wrapped lines counted, then erase) and separates frames
// elsewhere.
func TestFrame(t *testing.T) {
	var out bytes.Buffer
	g := &getter{out: &out, tty: true}
	for _, f := range []string{"a\n\x1b[32mbb\x1b[0m\n", "a\n\x1b[32mbb\x1b[0m\n", "c\n"} {
		if err := g.frame(f); err != nil {
			t.Fatal(err)
		}
	}
	if want := "a\n\x1b[32mbb\x1b[0m\n\r\x1b[2A\x1b[Jc\n"; out.String() != want {
		t.Errorf("terminal frames = %q, want %q", out.String(), want)
	}
	out.Reset()
	g = &getter{out: &out}
	for _, f := range []string{"a\n", "b\n"} {
		if err := g.frame(f); err != nil {
			t.Fatal(err)
		}
	}
	if want := "a\n\nb\n"; out.String() != want {
		t.Errorf("frames = %q, want %q", out.String(), want)
	}
	if got := rows("├─ 12345\nab\n", 4); got != 3 {
		t.Errorf("rows = %d, want 3 (a line of 8 runes wraps once at 4 columns)", got)
	}
}
