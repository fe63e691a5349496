package conditions

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// fuzzEvalDeadline bounds one evaluation of a fuzzed policy.
const fuzzEvalDeadline = 50 * time.Millisecond

// FuzzCompile compiles arbitrary text: it may be rejected, never panic, and what
// compiles must evaluate without panicking.
func FuzzCompile(f *testing.F) {
	for _, source := range EmbeddedPolicies() {
		f.Add(source)
	}
	f.Add("package p\nallow { input.x }")
	f.Add("package p\nallow if http.send({})")
	// A short deadline keeps every input quick: go's fuzzing fails a run whose
	// time ends while an input still evaluates ("context deadline exceeded").
	e := NewEngine(Options{CacheSize: 64, EvalDeadline: fuzzEvalDeadline})
	f.Fuzz(func(t *testing.T, source string) {
		p, err := e.Compile(context.Background(), "fuzz", source)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("compile error of type %T: %v", err, err)
			}
			return
		}
		r := e.Evaluate(context.Background(), p, scaleInput())
		if r.Outcome != Passed && r.Outcome != Failed && r.Outcome != Errored {
			t.Fatalf("unknown outcome %q", r.Outcome)
		}
	})
}

// FuzzEvaluate evaluates every seed policy on arbitrary JSON input: the outcome may
// be anything, but it is one of the three, with a reason, and nothing panics.
func FuzzEvaluate(f *testing.F) {
	healthy, _ := json.Marshal(scaleInput())
	f.Add(healthy)
	f.Add([]byte(`{"available_cpu": 5, "pods": "none", "conditions": []}`))
	f.Add([]byte(`{}`))
	e := NewEngine(Options{EvalDeadline: fuzzEvalDeadline})
	var policies []*Policy
	for name, source := range EmbeddedPolicies() {
		policies = append(policies, mustCompile(f, e, name, source))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var input map[string]any
		if json.Unmarshal(data, &input) != nil {
			return
		}
		for _, p := range policies {
			r := e.Evaluate(context.Background(), p, input)
			if r.Reason == "" {
				t.Fatalf("%s: no reason for %s", p.Package, r.Outcome)
			}
		}
	})
}
