package conditions

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

// seedPolicies are the nine scale_deployment policies of seed 001, section 5.2.
var seedPolicies = []string{
	"cluster_capacity_available", "current_replicas_match", "deployment_exists", "deployment_health_check",
	"desired_replicas_running", "image_pull_secrets_valid", "no_crashloop_pods", "node_selector_matches",
	"resource_usage_acceptable",
}

// BenchmarkSeedPolicies evaluates each of the seed's nine policies three ways:
//   - engine: Engine.Evaluate on a policy compiled once (what the reconcilers do);
//   - opa-prepared: OPA's prepared query alone, the floor for the engine;
//   - compile-per-evaluation: rego.New(...).Eval on every call, as the seed's engine does.
//
// go test ./conditions -run '^$' -bench SeedPolicies -benchmem
func BenchmarkSeedPolicies(b *testing.B) {
	ctx := context.Background()
	policies := EmbeddedPolicies()
	names := seedPolicies
	input := scaleInput()
	e := NewEngine(Options{})

	for _, name := range names {
		p := mustCompile(b, e, name, policies[name])
		b.Run("engine/"+name, func(b *testing.B) {
			for b.Loop() {
				if r := e.Evaluate(ctx, p, input); !r.Passed() {
					b.Fatal(r.Message)
				}
			}
		})
		b.Run("opa-prepared/"+name, func(b *testing.B) {
			for b.Loop() {
				if rs, err := p.allow.Eval(ctx, rego.EvalInput(input)); err != nil || !rs.Allowed() {
					b.Fatal(err)
				}
			}
		})
		b.Run("compile-per-evaluation/"+name, func(b *testing.B) {
			query := "data." + p.Package + ".allow"
			for b.Loop() {
				rs, err := rego.New(rego.Query(query), rego.Module(name+".rego", policies[name]), rego.Input(input)).Eval(ctx)
				if err != nil || !rs.Allowed() {
					b.Fatal(err)
				}
			}
		})
	}
}
