package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/samples"
)

// demoTimeout bounds how long the demo waits for the workflows to end.
const demoTimeout = 3 * time.Minute

// demoRun is one workflow of the demo and the phase it must end in.
type demoRun struct {
	wfe    *workflowv1alpha1.WorkflowExecution
	expect workflowv1alpha1.WorkflowPhase
	why    string
}

// Demo runs three workflows on the local cluster (started first when none runs):
// production/web-app scaled 3 -> 5, which completes; the same step for a
// Deployment that does not exist, which its deployment_exists precondition
// blocks; and production/checkout scaled 2 -> 3 with a postcondition on its error
// rate, read from Prometheus, which fails it and rolls it back. It prints phases and condition results as they happen, then a summary,
// and returns an error unless both ended as expected. Without Options.Keep it
// stops the cluster at the end if it started it.
func Demo(ctx context.Context, opts Options) (err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return err
	}
	_, connErr := connect(opts)
	started := connErr != nil
	c, err := Up(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if opts.Keep {
			c.printKeep()
			return
		}
		if !started {
			opts.progress("The cluster was running before the demo: leaving it up (%s stops it)", c.DownCommand())
			return
		}
		err = errors.Join(err, Down(context.WithoutCancel(ctx), opts))
	}()

	const ns = "production"
	runs := []demoRun{
		{scaleWorkflow(ns, "scale-web-app", "web-app", 5), workflowv1alpha1.WorkflowCompleted, "scales production/web-app 3 -> 5"},
		{scaleWorkflow(ns, "scale-missing-deployment", "web-api", 5), workflowv1alpha1.WorkflowBlocked,
			"scales production/web-api, which does not exist"},
		{errorRateChecked(scaleWorkflow(ns, "scale-checkout", "checkout", 3)), workflowv1alpha1.WorkflowFailed,
			"scales production/checkout 2 -> 3, whose error rate Prometheus reports at 4.7%"},
	}
	if err := opts.step("Preparing: production/web-app at 3 ready replicas, production/checkout at 2, no demo workflows left from an earlier run", func() error {
		for _, r := range runs {
			if err := c.deleteAndWait(ctx, r.wfe); err != nil {
				return err
			}
		}
		if err := c.sampleDeployment(ctx, "checkout", 2); err != nil {
			return err
		}
		return c.sampleWorkload(ctx, 3)
	}); err != nil {
		return err
	}
	opts.progress("Running three workflows")
	w := &watcher{c: c, out: opts, seen: map[string]string{}}
	final, err := w.until(ctx, ns, runs, func() error {
		for _, r := range runs {
			if err := c.Client.Create(ctx, r.wfe); err != nil {
				return fmt.Errorf("creating WorkflowExecution %s: %w", r.wfe.Name, err)
			}
			opts.progressf("    created %s/%s: %s (expected: %s)\n", ns, r.wfe.Name, r.why, r.expect)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.summary(ctx, runs, final)
}

func (o Options) progressf(format string, args ...any) { _, _ = fmt.Fprintf(o.Out, format, args...) }

func (c *Cluster) deleteAndWait(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) error {
	old := &workflowv1alpha1.WorkflowExecution{ObjectMeta: metav1.ObjectMeta{Name: wfe.Name, Namespace: wfe.Namespace}}
	if err := c.Client.Delete(ctx, old); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return c.poll(ctx, time.Minute, "WorkflowExecution "+wfe.Name+" to be deleted", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(old), old)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

// watcher prints what changed in the workflows and their executions since it
// last looked.
type watcher struct {
	c    *Cluster
	out  Options
	seen map[string]string
}

// until prints what happens to the runs' workflows and their executions, from
// watches started before the workflows are created, until each workflow has
// ended; it returns the last state of each.
func (w *watcher) until(ctx context.Context, ns string, runs []demoRun, create func() error) (map[string]*workflowv1alpha1.WorkflowExecution, error) {
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	wc, err := client.NewWithWatch(w.c.Config, client.Options{Scheme: w.c.Scheme})
	if err != nil {
		return nil, err
	}
	wfes, err := wc.Watch(ctx, &workflowv1alpha1.WorkflowExecutionList{}, client.InNamespace(ns))
	if err != nil {
		return nil, fmt.Errorf("watching WorkflowExecutions: %w", err)
	}
	defer wfes.Stop()
	kes, err := wc.Watch(ctx, &kev1alpha1.KubernetesExecutionList{}, client.InNamespace(ns))
	if err != nil {
		return nil, fmt.Errorf("watching KubernetesExecutions: %w", err)
	}
	defer kes.Stop()
	if err := create(); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, r := range runs {
		names[r.wfe.Name] = true
	}
	final := map[string]*workflowv1alpha1.WorkflowExecution{}
	done := func() bool {
		for name := range names {
			if f := final[name]; f == nil || !terminal(f.Status.Phase) {
				return false
			}
		}
		return true
	}
	// relist reads the workflows directly, should a watch end early.
	relist := func() error {
		for _, r := range runs {
			var wfe workflowv1alpha1.WorkflowExecution
			if err := w.c.Client.Get(ctx, client.ObjectKeyFromObject(r.wfe), &wfe); err != nil {
				return err
			}
			w.workflow(&wfe)
			final[wfe.Name] = &wfe
		}
		return nil
	}
	wfeEvents, keEvents := wfes.ResultChan(), kes.ResultChan()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !done() {
		select {
		case ev, ok := <-wfeEvents:
			if !ok {
				wfeEvents = nil
				continue
			}
			if wfe, isWFE := ev.Object.(*workflowv1alpha1.WorkflowExecution); isWFE && names[wfe.Name] {
				w.workflow(wfe)
				final[wfe.Name] = wfe
			}
		case ev, ok := <-keEvents:
			if !ok {
				keEvents = nil
				continue
			}
			if ke, isKE := ev.Object.(*kev1alpha1.KubernetesExecution); isKE {
				if owner := metav1.GetControllerOf(ke); owner != nil && names[owner.Name] {
					w.execution(ke)
				}
			}
		case <-tick.C:
			for _, p := range w.c.state.Processes {
				if !p.alive() {
					return nil, fmt.Errorf("%s exited during the demo; end of its log (%s):\n%s", p.Name, p.Log, tail(p.Log))
				}
			}
			if wfeEvents == nil {
				if err := relist(); err != nil {
					return nil, err
				}
			}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				_ = relist()
				return final, fmt.Errorf("the workflows did not end within %s", demoTimeout)
			}
			return nil, ctx.Err()
		}
	}
	return final, nil
}

// terminal reports whether a workflow has settled for the demo: over, or blocked
// (which waits for a person, and in the demo nobody comes).
func terminal(p workflowv1alpha1.WorkflowPhase) bool {
	switch p {
	case workflowv1alpha1.WorkflowCompleted, workflowv1alpha1.WorkflowFailed, workflowv1alpha1.WorkflowBlocked:
		return true
	}
	return false
}

// changed records value under key and says whether it differs from last time.
func (w *watcher) changed(key, value string) bool {
	if w.seen[key] == value {
		return false
	}
	w.seen[key] = value
	return true
}

func (w *watcher) line(name, format string, args ...any) {
	_, _ = fmt.Fprintf(w.out.Out, "    %s %-34s %s\n", time.Now().Format("15:04:05"), name, fmt.Sprintf(format, args...))
}

func (w *watcher) workflow(wfe *workflowv1alpha1.WorkflowExecution) {
	name := "wfe/" + wfe.Name
	if who := wfe.Status.RequestedBy; who != "" && w.changed(name+"/requestedBy", who) {
		w.line(name, "requested by %s: the manager acts only with their permissions", who)
	}
	if p := wfe.Status.Phase; p != "" && w.changed(name+"/phase", string(p)) {
		msg := ""
		if wfe.Status.Message != "" {
			msg = ": " + wfe.Status.Message
		}
		w.line(name, "phase %s%s", strings.ToUpper(string(p)), msg)
	}
	for _, s := range wfe.Status.StepStatuses {
		key := fmt.Sprintf("%s/step-%d", name, s.StepNumber)
		if s.Status != "" && w.changed(key, string(s.Status)) {
			w.line(name, "step %d (%s) %s", s.StepNumber, s.Action, s.Status)
		}
		w.results(name, fmt.Sprintf("step %d precondition ", s.StepNumber), s.PreConditionResults, false)
		w.results(name, fmt.Sprintf("step %d postcondition", s.StepNumber), s.PostConditionResults,
			s.Status == workflowv1alpha1.StepVerifying)
	}
}

func (w *watcher) execution(ke *kev1alpha1.KubernetesExecution) {
	name := "ke/" + ke.Name
	if p := ke.Status.Phase; p != "" && w.changed(name+"/phase", string(p)) {
		msg := ""
		if ke.Status.Message != "" {
			msg = ": " + ke.Status.Message
		}
		w.line(name, "phase %s%s", strings.ToUpper(string(p)), msg)
	}
	v := ke.Status.ValidationResults
	if v == nil {
		return
	}
	for _, chk := range []struct {
		name string
		r    *kev1alpha1.CheckResult
	}{{"parameters", v.Parameters}, {"rbac", v.RBAC}, {"safety", v.Safety}, {"dry-run", v.DryRun}} {
		if chk.r == nil {
			continue
		}
		verdict := "passed"
		if !chk.r.Passed {
			verdict = "FAILED"
		}
		if w.changed(name+"/check/"+chk.name, verdict) {
			w.line(name, "check %-12s %s %s", chk.name, verdict, chk.r.Message)
		}
	}
	w.results(name, "action precondition ", v.PreConditionResults, false)
	w.results(name, "action postcondition", v.PostConditionResults, ke.Status.Phase == kev1alpha1.ExecutionVerifying)
}

// results prints each condition result that is new or changed its verdict.
// While pending, a postcondition that does not hold yet is polled again until
// its timeout: it is shown as waiting, not failed.
func (w *watcher) results(name, prefix string, results []commonv1alpha1.ConditionResult, pending bool) {
	for _, r := range results {
		verdict := verdictOf(r)
		if pending && verdict == "FAILED" {
			verdict = "waiting"
		}
		if !w.changed(name+"/"+prefix+"/"+r.ConditionType, verdict+r.ErrorMessage) {
			continue
		}
		req := "optional"
		if r.Required {
			req = "required"
		}
		detail := fmt.Sprintf("[%s, %s policy", req, orDash(string(r.PolicySource)))
		if r.DurationMicros > 0 {
			detail += fmt.Sprintf(", %dµs", r.DurationMicros)
		}
		if r.Attempts > 1 {
			detail += fmt.Sprintf(", attempt %d", r.Attempts)
		}
		detail += "]"
		msg := ""
		if !r.Passed && r.ErrorMessage != "" {
			msg = ": " + r.ErrorMessage
		}
		w.line(name, "%s %-28s %-7s %s%s", prefix, r.ConditionType, verdict, detail, msg)
	}
}

func verdictOf(r commonv1alpha1.ConditionResult) string {
	switch {
	case r.Overridden:
		return "skipped"
	case r.Passed:
		return "passed"
	case r.Inconclusive:
		return "NO DATA"
	case !r.Evaluated:
		return "ERROR"
	default:
		return "FAILED"
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// took is how long a run took, from its start to its end, to the second as
// status records times: a scale is verified as soon as its pods are ready, not
// at the next poll.
func took(wfe *workflowv1alpha1.WorkflowExecution) string {
	if wfe.Status.StartTime == nil || wfe.Status.CompletionTime == nil {
		return "-"
	}
	return wfe.Status.CompletionTime.Sub(wfe.Status.StartTime.Time).String()
}

// summary prints a table of the workflows and returns an error unless each ended
// in its expected phase, web-app has 5 replicas and checkout is back at 2.
func (c *Cluster) summary(ctx context.Context, runs []demoRun, final map[string]*workflowv1alpha1.WorkflowExecution) error {
	out := c.opts.Out
	_, _ = fmt.Fprintln(out)
	c.opts.progress("Summary")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "WORKFLOW\tREQUESTED-BY\tEXPECTED\tGOT\tTOOK\tPRE\tPOST\tREASON\tRESULT")
	var errs []error
	for _, r := range runs {
		wfe := final[r.wfe.Name]
		pre, post := tally(wfe, true), tally(wfe, false)
		reason := ""
		for _, cond := range wfe.Status.Conditions {
			if cond.Type == commonv1alpha1.SucceededCondition {
				reason = cond.Reason
			}
		}
		result := "ok"
		if wfe.Status.Phase != r.expect {
			result = "UNEXPECTED"
			errs = append(errs, fmt.Errorf("workflow %s ended %s, expected %s: %s", wfe.Name, orDash(string(wfe.Status.Phase)), r.expect, wfe.Status.Message))
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", wfe.Name, orDash(wfe.Status.RequestedBy), r.expect,
			orDash(string(wfe.Status.Phase)), took(wfe), pre, post, orDash(reason), result)
	}
	_ = tw.Flush()
	var d appsv1.Deployment
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "web-app"}, &d); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "production/web-app: %d replicas wanted, %d ready\n", ptrValue(d.Spec.Replicas), d.Status.ReadyReplicas)
	if ptrValue(d.Spec.Replicas) != 5 {
		errs = append(errs, fmt.Errorf("production/web-app has %d replicas, expected 5", ptrValue(d.Spec.Replicas)))
	}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "checkout"}, &d); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "production/checkout: %d replicas wanted (rolled back), %d ready\n", ptrValue(d.Spec.Replicas), d.Status.ReadyReplicas)
	if ptrValue(d.Spec.Replicas) != 2 {
		errs = append(errs, fmt.Errorf("production/checkout has %d replicas, expected 2 after its rollback", ptrValue(d.Spec.Replicas)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the demo did not end as expected (logs in %s): %w", filepath.Join(c.opts.StateDir, "logs"), err)
	}
	c.opts.progress("The workflows ended as expected: one completed, one blocked by a precondition, one rolled back on its error rate")
	return nil
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// tally is "passed/evaluated" of the workflow's pre- or postconditions.
func tally(wfe *workflowv1alpha1.WorkflowExecution, pre bool) string {
	passed, total := 0, 0
	for _, s := range wfe.Status.StepStatuses {
		rs := s.PostConditionResults
		if pre {
			rs = s.PreConditionResults
		}
		for _, r := range rs {
			total++
			if r.Passed {
				passed++
			}
		}
	}
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d passed", passed, total)
}

// printKeep says how to use the cluster left running.
func (c *Cluster) printKeep() {
	rel := func(p string) string {
		if r, err := filepath.Rel(c.opts.Root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	kc := c.KubeconfigPath
	_, _ = fmt.Fprintf(c.opts.Out, `
The local cluster is still running. To use it:

  export KUBECONFIG=%s
  kubectl get wfe,ke -A
  kubectl describe wfe -n production scale-missing-deployment

The webhooks inject the action's suggested conditions, and a server-side dry run
evaluates the preconditions against the cluster as it is now and warns about those
that would fail:

  kubectl apply --dry-run=server -f config/samples/scale-web-app.yaml -o yaml
  kubectl apply --dry-run=server -f config/samples/scale-missing-deployment.yaml

The blocked workflow waits 30 minutes for a person (kubectl wait returns on
--for=condition=PreconditionsPassed=false). An override with a reason lets it go
on, recorded in status.overrides (here the Deployment is really missing, so the
step then fails at its dry run); a pause holds every new action:

  go run ./cmd/kubernaut override wfe/scale-missing-deployment -n production \
    --condition deployment_exists --reason "checking the override flow" --expires 1h
  go run ./cmd/kubernaut pause --namespace production --reason "trying the pause"
  go run ./cmd/kubernaut resume --namespace production

Logs: %s   Stop it: %s
`, kc, rel(filepath.Join(c.opts.StateDir, "logs")), c.DownCommand())
}

// scaleWorkflow is the seed-shaped workflow of samples.ScaleWorkflow.
var scaleWorkflow = samples.ScaleWorkflow

// errorRateChecked adds to a scale workflow's step a postcondition on its
// Deployment's error rate, which the local Prometheus records (prometheus.go), and
// rolls the step back when it fails.
func errorRateChecked(wfe *workflowv1alpha1.WorkflowExecution) *workflowv1alpha1.WorkflowExecution {
	step := &wfe.Spec.WorkflowDefinition.Steps[0]
	step.PostConditions = append(step.PostConditions, commonv1alpha1.ValidationCondition{
		Type:        "error_rate_acceptable",
		Description: "At most 1% of the service's requests fail after the scale",
		Metrics: []commonv1alpha1.MetricQuery{{Name: "error_rate",
			Query: `max(` + errorRatioMetric + `{namespace="{{namespace}}",service="{{name}}"})`}},
		Rego: `package error_rate_acceptable
import rego.v1
allow if input.metrics.error_rate <= 0.01
error_message := sprintf("error rate %v%% is over 1%%", [round(input.metrics.error_rate * 10000) / 100])`,
		Timeout:  &metav1.Duration{Duration: 10 * time.Second},
		Interval: &metav1.Duration{Duration: 2 * time.Second},
	})
	wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackAutomatic
	return wfe
}
