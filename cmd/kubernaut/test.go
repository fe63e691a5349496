package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"kubernaut.io/stepvalidation/conditions"
)

// testSuffix names a test file: the tests of foo.rego are in foo_test.yaml.
const testSuffix = "_test.yaml"

// testFile is the format of a policy's test file, FOO_test.yaml beside FOO.rego.
type testFile struct {
	// Policy is the policy file to test, relative to the test file; default: the
	// .rego file of the same base name. With --embedded, a test file without a
	// policy file beside it tests the embedded policy of its base name.
	Policy string     `json:"policy,omitempty"`
	Cases  []testCase `json:"cases"`
}

// testCase is one evaluation and what it should decide.
type testCase struct {
	Name string `json:"name"`
	// Input is the facts document; InputFile a JSON or YAML file holding it,
	// relative to the test file.
	Input     map[string]any `json:"input,omitempty"`
	InputFile string         `json:"inputFile,omitempty"`
	// Expect is allow, deny, error or inconclusive.
	Expect string `json:"expect"`
	// Message, when set, must be a substring of the result's message.
	Message string `json:"message,omitempty"`
	// Reason, when set, must equal the result's reason, e.g. MissingFacts.
	Reason string `json:"reason,omitempty"`
}

// testSummary counts what a test run saw.
type testSummary struct {
	passed, failed, broken, files, untested int
}

func newConditionTestCommand() *cobra.Command {
	var embedded bool
	var runPattern string
	cmd := &cobra.Command{
		Use:   "test [DIR|FILE_test.yaml]...",
		Short: "Run policy unit tests (FOO_test.yaml beside FOO.rego)",
		Long: `Run the unit tests of condition policies, like opa test or gator verify.

Each policy FOO.rego is tested by FOO_test.yaml in the same directory:

  # policy: other.rego          # optional; default FOO.rego beside this file
  cases:
    - name: deployment found
      input:                     # the facts document the condition sees
        deployment_found: true
        deployment_name: web
        namespace: production
      expect: allow              # allow | deny | error | inconclusive
    - name: deployment missing
      input: {deployment_found: false, deployment_name: web, namespace: production}
      expect: deny
      message: not found         # optional: a substring of the failure message
    - name: facts missing
      inputFile: testdata/empty.json   # optional: the input from a JSON/YAML file
      expect: error
      reason: MissingFacts       # optional: the exact reason

A condition that declares Prometheus queries or objects reads them as
input.metrics.<name> and input.objects.<key>; a case gives them in its input, and
null for data that was not there (kubernaut condition eval --help describes them):

    - name: error rate low
      input: {metrics: {error_rate: 0.002}}
      expect: allow
    - name: no traffic, no data    # the query returned nothing, NaN or Inf
      input: {metrics: {error_rate: null}}
      expect: inconclusive
      reason: NoMetricsData
    - name: certificate missing
      input: {objects: {cert: null}}
      expect: inconclusive       # reason ObjectMissing

Directories are searched recursively. Every .rego file found is compiled, with or
without tests. kubernaut condition generate writes a policy with its test file.

--embedded tests the manager's embedded policies: every one is compiled, and a test
file FOO_test.yaml with no FOO.rego beside it tests the embedded policy of condition
type FOO.

Each case is reported as PASS or FAIL with the outcome, reason and message; a
summary line ends the run.

Exit codes:
  0  every case passed
  1  a case failed
  2  usage error, unreadable or malformed test file, or a policy that does not compile`,
		Example: `  kubernaut condition test policies/
  kubernaut condition test policies/replicas_sane_test.yaml
  kubernaut condition test --run 'missing' policies/
  kubernaut condition test --embedded
  kubernaut condition test --embedded my-tests-of-the-defaults/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !embedded {
				return usageErrorf("give a directory or test file to test, e.g. kubernaut condition test policies/, or --embedded for the manager's embedded policies")
			}
			var filter *regexp.Regexp
			if runPattern != "" {
				var err error
				if filter, err = regexp.Compile(runPattern); err != nil {
					return usageErrorf("--run %q is not a regular expression: %w", runPattern, err)
				}
			}
			t := &tester{ctx: cmd.Context(), out: newPrinter(cmd.OutOrStdout()), engine: conditions.NewEngine(conditions.Options{}),
				embedded: embedded, filter: filter}
			if embedded {
				t.compileEmbedded()
			}
			for _, arg := range args {
				t.testPath(arg)
			}
			s := t.sum
			t.out.printf("\n%d passed, %d failed, %d broken (test files or policies that could not be used) in %d test files",
				s.passed, s.failed, s.broken, s.files)
			if s.untested > 0 {
				t.out.printf("; %d policies without tests", s.untested)
			}
			t.out.println()
			if err := t.out.done(); err != nil {
				return err
			}
			switch {
			case s.broken > 0:
				return silentExit(exitUsage)
			case s.failed > 0:
				return silentExit(exitFailed)
			case s.passed == 0 && s.files == 0 && !embedded:
				return usageErrorf("no test files (*%s) found in %s; kubernaut condition generate writes a policy with its test file", testSuffix, strings.Join(args, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&embedded, "embedded", false, "compile the manager's embedded policies, and test them with test files that have no policy beside them")
	cmd.Flags().StringVar(&runPattern, "run", "", "run only the cases whose name matches this regular expression")
	return cmd
}

// tester runs test files and counts the results.
type tester struct {
	ctx      context.Context
	out      *printer
	engine   *conditions.Engine
	embedded bool
	filter   *regexp.Regexp
	sum      testSummary
}

func (t *tester) broken(what string, err error) {
	t.sum.broken++
	t.out.printf("BROKEN %s: %v\n", what, err)
}

// compileEmbedded compiles every embedded policy.
func (t *tester) compileEmbedded() {
	policies := conditions.EmbeddedPolicies()
	ok := 0
	for _, name := range embeddedNames() {
		if _, err := t.engine.Compile(t.ctx, name, policies[name]); err != nil {
			t.broken("embedded policy "+name, err)
			continue
		}
		ok++
	}
	t.out.printf("embedded policies: %d of %d compile\n", ok, len(policies))
}

// testPath tests a directory recursively, or one test file.
func (t *tester) testPath(path string) {
	info, err := os.Stat(path)
	if err != nil {
		t.broken(path, err)
		return
	}
	if !info.IsDir() {
		if !strings.HasSuffix(path, testSuffix) {
			t.broken(path, fmt.Errorf("not a test file: its name must end in %s", testSuffix))
			return
		}
		t.testFile(path)
		return
	}
	tested := map[string]bool{} // policy files a test file covered
	var regos []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
		case strings.HasSuffix(p, testSuffix):
			if policy := t.testFile(p); policy != "" {
				tested[filepath.Clean(policy)] = true
			}
		case strings.HasSuffix(p, ".rego"):
			regos = append(regos, p)
		}
		return nil
	})
	if err != nil {
		t.broken(path, err)
	}
	for _, p := range regos {
		if tested[filepath.Clean(p)] {
			continue
		}
		t.sum.untested++
		if _, _, err := loadPolicy(t.ctx, t.engine, p, ""); err != nil {
			t.broken(p, err)
		} else {
			t.out.printf("?      %s: compiles, no test file (%s)\n", p, strings.TrimSuffix(filepath.Base(p), ".rego")+testSuffix)
		}
	}
}

// testFile runs the cases of one test file and returns the policy file it tested
// ("" for an embedded policy, or when it could not).
func (t *tester) testFile(path string) string {
	t.sum.files++
	data, err := os.ReadFile(path)
	if err != nil {
		t.broken(path, err)
		return ""
	}
	var tf testFile
	if err := yaml.UnmarshalStrict(data, &tf); err != nil {
		t.broken(path, fmt.Errorf("not a test file (cases: [{name, input, expect: allow|deny|error|inconclusive, message}]): %w%s", err, nonFiniteHint(err)))
		return ""
	}
	dir := filepath.Dir(path)
	base := strings.TrimSuffix(filepath.Base(path), testSuffix)
	policyPath, embedded := filepath.Join(dir, base+".rego"), ""
	if tf.Policy != "" {
		policyPath = filepath.Join(dir, tf.Policy)
	} else if _, err := os.Stat(policyPath); err != nil && t.embedded {
		policyPath, embedded = "", base
	}
	p, name, err := loadPolicy(t.ctx, t.engine, policyPath, embedded)
	if err != nil {
		if policyPath != "" && tf.Policy == "" && !t.embedded {
			if _, statErr := os.Stat(policyPath); statErr != nil {
				err = fmt.Errorf("no policy %s for it; write one, set policy: in the test file, or use --embedded to test the embedded policy %s", policyPath, base)
			}
		}
		t.broken(path, err)
		return policyPath // reported already, not again as a policy without tests
	}
	if len(tf.Cases) == 0 {
		t.broken(path, fmt.Errorf("no cases; add cases: [{name, input, expect: allow|deny|error}]"))
		return policyPath
	}
	t.out.printf("%s (%s, package %s)\n", path, name, p.Package)
	for i, c := range tf.Cases {
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if t.filter != nil && !t.filter.MatchString(c.Name) {
			continue
		}
		t.runCase(dir, p, c)
	}
	return policyPath
}

func (t *tester) runCase(dir string, p *conditions.Policy, c testCase) {
	fail := func(format string, args ...any) {
		t.sum.failed++
		t.out.printf("  FAIL %s: %s\n", c.Name, fmt.Sprintf(format, args...))
	}
	if !slices.Contains([]string{"allow", "deny", "error", "inconclusive"}, c.Expect) {
		t.sum.broken++
		t.out.printf("  BROKEN %s: expect is %q; use allow, deny, error or inconclusive\n", c.Name, c.Expect)
		return
	}
	input := c.Input
	if c.InputFile != "" {
		if c.Input != nil {
			t.sum.broken++
			t.out.printf("  BROKEN %s: give input or inputFile, not both\n", c.Name)
			return
		}
		doc, err := readDocument(filepath.Join(dir, c.InputFile), nil)
		if err != nil {
			t.sum.broken++
			t.out.printf("  BROKEN %s: %v\n", c.Name, err)
			return
		}
		input = doc
	}
	if input == nil {
		input = map[string]any{}
	}
	r, err := evaluateOffline(t.ctx, t.engine, p, input)
	if err != nil {
		t.sum.broken++
		t.out.printf("  BROKEN %s: input: %v\n", c.Name, err)
		return
	}
	got := verdict(r.Outcome)
	detail := r.Reason
	if r.Message != "" {
		detail += ": " + r.Message
	}
	switch {
	case got != c.Expect:
		fail("expected %s, got %s (%s)", c.Expect, got, detail)
	case c.Reason != "" && r.Reason != c.Reason:
		fail("expected reason %s, got %s", c.Reason, detail)
	case c.Message != "" && !strings.Contains(r.Message, c.Message):
		fail("expected a message containing %q, got %q", c.Message, r.Message)
	default:
		t.sum.passed++
		t.out.printf("  PASS %s: %s (%s)\n", c.Name, got, detail)
	}
}
