// Package perf measures the manager, built from cmd/manager and run as a process,
// on a local cluster (test/harness: kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler and kwok nodes) under the load of the performance
// requirement: 200 one-step scale_deployment workflows created at once.
//
// It holds a benchmark, not a test: `go test ./...` runs only the package's cheap
// unit tests. Run it with
//
//	KUBEBUILDER_ASSETS=$PWD/bin go test ./test/perf -run '^$' -bench Workflows -benchtime 1x -timeout 30m
//
// PERF_WORKFLOWS (default 200), PERF_CONCURRENCY (the manager's --concurrency;
// default: the manager's own default) and PERF_TRACE=0 (no per-reconcile log, so
// no per-step quantiles) change the run; PERF_MANAGER=<binary> runs that manager
// instead of building cmd/manager, PERF_MANAGER_ARGS adds flags to it and
// PERF_MANAGER_ENV variables to its environment (both space separated; e.g.
// GODEBUG=memprofilerate=1 for an exact heap profile); PERF_ARTIFACTS=<folder>
// keeps the manager's log, its metrics at the end and its heap profiles before
// the batch and at the end (the manager then serves pprof on a loopback port).
package perf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/webhook"
)

// BenchmarkWorkflows200 creates 200 namespaces, each with a Deployment of 3 ready
// pods, starts the manager, runs one warm-up workflow (so that the manager's lazily
// started informers on Deployments, pods, nodes and namespaces have synced and the
// impersonating client exists) and one solo workflow (the baseline: one step alone
// on a warm manager and a quiet cluster), then creates 200 workflows at once, each one
// scale_deployment step 3 -> 5 with the seed's nine conditions, and waits until all
// completed. It fails unless every step evaluated the nine condition types (eleven
// results across the workflow and execution levels) and all passed.
//
// It reports with b.ReportMetric, prints the whole table to stdout (testing keeps
// only ten lines of a benchmark's log) and logs a summary:
//
//   - wall-s: from just before the first create to the moment the benchmark saw
//     the last workflow completed. ns/op is the same span.
//
//   - overhead-p50-ms, overhead-p99-ms, overhead-mean-ms: the controller's own time
//     for one step, defined as the sum, over every reconcile of the step's
//     WorkflowExecution and of its KubernetesExecution, of the time from
//     controller-runtime calling Reconcile to Reconcile returning. That is our code
//     (facts from the manager's cache, Rego evaluation, status building) plus every
//     API call a reconcile makes and waits for: the finalizer updates, status
//     patches, the create of the KubernetesExecution and the admission webhooks the
//     API server calls for it, the SubjectAccessReview, the server-side dry run, the
//     scale. On this shared machine it includes waiting for a CPU. It excludes
//     everything between reconciles: time in the work queue, waiting for pods (a
//     requeue after the postcondition interval), watch latency. It is measured per
//     step from the manager's log at --zap-log-level=5, where controller-runtime
//     logs the start and end of each reconcile with its reconcileID, and
//     cross-checked against controller_runtime_reconcile_time_seconds
//     (overhead-hist-mean-ms: the sum over both controllers during the batch divided
//     by the steps). solo-overhead-ms is the same for the solo workflow. The
//     admission of the user's own create of the workflow happens outside any
//     reconcile; its mean is reported on its own.
//
//   - cpu-ms/step: the manager's CPU time (utime+stime of /proc/<pid>/stat) during
//     the batch, divided by the steps: reconciles, webhooks, informers and GC.
//
//   - precond-p99-us: durationMicros of the precondition results (step and action
//     level), i.e. one policy's evaluation, facts excluded. A whole precondition
//     round is inside the overhead above.
//
//   - added-latency-p50-s, added-latency-p99-s: what a user waits for beyond the
//     pods, by the benchmark's watches: (workflow completed - create sent) -
//     (Deployment settled at 5 - Deployment spec.replicas set to 5). It includes
//     queueing behind the other 199 workflows and the postcondition poll interval,
//     so it is latency, not work.
//
//   - raw-burst-p50-s, burst-ratio-p50: the batch's baseline. Once the workflows
//     completed, the same Deployments are scaled by two pods more each with a patch,
//     all at once, as a script would without us; raw-burst-p50-s is the median time
//     from the patch to the Deployment settled, and burst-ratio-p50 the median
//     workflow's end to end (create sent -> completed) over it.
//
//   - idle-rss-MB, peak-rss-MB, rss-impact-MB: VmRSS of the manager after the
//     warm-up and solo workflows have settled, before the batch; the larger of
//     VmHWM (peak RSS since start) after the batch and VmRSS sampled every 100 ms
//     during it; and their difference. The table splits idle VmRSS into its
//     anonymous part (heap, stacks: idle-anon-MB) and the pages of the binary it
//     maps (RssFile), which the kernel may drop and share.
//
// The table adds where the CPU of the machine went during the batch (by process)
// and what the API server spent its time on (apiserver_request_duration_seconds,
// webhook admission, etcd), since on two cores the API server is the bottleneck.
func BenchmarkWorkflows200(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("one iteration creates 200 workflows on a fresh cluster: run with -benchtime 1x (b.N = %d)", b.N)
	}
	n := envInt(b, "PERF_WORKFLOWS", 200)
	concurrency := envInt(b, "PERF_CONCURRENCY", 0)
	trace := os.Getenv("PERF_TRACE") != "0"
	ctx := b.Context()
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))

	setupStart := time.Now()
	cluster, c, cfg, binary := setUp(b)

	namespaces := make([]string, n)
	for i := range namespaces {
		namespaces[i] = fmt.Sprintf("perf-%03d", i)
	}
	const warmup, solo = "perf-warmup", "perf-solo"
	if err := createTargets(ctx, c, append([]string{warmup, solo}, namespaces...)); err != nil {
		b.Fatal(err)
	}
	tl := newTimeline(toReplicas)
	if err := tl.watch(ctx, cfg, cluster); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("cluster, manager binary and %d ready Deployments (%d pods) in %s\n", n+2, (n+2)*fromReplicas, time.Since(setupStart).Round(time.Second))

	managerArgs := strings.Fields(os.Getenv("PERF_MANAGER_ARGS"))
	pprofURL := ""
	if os.Getenv("PERF_ARTIFACTS") != "" {
		port, err := freePort()
		if err != nil {
			b.Fatal(err)
		}
		managerArgs = append(managerArgs, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", port))
		pprofURL = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", port)
	}
	m, err := startManager(ctx, cluster, binary, concurrency, trace, managerArgs...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { keepArtifacts(b, m, pprofURL) })
	coldRSS, _, err := m.memory()
	if err != nil {
		b.Fatal(err)
	}

	// The warm-up starts the informers the manager starts on first use; the solo
	// workflow then runs alone on a warm manager and a quiet cluster: the baseline.
	for _, ns := range []string{warmup, solo} {
		tl.created(ns, time.Now())
		if err := c.Create(ctx, scaleWorkflow(ns)); err != nil {
			b.Fatal(err)
		}
		if err := tl.wait(ctx, []string{ns}, 3*time.Minute, func(int) {}); err != nil {
			b.Fatalf("%s: %v\nmanager log:\n%s", ns, err, m.proc.LogTail())
		}
		time.Sleep(5 * time.Second) // let its last reconciles and allocations settle
	}
	warm := tl.get(warmup)
	warmWall := warm.done.Sub(warm.created)
	idleRSS, _, err := m.memory()
	if err != nil {
		b.Fatal(err)
	}
	idleAnon, idleFile, err := m.residentParts()
	if err != nil {
		b.Fatal(err)
	}
	idleBinary, err := m.binaryParts()
	if err != nil {
		b.Fatal(err)
	}
	saveHeapProfile(b, pprofURL, "heap-idle.pb.gz")
	before, err := m.scrape(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cpuBefore, err := m.cpu()
	if err != nil {
		b.Fatal(err)
	}
	apiBefore, err := scrapeAPIServer(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	sysBefore := takeCPUSnapshot()
	sampler := sampleRSS(m, 100*time.Millisecond)

	b.ResetTimer()
	start := time.Now()
	var g errgroup.Group
	for _, ns := range namespaces {
		g.Go(func() error {
			tl.created(ns, time.Now())
			if err := c.Create(ctx, scaleWorkflow(ns)); err != nil {
				return fmt.Errorf("creating the workflow in %s: %w", ns, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	createdAll := time.Since(start)
	err = tl.wait(ctx, namespaces, 20*time.Minute, func(done int) {
		fmt.Printf("%s: %d of %d workflows completed\n", time.Since(start).Round(time.Second), done, n)
	})
	b.StopTimer()
	if err != nil {
		if exitErr := m.proc.Exited(); exitErr != nil {
			b.Fatalf("%v\nthe manager died: %v", err, exitErr)
		}
		b.Fatalf("%v\nmanager log:\n%s", err, m.proc.LogTail())
	}
	var last time.Time
	for _, ns := range namespaces {
		if d := tl.get(ns).done; d.After(last) {
			last = d
		}
	}
	wall := last.Sub(start)

	sysAfter := takeCPUSnapshot()
	apiAfter, err := scrapeAPIServer(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Reconciles the last status writes trigger belong to the batch too.
	time.Sleep(3 * time.Second)
	peakSampled := sampler.Stop()
	after, err := m.scrape(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cpuAfter, err := m.cpu()
	if err != nil {
		b.Fatal(err)
	}
	_, hwm, err := m.memory()
	if err != nil {
		b.Fatal(err)
	}

	pre, post, err := verifyConditions(ctx, c, namespaces)
	if err != nil {
		b.Fatal(err)
	}
	events, occurrences, err := ourEvents(ctx, c, namespaces)
	if err != nil {
		b.Fatal(err)
	}
	var statusWrites float64
	for _, resource := range []string{"workflowexecutions", "kubernetesexecutions"} {
		statusWrites += delta(apiBefore, apiAfter, "apiserver_request_total", map[string]string{"resource": resource, "subresource": "status"})
	}

	r := &report{
		n: n, wall: wall, createdAll: createdAll, warmup: warmWall,
		before: before, after: after, cpu: cpuAfter - cpuBefore,
		coldRSS: coldRSS, idleRSS: idleRSS, idleAnon: idleAnon, idleFile: idleFile, idleBinary: idleBinary, peakSampled: peakSampled, hwm: hwm,
		preMicros: pre, postMicros: post,
		statusWrites: statusWrites, events: events, eventOccurrences: occurrences,
		system: cpuRows(sysBefore, sysAfter, wall), apiServer: apiServerRows(apiBefore, apiAfter, 10),
	}
	r.solo = tl.get(solo)
	for _, ns := range namespaces {
		s := tl.get(ns)
		r.act = append(r.act, s.scaled.Sub(s.created))
		r.podWait = append(r.podWait, s.ready.Sub(s.scaled))
		r.verify = append(r.verify, s.done.Sub(s.ready))
		r.added = append(r.added, s.done.Sub(s.created)-s.ready.Sub(s.scaled))
		r.endToEnd = append(r.endToEnd, s.done.Sub(s.created))
	}
	if r.rawAct, r.rawEndToEnd, err = rawBurst(ctx, cfg, cluster, c, namespaces); err != nil {
		b.Fatal(err)
	}
	if trace {
		if err := r.readLog(m.logPath, namespaces, solo); err != nil {
			b.Fatal(err)
		}
	}
	r.publish(b)
}

// rawReplicas is what the raw burst scales the Deployments to: two pods more, as
// each workflow's step added.
const rawReplicas = toReplicas + 2

// rawBurst is the batch's baseline: once the workflows completed, the same
// Deployments are scaled again by two pods each with the API directly, all at
// once, as a script would without us. It returns each one's time from its patch
// to spec.replicas seen (act) and to settled (end to end).
func rawBurst(ctx context.Context, cfg *rest.Config, cluster *harness.Harness, c client.Client, namespaces []string) (act, endToEnd []time.Duration, err error) {
	tl := newTimeline(rawReplicas)
	if err := tl.watch(ctx, cfg, cluster); err != nil {
		return nil, nil, err
	}
	var g errgroup.Group
	for _, ns := range namespaces {
		g.Go(func() error {
			tl.created(ns, time.Now())
			return patchReplicas(ctx, c, ns, rawReplicas)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, fmt.Errorf("raw burst: %w", err)
	}
	if err := tl.waitSettled(ctx, namespaces, 10*time.Minute); err != nil {
		return nil, nil, fmt.Errorf("raw burst: %w", err)
	}
	for _, ns := range namespaces {
		s := tl.get(ns)
		act = append(act, s.scaled.Sub(s.created))
		endToEnd = append(endToEnd, s.ready.Sub(s.created))
	}
	return act, endToEnd, nil
}

// verifyConditions checks that every step evaluated the nine seed condition types
// and that all passed, and returns durationMicros of the precondition and
// postcondition results.
func verifyConditions(ctx context.Context, c client.Client, namespaces []string) (pre, post []int64, err error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, ns := range namespaces {
		g.Go(func() error {
			var wfe workflowv1alpha1.WorkflowExecution
			if err := c.Get(gctx, client.ObjectKey{Namespace: ns, Name: workflowName}, &wfe); err != nil {
				return err
			}
			var ke kev1alpha1.KubernetesExecution
			if err := c.Get(gctx, client.ObjectKey{Namespace: ns, Name: executionName}, &ke); err != nil {
				return err
			}
			if len(wfe.Status.StepStatuses) != 1 || ke.Status.ValidationResults == nil {
				return fmt.Errorf("%s: no step status or validation results: %+v", ns, wfe.Status)
			}
			st := wfe.Status.StepStatuses[0]
			levels := [][]commonv1alpha1.ConditionResult{
				st.PreConditionResults, ke.Status.ValidationResults.PreConditionResults,
				st.PostConditionResults, ke.Status.ValidationResults.PostConditionResults,
			}
			seen := map[string]bool{}
			var p, q []int64
			for i, results := range levels {
				for _, res := range results {
					if !res.Evaluated || !res.Passed || res.Overridden {
						return fmt.Errorf("%s: condition %s evaluated=%t passed=%t overridden=%t: %s",
							ns, res.ConditionType, res.Evaluated, res.Passed, res.Overridden, res.ErrorMessage)
					}
					seen[res.ConditionType] = true
					if i < 2 {
						p = append(p, res.DurationMicros)
					} else {
						q = append(q, res.DurationMicros)
					}
				}
			}
			var types []string
			for t := range seen {
				types = append(types, t)
			}
			slices.Sort(types)
			want := slices.Sorted(slices.Values(seedConditionTypes))
			if !slices.Equal(types, want) {
				return fmt.Errorf("%s: evaluated condition types %v, want the seed's nine %v", ns, types, want)
			}
			mu.Lock()
			pre, post = append(pre, p...), append(post, q...)
			mu.Unlock()
			return nil
		})
	}
	return pre, post, g.Wait()
}

// report is what one run measured.
type report struct {
	n                           int
	wall, createdAll, warmup    time.Duration
	before, after               metrics
	cpu                         time.Duration
	coldRSS, idleRSS            int64            // kB
	idleAnon, idleFile          int64            // kB, the parts of idleRSS
	idleBinary                  map[string]int64 // kB of idleFile by mapping (binaryResident)
	peakSampled, hwm            int64            // kB
	preMicros, postMicros       []int64
	act, podWait, verify, added []time.Duration
	// endToEnd is each workflow's create -> completed; rawAct and rawEndToEnd
	// are the raw burst's patch -> spec.replicas and patch -> settled (rawBurst).
	endToEnd, rawAct, rawEndToEnd []time.Duration
	overhead, wfeCost, keCost     []time.Duration // per step, from the log
	reconcilesLogged, openSpans   int
	erroredReconciles, traceless  int
	system, apiServer             []row
	solo                          stepTimes // the workflow alone, before the batch
	// statusWrites counts the status writes of both kinds in the batch, by the
	// API server; events the manager's Events in the batch's namespaces, and
	// eventOccurrences the same counting each Event's series.
	statusWrites, events, eventOccurrences float64
	soloCost                               stepCost
}

// readLog sums the reconciles of each step, and of the solo workflow's, from the
// manager's log.
func (r *report) readLog(path string, namespaces []string, solo string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	spans, open, err := parseReconciles(f)
	if err != nil {
		return err
	}
	r.openSpans = open
	costs := costsByNamespace(spans, workflowName, executionName)
	r.soloCost = costs[solo]
	for _, ns := range namespaces {
		c, ok := costs[ns]
		if !ok {
			r.traceless++
			continue
		}
		r.overhead = append(r.overhead, c.Total())
		r.wfeCost = append(r.wfeCost, c.Workflow)
		r.keCost = append(r.keCost, c.Execution)
		r.reconcilesLogged += c.Reconciles
		r.erroredReconciles += c.Errors
	}
	if r.traceless > 0 {
		return fmt.Errorf("%d of %d steps have no reconcile in the manager's log: is --zap-log-level=5 still logging controller-runtime's \"Reconciling\"?", r.traceless, len(namespaces))
	}
	return nil
}

func (r *report) perStep(name string, match map[string]string) float64 {
	return delta(r.before, r.after, name, match) / float64(r.n)
}

// histMean is the mean of a histogram over the batch, in seconds.
func (r *report) histMean(name string, match map[string]string) float64 {
	count := delta(r.before, r.after, name+"_count", match)
	if count == 0 {
		return 0
	}
	return delta(r.before, r.after, name+"_sum", match) / count
}

func (r *report) publish(b *testing.B) {
	const (
		reconcileTime = "controller_runtime_reconcile_time_seconds"
		queueTime     = "workqueue_queue_duration_seconds"
		webhookTime   = "controller_runtime_webhook_latency_seconds"
	)
	wfe := map[string]string{"controller": "workflowexecution"}
	ke := map[string]string{"controller": "kubernetesexecution"}
	histOverhead := time.Duration((r.perStep(reconcileTime+"_sum", wfe) + r.perStep(reconcileTime+"_sum", ke)) * float64(time.Second))
	reconciles := r.perStep("controller_runtime_reconcile_total", nil)
	apiCalls := r.perStep("rest_client_requests_total", nil)
	evaluations := r.perStep("kubernaut_condition_evaluations_total", nil)
	evalMean := time.Duration(r.histMean("kubernaut_condition_evaluation_duration_seconds", nil) * float64(time.Second))
	admission := time.Duration((r.histMean(webhookTime, map[string]string{"webhook": "/mutate-workflow-kubernaut-io-v1alpha1-workflowexecution"}) +
		r.histMean("kubernaut_admission_duration_seconds", map[string]string{"kind": "WorkflowExecution", "operation": "CREATE"})) * float64(time.Second))
	queueWFE := time.Duration(r.histMean(queueTime, map[string]string{"name": "workflowexecution"}) * float64(time.Second))
	queueKE := time.Duration(r.histMean(queueTime, map[string]string{"name": "kubernetesexecution"}) * float64(time.Second))
	cpuPerStep := r.cpu / time.Duration(r.n)
	peak := max(r.hwm, r.peakSampled)

	b.ReportMetric(r.wall.Seconds(), "wall-s")
	if len(r.overhead) > 0 {
		b.ReportMetric(toMS(quantile(r.overhead, 0.5)), "overhead-p50-ms")
		b.ReportMetric(toMS(quantile(r.overhead, 0.99)), "overhead-p99-ms")
		b.ReportMetric(mean(r.overhead)/float64(time.Millisecond), "overhead-mean-ms")
	}
	b.ReportMetric(toMS(histOverhead), "overhead-hist-mean-ms")
	if r.soloCost.Reconciles > 0 {
		b.ReportMetric(toMS(r.soloCost.Total()), "solo-overhead-ms")
	}
	b.ReportMetric(toMS(cpuPerStep), "cpu-ms/step")
	b.ReportMetric(reconciles, "reconciles/step")
	b.ReportMetric(apiCalls, "api-calls/step")
	b.ReportMetric(r.statusWrites/float64(r.n), "status-writes/step")
	b.ReportMetric(r.events/float64(r.n), "events/step")
	b.ReportMetric(r.perStep("controller_runtime_webhook_requests_total", nil), "webhook-calls/step")
	b.ReportMetric(float64(quantile(r.preMicros, 0.99)), "precond-p99-us")
	b.ReportMetric(quantile(r.added, 0.5).Seconds(), "added-latency-p50-s")
	b.ReportMetric(quantile(r.added, 0.99).Seconds(), "added-latency-p99-s")
	b.ReportMetric(quantile(r.rawEndToEnd, 0.5).Seconds(), "raw-burst-p50-s")
	b.ReportMetric(float64(quantile(r.endToEnd, 0.5))/float64(quantile(r.rawEndToEnd, 0.5)), "burst-ratio-p50")
	b.ReportMetric(mb(r.idleRSS), "idle-rss-MB")
	b.ReportMetric(mb(r.idleAnon), "idle-anon-MB")
	b.ReportMetric(mb(peak), "peak-rss-MB")
	b.ReportMetric(mb(peak-r.idleRSS), "rss-impact-MB")

	rows := []row{
		{"workflows (1 step each)", strconv.Itoa(r.n), "created at once"},
		{"wall time to all completed", secs(r.wall), fmt.Sprintf("creates returned after %s; warm-up workflow alone took %s", secs(r.createdAll), secs(r.warmup))},
	}
	if len(r.overhead) > 0 {
		rows = append(rows,
			row{"solo step overhead", ms(r.soloCost.Total()), fmt.Sprintf("one workflow alone before the batch: workflow %s + execution %s in %d reconciles",
				ms(r.soloCost.Workflow), ms(r.soloCost.Execution), r.soloCost.Reconciles)},
			row{"overhead/step p50", ms(quantile(r.overhead, 0.5)), "target 5 s; 100x: 50 ms"},
			row{"overhead/step p99", ms(quantile(r.overhead, 0.99)), fmt.Sprintf("max %s", ms(quantile(r.overhead, 1)))},
			row{"overhead/step mean", ms(time.Duration(mean(r.overhead))), fmt.Sprintf("workflow reconciles %s + execution reconciles %s",
				ms(time.Duration(mean(r.wfeCost))), ms(time.Duration(mean(r.keCost))))},
			row{"  workflow part p50/p99", ms(quantile(r.wfeCost, 0.5)) + " / " + ms(quantile(r.wfeCost, 0.99)), ""},
			row{"  execution part p50/p99", ms(quantile(r.keCost, 0.5)) + " / " + ms(quantile(r.keCost, 0.99)), ""},
			row{"reconciles/step (log)", fmt.Sprintf("%.1f", float64(r.reconcilesLogged)/float64(r.n)),
				fmt.Sprintf("%d returned an error; %d unfinished in the log", r.erroredReconciles, r.openSpans)})
	}
	rows = append(rows,
		row{"overhead/step mean (metrics)", ms(histOverhead), "controller_runtime_reconcile_time_seconds, both controllers / steps"},
		row{"reconciles/step (metrics)", fmt.Sprintf("%.1f", reconciles), "controller_runtime_reconcile_total; target 12"},
		row{"API requests/step", fmt.Sprintf("%.1f", apiCalls), "rest_client_requests_total of the manager (events included); target 15"},
		row{"status writes/step", fmt.Sprintf("%.1f", r.statusWrites/float64(r.n)), "apiserver_request_total of both kinds' status; target 6"},
		row{"webhook calls/step", fmt.Sprintf("%.1f", r.perStep("controller_runtime_webhook_requests_total", nil)),
			fmt.Sprintf("every webhook the manager serves; %.1f of them the status guard (the manager's own status writes skip it)",
				r.perStep("controller_runtime_webhook_requests_total", map[string]string{"webhook": webhook.StatusWebhookPath}))},
		row{"Events/step", fmt.Sprintf("%.1f", r.events/float64(r.n)), fmt.Sprintf("the manager's, in the batch's namespaces (%.1f counting series); target 4", r.eventOccurrences/float64(r.n))},
		row{"condition evaluations/step", fmt.Sprintf("%.1f", evaluations), fmt.Sprintf("mean %s each (policy only)", ms(evalMean))},
		row{"precondition eval p50/p99", fmt.Sprintf("%d / %d us", quantile(r.preMicros, 0.5), quantile(r.preMicros, 0.99)), "durationMicros, step+action level; target 1 s; 100x: 10 ms"},
		row{"postcondition eval p50/p99", fmt.Sprintf("%d / %d us", quantile(r.postMicros, 0.5), quantile(r.postMicros, 0.99)), "durationMicros of the last poll"},
		row{"workflow create admission", ms(admission), "mean, mutating + validating webhook (not in a reconcile)"},
		row{"queue wait mean wfe / ke", ms(queueWFE) + " / " + ms(queueKE), "workqueue_queue_duration_seconds (latency, not overhead)"},
		row{"manager CPU/step", ms(cpuPerStep), fmt.Sprintf("%s CPU over %s wall", secs(r.cpu), secs(r.wall))},
		row{"latency to act p50/p99", secs(quantile(r.act, 0.5)) + " / " + secs(quantile(r.act, 0.99)), "create sent -> Deployment spec.replicas=5"},
		row{"waiting for pods p50/p99", secs(quantile(r.podWait, 0.5)) + " / " + secs(quantile(r.podWait, 0.99)), "spec.replicas=5 -> 5 ready (excluded)"},
		row{"verification after pods p50/p99", secs(quantile(r.verify, 0.5)) + " / " + secs(quantile(r.verify, 0.99)), "5 ready -> workflow completed (poll interval)"},
		row{"added latency p50/p99", secs(quantile(r.added, 0.5)) + " / " + secs(quantile(r.added, 0.99)), "end to end minus waiting for pods"},
		row{"end to end p50/p99", secs(quantile(r.endToEnd, 0.5)) + " / " + secs(quantile(r.endToEnd, 0.99)), "create sent -> workflow completed"},
		row{"raw burst: to act p50/p99", secs(quantile(r.rawAct, 0.5)) + " / " + secs(quantile(r.rawAct, 0.99)),
			fmt.Sprintf("after the batch, the same %d Deployments scaled %d -> %d at once by a patch each, without a workflow", len(r.rawAct), toReplicas, rawReplicas)},
		row{"raw burst: end to end p50/p99", secs(quantile(r.rawEndToEnd, 0.5)) + " / " + secs(quantile(r.rawEndToEnd, 0.99)), fmt.Sprintf("patch sent -> %d ready", rawReplicas)},
		row{"burst ratio p50/p99", fmt.Sprintf("%.2fx / %.2fx", float64(quantile(r.endToEnd, 0.5))/float64(quantile(r.rawEndToEnd, 0.5)),
			float64(quantile(r.endToEnd, 0.99))/float64(quantile(r.rawEndToEnd, 0.99))), "validated end to end / raw end to end"},
		row{"solo added latency", secs(r.solo.done.Sub(r.solo.created) - r.solo.ready.Sub(r.solo.scaled)),
			fmt.Sprintf("to act %s, pods %s, verification %s", secs(r.solo.scaled.Sub(r.solo.created)), secs(r.solo.ready.Sub(r.solo.scaled)), secs(r.solo.done.Sub(r.solo.ready)))},
		row{"manager heap allocated/step", fmt.Sprintf("%.1f MB", r.perStep("go_memstats_alloc_bytes_total", nil)/(1<<20)),
			fmt.Sprintf("go_memstats_alloc_bytes_total; %.0f GC cycles in the batch", delta(r.before, r.after, "go_gc_duration_seconds_count", nil))},
		row{"manager heap at the end", fmt.Sprintf("%.1f MB in use", r.after.sum("go_memstats_heap_inuse_bytes", nil)/(1<<20)),
			fmt.Sprintf("heap obtained from the OS %.1f MB, of which released %.1f MB",
				r.after.sum("go_memstats_heap_sys_bytes", nil)/(1<<20), r.after.sum("go_memstats_heap_released_bytes", nil)/(1<<20))},
		row{"manager RSS cold idle", fmt.Sprintf("%.1f MB", mb(r.coldRSS)), "ready, before any workflow"},
		row{"manager RSS idle", fmt.Sprintf("%.1f MB", mb(r.idleRSS)), fmt.Sprintf(
			"after the warm-up and solo workflows, before the batch: %.1f MB anonymous (heap, stacks), %.1f MB pages of the binary",
			mb(r.idleAnon), mb(r.idleFile))},
		row{"  binary pages idle", fmt.Sprintf("%.1f MB", mb(r.idleBinary["r-xp"]+r.idleBinary["r--p"]+r.idleBinary["rw-p"])), fmt.Sprintf(
			"code %.1f MB, read-only data (.rodata, .gopclntab) %.1f MB, data %.1f MB",
			mb(r.idleBinary["r-xp"]), mb(r.idleBinary["r--p"]), mb(r.idleBinary["rw-p"]))},
		row{"  Go memory idle", fmt.Sprintf("%.1f MB heap in use", r.before.sum("go_memstats_heap_inuse_bytes", nil)/(1<<20)), fmt.Sprintf(
			"heap free not returned %.1f MB, stacks %.1f MB, runtime metadata %.1f MB; next GC at %.1f MB",
			(r.before.sum("go_memstats_heap_idle_bytes", nil)-r.before.sum("go_memstats_heap_released_bytes", nil))/(1<<20),
			r.before.sum("go_memstats_stack_sys_bytes", nil)/(1<<20),
			(r.before.sum("go_memstats_mspan_sys_bytes", nil)+r.before.sum("go_memstats_mcache_sys_bytes", nil)+
				r.before.sum("go_memstats_buck_hash_sys_bytes", nil)+r.before.sum("go_memstats_gc_sys_bytes", nil)+
				r.before.sum("go_memstats_other_sys_bytes", nil))/(1<<20),
			r.before.sum("go_memstats_next_gc_bytes", nil)/(1<<20))},
		row{"manager peak RSS", fmt.Sprintf("%.1f MB", mb(peak)), fmt.Sprintf("VmHWM %.1f MB, sampled max %.1f MB", mb(r.hwm), mb(r.peakSampled))},
		row{"memory impact", fmt.Sprintf("%.1f MB", mb(peak-r.idleRSS)), "peak - idle; target 30 MB"},
	)
	rows = append(rows, r.system...)
	rows = append(rows, r.apiServer...)
	// testing keeps ten lines of a benchmark's log: the whole table goes to stdout,
	// a summary to the log.
	fmt.Printf("BenchmarkWorkflows200 (%d workflows):%s\n", r.n, table(rows))
	summary := []row{
		{"wall time to all completed", secs(r.wall), ""},
		{"overhead/step mean (metrics)", ms(histOverhead), "reconcile time of both controllers / steps"},
		{"manager CPU/step", ms(cpuPerStep), ""},
		{"added latency p50/p99", secs(quantile(r.added, 0.5)) + " / " + secs(quantile(r.added, 0.99)), "end to end minus waiting for pods"},
		{"end to end p50, validated / raw", secs(quantile(r.endToEnd, 0.5)) + " / " + secs(quantile(r.rawEndToEnd, 0.5)),
			fmt.Sprintf("%.2fx", float64(quantile(r.endToEnd, 0.5))/float64(quantile(r.rawEndToEnd, 0.5)))},
		{"manager RSS idle / peak", fmt.Sprintf("%.1f / %.1f MB", mb(r.idleRSS), mb(peak)), fmt.Sprintf("impact %.1f MB", mb(peak-r.idleRSS))},
	}
	if len(r.overhead) > 0 {
		summary = slices.Insert(summary, 1,
			row{"overhead/step p50/p99", ms(quantile(r.overhead, 0.5)) + " / " + ms(quantile(r.overhead, 0.99)), "reconcile time of the step's two objects"},
			row{"solo step overhead", ms(r.soloCost.Total()), "one workflow alone, before the batch"})
	}
	b.Log(table(summary))
}

// saveHeapProfile saves the manager's heap profile as $PERF_ARTIFACTS/name, when
// pprofURL is set (PERF_ARTIFACTS is).
func saveHeapProfile(b *testing.B, pprofURL, name string) {
	if pprofURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pprofURL, nil)
	if err != nil {
		b.Error(err)
		return
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	defer func() { _ = res.Body.Close() }()
	data, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("heap profile: %s", res.Status)
	}
	if err == nil {
		err = os.MkdirAll(os.Getenv("PERF_ARTIFACTS"), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(os.Getenv("PERF_ARTIFACTS"), name), data, 0o644)
	}
	if err != nil {
		b.Error(err)
	}
}

// keepArtifacts copies the manager's log to $PERF_ARTIFACTS, with its metrics
// and, when pprofURL is set, its heap profile at the end (heap-end.pb.gz; the
// benchmark saved heap-idle.pb.gz before the batch).
func keepArtifacts(b *testing.B, m *managerProcess, pprofURL string) {
	dir := os.Getenv("PERF_ARTIFACTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Error(err)
		return
	}
	data, err := os.ReadFile(m.logPath)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "manager.log"), data, 0o644)
	}
	if err != nil {
		b.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := m.scrape(ctx); err == nil {
		var text []byte
		for _, x := range s {
			text = fmt.Appendf(text, "%s %v %g\n", x.Name, x.Labels, x.Value)
		}
		_ = os.WriteFile(filepath.Join(dir, "metrics-end.txt"), text, 0o644)
	}
	saveHeapProfile(b, pprofURL, "heap-end.pb.gz")
}

func envInt(b *testing.B, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a number", key, v)
	}
	return n
}

func toMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ourEvents counts the Events the manager recorded in namespaces: as objects, and
// with each Event's series.
func ourEvents(ctx context.Context, c client.Client, namespaces []string) (objects, occurrences float64, err error) {
	in := map[string]bool{}
	for _, ns := range namespaces {
		in[ns] = true
	}
	var list eventsv1.EventList
	if err := c.List(ctx, &list); err != nil {
		return 0, 0, fmt.Errorf("listing Events: %w", err)
	}
	for _, e := range list.Items {
		if !in[e.Namespace] || !strings.HasPrefix(e.ReportingController, "kubernaut") {
			continue
		}
		objects++
		occurrences++
		if e.Series != nil && e.Series.Count > 1 {
			occurrences += float64(e.Series.Count - 1)
		}
	}
	return objects, occurrences, nil
}
