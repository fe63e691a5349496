package catalog

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"kubernaut.io/stepvalidation/internal/scheme"
)

// usageCluster is Deployment shop/web with pods web-1 (container app: requests
// 200m/100Mi, limits 1/400Mi; a sidecar log without any), web-2 (as web-1) and
// web-3 (created after the last metrics), with PodMetrics for web-1 and web-3, and
// one for pod db-1 of another workload.
func usageCluster(t *testing.T, intercept *interceptor.Funcs) client.Client {
	t.Helper()
	labels := map[string]string{"app": "web"}
	created := metav1.NewTime(time.Now().Add(-time.Hour))
	always := corev1.ContainerRestartPolicyAlways
	pod := func(name string, created metav1.Time) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: labels, CreationTimestamp: created},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("400Mi")},
				}}},
				InitContainers: []corev1.Container{{Name: "log", RestartPolicy: &always}, {Name: "setup"}},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
	}
	metrics := func(name, podLabel string, at time.Time, containers ...metricsv1beta1.ContainerMetrics) *metricsv1beta1.PodMetrics {
		return &metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": podLabel}},
			Timestamp:  metav1.NewTime(at), Window: metav1.Duration{Duration: 10 * time.Second}, Containers: containers,
		}
	}
	usage := func(name, cpu, memory string) metricsv1beta1.ContainerMetrics {
		return metricsv1beta1.ContainerMetrics{Name: name, Usage: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
	}
	lastScrape := time.Now().Add(-5 * time.Second)
	b := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}}},
		pod("web-1", created), pod("web-2", created), pod("web-3", metav1.Now()),
		// 150m of app's request 200m (0.75) and limit 1 (0.15); 50Mi of 100Mi and 400Mi.
		metrics("web-1", "web", lastScrape, usage("app", "150123456n", "50Mi"), usage("log", "10m", "10Mi")),
		metrics("web-3", "web", lastScrape, usage("app", "1m", "1Mi")),
		metrics("db-1", "db", lastScrape, usage("db", "1", "1Gi")),
	)
	if intercept != nil {
		b = b.WithInterceptorFuncs(*intercept)
	}
	return b.Build()
}

func scaleWebParams() map[string]any {
	return map[string]any{"deployment": map[string]any{"name": "web", "namespace": "shop", "replicas": 3}}
}

func usagePod(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	for _, p := range doc["pods"].([]any) {
		if p := p.(map[string]any); p["name"] == name {
			return p
		}
	}
	t.Fatalf("no pod %s in %v", name, doc["pods"])
	return nil
}

var usageKeys = []string{"cpu_usage_millicores", "memory_usage_bytes", "cpu_request_ratio", "cpu_limit_ratio", "memory_request_ratio", "memory_limit_ratio"}

func TestPodUsage(t *testing.T) {
	var lists int
	c := usageCluster(t, &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*metricsv1beta1.PodMetricsList); ok {
			lists++
			o := (&client.ListOptions{}).ApplyOptions(opts)
			if o.Namespace != "shop" || o.LabelSelector.String() != "app=web" {
				t.Errorf("PodMetrics listed in %q by %q, want shop by the Deployment's selector", o.Namespace, o.LabelSelector)
			}
		}
		return c.List(ctx, list, opts...)
	}})
	a, _ := Lookup("scale_deployment")
	doc, err := a.Provide(context.Background(), c, scaleWebParams(), Wanted{"pods": true})
	if err != nil {
		t.Fatal(err)
	}
	if lists != 1 {
		t.Errorf("%d Lists of PodMetrics, want 1 for the round", lists)
	}

	web1 := usagePod(t, doc, "web-1")
	// The pod: app and the sidecar log. log sets no request or limit, so the pod's
	// ratios are not known.
	if web1["cpu_usage_millicores"] != int64(161) || web1["memory_usage_bytes"] != int64(60<<20) {
		t.Errorf("web-1 usage: %v", web1)
	}
	for _, key := range usageKeys[2:] {
		if _, ok := web1[key]; ok {
			t.Errorf("web-1 has %s, though its sidecar sets no request or limit", key)
		}
	}
	containers := web1["containers"].([]any)
	if len(containers) != 2 {
		t.Fatalf("web-1 containers %v, want app and the sidecar log (not the init container setup)", containers)
	}
	app, log := containers[0].(map[string]any), containers[1].(map[string]any)
	want := map[string]any{
		"name": "app", "cpu_request_millicores": int64(200), "cpu_limit_millicores": int64(1000),
		"memory_request_bytes": int64(100 << 20), "memory_limit_bytes": int64(400 << 20),
		"cpu_usage_millicores": int64(151), "memory_usage_bytes": int64(50 << 20),
		"cpu_request_ratio": 0.751, "cpu_limit_ratio": 0.15, "memory_request_ratio": 0.5, "memory_limit_ratio": 0.125,
	}
	for k, v := range want {
		if app[k] != v {
			t.Errorf("web-1 container app: %s = %v (%T), want %v", k, app[k], app[k], v)
		}
	}
	if len(app) != len(want) {
		t.Errorf("web-1 container app: %v, want %v", app, want)
	}
	if log["name"] != "log" || log["cpu_usage_millicores"] != int64(10) || log["cpu_request_ratio"] != nil {
		t.Errorf("web-1 sidecar log: %v", log)
	}

	// No metrics yet (web-2), or only older than the pod (web-3): no usage keys,
	// never zero.
	for _, name := range []string{"web-2", "web-3"} {
		p := usagePod(t, doc, name)
		for _, key := range usageKeys {
			if v, ok := p[key]; ok {
				t.Errorf("%s has %s = %v, want it absent", name, key, v)
			}
		}
		if c := p["containers"].([]any)[0].(map[string]any); c["cpu_usage_millicores"] != nil || c["cpu_limit_millicores"] != int64(1000) {
			t.Errorf("%s container app: %v", name, c)
		}
	}

	// A round whose policies do not read pods does not ask the Metrics API.
	lists = 0
	if _, err := a.Provide(context.Background(), c, scaleWebParams(), Wanted{"ready_pods": true}); err != nil {
		t.Fatal(err)
	}
	if lists != 0 {
		t.Errorf("%d Lists of PodMetrics for a round that reads no pods", lists)
	}
}

// The pod-level ratios, when every container the Metrics API reports sets the
// resource; pod-level resources take precedence.
func TestPodUsageRatios(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "a", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}},
		{Name: "b", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}}},
	}}}
	m := &metricsv1beta1.PodMetrics{Timestamp: metav1.Now(), Containers: []metricsv1beta1.ContainerMetrics{
		{Name: "a", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("1Mi")}},
		{Name: "b", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("1Mi")}},
	}}
	summary := map[string]any{}
	addUsage(summary, p, podUsage{"p": m})
	if summary["cpu_request_ratio"] != 0.75 || summary["cpu_usage_millicores"] != int64(300) {
		t.Errorf("two containers: %v", summary)
	}
	if _, ok := summary["memory_request_ratio"]; ok {
		t.Errorf("no memory request, yet a ratio: %v", summary)
	}
	p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Mi")}}
	summary = map[string]any{}
	addUsage(summary, p, podUsage{"p": m})
	if summary["memory_limit_ratio"] != 0.5 {
		t.Errorf("pod-level memory limit 4Mi: %v", summary)
	}
}

// When the Metrics API is absent or fails, the usage keys are absent and the
// round goes on; metricsAPIAbsent tells absence from other failures (logged).
func TestPodUsageAbsent(t *testing.T) {
	group := schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}
	for name, err := range map[string]error{
		"no kind":     &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "metrics.k8s.io", Kind: "PodMetrics"}, SearchedVersions: []string{"v1beta1"}},
		"unavailable": apierrors.NewServiceUnavailable("the server is currently unable to handle the request"),
		"not found":   apierrors.NewNotFound(group, ""),
		"forbidden":   apierrors.NewForbidden(group, "", errors.New("RBAC")),
	} {
		t.Run(name, func(t *testing.T) {
			c := usageCluster(t, &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if _, ok := list.(*metricsv1beta1.PodMetricsList); ok {
					return err
				}
				return c.List(ctx, list, opts...)
			}})
			a, _ := Lookup("scale_deployment")
			doc, gatherErr := a.Provide(context.Background(), c, scaleWebParams(), nil)
			if gatherErr != nil {
				t.Fatalf("the round failed: %v", gatherErr)
			}
			for _, p := range doc["pods"].([]any) {
				for _, key := range usageKeys {
					if v, ok := p.(map[string]any)[key]; ok {
						t.Errorf("%s = %v, want absent", key, v)
					}
				}
			}
			if absent := metricsAPIAbsent(err); absent != (name != "forbidden") {
				t.Errorf("metricsAPIAbsent = %v", absent)
			}
		})
	}
	// A 404 for one pod is an answer: no metrics of it yet.
	if metricsAPIAbsent(apierrors.NewNotFound(group, "web-1")) {
		t.Error("a pod's 404 taken for an absent API")
	}
}

// Once the API server said it does not serve the Metrics API, rounds through
// the same memo do not ask again until metricsAPIRecheck has passed; rounds
// without one ask every time.
func TestPodUsageAbsentRecheck(t *testing.T) {
	var lists int
	c := usageCluster(t, &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*metricsv1beta1.PodMetricsList); ok {
			lists++
			return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "metrics.k8s.io", Kind: "PodMetrics"}}
		}
		return c.List(ctx, list, opts...)
	}})
	a, _ := Lookup("scale_deployment")
	rounds := func(r client.Reader) {
		t.Helper()
		lists = 0
		for range 3 {
			if _, err := a.Provide(context.Background(), r, scaleWebParams(), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := time.Now()
	memo := &MetricsAPIMemo{Now: func() time.Time { return now }}
	if rounds(memo.Reader(c)); lists != 1 {
		t.Errorf("%d Lists of PodMetrics in three rounds with a memo, want 1", lists)
	}
	now = now.Add(metricsAPIRecheck)
	if rounds(memo.Reader(c)); lists != 1 {
		t.Errorf("%d Lists of PodMetrics in three rounds after the recheck time, want 1", lists)
	}
	if rounds(c); lists != 3 {
		t.Errorf("%d Lists of PodMetrics in three rounds without a memo, want 3", lists)
	}
}
