package conditions

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// scaleInput is the facts document of a healthy scale_deployment from 3 to 5
// replicas, with the keys DESIGN.md lists. Tests change one fact at a time.
func scaleInput() map[string]any {
	return map[string]any{
		"action":                   "scale_deployment",
		"phase":                    "pre",
		"parameters":               map[string]any{"deployment": map[string]any{"name": "web-app", "namespace": "production", "replicas": 5}},
		"deployment_found":         true,
		"deployment_name":          "web-app",
		"namespace":                "production",
		"current_replicas":         3,
		"expected_baseline":        3,
		"target_replicas":          5,
		"additional_replicas":      2,
		"available_cpu":            "4000m",
		"available_memory":         "8Gi",
		"required_cpu_per_pod":     "500m",
		"required_memory_per_pod":  "512Mi",
		"running_pods":             5,
		"ready_pods":               5,
		"conditions":               map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false},
		"pods":                     []any{map[string]any{"name": "web-app-1", "status": "Running", "throttled": false, "oom_killed": false}},
		"image_pull_secrets_exist": true,
		"image_pull_secrets_valid": true,
		"matching_nodes":           3,
		"ready_nodes":              3,
	}
}

func with(changes map[string]any) map[string]any {
	in := scaleInput()
	return applyChanges(in, changes)
}

// applyChanges sets each key of changes in doc, and removes those set to nil; the
// input builders of the policy cases use it to change one fact at a time.
func applyChanges(doc, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	return doc
}

func mustCompile(t testing.TB, e *Engine, conditionType, source string) *Policy {
	t.Helper()
	p, err := e.Compile(context.Background(), conditionType, source)
	if err != nil {
		t.Fatalf("compile %s: %v", conditionType, err)
	}
	return p
}

// policyCase is one input for an embedded policy and the outcome it must give.
type policyCase struct {
	condition string
	input     map[string]any
	want      Outcome
	message   string // a substring of the message
}

// policyCases holds the cases of every embedded policy; each group of actions adds
// its own from its test file.
var policyCases []policyCase

func addPolicyCases(cases ...policyCase) bool {
	policyCases = append(policyCases, cases...)
	return true
}

// The seed's nine scale_deployment policies (seed 001, sections 3.5 and 4.5).
var _ = addPolicyCases(
	policyCase{"deployment_exists", scaleInput(), Passed, ""},
	policyCase{"deployment_exists", with(map[string]any{"deployment_found": false}), Failed, "Deployment web-app not found in namespace production"},

	policyCase{"cluster_capacity_available", scaleInput(), Passed, ""},
	policyCase{"cluster_capacity_available", with(map[string]any{"available_cpu": "900m"}), Failed, "did not allow"},
	policyCase{"cluster_capacity_available", with(map[string]any{"available_memory": "1000Mi"}), Failed, ""},
	policyCase{"cluster_capacity_available", with(map[string]any{"available_cpu": "2", "additional_replicas": 4}), Passed, ""},
	policyCase{"cluster_capacity_available", with(map[string]any{"available_cpu": "1", "additional_replicas": 4}), Failed, ""},
	policyCase{"cluster_capacity_available", with(map[string]any{"available_cpu": "lots"}), Errored, "to_number"},

	policyCase{"current_replicas_match", scaleInput(), Passed, ""},
	policyCase{"current_replicas_match", with(map[string]any{"current_replicas": 4}), Failed, ""},

	policyCase{"desired_replicas_running", scaleInput(), Passed, ""},
	policyCase{"desired_replicas_running", with(map[string]any{"ready_pods": 4}), Failed, ""},
	policyCase{"desired_replicas_running", with(map[string]any{"running_pods": 3}), Failed, ""},

	policyCase{"deployment_health_check", scaleInput(), Passed, ""},
	policyCase{"deployment_health_check", with(map[string]any{"conditions": map[string]any{"Available": false, "Progressing": true, "ReplicaFailure": false}}), Failed, ""},
	policyCase{"deployment_health_check", with(map[string]any{"conditions": map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": true}}), Failed, ""},

	policyCase{"image_pull_secrets_valid", scaleInput(), Passed, ""},
	policyCase{"image_pull_secrets_valid", with(map[string]any{"image_pull_secrets_valid": false}), Failed, ""},

	policyCase{"node_selector_matches", scaleInput(), Passed, ""},
	policyCase{"node_selector_matches", with(map[string]any{"ready_nodes": 0}), Failed, ""},

	policyCase{"no_crashloop_pods", scaleInput(), Passed, ""},
	policyCase{"no_crashloop_pods", with(map[string]any{"pods": []any{map[string]any{"name": "web-app-2", "status": "CrashLoopBackOff"}}}), Failed, ""},
	policyCase{"no_crashloop_pods", with(map[string]any{"pods": []any{}}), Passed, ""},

	policyCase{"resource_usage_acceptable", scaleInput(), Passed, ""},
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{}}), Passed, ""},
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{map[string]any{"name": "web-app-2", "throttled": false, "oom_killed": true}}}), Failed,
		"pods web-app-2 were OOMKilled"},
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{map[string]any{"name": "web-app-2", "throttled": true}},
		"throttling": map[string]any{"source": "prometheus", "window": "5m", "threshold": 0.25}}), Failed,
		"pods web-app-2 are CPU-throttled (more than 25% of their CFS periods over 5m)"},
	// Throttling that nobody measured fails, and says why; OOMKilled pods still fail.
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{
		map[string]any{"name": "web-app-1", "oom_killed": false}, map[string]any{"name": "web-app-2", "oom_killed": false}},
		"throttling": map[string]any{"source": "none", "window": "5m", "threshold": 0.25, "reason": "the manager reads no throttling (--throttling-from-prometheus, with --prometheus-url)"}}), Failed,
		"throttling of pods web-app-1, web-app-2 is not known: the manager reads no throttling (--throttling-from-prometheus, with --prometheus-url)"},
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{
		map[string]any{"name": "web-app-1", "oom_killed": true}, map[string]any{"name": "web-app-2", "throttled": false}},
		"throttling": map[string]any{"source": "none", "reason": "the manager reads no throttling (--throttling-from-prometheus, with --prometheus-url)"}}), Failed,
		"pods web-app-1 were OOMKilled; throttling of pods web-app-1 is not known: the manager reads no throttling"},
	// A document without the throttling key (an older input file) still names what is missing.
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{map[string]any{"name": "web-app-1"}}}), Failed,
		"throttling of pods web-app-1 is not known: no source of CPU throttling reported it"},
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": []any{
		map[string]any{"name": "a"}, map[string]any{"name": "b"}, map[string]any{"name": "c"}, map[string]any{"name": "d"},
		map[string]any{"name": "e"}, map[string]any{"name": "f"}, map[string]any{"name": "g"}}}), Failed,
		"throttling of pods a, b, c, d, e and 2 more is not known"},
	policyCase{"resource_usage_acceptable", with(map[string]any{"pods": nil}), Errored, "the input lacks pods"},

	// A missing fact is not a failed check: the policy could not decide.
	policyCase{"desired_replicas_running", with(map[string]any{"ready_pods": nil}), Errored, "the input lacks ready_pods"},
	policyCase{"image_pull_secrets_valid", with(map[string]any{"image_pull_secrets_exist": nil, "image_pull_secrets_valid": nil}), Errored, "image_pull_secrets_exist, image_pull_secrets_valid"},
)

// TestEmbeddedPolicies runs every case, and requires of every embedded policy at
// least one case that passes and one that fails.
func TestEmbeddedPolicies(t *testing.T) {
	policies := EmbeddedPolicies()
	e := NewEngine(Options{})
	outcomes := map[string]map[Outcome]bool{}
	for _, c := range policyCases {
		source, ok := policies[c.condition]
		if !ok {
			t.Errorf("no embedded policy %s", c.condition)
			continue
		}
		p := mustCompile(t, e, c.condition, source)
		got := e.Evaluate(context.Background(), p, c.input)
		if got.Outcome != c.want || !strings.Contains(got.Message, c.message) {
			t.Errorf("%s: got %s (%s: %q), want %s with message containing %q",
				c.condition, got.Outcome, got.Reason, got.Message, c.want, c.message)
		}
		if outcomes[c.condition] == nil {
			outcomes[c.condition] = map[Outcome]bool{}
		}
		outcomes[c.condition][got.Outcome] = true
	}
	for name := range policies {
		if !outcomes[name][Passed] || !outcomes[name][Failed] {
			t.Errorf("embedded policy %s needs a case that passes and one that fails", name)
		}
	}
}

// The seed's ConfigMap puts deployment_exists and cluster_capacity_available into
// one package. Compiled together their allow rules would OR; compiled apart, each
// decides alone.
func TestPoliciesSharingAPackageDecideAlone(t *testing.T) {
	e := NewEngine(Options{})
	exists := mustCompile(t, e, "deployment_exists", EmbeddedPolicies()["deployment_exists"])
	capacity := mustCompile(t, e, "cluster_capacity_available", EmbeddedPolicies()["cluster_capacity_available"])
	if exists.Package != capacity.Package {
		t.Fatalf("the seed's two policies should share a package: %s, %s", exists.Package, capacity.Package)
	}
	in := with(map[string]any{"deployment_found": false})
	if got := e.Evaluate(context.Background(), exists, in); got.Outcome != Failed {
		t.Errorf("deployment_exists: got %s, want Failed", got.Outcome)
	}
	if got := e.Evaluate(context.Background(), capacity, in); got.Outcome != Passed {
		t.Errorf("cluster_capacity_available: got %s, want Passed", got.Outcome)
	}
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name    string
		source  string
		input   map[string]any
		want    Outcome
		reason  string
		message string
	}{
		{
			name:   "the query is the policy's own package",
			source: "package kubernaut.checks.custom\nallow if input.x == 1",
			input:  map[string]any{"x": 1}, want: Passed, reason: ReasonAllowed,
		},
		{
			name:   "Rego v0 syntax",
			source: "package legacy\nallow { input.x == 1 }",
			input:  map[string]any{"x": 1}, want: Passed, reason: ReasonAllowed,
		},
		{
			name:   "allow false by default",
			source: "package p\ndefault allow := false\nallow if input.x == 1",
			input:  map[string]any{"x": 2}, want: Failed, reason: ReasonNotAllowed, message: "policy p did not allow",
		},
		{
			name:   "message rule",
			source: "package p\nallow if input.x == 1\nmessage := sprintf(\"x is %d\", [input.x])",
			input:  map[string]any{"x": 2}, want: Failed, reason: ReasonNotAllowed, message: "x is 2",
		},
		{
			name:   "deny set, sorted",
			source: "package p\nallow if count(deny) == 0\ndeny contains \"too big\" if input.x > 10\ndeny contains \"odd\" if input.x % 2 == 1",
			input:  map[string]any{"x": 11}, want: Failed, reason: ReasonNotAllowed, message: "odd; too big",
		},
		{
			name:   "error_message and deny together",
			source: "package p\nallow if count(deny) == 0\nerror_message := \"x is wrong\"\ndeny contains \"x > 10\" if input.x > 10",
			input:  map[string]any{"x": 11}, want: Failed, message: "x is wrong; x > 10",
		},
		{
			name:   "allow that is not a boolean",
			source: "package p\nallow := \"yes\"",
			input:  map[string]any{}, want: Errored, reason: ReasonNotBoolean, message: "want a boolean",
		},
		{
			name:   "a built-in that fails",
			source: "package p\nallow if to_number(input.cpu) > 1",
			input:  map[string]any{"cpu": "four"}, want: Errored, reason: ReasonEvaluationError, message: "to_number",
		},
		{
			name:   "undefined allow with every fact present is a failure",
			source: "package p\nallow if input.nested.flag == true",
			input:  map[string]any{"nested": map[string]any{}}, want: Failed, reason: ReasonNotAllowed,
		},
		{
			name:   "undefined allow with a fact missing is an error",
			source: "package p\nallow if input.ready_pods >= input.target_replicas",
			input:  map[string]any{"ready_pods": 3}, want: Errored, reason: ReasonMissingFacts, message: "the input lacks target_replicas",
		},
	}
	e := NewEngine(Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := e.Evaluate(context.Background(), mustCompile(t, e, "test_condition", c.source), c.input)
			if got.Outcome != c.want || (c.reason != "" && got.Reason != c.reason) || !strings.Contains(got.Message, c.message) {
				t.Errorf("got %s (%s: %q), want %s (%s) with message containing %q",
					got.Outcome, got.Reason, got.Message, c.want, c.reason, c.message)
			}
		})
	}
}

func TestEvaluateStopsAtTheDeadline(t *testing.T) {
	e := NewEngine(Options{EvalDeadline: 50 * time.Millisecond})
	// Ten billion steps that hold nothing: only the deadline stops them.
	slow := mustCompile(t, e, "slow", "package p\nallow if {\n\tsome i in numbers.range(1, 100000)\n\tsome j in numbers.range(1, 100000)\n\ti == j + 1000000\n}")
	got := e.Evaluate(context.Background(), slow, map[string]any{})
	if got.Outcome != Errored || got.Reason != ReasonDeadline {
		t.Fatalf("got %s (%s: %q), want Errored (%s)", got.Outcome, got.Reason, got.Message, ReasonDeadline)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name   string
		source string
		want   string // a substring of the error
	}{
		{"parse error with its place", "package p\n\nallow if {\n  input.x ==\n}", "condition my_check: line 5, column 1: rego_parse_error: unexpected } token"},
		{"no allow rule", "package p\ndeny contains \"no\"", "rego_missing_allow"},
		{"unknown function", "package p\nallow if parse_cpu(input.cpu) > 1", "undefined function parse_cpu"},
		{"http.send", "package p\nallow if http.send({\"method\": \"get\", \"url\": \"http://example.com\"}).status_code == 200",
			"http.send is not allowed in condition policies"},
		{"net.lookup_ip_addr", "package p\nallow if count(net.lookup_ip_addr(\"example.com\")) > 0", "net.lookup_ip_addr is not allowed"},
		{"opa.runtime", "package p\nallow if opa.runtime().env.HOME", "opa.runtime is not allowed"},
	}
	e := NewEngine(Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Compile(context.Background(), "my_check", c.source)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("want a *CompileError, got %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestCompileCachesByText(t *testing.T) {
	e := NewEngine(Options{CacheSize: 2})
	a := "package a\nallow := true"
	first := mustCompile(t, e, "a", a)
	if again := mustCompile(t, e, "a_elsewhere", a); again != first {
		t.Error("the same text was compiled twice")
	}
	mustCompile(t, e, "b", "package b\nallow := true")
	mustCompile(t, e, "c", "package c\nallow := true") // evicts a, the least recently used
	if again := mustCompile(t, e, "a", a); again == first {
		t.Error("the cache kept more than its size")
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	e := NewEngine(Options{})
	p := mustCompile(t, e, "desired_replicas_running", EmbeddedPolicies()["desired_replicas_running"])
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				ready := (i + j) % 7
				want := Failed
				if ready >= 5 {
					want = Passed
				}
				if got := e.Evaluate(context.Background(), p, with(map[string]any{"ready_pods": ready})); got.Outcome != want {
					errs <- got.Message
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

func TestSafetyPolicies(t *testing.T) {
	e := NewEngine(Options{})
	source := `package safety.production
deny contains msg if {
  input.namespace == "kube-system"
  msg := "no remediation in kube-system"
}
deny contains msg if {
  input.target_replicas > 100
  msg := sprintf("%d replicas is more than 100", [input.target_replicas])
}`
	p, err := e.CompileSafety(context.Background(), "production_guard", source)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		input   map[string]any
		want    Outcome
		message string
	}{
		{map[string]any{"namespace": "production", "target_replicas": 5}, Passed, ""},
		{map[string]any{"namespace": "kube-system", "target_replicas": 500}, Failed, "500 replicas is more than 100; no remediation in kube-system"},
		{map[string]any{}, Passed, ""},
	}
	for _, c := range cases {
		got := e.Evaluate(context.Background(), p, c.input)
		if got.Outcome != c.want || got.Message != c.message {
			t.Errorf("%v: got %s %q, want %s %q", c.input, got.Outcome, got.Message, c.want, c.message)
		}
	}
	if _, err := e.CompileSafety(context.Background(), "no_deny", "package p\nallow := true"); err == nil || !strings.Contains(err.Error(), "rego_missing_deny") {
		t.Errorf("a safety policy without deny: got %v", err)
	}
	// The same text compiled as a condition is a different policy.
	if _, err := e.Compile(context.Background(), "as_condition", source); err == nil || !strings.Contains(err.Error(), "rego_missing_allow") {
		t.Errorf("a deny-only policy compiled as a condition: got %v", err)
	}
}

func TestPolicyReads(t *testing.T) {
	cases := []struct {
		name, rego string
		keys       []string
		all        bool
	}{
		{"keys of every rule, helpers included", `package p
allow if { input.ready_pods >= input.target_replicas; helper }
helper if input.pods[_].ready
message := sprintf("%v", [input.namespace])`, []string{"namespace", "pods", "ready_pods", "target_replicas"}, false},
		{"a string index names its key", `package p
allow if input["ready_pods"] > 0`, []string{"ready_pods"}, false},
		{"a computed key may be any key", `package p
allow if { some k; input[k] == 1 }`, nil, true},
		{"input as a whole", `package p
allow if { x := input; x.ready_pods > 0 }`, nil, true},
		{"imported input", `package p
import input.pods as ps
allow if count(ps) > 0`, []string{"pods"}, false},
		{"input replaced with", `package p
allow if { data.q.ok with input as {"a": 1} }`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewEngine(Options{}).Compile(context.Background(), "t", tc.rego)
			if err != nil {
				t.Fatal(err)
			}
			keys, all := p.Reads()
			if all != tc.all || (!tc.all && strings.Join(keys, ",") != strings.Join(tc.keys, ",")) {
				t.Errorf("Reads() = %v, all %v; want %v, all %v", keys, all, tc.keys, tc.all)
			}
		})
	}
}
