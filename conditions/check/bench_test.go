package check

import (
	"context"
	"testing"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/promquery"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/test/promtest"
)

// BenchmarkRound evaluates the seed's nine scale_deployment conditions on one facts
// document (facts excluded), as a reconciler's round does: through the library, with
// metrics, one at a time and four at a time. Compare its ns/op divided by nine with
// BenchmarkSeedPolicies/opa-prepared in the conditions package.
//
// go test ./conditions/check -run '^$' -bench Round -benchmem
func BenchmarkRound(b *testing.B) {
	types := []string{
		"deployment_exists", "cluster_capacity_available", "current_replicas_match",
		"image_pull_secrets_valid", "node_selector_matches", "no_crashloop_pods",
		"resource_usage_acceptable", "desired_replicas_running", "deployment_health_check",
	}
	round := Round{Service: metrics.ServiceWorkflow, Action: "scale_deployment", Phase: facts.Pre}
	for _, t := range types {
		round.Conditions = append(round.Conditions, commonv1alpha1.ValidationCondition{Type: t})
	}
	doc := healthyScale()
	for _, parallelism := range []int{1, 4} {
		s := newService(b)
		s.Parallelism = parallelism
		b.Run(map[int]string{1: "sequential", 4: "parallel-4"}[parallelism], func(b *testing.B) {
			for b.Loop() {
				s.Evaluate(context.Background(), round, doc)
			}
		})
	}
}

// BenchmarkDeclaredMetrics is what a condition's Prometheus queries add to an
// evaluation round: the seed's postcondition desired_replicas_running alone, then
// the same with two queries against a real Prometheus (bin/prometheus) scraping an
// exporter, both answered with data. Each op is one round; compare the two.
//
// go test ./conditions/check -run '^$' -bench DeclaredMetrics -benchmem
func BenchmarkDeclaredMetrics(b *testing.B) {
	exporter, err := promtest.NewExporter()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = exporter.Close() })
	prom := promtest.Start(b, promtest.Options{Targets: []string{exporter.Target()}})
	app := promtest.HTTPApp{Namespace: "prod", Service: "web"}
	if err := exporter.SetHTTPTraffic(app, 100, 0.01); err != nil {
		b.Fatal(err)
	}
	total := `sum(rate(http_requests_total{namespace="{{namespace}}",service="{{name}}"}[5s]))`
	errs := `sum(rate(http_requests_total{namespace="{{namespace}}",service="{{name}}",code=~"5.."}[5s]))`
	if _, err := prom.WaitFor(b.Context(), `sum(rate(http_requests_total{namespace="prod",service="web",code=~"5.."}[5s]))`,
		func(v float64) bool { return v > 0 }); err != nil {
		b.Fatal(err)
	}
	client, err := promquery.New(promquery.Config{URL: prom.URL()})
	if err != nil {
		b.Fatal(err)
	}
	s := newService(b)
	s.Metrics = client
	plain := commonv1alpha1.ValidationCondition{Type: "desired_replicas_running"}
	withQueries := commonv1alpha1.ValidationCondition{Type: "error_rate", Rego: "package e\nallow if input.metrics.errors / input.metrics.total < 0.05",
		Metrics: []commonv1alpha1.MetricQuery{{Name: "total", Query: total}, {Name: "errors", Query: errs}}}
	round := Round{Service: metrics.ServiceWorkflow, Action: "scale_deployment", Phase: facts.Post,
		Target: Target{Name: "web", Namespace: "prod"}}
	doc := healthyScale()
	for _, bm := range []struct {
		name  string
		conds []commonv1alpha1.ValidationCondition
	}{
		{"facts-only", []commonv1alpha1.ValidationCondition{plain}},
		{"two-queries", []commonv1alpha1.ValidationCondition{plain, withQueries}},
	} {
		r := round
		r.Conditions = bm.conds
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				for _, o := range s.Evaluate(b.Context(), r, doc) {
					if !o.Passed() {
						b.Fatalf("%s: %s %s", o.Condition.Type, o.Outcome, o.Message)
					}
				}
			}
		})
	}
}
