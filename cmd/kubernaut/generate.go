package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
)

// The keys of the data a condition declares beside its facts, as the generated
// header lists them.
const (
	metricsKey = "metrics.<name>"
	objectsKey = "objects.<key>"
)

// checkName is what a condition type looks like: snake_case, usable as a segment of
// a Rego package.
var checkName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func newConditionGenerateCommand() *cobra.Command {
	var action, kind, check, outDir string
	var force bool
	cmd := &cobra.Command{
		Use:   "generate --action ACTION --type precondition|postcondition --check NAME",
		Short: "Write a policy skeleton and its test file for an action",
		Long: `Write NAME.rego, a policy skeleton for a condition of ACTION, and NAME_test.yaml,
its unit tests, into --out (default: the current directory).

The policy is in package <type>.<NAME> and defines allow and error_message. Its
comments list the action's input keys with what each means. Its allow rule is a
placeholder over one of those keys, so that the generated tests pass as written:
replace it with your check, then adjust the tests. The test file has a passing case
whose input holds a sample of every input key, and a failing one.

Then:
  kubernaut condition test DIR                       # run the tests
  kubernaut condition eval --policy DIR/NAME.rego --input facts.json

Put the policy in a step's preConditions/postConditions (type: NAME, rego: ...), or
into the kubernaut-workflow-conditions ConfigMap under the key NAME.rego.

Existing files are not overwritten without --force.

` + exitHelpMsg,
		Example: `  kubernaut condition generate --action scale_deployment --type precondition --check replicas_within_budget
  kubernaut condition generate --action drain_node --type postcondition --check node_empty --out policies/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := lookupAction(action)
			if err != nil {
				return err
			}
			if kind != "precondition" && kind != "postcondition" {
				return usageErrorf("--type is %q; use --type precondition (checked before the action) or --type postcondition (verified after it)", kind)
			}
			if !checkName.MatchString(check) {
				return usageErrorf("--check %q is not a condition type: use snake_case letters, digits and _, starting with a letter, e.g. --check replicas_within_budget", check)
			}
			g := generated{action: a, kind: kind, check: check}
			policy, tests := g.policy(), g.tests()
			// The skeleton must compile and pass its own tests; a failure here is a bug.
			if _, err := conditions.NewEngine(conditions.Options{}).Compile(cmd.Context(), check, policy); err != nil {
				return fmt.Errorf("internal error: the generated policy does not compile: %w", err)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return usageErrorf("cannot create --out %s: %w", outDir, err)
			}
			files := map[string]string{
				filepath.Join(outDir, check+".rego"):    policy,
				filepath.Join(outDir, check+testSuffix): tests,
			}
			order := []string{filepath.Join(outDir, check+".rego"), filepath.Join(outDir, check+testSuffix)}
			if !force {
				for _, f := range order {
					if _, err := os.Stat(f); err == nil {
						return usageErrorf("%s exists; use --force to overwrite it, or another --check or --out", f)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return usageErrorf("cannot write %s: %w", f, err)
					}
				}
			}
			for _, f := range order {
				if err := os.WriteFile(f, []byte(files[f]), 0o644); err != nil {
					return usageErrorf("cannot write %s: %w", f, err)
				}
			}
			out := newPrinter(cmd.OutOrStdout())
			out.printf("wrote %s\nwrote %s\n", order[0], order[1])
			if _, ok := conditions.EmbeddedPolicies()[check]; ok {
				out.printf("note: the manager ships a policy for %s already; see it with kubernaut condition eval --embedded %s, or shadow it in the kubernaut-workflow-conditions ConfigMap\n", check, check)
			}
			out.printf("next: replace the placeholder allow rule, then run kubernaut condition test %s\n", outDir)
			return out.done()
		},
	}
	cmd.Flags().StringVarP(&action, "action", "a", "", "the catalog action the condition guards, e.g. scale_deployment (kubernaut catalog list)")
	cmd.Flags().StringVarP(&kind, "type", "t", "precondition", "precondition or postcondition")
	cmd.Flags().StringVarP(&check, "check", "c", "", "the condition type, snake_case, e.g. replicas_within_budget")
	cmd.Flags().StringVar(&outDir, "out", ".", "directory to write NAME.rego and NAME_test.yaml into")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	_ = cmd.MarkFlagRequired("action")
	_ = cmd.MarkFlagRequired("check")
	_ = cmd.RegisterFlagCompletionFunc("action", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return catalog.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// generated is one generator run.
type generated struct {
	action *catalog.Action
	kind   string // precondition | postcondition
	check  string
}

// placeholder is the fact the skeleton's allow rule reads, with the Rego test, and
// the values that pass and fail it.
type placeholder struct {
	key, test, describe string
	pass, fail          any
}

// factKind is the JSON type a fact's glossary entry starts with.
func factKind(key string) string {
	desc := catalog.FactDescription(key)
	for _, kind := range []string{"boolean", "integer", "string", "object", "array"} {
		if strings.HasPrefix(desc, kind) {
			return kind
		}
	}
	return ""
}

func (g generated) placeholder() placeholder {
	for _, kind := range []string{"boolean", "integer"} {
		for _, key := range g.action.FactKeys() {
			if factKind(key) != kind {
				continue
			}
			if kind == "boolean" {
				return placeholder{key: key, test: "input." + key + " == true", describe: key + " is true", pass: true, fail: false}
			}
			return placeholder{key: key, test: "input." + key + " > 0", describe: key + " is above 0", pass: 1, fail: 0}
		}
	}
	return placeholder{key: "action", test: fmt.Sprintf("input.action == %q", g.action.Name),
		describe: "the action is " + g.action.Name, pass: g.action.Name, fail: "another_action"}
}

func (g generated) phase() string {
	if g.kind == "postcondition" {
		return "post"
	}
	return "pre"
}

func (g generated) policy() string {
	var b strings.Builder
	ph := g.placeholder()
	when := "before the action runs"
	if g.kind == "postcondition" {
		when = "after the action ran, again as what it reads changes, until it passes or its timeout ends"
	}
	fmt.Fprintf(&b, "# Condition %s: a %s of %s, evaluated %s.\n", g.check, g.kind, g.action.Name, when)
	fmt.Fprintf(&b, "# Generated by: kubernaut condition generate --action %s --type %s --check %s\n", g.action.Name, g.kind, g.check)
	b.WriteString("#\n# The condition passes when allow is true. Otherwise error_message says why; it\n")
	b.WriteString("# becomes the condition's errorMessage in the execution's status. A fact the\n")
	b.WriteString("# allow rule reads that is missing from the input makes the condition error\n")
	b.WriteString("# (MissingFacts) rather than fail.\n#\n")
	fmt.Fprintf(&b, "# Input keys of %s (kubernaut catalog show %s):\n", g.action.Name, g.action.Name)
	width := len(metricsKey)
	for _, k := range g.action.FactKeys() {
		width = max(width, len(k))
	}
	line := func(key, desc string) { fmt.Fprintf(&b, "#   input.%-*s  %s\n", width, key, desc) }
	for _, k := range g.action.FactKeys() {
		line(k, catalog.FactDescription(k))
	}
	line("action", "string: the action's name, "+g.action.Name)
	line("parameters", "object: the step's parameters, as in the workflow")
	line("phase", `string: "pre" for preconditions, "post" for postconditions`)
	b.WriteString("# and, when the condition declares them beside its rego:\n")
	line(metricsKey, "number, or object from label set to number: a Prometheus query of the condition's metrics: [{name, query}], run by the manager")
	line(objectsKey, "object: the JSON of an object in the condition's objects: [{key, apiVersion, kind, name}], without managedFields, read by the manager if the requester may get it")
	b.WriteString("# Without that data (an empty, NaN or Inf result, no answer from Prometheus, a\n")
	b.WriteString("# missing object) the condition is inconclusive and this policy is not evaluated.\n")
	fmt.Fprintf(&b, "#\n# Test: kubernaut condition test DIR (the cases are in %s%s)\n\n", g.check, testSuffix)
	fmt.Fprintf(&b, "package %s.%s\n\n", g.kind, g.check)
	fmt.Fprintf(&b, "# PLACEHOLDER: replace this rule with your check. As generated it allows when\n# %s.\n", ph.describe)
	fmt.Fprintf(&b, "allow if {\n\t%s\n}\n\n", ph.test)
	fmt.Fprintf(&b, "error_message := msg if {\n\tnot allow\n\tmsg := sprintf(\"%s: %s is %%v, want %v\", [input.%s])\n}\n",
		g.check, ph.key, ph.pass, ph.key)
	return b.String()
}

func (g generated) tests() string {
	ph := g.placeholder()
	sample := g.sampleInput()
	var b strings.Builder
	fmt.Fprintf(&b, "# Tests of %s.rego: kubernaut condition test DIR\n", g.check)
	b.WriteString("# Each case: name, input (the facts document), expect: allow | deny | error | inconclusive,\n")
	b.WriteString("# and optionally message (a substring of the failure message) or reason (e.g. MissingFacts).\n")
	b.WriteString("# A condition with metrics or objects: give them in the input, e.g. metrics: {error_rate: 0.002};\n")
	b.WriteString("# metrics: {error_rate: null} or objects: {cert: null} is data not there: expect: inconclusive.\n")
	b.WriteString("# The inputs hold a sample of every input key of the action; adjust them to your check.\n")
	b.WriteString("cases:\n")
	writeCase := func(name, expect, message string, changes map[string]any) {
		fmt.Fprintf(&b, "  - name: %s\n    expect: %s\n", name, expect)
		if message != "" {
			fmt.Fprintf(&b, "    message: %s\n", jsonString(message))
		}
		b.WriteString("    input:\n")
		for _, k := range append([]string{"action", "phase", "parameters"}, g.action.FactKeys()...) {
			v := sample[k]
			if c, ok := changes[k]; ok {
				v = c
			}
			fmt.Fprintf(&b, "      %s: %s\n", k, jsonString(v))
		}
	}
	writeCase("passes when "+ph.describe, "allow", "", nil)
	writeCase(fmt.Sprintf("fails when %s is %v", ph.key, ph.fail), "deny", fmt.Sprintf("%s is %v", ph.key, ph.fail),
		map[string]any{ph.key: ph.fail})
	fmt.Fprintf(&b, "  - name: errors when %s is missing\n    expect: error\n    reason: %s\n    input: {}\n", ph.key, conditions.ReasonMissingFacts)
	return b.String()
}

// jsonString renders v as JSON, which YAML reads as a flow value.
func jsonString(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// sampleInput is a facts document with a plausible value for every input key of the
// action.
func (g generated) sampleInput() map[string]any {
	in := map[string]any{
		"action":     g.action.Name,
		"phase":      g.phase(),
		"parameters": sampleObject(g.action.Parameters),
	}
	for _, k := range g.action.FactKeys() {
		in[k] = sampleFact(k)
	}
	if ph := g.placeholder(); ph.key != "action" {
		in[ph.key] = ph.pass
	}
	return in
}

func sampleFact(key string) any {
	desc := catalog.FactDescription(key)
	switch factKind(key) {
	case "boolean":
		return true
	case "integer":
		if strings.HasPrefix(key, "additional_") {
			return 0 // target_replicas minus current_replicas, both 3
		}
		return 3
	case "object":
		if key == "conditions" {
			return map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false}
		}
		return map[string]any{}
	case "array":
		return []any{}
	}
	switch {
	case strings.Contains(desc, `"NNNm"`):
		return "500m"
	case strings.Contains(desc, `"NNNMi"`):
		return "512Mi"
	case key == "namespace":
		return "production"
	case strings.HasSuffix(key, "name"):
		return "web"
	}
	return "example"
}

func sampleObject(fields []catalog.Field) map[string]any {
	obj := map[string]any{}
	for _, f := range fields {
		if f.Required {
			obj[f.Name] = sampleValue(f)
		}
	}
	return obj
}

func sampleValue(f catalog.Field) any {
	switch f.Type {
	case catalog.Object:
		return sampleObject(f.Fields)
	case catalog.StringMap:
		return map[string]any{"key": "value"}
	case catalog.AnyObject:
		return map[string]any{}
	case catalog.Boolean:
		return false
	case catalog.Integer:
		n := int64(3)
		if f.Min != nil && n < *f.Min {
			n = *f.Min
		}
		if f.Max != nil && n > *f.Max {
			n = *f.Max
		}
		return n
	}
	if len(f.Enum) > 0 {
		return f.Enum[0]
	}
	switch f.Format {
	case catalog.Quantity:
		return "500m"
	case catalog.Image:
		return "registry.example/web:1.2"
	case catalog.LabelKey:
		return "example.com/key"
	case catalog.DNSLabel:
		if f.Name == "namespace" {
			return "production"
		}
	}
	return "web"
}
