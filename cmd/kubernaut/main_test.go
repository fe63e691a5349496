package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
)

// kubernaut runs the command line in-process and returns its exit code and output.
func kubernaut(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const policyReplicas = `package precondition.replicas_limit

allow if input.target_replicas <= 10

error_message := sprintf("%d replicas is more than 10", [input.target_replicas]) if not allow
`

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	policy := writeFile(t, dir, "replicas_limit.rego", policyReplicas)
	bad := writeFile(t, dir, "bad.rego", "package x\n\nallow if { http.send({\"url\": \"http://x\"}) }\n")
	noAllow := writeFile(t, dir, "noallow.rego", "package x\n\nok := true\n")
	small := writeFile(t, dir, "small.json", `{"target_replicas": 3}`)
	large := writeFile(t, dir, "large.yaml", "target_replicas: 30\n")
	notObject := writeFile(t, dir, "list.json", `[1, 2]`)

	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		stdout   []string // substrings of stdout
		stderr   []string // substrings of stderr
	}{
		{name: "no command prints help", args: nil, stdout: []string{"Usage:", "Exit codes:"}},
		{name: "unknown command", args: []string{"condtion"}, wantCode: 2, stderr: []string{"unknown command"}},
		{name: "version", args: []string{"version"}, stdout: []string{"kubernaut dev\n"}},
		{name: "--version", args: []string{"--version"}, stdout: []string{"kubernaut dev\n"}},

		{name: "catalog list", args: []string{"catalog", "list"}, stdout: []string{"ACTION", "scale_deployment", "Sets the replica count"}},
		{name: "catalog list json", args: []string{"catalog", "list", "-o", "json"}, stdout: []string{`"name": "drain_node"`}},
		{name: "catalog list bad output", args: []string{"catalog", "list", "-o", "xml"}, wantCode: 2, stderr: []string{"-o json or -o yaml"}},
		{name: "catalog list extra argument", args: []string{"catalog", "list", "x"}, wantCode: 2},
		{name: "catalog show", args: []string{"catalog", "show", "scale_deployment"}, stdout: []string{
			"deployment.replicas", "0..1000", "deployments/scale", "step pre", "deployment_exists", "10s",
			"action post", "no_crashloop_pods", "available_cpu", `"NNNm"`,
		}},
		{name: "catalog show yaml", args: []string{"catalog", "show", "scale_deployment", "-o", "yaml"}, stdout: []string{"suggestedConditions:", "key: deployment_found"}},
		{name: "catalog show typo", args: []string{"catalog", "show", "scale_deploy"}, wantCode: 2,
			stderr: []string{"no action named scale_deploy; did you mean scale_deployment? kubernaut catalog list shows them all"}},
		{name: "catalog show nothing near", args: []string{"catalog", "show", "xyzzy"}, wantCode: 2, stderr: []string{"no action named xyzzy; kubernaut catalog list"}},
		{name: "catalog show no argument", args: []string{"catalog", "show"}, wantCode: 2, stderr: []string{"accepts 1 arg"}},

		{name: "eval allow", args: []string{"condition", "eval", "--policy", policy, "--input", small}, stdout: []string{"allow (PolicyAllowed) package precondition.replicas_limit"}},
		{name: "eval deny", args: []string{"condition", "eval", "--policy", policy, "--input", large}, wantCode: 1,
			stdout: []string{"deny (PolicyNotAllowed)", "message: 30 replicas is more than 10"}},
		{name: "eval stdin", stdin: `{}`, args: []string{"condition", "eval", "-p", policy, "-i", "-"}, wantCode: 1,
			stdout: []string{"error (MissingFacts)", "target_replicas"}},
		{name: "eval json", stdin: `{"target_replicas": 1}`, args: []string{"condition", "eval", "-p", policy, "-i", "-", "-o", "json"}, stdout: []string{`"outcome": "allow"`}},
		{name: "eval embedded", stdin: `{"deployment_found": false, "deployment_name": "web", "namespace": "prod"}`,
			args: []string{"condition", "eval", "--embedded", "deployment_exists", "-i", "-"}, wantCode: 1, stdout: []string{"Deployment web not found in namespace prod"}},
		{name: "eval embedded typo", args: []string{"condition", "eval", "--embedded", "deployment_exits", "-i", small}, wantCode: 2, stderr: []string{"did you mean deployment_exists?"}},
		{name: "eval forbidden builtin", args: []string{"condition", "eval", "-p", bad, "-i", small}, wantCode: 2, stderr: []string{"does not compile", "http.send is not allowed"}},
		{name: "eval no allow rule", args: []string{"condition", "eval", "-p", noAllow, "-i", small}, wantCode: 2, stderr: []string{"no allow rule"}},
		{name: "eval missing policy file", args: []string{"condition", "eval", "-p", filepath.Join(dir, "nope.rego"), "-i", small}, wantCode: 2, stderr: []string{"cannot read the policy"}},
		{name: "eval no policy", args: []string{"condition", "eval", "-i", small}, wantCode: 2, stderr: []string{"--policy FILE.rego or --embedded"}},
		{name: "eval no input", args: []string{"condition", "eval", "-p", policy}, wantCode: 2, stderr: []string{"--input FILE"}},
		{name: "eval input not an object", args: []string{"condition", "eval", "-p", policy, "-i", notObject}, wantCode: 2, stderr: []string{"not a JSON or YAML object"}},
		{name: "eval unknown flag", args: []string{"condition", "eval", "--polcy", policy}, wantCode: 2, stderr: []string{"unknown flag", "kubernaut condition eval --help"}},

		{name: "test embedded", args: []string{"condition", "test", "--embedded"}, stdout: []string{"embedded policies:", "compile"}},
		{name: "test embedded with test files", args: []string{"condition", "test", "--embedded", "testdata/embedded"},
			stdout: []string{"PASS the Deployment exists", "PASS the Deployment is missing", "PASS no facts", "3 passed, 0 failed, 0 broken"}},
		{name: "test embedded test files without --embedded", args: []string{"condition", "test", "testdata/embedded"}, wantCode: 2,
			stdout: []string{"BROKEN", "use --embedded"}},
		{name: "test failures", args: []string{"condition", "test", "testdata/failing"}, wantCode: 1, stdout: []string{
			"PASS within the limit", "FAIL wrong expectation: expected allow, got deny (PolicyNotAllowed: 30 replicas is more than 10)",
			`FAIL wrong message: expected a message containing "fewer than"`, "1 passed, 2 failed, 0 broken",
		}},
		{name: "test run filter", args: []string{"condition", "test", "--run", "within", "testdata/failing"}, stdout: []string{"1 passed, 0 failed"}},
		{name: "test one file", args: []string{"condition", "test", "testdata/failing/replicas_limit_test.yaml", "--run", "within"}, stdout: []string{"1 passed"}},
		{name: "test bad run pattern", args: []string{"condition", "test", "--run", "(", "testdata/failing"}, wantCode: 2, stderr: []string{"not a regular expression"}},
		{name: "test no argument", args: []string{"condition", "test"}, wantCode: 2, stderr: []string{"give a directory"}},
		{name: "test missing dir", args: []string{"condition", "test", filepath.Join(dir, "nope")}, wantCode: 2, stdout: []string{"BROKEN"}},
		{name: "test no test files", args: []string{"condition", "test", t.TempDir()}, wantCode: 2, stderr: []string{"no test files"}},

		{name: "generate unknown action", args: []string{"condition", "generate", "--action", "scale_deploy", "--check", "x"}, wantCode: 2,
			stderr: []string{"did you mean scale_deployment?"}},
		{name: "generate bad type", args: []string{"condition", "generate", "--action", "scale_deployment", "--type", "pre", "--check", "x"}, wantCode: 2,
			stderr: []string{"--type precondition"}},
		{name: "generate bad check", args: []string{"condition", "generate", "--action", "scale_deployment", "--check", "Not-Snake"}, wantCode: 2,
			stderr: []string{"snake_case"}},
		{name: "generate without check", args: []string{"condition", "generate", "--action", "scale_deployment"}, wantCode: 2,
			stderr: []string{`"check" not set`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := kubernaut(t, tt.stdin, tt.args...)
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
}

// TestGenerateRoundTrip generates a policy and its tests for every action and both
// types, and runs them: they must pass as generated.
func TestGenerateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, action := range catalog.Names() {
		for _, kind := range []string{"precondition", "postcondition"} {
			check := action + "_" + kind + "_check"
			code, stdout, stderr := kubernaut(t, "", "condition", "generate", "--action", action, "--type", kind, "--check", check, "--out", dir)
			if code != 0 {
				t.Fatalf("generate %s %s: exit code %d\n%s%s", action, kind, code, stdout, stderr)
			}
			code, stdout, stderr = kubernaut(t, "", "condition", "test", filepath.Join(dir, check+testSuffix))
			if code != 0 || !strings.Contains(stdout, "3 passed, 0 failed, 0 broken") {
				t.Errorf("test of the generated %s: exit code %d\n%s%s", check, code, stdout, stderr)
			}
			policy, err := os.ReadFile(filepath.Join(dir, check+".rego"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(policy), "package "+kind+"."+check+"\n") {
				t.Errorf("%s.rego is not in package %s.%s:\n%s", check, kind, check, policy)
			}
			a, _ := catalog.Lookup(action)
			for _, key := range a.FactKeys() {
				if !strings.Contains(string(policy), "input."+key+" ") {
					t.Errorf("%s.rego does not list the input key %s", check, key)
				}
			}
		}
	}
	// The whole directory at once.
	code, stdout, _ := kubernaut(t, "", "condition", "test", dir)
	if code != 0 || strings.Contains(stdout, "without tests") {
		t.Errorf("condition test %s: exit code %d\n%s", dir, code, stdout)
	}

	// A generated file is not overwritten without --force.
	args := []string{"condition", "generate", "--action", "scale_deployment", "--check", "scale_deployment_precondition_check", "--out", dir}
	if code, _, stderr := kubernaut(t, "", args...); code != 2 || !strings.Contains(stderr, "use --force") {
		t.Errorf("generate over an existing file: exit code %d, stderr %s", code, stderr)
	}
	if code, _, stderr := kubernaut(t, "", append(args, "--force")...); code != 0 {
		t.Errorf("generate --force: exit code %d, stderr %s", code, stderr)
	}

	// An edited policy that breaks the generated tests fails them.
	writeFile(t, dir, "scale_deployment_precondition_check.rego",
		"package precondition.scale_deployment_precondition_check\n\nallow := false\n")
	code, stdout, _ = kubernaut(t, "", "condition", "test", filepath.Join(dir, "scale_deployment_precondition_check"+testSuffix))
	if code != 1 || !strings.Contains(stdout, "FAIL passes when deployment_found is true") {
		t.Errorf("test of a broken policy: exit code %d\n%s", code, stdout)
	}
}

func TestTestFileErrors(t *testing.T) {
	for _, tt := range []struct {
		name, policy, tests, want string
	}{
		{"unknown field", policyReplicas, "cases:\n  - name: x\n    expected: allow\n", `unknown field "expected"`},
		{"bad expect", policyReplicas, "cases:\n  - name: x\n    input: {}\n    expect: pass\n", `expect is "pass"; use allow, deny, error or inconclusive`},
		{"no cases", policyReplicas, "cases: []\n", "no cases"},
		{"policy does not compile", "package x\nallow if {\n", "cases:\n  - {name: x, input: {}, expect: allow}\n", "does not compile"},
		{"input and inputFile", policyReplicas, "cases:\n  - {name: x, input: {}, inputFile: a.json, expect: allow}\n", "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "p.rego", tt.policy)
			writeFile(t, dir, "p_test.yaml", tt.tests)
			code, stdout, stderr := kubernaut(t, "", "condition", "test", dir)
			if code != 2 || !strings.Contains(stdout, tt.want) || strings.Count(stdout, "BROKEN") != 1 {
				t.Errorf("exit code %d, want 2, and output with %q\n%s%s", code, tt.want, stdout, stderr)
			}
		})
	}
}

func TestCatalogShowEveryAction(t *testing.T) {
	for _, name := range catalog.Names() {
		code, stdout, stderr := kubernaut(t, "", "catalog", "show", name, "-o", "json")
		if code != 0 {
			t.Fatalf("catalog show %s: exit code %d: %s", name, code, stderr)
		}
		var v actionView
		if err := json.Unmarshal([]byte(stdout), &v); err != nil {
			t.Fatalf("catalog show %s -o json: %v", name, err)
		}
		a, _ := catalog.Lookup(name)
		if v.Name != name || len(v.InputKeys) != len(a.Facts) || len(v.Permissions) != len(a.Permissions) {
			t.Errorf("catalog show %s: %+v", name, v)
		}
		for _, k := range v.InputKeys {
			if k.Description == "" {
				t.Errorf("catalog show %s: input key %s has no description", name, k.Key)
			}
		}
		code, stdout, _ = kubernaut(t, "", "catalog", "show", name, "-o", "yaml")
		var back actionView
		if err := yaml.Unmarshal([]byte(stdout), &back); code != 0 || err != nil || back.Name != name {
			t.Errorf("catalog show %s -o yaml: exit code %d, %v", name, code, err)
		}
	}
}

// TestHelp checks that the root, condition and catalog commands explain themselves
// with examples and exit codes. (Commands from extraCommands, such as local, are
// tested by their own files.)
func TestHelp(t *testing.T) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Name() == "help" || cmd.Name() == "completion" || cmd.Hidden {
			return
		}
		if cmd.Example == "" {
			t.Errorf("%s has no examples", cmd.CommandPath())
		}
		if !strings.Contains(cmd.Long, "Exit codes:") {
			t.Errorf("%s --help does not document exit codes", cmd.CommandPath())
		}
		args := append(strings.Fields(cmd.CommandPath())[1:], "--help")
		if code, stdout, _ := kubernaut(t, "", args...); code != 0 || !strings.Contains(stdout, "Examples:") {
			t.Errorf("kubernaut %s: exit code %d\n%s", strings.Join(args, " "), code, stdout)
		}
		if cmd.HasParent() {
			for _, sub := range cmd.Commands() {
				walk(sub)
			}
		}
	}
	root := newRootCommand()
	walk(root)
	for _, name := range []string{"condition", "catalog"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		walk(cmd)
	}
}

func TestExtraCommands(t *testing.T) {
	saved := extraCommands
	t.Cleanup(func() { extraCommands = saved })
	extraCommands = append(extraCommands, func() *cobra.Command {
		return &cobra.Command{Use: "extra", RunE: func(*cobra.Command, []string) error { return silentExit(exitFailed) }}
	})
	if code, _, _ := kubernaut(t, "", "extra"); code != 1 {
		t.Errorf("an extra command's exit code: %d, want 1", code)
	}
}

func TestClosest(t *testing.T) {
	names := catalog.Names()
	for in, want := range map[string]string{
		"scale_deploy": "scale_deployment", "drain": "drain_node", "cordon_nod": "cordon_node", "zzzz": "",
	} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEmbeddedPoliciesDecideOnSampleInput evaluates the embedded policy of every
// condition the catalog suggests on the sample input the generator writes for its
// action: each must decide (allow or deny) rather than miss a fact, so that the
// generator's samples hold every key the shipped policies read.
func TestEmbeddedPoliciesDecideOnSampleInput(t *testing.T) {
	engine := conditions.NewEngine(conditions.Options{})
	embedded := conditions.EmbeddedPolicies()
	for _, name := range catalog.Names() {
		a, _ := catalog.Lookup(name)
		for _, s := range a.SuggestedConditions() {
			source, ok := embedded[s.Type]
			if !ok {
				t.Errorf("%s suggests %s, which has no embedded policy", name, s.Type)
				continue
			}
			p, err := engine.Compile(t.Context(), s.Type, source)
			if err != nil {
				t.Errorf("embedded %s: %v", s.Type, err)
				continue
			}
			input := generated{action: a, kind: "precondition", check: s.Type}.sampleInput()
			if r := engine.Evaluate(t.Context(), p, input); r.Outcome == conditions.Errored {
				t.Errorf("%s: embedded %s on the generator's sample input: %s: %s", name, s.Type, r.Reason, r.Message)
			}
		}
	}
}
