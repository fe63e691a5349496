package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// BenchmarkRawVsValidated measures what validation adds to one scale as a user
// sees it: the same scale of a Deployment of 3 ready pods to 5, done PERF_RAW_RUNS
// (default 20) times each way, interleaved (raw, validated, raw, ...) on one
// cluster and one manager, after one warm-up of each that is not counted (the
// benchmark's informers have synced, the manager's lazily started informers and
// its impersonating client exist). Run it with
//
//	KUBEBUILDER_ASSETS=$PWD/bin go test ./test/perf -run '^$' -bench RawVsValidated -benchtime 1x -timeout 30m
//
// The two ways:
//
//   - raw: patch spec.replicas through the Deployment's scale subresource, as the
//     scale_deployment action does, and time from just before the patch to the
//     moment the benchmark's informer sees the Deployment settled at 5 (settled:
//     observedGeneration caught up, updated, ready and available replicas 5).
//   - validated: create the seed's one-step scale workflow (scaleWorkflow, a new
//     name each time) without conditions of its own, so that it has the catalog's,
//     injected by the webhook as in production (postcondition interval 5s), and time from just before the create to the moment the informer
//     sees the workflow completed with Succeeded=True. A workflow that fails or is
//     blocked fails the benchmark with its status message. The warm-up workflow is
//     checked to have evaluated and passed the nine seed condition types.
//
// Times are taken in informer event handlers, not by polling, so they do not
// carry a poll interval of the benchmark's own. Each way has its own namespace
// with an identical Deployment (deployment()); every measured run scales 3 -> 5,
// and after it the Deployment is put back to 3 directly and its surplus pods are
// waited out, unmeasured. Scaling down would be a different measurement (no pods to
// schedule and make ready): alternating 3 -> 5 and 5 -> 3 would make the p50 the
// boundary between two distributions.
//
// It reports raw-p50-ms, raw-p90-ms, validated-p50-ms, validated-p90-ms,
// added-p50-ms (validated p50 - raw p50) and ratio-p50 (validated p50 / raw p50).
// PERF_MANAGER and PERF_MANAGER_ARGS work as for BenchmarkWorkflows200.
func BenchmarkRawVsValidated(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("one iteration runs on a fresh cluster: run with -benchtime 1x (b.N = %d)", b.N)
	}
	runs := envInt(b, "PERF_RAW_RUNS", 20)
	if runs == 0 {
		b.Fatal("PERF_RAW_RUNS=0: nothing to measure")
	}
	ctx := b.Context()
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	cluster, c, cfg, binary := setUp(b)
	const rawNS, validatedNS = "rvv-raw", "rvv-validated"
	if err := createTargets(ctx, c, []string{rawNS, validatedNS}); err != nil {
		b.Fatal(err)
	}
	w := &waiter{}
	if err := w.watch(ctx, cfg, cluster, rawNS, validatedNS); err != nil {
		b.Fatal(err)
	}
	m, err := startManager(ctx, cluster, binary, 0, false, append([]string{"--zap-log-level=error"}, strings.Fields(os.Getenv("PERF_MANAGER_ARGS"))...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.proc.Stop() })
	fail := func(err error) {
		b.Helper()
		if exitErr := m.proc.Exited(); exitErr != nil {
			b.Fatalf("%v\nthe manager died: %v", err, exitErr)
		}
		b.Fatalf("%v\nmanager log:\n%s", err, m.proc.LogTail())
	}

	var raw, validated []time.Duration
	// Run -1 is the warm-up. Its workflow is workflowName, the name
	// verifyConditions reads.
	for i := -1; i < runs; i++ {
		d, err := rawScale(ctx, c, w, rawNS)
		if err != nil {
			fail(err)
		}
		name := workflowName
		if i >= 0 {
			raw = append(raw, d)
			name = fmt.Sprintf("%s-%02d", workflowName, i)
		}
		if d, err = validatedScale(ctx, c, w, validatedNS, name); err != nil {
			fail(err)
		}
		if i < 0 {
			if _, _, err := verifyConditions(ctx, c, []string{validatedNS}); err != nil {
				fail(err)
			}
		} else {
			validated = append(validated, d)
		}
		for _, ns := range []string{rawNS, validatedNS} {
			if err := resetScale(ctx, c, w, ns); err != nil {
				fail(err)
			}
		}
		if i < 0 {
			b.ResetTimer()
		}
	}
	b.StopTimer()

	rawP50, rawP90 := quantile(raw, 0.5), quantile(raw, 0.9)
	valP50, valP90 := quantile(validated, 0.5), quantile(validated, 0.9)
	added := valP50 - rawP50
	ratio := float64(valP50) / float64(rawP50)
	b.ReportMetric(toMS(rawP50), "raw-p50-ms")
	b.ReportMetric(toMS(rawP90), "raw-p90-ms")
	b.ReportMetric(toMS(valP50), "validated-p50-ms")
	b.ReportMetric(toMS(valP90), "validated-p90-ms")
	b.ReportMetric(toMS(added), "added-p50-ms")
	b.ReportMetric(ratio, "ratio-p50")
	fmt.Printf("BenchmarkRawVsValidated (%d runs each, scale 3 -> 5):%s\n", runs, table([]row{
		{"raw p50 / p90", ms(rawP50) + " / " + ms(rawP90), fmt.Sprintf("min %s, max %s; scale patch -> Deployment settled", ms(slices.Min(raw)), ms(slices.Max(raw)))},
		{"validated p50 / p90", ms(valP50) + " / " + ms(valP90), fmt.Sprintf("min %s, max %s; workflow create -> completed", ms(slices.Min(validated)), ms(slices.Max(validated)))},
		{"added p50", ms(added), "validated p50 - raw p50"},
		{"ratio p50", fmt.Sprintf("%.2fx", ratio), "validated p50 / raw p50"},
	}))
	b.Logf("scale 3 -> 5, %d runs each: raw p50/p90 %s / %s, validated p50/p90 %s / %s, added p50 %s (%.2fx)",
		runs, ms(rawP50), ms(rawP90), ms(valP50), ms(valP90), ms(added), ratio)
}

// rawScale scales ns/web to toReplicas with the API alone and returns how long it
// took until the Deployment settled.
func rawScale(ctx context.Context, c client.Client, w *waiter, ns string) (time.Duration, error) {
	d, err := w.measure(ctx, 2*time.Minute, deploymentSettled(ns, toReplicas), func() error {
		return patchReplicas(ctx, c, ns, toReplicas)
	})
	if err != nil {
		return 0, fmt.Errorf("raw scale of %s/%s: %w", ns, deploymentName, err)
	}
	return d, nil
}

// validatedScale runs the seed's scale workflow on ns/web under name and returns how
// long it took from the create to Succeeded=True.
func validatedScale(ctx context.Context, c client.Client, w *waiter, ns, name string) (time.Duration, error) {
	wfe := scaleWorkflow(ns)
	wfe.Name = name
	// The catalog's conditions only, as the webhook injects them (intervals 5s).
	step := &wfe.Spec.WorkflowDefinition.Steps[0]
	step.PreConditions, step.PostConditions = nil, nil
	d, err := w.measure(ctx, 3*time.Minute, workflowDone(ns, name), func() error { return c.Create(ctx, wfe) })
	if errors.Is(err, errTimedOut) {
		var got workflowv1alpha1.WorkflowExecution
		if getErr := c.Get(ctx, client.ObjectKeyFromObject(wfe), &got); getErr == nil {
			err = fmt.Errorf("%w; phase %q: %s", err, got.Status.Phase, got.Status.Message)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("workflow %s/%s: %w", ns, name, err)
	}
	return d, nil
}

// resetScale puts ns/web back to fromReplicas and waits until it settled and its
// surplus pods are gone, so that the next run starts where the first did.
func resetScale(ctx context.Context, c client.Client, w *waiter, ns string) error {
	if _, err := w.measure(ctx, 2*time.Minute, deploymentSettled(ns, fromReplicas), func() error {
		return patchReplicas(ctx, c, ns, fromReplicas)
	}); err != nil {
		return fmt.Errorf("scaling %s/%s back to %d: %w", ns, deploymentName, fromReplicas, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(pods.Items) == fromReplicas {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has %d pods 2 minutes after scaling back to %d", ns, len(pods.Items), fromReplicas)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// patchReplicas sets spec.replicas of ns/web the way scale_deployment does: a merge
// patch of the scale subresource.
func patchReplicas(ctx context.Context, c client.Client, ns string, replicas int32) error {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: deploymentName, Namespace: ns}}
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	return c.SubResource("scale").Patch(ctx, d, patch, client.WithSubResourceBody(&autoscalingv1.Scale{}))
}

func deploymentSettled(ns string, replicas int32) func(any) (bool, error) {
	return func(obj any) (bool, error) {
		d, ok := obj.(*appsv1.Deployment)
		return ok && d.Namespace == ns && d.Name == deploymentName && settled(d, replicas), nil
	}
}

func workflowDone(ns, name string) func(any) (bool, error) {
	return func(obj any) (bool, error) {
		w, ok := obj.(*workflowv1alpha1.WorkflowExecution)
		if !ok || w.Namespace != ns || w.Name != name {
			return false, nil
		}
		switch w.Status.Phase {
		case workflowv1alpha1.WorkflowCompleted:
			return meta.IsStatusConditionTrue(w.Status.Conditions, commonv1alpha1.SucceededCondition), nil
		case workflowv1alpha1.WorkflowFailed, workflowv1alpha1.WorkflowBlocked:
			return false, fmt.Errorf("%s: %s", w.Status.Phase, w.Status.Message)
		}
		return false, nil
	}
}

var errTimedOut = errors.New("timed out")

// waiter times one change at a time by the benchmark's informers on Deployments and
// workflows: the clock stops in the event handler that first sees the object as
// check wants it.
type waiter struct {
	mu    sync.Mutex
	check func(obj any) (bool, error) // nil: nothing awaited
	done  chan struct{}
	at    time.Time
	err   error
}

func (w *waiter) on(obj any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.check == nil {
		return
	}
	ok, err := w.check(obj)
	if !ok && err == nil {
		return
	}
	w.at, w.err, w.check = time.Now(), err, nil
	close(w.done)
}

// measure arms check, then runs act, and returns the time from just before act to
// the event check accepted; check's error, if it returns one, fails the
// measurement. check must not hold for the objects as they are before act.
func (w *waiter) measure(ctx context.Context, timeout time.Duration, check func(any) (bool, error), act func() error) (time.Duration, error) {
	w.mu.Lock()
	w.check, w.done, w.err = check, make(chan struct{}), nil
	done := w.done
	w.mu.Unlock()
	disarm := func() {
		w.mu.Lock()
		w.check = nil
		w.mu.Unlock()
	}
	start := time.Now()
	if err := act(); err != nil {
		disarm()
		return 0, err
	}
	select {
	case <-done:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.at.Sub(start), w.err
	case <-time.After(timeout):
		disarm()
		return 0, fmt.Errorf("%w after %s", errTimedOut, timeout)
	case <-ctx.Done():
		disarm()
		return 0, ctx.Err()
	}
}

// watch starts informers on the Deployments and workflows of namespaces that feed w,
// and waits until they have synced.
func (w *waiter) watch(ctx context.Context, cfg *rest.Config, cluster *harness.Harness, namespaces ...string) error {
	byNS := map[string]cache.Config{}
	for _, ns := range namespaces {
		byNS[ns] = cache.Config{}
	}
	informers, err := cache.New(cfg, cache.Options{Scheme: cluster.Scheme, DefaultNamespaces: byNS})
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &workflowv1alpha1.WorkflowExecution{}} {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { w.on(obj) },
			UpdateFunc: func(_, obj any) { w.on(obj) },
		}); err != nil {
			return err
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		return errors.New("the benchmark's informers did not sync")
	}
	return nil
}
