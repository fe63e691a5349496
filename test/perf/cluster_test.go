package perf

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/samples"
	"kubernaut.io/stepvalidation/test/harness"
)

const (
	// deploymentName is the Deployment each workflow scales, one per namespace.
	deploymentName = "web"
	// workflowName is each namespace's workflow; its step's execution is
	// workflowName-step-1.
	workflowName  = "scale"
	executionName = workflowName + "-step-1"
	fromReplicas  = 3
	toReplicas    = 5
	// targetLabel marks the benchmark's Deployments.
	targetLabel = "kubernaut.io/perf-target"
)

// nodes are the kwok nodes: room for 200 Deployments of 5 pods twice over.
func nodes() []harness.Node {
	out := make([]harness.Node, 10)
	for i := range out {
		out[i] = harness.Node{Name: fmt.Sprintf("perf-node-%02d", i+1), CPU: "32", Memory: "128Gi", Pods: 200}
	}
	return out
}

// unthrottled returns a client without client-go's rate limiter, so that the
// benchmark creates its 200 workflows at once.
func unthrottled(cluster *harness.Harness) (client.Client, *rest.Config, error) {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
	return c, cfg, err
}

// createTargets creates each namespace with a Deployment of fromReplicas small pods
// and waits until all are ready.
func createTargets(ctx context.Context, c client.Client, namespaces []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, ns := range namespaces {
		g.Go(func() error {
			if err := c.Create(gctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return fmt.Errorf("creating namespace %s: %w", ns, err)
			}
			if err := c.Create(gctx, deployment(ns)); err != nil {
				return fmt.Errorf("creating deployment %s/%s: %w", ns, deploymentName, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var list appsv1.DeploymentList
		if err := c.List(ctx, &list, client.HasLabels{targetLabel}); err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if settled(&list.Items[i], fromReplicas) {
				ready++
			}
		}
		if ready == len(namespaces) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d Deployments ready after 10 minutes", ready, len(namespaces))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func deployment(ns string) *appsv1.Deployment {
	labels := map[string]string{"app": deploymentName}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deploymentName, Namespace: ns, Labels: map[string]string{targetLabel: "true"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(fromReplicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.example/web:1.0",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
					}},
				}}},
			},
		},
	}
}

// settled reports whether the Deployment has rolled out replicas ready pods and no
// others.
func settled(d *appsv1.Deployment, replicas int32) bool {
	return d.Spec.Replicas != nil && *d.Spec.Replicas == replicas &&
		d.Status.ObservedGeneration >= d.Generation &&
		d.Status.Replicas == replicas && d.Status.UpdatedReplicas == replicas &&
		d.Status.ReadyReplicas == replicas && d.Status.AvailableReplicas == replicas
}

// seedConditionTypes are the seed's nine scale_deployment conditions. The workflow
// writes four; the webhook injects current_replicas_match into the step and
// image_pull_secrets_valid, node_selector_matches, no_crashloop_pods,
// resource_usage_acceptable, desired_replicas_running and deployment_health_check
// into the execution (catalog/scale_deployment.go): eleven results per step, nine
// types.
var seedConditionTypes = []string{
	"deployment_exists", "cluster_capacity_available", "current_replicas_match",
	"image_pull_secrets_valid", "node_selector_matches",
	"desired_replicas_running", "deployment_health_check", "no_crashloop_pods", "resource_usage_acceptable",
}

// scaleWorkflow is the seed-shaped workflow (samples.ScaleWorkflow) scaling ns/web
// from fromReplicas to toReplicas, with the baseline current_replicas_match expects.
func scaleWorkflow(ns string) *workflowv1alpha1.WorkflowExecution {
	wfe := samples.ScaleWorkflow(ns, workflowName, deploymentName, toReplicas)
	wfe.Spec.WorkflowDefinition.Steps[0].Parameters = &runtime.RawExtension{Raw: fmt.Appendf(nil,
		`{"deployment":{"name":%q,"namespace":%q,"replicas":%d,"baselineReplicas":%d}}`,
		deploymentName, ns, toReplicas, fromReplicas)}
	return wfe
}

// stepTimes is what the benchmark's watches saw of one namespace's workflow, by
// the benchmark's clock.
type stepTimes struct {
	created time.Time // just before the create request
	scaled  time.Time // the Deployment's spec.replicas became toReplicas
	ready   time.Time // the Deployment settled at toReplicas
	done    time.Time // the workflow completed
	failure string    // the workflow failed or was blocked: its message
}

// timeline records stepTimes from informers on the Deployments and workflows:
// scaled and ready are about replicas, the Deployments' target.
type timeline struct {
	mu       sync.Mutex
	replicas int32
	steps    map[string]*stepTimes
	changed  chan struct{}
}

func newTimeline(replicas int32) *timeline {
	return &timeline{replicas: replicas, steps: map[string]*stepTimes{}, changed: make(chan struct{}, 1)}
}

func (t *timeline) at(ns string) *stepTimes {
	s, ok := t.steps[ns]
	if !ok {
		s = &stepTimes{}
		t.steps[ns] = s
	}
	return s
}

func (t *timeline) created(ns string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.at(ns).created = at
}

func (t *timeline) get(ns string) stepTimes {
	t.mu.Lock()
	defer t.mu.Unlock()
	return *t.at(ns)
}

func (t *timeline) onDeployment(obj any) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	s := t.at(d.Namespace)
	if s.scaled.IsZero() && d.Spec.Replicas != nil && *d.Spec.Replicas == t.replicas {
		s.scaled = now
	}
	if !s.ready.IsZero() || !settled(d, t.replicas) {
		t.mu.Unlock()
		return
	}
	s.ready = now
	t.mu.Unlock()
	t.signal()
}

func (t *timeline) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *timeline) onWorkflow(obj any) {
	w, ok := obj.(*workflowv1alpha1.WorkflowExecution)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	s := t.at(w.Namespace)
	switch w.Status.Phase {
	case workflowv1alpha1.WorkflowCompleted:
		if s.done.IsZero() {
			s.done = now
		}
	case workflowv1alpha1.WorkflowFailed, workflowv1alpha1.WorkflowBlocked:
		s.failure = fmt.Sprintf("%s: %s", w.Status.Phase, w.Status.Message)
	default:
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.signal()
}

// watch starts informers on the benchmark's Deployments and on workflows that
// feed t, and waits until they have synced.
func (t *timeline) watch(ctx context.Context, cfg *rest.Config, cluster *harness.Harness) error {
	c, err := cache.New(cfg, cache.Options{Scheme: cluster.Scheme})
	if err != nil {
		return err
	}
	handlers := []struct {
		obj client.Object
		fn  func(any)
	}{{&appsv1.Deployment{}, t.onDeployment}, {&workflowv1alpha1.WorkflowExecution{}, t.onWorkflow}}
	for _, h := range handlers {
		inf, err := c.GetInformer(ctx, h.obj)
		if err != nil {
			return err
		}
		fn := h.fn
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { fn(obj) },
			UpdateFunc: func(_, obj any) { fn(obj) },
		}); err != nil {
			return err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("the benchmark's informers did not sync")
	}
	return nil
}

// wait waits until every namespace's workflow completed, and fails on the first
// that failed or was blocked. progress is called every few seconds.
func (t *timeline) wait(ctx context.Context, namespaces []string, timeout time.Duration, progress func(done int)) error {
	return t.waitFor(ctx, namespaces, timeout, func(s *stepTimes) bool { return !s.done.IsZero() }, progress)
}

// waitSettled waits until every namespace's Deployment settled at t.replicas.
func (t *timeline) waitSettled(ctx context.Context, namespaces []string, timeout time.Duration) error {
	return t.waitFor(ctx, namespaces, timeout, func(s *stepTimes) bool { return !s.ready.IsZero() }, func(int) {})
}

func (t *timeline) waitFor(ctx context.Context, namespaces []string, timeout time.Duration, finished func(*stepTimes) bool, progress func(done int)) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		done := 0
		t.mu.Lock()
		for _, ns := range namespaces {
			s := t.at(ns)
			if s.failure != "" {
				t.mu.Unlock()
				return fmt.Errorf("workflow %s/%s %s", ns, workflowName, s.failure)
			}
			if finished(s) {
				done++
			}
		}
		t.mu.Unlock()
		if done == len(namespaces) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%d of %d namespaces finished within %s", done, len(namespaces), timeout)
		case <-tick.C:
			progress(done)
		case <-t.changed:
		}
	}
}
