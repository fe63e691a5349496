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

// BenchmarkSeedPolicies evaluates each of the seed's nine policies three ways, on a
// facts document converted once (as a round does; the conversion is
// BenchmarkInputConversion):
//   - engine: Engine.EvaluateInput on a policy compiled once;
//   - opa-prepared: OPA's prepared query alone on the same input, the engine's floor;
//   - compile-per-evaluation: rego.New(...).Eval on every call, as the seed's engine
//     does (it converts the input itself).
//
// go test ./conditions -run '^$' -bench SeedPolicies -benchmem
func BenchmarkSeedPolicies(b *testing.B) {
	ctx := context.Background()
	policies := EmbeddedPolicies()
	names := seedPolicies
	doc := scaleInput()
	input, err := NewInput(doc)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(Options{})

	for _, name := range names {
		p := mustCompile(b, e, name, policies[name])
		b.Run("engine/"+name, func(b *testing.B) {
			for b.Loop() {
				if r := e.EvaluateInput(ctx, p, input); !r.Passed() {
					b.Fatal(r.Message)
				}
			}
		})
		b.Run("opa-prepared/"+name, func(b *testing.B) {
			for b.Loop() {
				if rs, err := p.allow.Eval(ctx, rego.EvalParsedInput(input.value)); err != nil || !rs.Allowed() {
					b.Fatal(err)
				}
			}
		})
		b.Run("compile-per-evaluation/"+name, func(b *testing.B) {
			query := "data." + p.Package + ".allow"
			for b.Loop() {
				rs, err := rego.New(rego.Query(query), rego.Module(name+".rego", policies[name]), rego.Input(doc)).Eval(ctx)
				if err != nil || !rs.Allowed() {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInputConversion is the cost of NewInput on the scale_deployment facts,
// paid once per round.
func BenchmarkInputConversion(b *testing.B) {
	doc := scaleInput()
	for b.Loop() {
		if _, err := NewInput(doc); err != nil {
			b.Fatal(err)
		}
	}
}
