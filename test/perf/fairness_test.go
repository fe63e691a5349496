package perf

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// slowPolicy iterates until the evaluation's deadline, holding nothing: every
// evaluation of it takes the whole deadline (1 s) and errors.
const slowPolicy = `package noisy
import rego.v1
allow if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i == j + 1000000
}
`

// BenchmarkFairness measures how much one namespace's load delays another's run:
// a quiet namespace's one-step scale workflow runs alone (the baseline), then
// again in a second quiet namespace while a noisy namespace has PERF_NOISY
// (default 100) executions whose postcondition takes the whole evaluation
// deadline at every poll, until it gives up. It reports both completion times and
// their ratio. Run it with
//
//	KUBEBUILDER_ASSETS=$PWD/bin go test ./test/perf -run '^$' -bench Fairness -benchtime 1x -timeout 30m
//
// PERF_MANAGER_ARGS adds manager flags, e.g. --max-runs-per-namespace=-1 to see
// the delay without the namespace limit.
func BenchmarkFairness(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("one iteration runs on a fresh cluster: run with -benchtime 1x (b.N = %d)", b.N)
	}
	noisyRuns := envInt(b, "PERF_NOISY", 100)
	ctx := b.Context()
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	cluster, c, _, binary := setUp(b)
	const warmup, alone, loaded, noisy = "fair-warmup", "fair-alone", "fair-loaded", "fair-noisy"
	if err := createTargets(ctx, c, []string{warmup, alone, loaded, noisy}); err != nil {
		b.Fatal(err)
	}
	m, err := startManager(ctx, cluster, binary, 0, false, append([]string{"--zap-log-level=error"}, strings.Fields(os.Getenv("PERF_MANAGER_ARGS"))...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.proc.Stop() })

	if _, err := runWorkflow(ctx, c, warmup); err != nil {
		b.Fatal(err)
	}
	soloTime, err := runWorkflow(ctx, c, alone)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range noisyRuns {
		g.Go(func() error { return c.Create(gctx, noisyExecution(noisy, i)) })
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	if err := waitVerifying(ctx, c, noisy, 5); err != nil {
		b.Fatal(err)
	}
	loadedTime, err := runWorkflow(ctx, c, loaded)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	inFlight, queued := countRuns(ctx, c, noisy)

	b.ReportMetric(soloTime.Seconds(), "alone-s")
	b.ReportMetric(loadedTime.Seconds(), "loaded-s")
	b.ReportMetric(loadedTime.Seconds()/soloTime.Seconds(), "loaded-x-alone")
	b.Logf("quiet run alone %.2f s; beside %d noisy runs %.2f s (%.1fx); when it ended the noisy namespace had %d runs in flight and %d queued",
		soloTime.Seconds(), noisyRuns, loadedTime.Seconds(), loadedTime.Seconds()/soloTime.Seconds(), inFlight, queued)
}

// noisyExecution acts (scales the namespace's Deployment to the replicas it has)
// and then polls slowPolicy every second for a minute.
func noisyExecution(ns string, i int) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("noisy-%03d", i), Namespace: ns,
			Annotations: map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action: "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil,
				`{"deployment":{"name":%q,"namespace":%q,"replicas":%d}}`, deploymentName, ns, fromReplicas)},
			PostConditions: []commonv1alpha1.ValidationCondition{{
				Type: "slow_check", Rego: slowPolicy, Required: ptr.To(true),
				Timeout: &metav1.Duration{Duration: time.Minute}, Interval: &metav1.Duration{Duration: time.Second},
			}},
		},
	}
}

// runWorkflow runs the seed's scale workflow in ns and returns how long it took
// from the create to Succeeded=True.
func runWorkflow(ctx context.Context, c client.Client, ns string) (time.Duration, error) {
	wfe := scaleWorkflow(ns)
	start := time.Now()
	if err := c.Create(ctx, wfe); err != nil {
		return 0, err
	}
	for {
		var got workflowv1alpha1.WorkflowExecution
		if err := c.Get(ctx, client.ObjectKeyFromObject(wfe), &got); err != nil {
			return 0, err
		}
		if cond := meta.FindStatusCondition(got.Status.Conditions, commonv1alpha1.SucceededCondition); cond != nil {
			switch cond.Status {
			case metav1.ConditionTrue:
				return time.Since(start), nil
			case metav1.ConditionFalse:
				return 0, fmt.Errorf("workflow %s/%s failed: %s", ns, wfe.Name, got.Status.Message)
			}
		}
		if time.Since(start) > 10*time.Minute {
			return 0, fmt.Errorf("workflow %s/%s did not finish in 10 minutes: %s", ns, wfe.Name, got.Status.Message)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitVerifying waits until n of the namespace's executions verify: the load is on.
func waitVerifying(ctx context.Context, c client.Client, ns string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var list kev1alpha1.KubernetesExecutionList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		verifying := 0
		for _, ke := range list.Items {
			if ke.Status.Phase == kev1alpha1.ExecutionVerifying {
				verifying++
			}
		}
		if verifying >= n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("fewer than %d executions in %s verify after 5 minutes", n, ns)
}

func countRuns(ctx context.Context, c client.Client, ns string) (inFlight, queued int) {
	var list kev1alpha1.KubernetesExecutionList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, 0
	}
	for _, ke := range list.Items {
		switch ke.Status.Phase {
		case kev1alpha1.ExecutionValidating, kev1alpha1.ExecutionExecuting, kev1alpha1.ExecutionVerifying:
			inFlight++
		case "":
			queued++
		}
	}
	return inFlight, queued
}
