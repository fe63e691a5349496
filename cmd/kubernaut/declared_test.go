package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kubernaut.io/stepvalidation/conditions"
)

// TestEvalDeclaredData evaluates policies that read input.metrics and
// input.objects on input files, as an author does offline.
func TestEvalDeclaredData(t *testing.T) {
	errorRate := "testdata/declared/error_rate_low.rego"
	cert := "testdata/declared/cert_ready.rego"
	dir := t.TempDir()
	nan := writeFile(t, dir, "nan.yaml", "metrics:\n  error_rate: .nan\n")
	for _, tt := range []struct {
		name, policy, input string
		wantCode            int
		stdout, stderr      []string
	}{
		{name: "metrics under the bound", policy: errorRate, input: `{"metrics": {"error_rate": 0.002}}`,
			stdout: []string{"allow (PolicyAllowed)"}},
		{name: "metrics over the bound", policy: errorRate, input: "metrics:\n  error_rate: 0.05\n", wantCode: 1,
			stdout: []string{"deny (PolicyNotAllowed)", "error rate 0.05 is not under 1%"}},
		// Rego orders null before numbers: evaluated, null < 0.01 would allow.
		{name: "metrics null", policy: errorRate, input: `{"metrics": {"error_rate": null}}`, wantCode: 1,
			stdout: []string{"inconclusive (NoMetricsData)", "metrics error_rate: the query returned no data"}},
		{name: "metrics by label set empty", policy: errorRate, input: `{"metrics": {"error_rate": 0.001, "by_pod": {}}}`, wantCode: 1,
			stdout: []string{"inconclusive (NoMetricsData)", "metrics by_pod: the query returned no series"}},
		{name: "metrics by label set", policy: errorRate, input: `{"metrics": {"error_rate": 0, "by_pod": {"{pod=\"web-1\"}": 3}}}`,
			stdout: []string{"allow"}},
		{name: "metrics missing", policy: errorRate, input: `{}`, wantCode: 1, stdout: []string{"error (MissingFacts)", "lacks metrics"}},
		{name: "object ready", policy: cert, input: `{"objects": {"cert": {"metadata": {"name": "web-tls"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}}}`,
			stdout: []string{"allow (PolicyAllowed)"}},
		{name: "object not ready", policy: cert, input: `{"objects": {"cert": {"metadata": {"name": "web-tls"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}}}`,
			wantCode: 1, stdout: []string{"deny (PolicyNotAllowed)", "Certificate web-tls is not Ready"}},
		{name: "object missing", policy: cert, input: `{"objects": {"cert": null}}`, wantCode: 1,
			stdout: []string{"inconclusive (ObjectMissing)", "objects cert: the object does not exist"}},
		{name: "object not an object", policy: cert, input: `{"objects": {"cert": "web-tls"}}`, wantCode: 2,
			stderr: []string{`objects.cert is the string "web-tls"; want the object, or null`}},
		{name: "metrics value a string", policy: errorRate, input: `{"metrics": {"error_rate": "0.1"}}`, wantCode: 2,
			stderr: []string{`metrics.error_rate is the string "0.1"; want a number`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := kubernaut(t, tt.input, "condition", "eval", "--policy", tt.policy, "--input", "-")
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}

	t.Run("json output names the outcome", func(t *testing.T) {
		code, stdout, _ := kubernaut(t, `{"metrics": {"error_rate": null}}`, "condition", "eval", "-p", errorRate, "-i", "-", "-o", "json")
		if code != 1 || !strings.Contains(stdout, `"outcome": "inconclusive"`) || !strings.Contains(stdout, `"reason": "NoMetricsData"`) {
			t.Errorf("exit code %d\n%s", code, stdout)
		}
	})
	t.Run("YAML .nan gets a hint", func(t *testing.T) {
		code, _, stderr := kubernaut(t, "", "condition", "eval", "-p", errorRate, "-i", nan)
		if code != 2 || !strings.Contains(stderr, "write null, and the condition is inconclusive") {
			t.Errorf("exit code %d\n%s", code, stderr)
		}
	})
}

// TestTestDeclaredData runs test files whose cases give metrics and objects,
// and expect inconclusive when they are null.
func TestTestDeclaredData(t *testing.T) {
	code, stdout, stderr := kubernaut(t, "", "condition", "test", "testdata/declared")
	if code != 0 || !strings.Contains(stdout, "7 passed, 0 failed, 0 broken") {
		t.Errorf("exit code %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"PASS no traffic, no data: inconclusive (NoMetricsData", "PASS certificate missing: inconclusive (ObjectMissing"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}

	// An expectation of inconclusive fails when the data is there, and a case
	// whose metrics have a shape the manager never gives is broken.
	dir := t.TempDir()
	writeFile(t, dir, "p.rego", "package postcondition.p\n\nimport rego.v1\n\nallow if input.metrics.error_rate < 0.01\n")
	writeFile(t, dir, "p_test.yaml", `cases:
  - name: data present
    input: {metrics: {error_rate: 0.5}}
    expect: inconclusive
  - name: wrong reason
    input: {metrics: {error_rate: null}}
    expect: inconclusive
    reason: ObjectMissing
  - name: bad label set
    input: {metrics: {error_rate: {"pod=web-1": 1}}}
    expect: allow
`)
	code, stdout, _ = kubernaut(t, "", "condition", "test", dir)
	for _, want := range []string{
		"FAIL data present: expected inconclusive, got deny",
		"FAIL wrong reason: expected reason ObjectMissing, got NoMetricsData",
		`BROKEN bad label set: input: metrics.error_rate: the key "pod=web-1" is not a label set`,
		"0 passed, 2 failed, 1 broken",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if code != 2 {
		t.Errorf("exit code %d, want 2 (a broken case)", code)
	}
}

func TestDeclaredOutcome(t *testing.T) {
	for _, tt := range []struct {
		name       string
		doc        map[string]any
		wantReason string // "" for evaluate the policy
		wantErr    string
	}{
		{name: "neither", doc: map[string]any{"deployment_found": true}},
		{name: "numbers", doc: map[string]any{"metrics": map[string]any{"a": 1.5, "b": map[string]any{`{pod="x"}`: 0.0}}}},
		{name: "object", doc: map[string]any{"objects": map[string]any{"cert": map[string]any{}}}},
		{name: "null metric", doc: map[string]any{"metrics": map[string]any{"a": nil}}, wantReason: conditions.ReasonNoMetricsData},
		{name: "metrics before objects", doc: map[string]any{"metrics": map[string]any{"a": nil}, "objects": map[string]any{"b": nil}},
			wantReason: conditions.ReasonNoMetricsData},
		{name: "null object", doc: map[string]any{"metrics": map[string]any{"a": 1.0}, "objects": map[string]any{"b": nil}},
			wantReason: conditions.ReasonObjectMissing},
		{name: "metrics not an object", doc: map[string]any{"metrics": []any{1.0}}, wantErr: "metrics is a list; want an object from a query's name"},
		{name: "objects null", doc: map[string]any{"objects": nil}, wantErr: "objects is null"},
		{name: "bad name", doc: map[string]any{"metrics": map[string]any{"error-rate": 1.0}}, wantErr: `metrics.error-rate: "error-rate" cannot be a query's name`},
		{name: "bad key", doc: map[string]any{"objects": map[string]any{"Cert": map[string]any{}}}, wantErr: `"Cert" cannot be an object's key`},
		{name: "null in a label set", doc: map[string]any{"metrics": map[string]any{"a": map[string]any{"{}": nil}}}, wantErr: "metrics.a[{}] is null; want a number"},
		{name: "bool metric", doc: map[string]any{"metrics": map[string]any{"a": true}}, wantErr: "metrics.a is the boolean true"},
		{name: "list object", doc: map[string]any{"objects": map[string]any{"a": []any{}}}, wantErr: "objects.a is a list"},
		// A shape error is reported even when another value is null.
		{name: "error before inconclusive", doc: map[string]any{"metrics": map[string]any{"a": nil, "b": "x"}}, wantErr: "metrics.b is the string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := declaredOutcome(tt.doc)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantReason == "" && r != nil:
				t.Errorf("got %+v, want the policy evaluated", *r)
			case tt.wantReason != "" && (r == nil || r.Outcome != conditions.Inconclusive || r.Reason != tt.wantReason):
				t.Errorf("got %+v, want Inconclusive %s", r, tt.wantReason)
			}
		})
	}
}

// TestGenerateListsDeclaredKeys checks that a generated policy's header names the
// keys of declared data and what their absence does, and that its tests say how to
// test it.
func TestGenerateListsDeclaredKeys(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := kubernaut(t, "", "condition", "generate", "--action", "scale_deployment", "--type", "postcondition", "--check", "error_rate_low", "--out", dir)
	if code != 0 {
		t.Fatalf("exit code %d\n%s%s", code, stdout, stderr)
	}
	policy := readFile(t, dir, "error_rate_low.rego")
	for _, want := range []string{
		"#   input.metrics.<name>            number, or object from label set to number: a Prometheus query",
		"#   input.objects.<key>             object: the JSON of an object",
		"the condition is inconclusive and this policy is not evaluated",
	} {
		if !strings.Contains(policy, want) {
			t.Errorf("the generated policy lacks %q:\n%s", want, policy)
		}
	}
	if tests := readFile(t, dir, "error_rate_low"+testSuffix); !strings.Contains(tests, "metrics: {error_rate: null} or objects: {cert: null} is data not there: expect: inconclusive") {
		t.Errorf("the generated tests do not say how to test missing data:\n%s", tests)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
