package check

import (
	"context"
	"testing"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/metrics"
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
