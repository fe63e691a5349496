package facts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/internal/scheme"
)

// fakeQuerier answers every query with result or err, and records the queries.
type fakeQuerier struct {
	result  any
	err     error
	queries []string
}

func (q *fakeQuerier) Query(_ context.Context, query string) (any, error) {
	q.queries = append(q.queries, query)
	return q.result, q.err
}

// throttlingPods is the pods key of a workload in namespace shop: web-1 and web-2
// run a container app with a CPU limit and a sidecar log without one; web-3 is
// Pending; batch-1 runs a container without any limit.
func throttlingPods() []any {
	limited := func(name string) map[string]any {
		return map[string]any{"name": name, "cpu_limit_millicores": int64(500)}
	}
	pod := func(name, phase string, containers ...map[string]any) map[string]any {
		list := []any{}
		for _, c := range containers {
			list = append(list, c)
		}
		return map[string]any{"name": name, "phase": phase, "containers": list}
	}
	return []any{
		pod("web-1", "Running", limited("app"), map[string]any{"name": "log"}),
		pod("web-2", "Running", limited("app"), map[string]any{"name": "log"}),
		pod("web-3", "Pending", limited("app")),
		pod("batch-1", "Running", map[string]any{"name": "job"}),
	}
}

func throttlingDoc() map[string]any {
	return map[string]any{"namespace": "shop", "pods": throttlingPods()}
}

// podKey returns pod name's key in doc, and whether it has it.
func podKey(doc map[string]any, name, key string) (any, bool) {
	for _, p := range doc["pods"].([]any) {
		if p := p.(map[string]any); p["name"] == name {
			v, ok := p[key]
			return v, ok
		}
	}
	panic("no pod " + name)
}

func reason(doc map[string]any) string {
	r, _ := doc["throttling"].(map[string]any)["reason"].(string)
	return r
}

func TestThrottlingWithoutPrometheus(t *testing.T) {
	for _, th := range []*Throttling{nil, {}} {
		doc := throttlingDoc()
		th.addThrottling(context.Background(), doc, doc["pods"].([]any))
		for _, name := range []string{"web-1", "web-2"} {
			if v, ok := podKey(doc, name, "throttled"); ok {
				t.Errorf("%s: throttled is %v, want it absent: nobody measured it", name, v)
			}
		}
		// Not running, or no CPU limit: no CFS quota to be throttled by.
		for _, name := range []string{"web-3", "batch-1"} {
			if v, ok := podKey(doc, name, "throttled"); !ok || v != false {
				t.Errorf("%s: throttled is %v (set: %v), want false", name, v, ok)
			}
		}
		info := doc["throttling"].(map[string]any)
		if info["source"] != "none" || info["window"] != "5m" || info["threshold"] != 0.25 {
			t.Errorf("throttling = %v", info)
		}
		if got := reason(doc); got != "the manager reads no throttling (--throttling-from-prometheus, with --prometheus-url)" {
			t.Errorf("reason = %q", got)
		}
	}
}

func TestThrottlingFromPrometheus(t *testing.T) {
	q := &fakeQuerier{result: map[string]any{
		`{container="app", namespace="shop", pod="web-1"}`: 0.1,
		`{container="app",namespace="shop",pod="web-2"}`:   0.4,
		// Another namespace's pod of the same name is not this one.
		`{container="app",namespace="other",pod="web-1"}`: 0.9,
	}}
	th := &Throttling{Querier: q}
	doc := throttlingDoc()
	th.addThrottling(context.Background(), doc, doc["pods"].([]any))

	if len(q.queries) != 1 {
		t.Fatalf("%d queries, want one for the whole workload", len(q.queries))
	}
	query := q.queries[0]
	for _, want := range []string{
		`rate(container_cpu_cfs_throttled_periods_total{namespace="shop",container!="",container!="POD",pod=~"web-1|web-2"}[5m])`,
		`rate(container_cpu_cfs_periods_total{namespace="shop",container!="",container!="POD",pod=~"web-1|web-2"}[5m])`,
		"sum by (namespace, pod, container)", "> 0))", "== 0)",
	} {
		if !strings.Contains(query, want) {
			t.Errorf("query %s lacks %s", query, want)
		}
	}
	if v, _ := podKey(doc, "web-1", "throttled"); v != false {
		t.Errorf("web-1 (10%% throttled): throttled = %v, want false", v)
	}
	if v, _ := podKey(doc, "web-2", "throttled"); v != true {
		t.Errorf("web-2 (40%% throttled): throttled = %v, want true", v)
	}
	if v, _ := podKey(doc, "web-2", "cpu_throttled_ratio"); v != 0.4 {
		t.Errorf("web-2: cpu_throttled_ratio = %v, want 0.4", v)
	}
	containers, _ := podKey(doc, "web-2", "containers")
	app := containers.([]any)[0].(map[string]any)
	if app["cpu_throttled_ratio"] != 0.4 {
		t.Errorf("web-2's container app: %v", app)
	}
	if _, ok := doc["throttling"].(map[string]any)["reason"]; ok || doc["throttling"].(map[string]any)["source"] != "prometheus" {
		t.Errorf("throttling = %v, want prometheus and no reason: every pod's throttling is known", doc["throttling"])
	}

	// A higher threshold: web-2 is not throttled.
	doc = throttlingDoc()
	(&Throttling{Querier: q, Threshold: 0.5, Window: 90 * time.Second}).addThrottling(context.Background(), doc, doc["pods"].([]any))
	if v, _ := podKey(doc, "web-2", "throttled"); v != false {
		t.Errorf("threshold 0.5: web-2 throttled = %v", v)
	}
	if !strings.Contains(q.queries[1], "[90s]") {
		t.Errorf("window 90s: %s", q.queries[1])
	}
}

func TestThrottlingNotKnown(t *testing.T) {
	cases := []struct {
		name    string
		q       *fakeQuerier
		unknown []string
		reason  string
	}{
		{"unreachable", &fakeQuerier{err: errors.New("dial tcp 127.0.0.1:9090: connection refused")}, []string{"web-1", "web-2"},
			"the Prometheus query of the CFS throttling counters failed: dial tcp 127.0.0.1:9090: connection refused"},
		{"empty", &fakeQuerier{err: errors.New("inconclusive: the query returned no sample")}, []string{"web-1", "web-2"},
			"failed: inconclusive: the query returned no sample"},
		{"scalar", &fakeQuerier{result: 0.5}, []string{"web-1", "web-2"}, "returned float64, want a vector"},
		{"bad label set", &fakeQuerier{result: map[string]any{`container="app"`: 0.5}}, []string{"web-1", "web-2"}, "not a label set"},
		{"not a number", &fakeQuerier{result: map[string]any{`{container="app",namespace="shop",pod="web-1"}`: "0.5"}}, []string{"web-1", "web-2"},
			"is string, want a number"},
		// web-2 has no series yet (it started less than two scrapes ago); NaN is no measure.
		{"one pod missing", &fakeQuerier{result: map[string]any{
			`{container="app",namespace="shop",pod="web-1"}`: 0.0,
			`{container="app",namespace="shop",pod="web-2"}`: math.NaN()}}, []string{"web-2"},
			"Prometheus has no CFS throttling counters (container_cpu_cfs_periods_total) over the last 5m for every container with a CPU limit of pods web-2"},
		// The counters of the sidecar without a limit do not stand for app's.
		{"another container", &fakeQuerier{result: map[string]any{
			`{container="app",namespace="shop",pod="web-1"}`: 0.0,
			`{container="log",namespace="shop",pod="web-2"}`: 0.0}}, []string{"web-2"}, "of pods web-2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := throttlingDoc()
			(&Throttling{Querier: c.q}).addThrottling(context.Background(), doc, doc["pods"].([]any))
			var unknown []string
			for _, p := range doc["pods"].([]any) {
				if _, ok := p.(map[string]any)["throttled"]; !ok {
					unknown = append(unknown, p.(map[string]any)["name"].(string))
				}
			}
			if !reflect.DeepEqual(unknown, c.unknown) {
				t.Errorf("pods without throttled: %v, want %v", unknown, c.unknown)
			}
			if !strings.Contains(reason(doc), c.reason) {
				t.Errorf("reason %q, want it to contain %q", reason(doc), c.reason)
			}
		})
	}
}

// A workload with no pod that could be throttled asks Prometheus nothing.
func TestThrottlingNoCandidates(t *testing.T) {
	q := &fakeQuerier{err: errors.New("must not be asked")}
	doc := map[string]any{"namespace": "shop", "pods": []any{throttlingPods()[3]}}
	(&Throttling{Querier: q}).addThrottling(context.Background(), doc, doc["pods"].([]any))
	if len(q.queries) != 0 || reason(doc) != "" {
		t.Errorf("queries %v, reason %q", q.queries, reason(doc))
	}
}

// A large workload is read by namespace: the query stays short, and the answer's
// other pods are left out.
func TestThrottlingManyPods(t *testing.T) {
	var pods []any
	result := map[string]any{`{container="app",namespace="shop",pod="other"}`: 0.9}
	for i := range 2 * maxPodsByName {
		name := fmt.Sprintf("web-%d", i)
		pods = append(pods, map[string]any{"name": name, "phase": "Running",
			"containers": []any{map[string]any{"name": "app", "cpu_limit_millicores": int64(100)}}})
		result[fmt.Sprintf(`{container="app",namespace="shop",pod=%q}`, name)] = 0.0
	}
	q := &fakeQuerier{result: result}
	doc := map[string]any{"namespace": "shop", "pods": pods}
	(&Throttling{Querier: q}).addThrottling(context.Background(), doc, pods)
	if strings.Contains(q.queries[0], "pod=~") || len(q.queries[0]) > 1000 {
		t.Errorf("query names the pods: %s", q.queries[0])
	}
	for _, p := range pods {
		if p.(map[string]any)["throttled"] != false {
			t.Fatalf("%v", p)
		}
	}
}

// Pod names with characters a regular expression gives a meaning to are matched
// as they are.
func TestThrottlingQueryQuotesNames(t *testing.T) {
	got := (&Throttling{}).query(`we"ird`, []string{"a.b-1", "c"})
	if !strings.Contains(got, `namespace="we\"ird"`) || !strings.Contains(got, `pod=~"a\\.b-1|c"`) {
		t.Errorf("query %s", got)
	}
}

func TestParseLabelSet(t *testing.T) {
	good := map[string]map[string]string{
		`{}`: {},
		`{container="app", namespace="x", pod="web-1"}`: {"container": "app", "namespace": "x", "pod": "web-1"},
		`{a="x,y=\"z\"}",b=""}`:                         {"a": `x,y="z"}`, "b": ""},
	}
	for in, want := range good {
		got, err := parseLabelSet(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseLabelSet(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{``, `a="b"`, `{a=b}`, `{a="b" c="d"}`, `{="b"}`, `{a="b`, `{a="\q"}`} {
		if got, err := parseLabelSet(in); err == nil {
			t.Errorf("parseLabelSet(%s) = %v, want an error", in, got)
		}
	}
}

func TestThrottlingValidate(t *testing.T) {
	if err := (&Throttling{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, bad := range []Throttling{{Window: 5 * time.Second}, {Window: 10500 * time.Millisecond}, {Threshold: 1.5}, {Threshold: -0.1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	err := (&Throttling{Window: time.Second, Threshold: 2}).Validate()
	if err == nil || !strings.Contains(err.Error(), "throttling window 1s") || !strings.Contains(err.Error(), "throttling threshold 2") {
		t.Errorf("both wrong: %v", err)
	}
}

// Gather adds throttling when the round's policies read pods, and only then.
func TestGathererAddsThrottling(t *testing.T) {
	c := fakeWorkload()
	params := map[string]any{"deployment": map[string]any{"name": "web", "namespace": "shop", "replicas": 2}}
	q := &fakeQuerier{result: map[string]any{`{container="app",namespace="shop",pod="web-1"}`: 0.3}}
	g := Gatherer{Throttling: &Throttling{Querier: q}}

	doc, err := g.Gather(context.Background(), c, "scale_deployment", params, Post, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := podKey(doc, "web-1", "throttled"); v != true {
		t.Errorf("web-1 throttled = %v, want true (30%% of periods)", v)
	}
	if len(q.queries) != 1 {
		t.Errorf("%d queries", len(q.queries))
	}

	lean, err := g.Gather(context.Background(), c, "scale_deployment", params, Post, catalog.Wanted{"ready_pods": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lean["throttling"]; ok || len(q.queries) != 1 {
		t.Errorf("a round that does not read pods asked Prometheus (%d queries) or got throttling %v", len(q.queries), lean["throttling"])
	}

	// The package-level Gather has no source: the pod's throttling is not known.
	plain, err := Gather(context.Background(), c, "scale_deployment", params, Post, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := podKey(plain, "web-1", "throttled"); ok || reason(plain) != "the manager reads no throttling (--throttling-from-prometheus, with --prometheus-url)" {
		t.Errorf("without a source: %v", plain["pods"])
	}
}

// fakeWorkload is Deployment shop/web with its pod web-1, whose container app has
// a CPU limit.
func fakeWorkload() client.Client {
	labels := map[string]string{"app": "web"}
	return fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	).Build()
}
