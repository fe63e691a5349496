package check

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/conditions/promquery"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/test/harness"
)

// prometheusAPI answers instant queries the way Prometheus's HTTP API does, from a
// table of query text to the JSON of its data, and keeps the queries it was sent.
type prometheusAPI struct {
	mu      sync.Mutex
	answers map[string]string
	asked   []string
}

func (p *prometheusAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	p.mu.Lock()
	p.asked = append(p.asked, q)
	data, ok := p.answers[q]
	p.mu.Unlock()
	if !ok {
		data = `{"resultType":"vector","result":[]}`
	}
	_, _ = fmt.Fprintf(w, `{"status":"success","data":%s}`, data)
}

// objectsAt is an ObjectReader over a fixed set of objects, recording who asked:
// the reading itself (RBAC, the API server) is objects' own test's.
type objectsAt struct {
	objects map[string]map[string]any // by name
	who     []string
}

func (o *objectsAt) Read(_ context.Context, who authority.Requester, ref objects.Ref) (map[string]any, error) {
	o.who = append(o.who, who.Username+" "+ref.String())
	if obj, ok := o.objects[ref.Name]; ok {
		return obj, nil
	}
	return nil, &objects.MissingError{Ref: ref}
}

func TestDeclaredMetricsAndObjects(t *testing.T) {
	api := &prometheusAPI{answers: map[string]string{
		`sum(errors{namespace="prod",deployment="web"})`: `{"resultType":"vector","result":[{"metric":{},"value":[1,"0.01"]}]}`,
		`sum(by (pod) (errors))`:                         `{"resultType":"vector","result":[{"metric":{"pod":"web-1"},"value":[1,"0.2"]},{"metric":{"pod":"web-2"},"value":[1,"0"]}]}`,
		`nan`:                                            `{"resultType":"scalar","result":[1,"NaN"]}`,
	}}
	server := httptest.NewServer(api)
	defer server.Close()
	prom, err := promquery.New(promquery.Config{URL: server.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reader := &objectsAt{objects: map[string]map[string]any{
		"web-tls": {"status": map[string]any{"ready": true}},
	}}
	s := newService(t)
	s.Metrics, s.Objects = prom, reader

	rate := commonv1alpha1.MetricQuery{Name: "error_rate", Query: `sum(errors{namespace="{{namespace}}",deployment="{{ name }}"})`}
	cert := commonv1alpha1.ObjectQuery{Key: "cert", APIVersion: "cert-manager.io/v1", Kind: "Certificate", Name: "{{name}}-tls"}
	conds := []commonv1alpha1.ValidationCondition{
		{Type: "error_rate_low", Metrics: []commonv1alpha1.MetricQuery{rate},
			Rego: "package p\nallow if input.metrics.error_rate < 0.05"},
		{Type: "no_pod_erring", Metrics: []commonv1alpha1.MetricQuery{{Name: "by_pod", Query: "sum(by (pod) (errors))"}},
			Rego: "package p\nallow if { every _, v in input.metrics.by_pod { v < 0.1 } }\nmessage := sprintf(\"%v\", [input.metrics.by_pod])"},
		{Type: "no_data", Metrics: []commonv1alpha1.MetricQuery{{Name: "q", Query: "absent_series"}}, Rego: "package p\nallow := true"},
		{Type: "nan", Metrics: []commonv1alpha1.MetricQuery{{Name: "q", Query: "nan"}}, Rego: "package p\nallow := true"},
		{Type: "cert_ready", Objects: []commonv1alpha1.ObjectQuery{cert}, Rego: "package p\nallow if input.objects.cert.status.ready"},
		{Type: "cert_missing", Objects: []commonv1alpha1.ObjectQuery{{Key: "c", APIVersion: "v1", Kind: "ConfigMap", Name: "absent"}},
			Rego: "package p\nallow := true"},
		// A condition that declares nothing sees neither key.
		{Type: "plain", Rego: "package p\nallow if { not input.metrics; not input.objects }"},
	}
	round := Round{
		Service: metrics.ServiceExecution, Action: "scale_deployment", Phase: facts.Post, Conditions: conds,
		Target: Target{Name: "web", Namespace: "prod", RunNamespace: "runs", Requester: authority.Requester{Username: "alice"}},
	}
	outcomes := s.Evaluate(context.Background(), round, healthyScale())
	want := []struct {
		outcome conditions.Outcome
		reason  string
		message string
	}{
		{conditions.Passed, conditions.ReasonAllowed, ""},
		{conditions.Failed, conditions.ReasonNotAllowed, `{"{pod=\"web-1\"}": 0.2, "{pod=\"web-2\"}": 0}`},
		{conditions.Inconclusive, conditions.ReasonNoMetricsData, "metrics q:"},
		{conditions.Inconclusive, conditions.ReasonNoMetricsData, "NaN"},
		{conditions.Passed, conditions.ReasonAllowed, ""},
		{conditions.Inconclusive, conditions.ReasonObjectMissing, "ConfigMap runs/absent does not exist"},
		{conditions.Passed, conditions.ReasonAllowed, ""},
	}
	for i, w := range want {
		o := outcomes[i]
		if o.Outcome != w.outcome || o.Reason != w.reason || !strings.Contains(o.Message, w.message) {
			t.Errorf("%s: got %s %s %q, want %s %s with %q", o.Condition.Type, o.Outcome, o.Reason, o.Message, w.outcome, w.reason, w.message)
		}
	}
	if got := strings.Join(api.asked, "\n"); !strings.Contains(got, `sum(errors{namespace="prod",deployment="web"})`) {
		t.Errorf("the target's name and namespace must be put in the query; Prometheus was asked:\n%s", got)
	}
	// The cert is read in the run's namespace (none is named), as the requester.
	if len(reader.who) != 2 || reader.who[0] != "alice Certificate runs/web-tls" {
		t.Errorf("objects read as %v", reader.who)
	}

	status := outcomes[2].Status(time.Now(), 1)
	if !status.Inconclusive || status.Evaluated || status.Passed {
		t.Errorf("an inconclusive outcome's status: %+v", status)
	}

	// Without a Prometheus or an object reader, a condition declaring them cannot
	// be evaluated: an error that says what is missing, not a verdict.
	s.Metrics, s.Objects = nil, nil
	outcomes = s.Evaluate(context.Background(), round, healthyScale())
	if o := outcomes[0]; o.Outcome != conditions.Errored || !strings.Contains(o.Message, "--prometheus-url") {
		t.Errorf("metrics without a Prometheus: %s %q", o.Outcome, o.Message)
	}
	if o := outcomes[4]; o.Outcome != conditions.Errored || !strings.Contains(o.Message, "reads no objects") {
		t.Errorf("objects without a reader: %s %q", o.Outcome, o.Message)
	}
}

func TestTargetOf(t *testing.T) {
	params := map[string]any{"deployment": map[string]any{"name": "web", "namespace": "prod"}, "replicas": 5}
	got := TargetOf("scale_deployment", params, "runs", authority.Requester{Username: "bob"})
	if got.Name != "web" || got.Namespace != "prod" || got.RunNamespace != "runs" || got.Requester.Username != "bob" {
		t.Errorf("TargetOf: %+v", got)
	}
	if got := TargetOf("notify_only", map[string]any{}, "runs", authority.Requester{}); got.Name != "" || got.RunNamespace != "runs" {
		t.Errorf("an action without a target: %+v", got)
	}
}

// TestQueriesAskTheRequestersRight runs a condition's query only for a requester
// who may still query in the run's namespace, asked of a real API server.
func TestQueriesAskTheRequestersRight(t *testing.T) {
	ctx := t.Context()
	cluster := harness.StartForTest(t, harness.Options{})
	if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "runs"}}); err != nil {
		t.Fatal(err)
	}
	reviewer, err := authority.NewReviewer(cluster.Config, -1)
	if err != nil {
		t.Fatal(err)
	}
	api := &prometheusAPI{answers: map[string]string{"up": `{"resultType":"scalar","result":[1,"1"]}`}}
	server := httptest.NewServer(api)
	defer server.Close()
	prom, err := promquery.New(promquery.Config{URL: server.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := newService(t)
	s.Metrics, s.Authority = prom, reviewer
	round := Round{Service: metrics.ServiceExecution, Action: "scale_deployment", Phase: facts.Post,
		Conditions: []commonv1alpha1.ValidationCondition{{Type: "up", Rego: "package p\nallow if input.metrics.up == 1",
			Metrics: []commonv1alpha1.MetricQuery{{Name: "up", Query: "up"}}}},
		Target: Target{RunNamespace: "runs", Requester: authority.Requester{Username: "carol"}}}

	o := s.Evaluate(ctx, round, healthyScale())[0]
	if o.Outcome != conditions.Errored || !strings.Contains(o.Message, `user "carol" cannot query metrics.kubernaut.io in namespace "runs"`) {
		t.Errorf("without the right: %s %q", o.Outcome, o.Message)
	}
	if len(api.asked) != 0 {
		t.Errorf("Prometheus was asked %v for a requester who may not query", api.asked)
	}
	if _, err := harness.GrantRole(ctx, cluster.Client, "runs", "carol", "query", []rbacv1.PolicyRule{
		{APIGroups: []string{"kubernaut.io"}, Resources: []string{"metrics"}, Verbs: []string{"query"}}}); err != nil {
		t.Fatal(err)
	}
	// The API server's RBAC authorizer sees a new binding a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		o := s.Evaluate(ctx, round, healthyScale())[0]
		if o.Outcome == conditions.Passed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the right: %s %q", o.Outcome, o.Message)
		}
	}
}
