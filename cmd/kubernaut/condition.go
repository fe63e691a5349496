package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"kubernaut.io/stepvalidation/conditions"
)

func newConditionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "condition",
		Short: "Evaluate, unit-test and generate condition policies, and read their input from the cluster",
		Long: `Work with the Rego policies behind pre- and postconditions.

Policies are compiled and evaluated exactly as the manager does: each policy on its
own, queried at data.<its package>.allow, in a sandbox without http.send, net.* or
opa.runtime, with a deadline. A policy passes when allow is true; error_message,
message or a deny set explain a failure.

` + exitHelpMsg,
		Example: `  kubernaut condition generate --action scale_deployment --type precondition --check replicas_sane --out policies/
  kubernaut condition test policies/
  kubernaut condition input --action scale_deployment --params '{"deployment": {"name": "web", "namespace": "production", "replicas": 5}}' > facts.json
  kubernaut condition eval --policy policies/replicas_sane.rego --input facts.json`,
	}
	cmd.AddCommand(newConditionEvalCommand(), newConditionTestCommand(), newConditionGenerateCommand(), newConditionInputCommand())
	return cmd
}

// verdict is how the CLI and test files name an outcome.
func verdict(o conditions.Outcome) string {
	switch o {
	case conditions.Passed:
		return "allow"
	case conditions.Failed:
		return "deny"
	case conditions.Inconclusive:
		return "inconclusive"
	}
	return "error"
}

// loadPolicy reads and compiles a policy file, or an embedded policy by condition
// type when path is empty. Errors have exit code 2.
func loadPolicy(ctx context.Context, engine *conditions.Engine, path, embedded string) (*conditions.Policy, string, error) {
	var name, source string
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, "", usageErrorf("cannot read the policy: %w", err)
		}
		name, source = path, string(data)
	} else {
		var ok bool
		if source, ok = conditions.EmbeddedPolicies()[embedded]; !ok {
			return nil, "", unknownEmbedded(embedded)
		}
		name = "embedded " + embedded
	}
	p, err := engine.Compile(ctx, name, source)
	if err != nil {
		var ce *conditions.CompileError
		if errors.As(err, &ce) {
			return nil, "", usageErrorf("%s does not compile:\n  %s", name, strings.Join(problemLines(ce), "\n  "))
		}
		return nil, "", usageErrorf("%s does not compile: %w", name, err)
	}
	return p, name, nil
}

func problemLines(ce *conditions.CompileError) []string {
	lines := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		lines[i] = p.String()
	}
	return lines
}

func embeddedNames() []string {
	var names []string
	for name := range conditions.EmbeddedPolicies() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func unknownEmbedded(name string) error {
	if near := closest(name, embeddedNames()); near != "" {
		return usageErrorf("no embedded policy for condition type %s; did you mean %s? kubernaut catalog show ACTION lists the suggested condition types", name, near)
	}
	return usageErrorf("no embedded policy for condition type %s; kubernaut catalog show ACTION lists the suggested condition types", name)
}

// readDocument reads a JSON or YAML object from path, or from stdin when path is "-".
func readDocument(path string, stdin io.Reader) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the input: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("the input %s is not a JSON or YAML object: %w%s", path, err, nonFiniteHint(err))
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, nil
}

func newConditionEvalCommand() *cobra.Command {
	var policyPath, embedded, inputPath, output string
	cmd := &cobra.Command{
		Use:   "eval --policy P.rego --input FACTS.json",
		Short: "Evaluate one policy on one input document",
		Long: `Evaluate one policy on one input document (the facts a condition sees, JSON or
YAML; - reads it from stdin) and print the outcome with its reason and message:

  allow         allow was true                            (reason PolicyAllowed)
  deny          allow was false or undefined; the message is the policy's
                error_message, message or deny set        (reason PolicyNotAllowed)
  error         the policy could not decide: a fact it reads is missing
                (MissingFacts), allow is not a boolean, a built-in failed, or the
                deadline passed
  inconclusive  a metrics value or object of the input is null: the data the
                condition declares was not there, so the policy is not evaluated
                (NoMetricsData, ObjectMissing)

kubernaut catalog show ACTION lists the input keys of an action; kubernaut
condition input prints the document the manager would gather now for an action or
a run's step.

` + declaredHelp + `

Exit codes:
  0  allow
  1  deny, error or inconclusive
  2  usage error, unreadable file or input, or a policy that does not compile`,
		Example: `  kubernaut condition eval --policy deployment_exists.rego --input facts.json
  kubernaut condition input --run wfe/scale-web-app --step 1 | kubernaut condition eval --policy p.rego --input -
  kubernaut condition eval --embedded deployment_exists --input facts.yaml -o json
  echo '{"metrics": {"error_rate": null}}' | kubernaut condition eval --policy error_rate_low.rego --input -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (policyPath == "") == (embedded == "") {
				return usageErrorf("give the policy with --policy FILE.rego or --embedded CONDITION_TYPE (one of them)")
			}
			if inputPath == "" {
				return usageErrorf("give the input document with --input FILE (JSON or YAML), or --input - for stdin")
			}
			if output != "" && output != "json" && output != "yaml" {
				return usageErrorf("unknown output format %q; use -o json or -o yaml, or leave it out for text", output)
			}
			doc, err := readDocument(inputPath, cmd.InOrStdin())
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			engine := conditions.NewEngine(conditions.Options{})
			p, _, err := loadPolicy(cmd.Context(), engine, policyPath, embedded)
			if err != nil {
				return err
			}
			r, err := evaluateOffline(cmd.Context(), engine, p, doc)
			if err != nil {
				return usageErrorf("the input %s: %w", inputPath, err)
			}
			if output != "" {
				err = printStructured(cmd.OutOrStdout(), output, map[string]any{
					"outcome": verdict(r.Outcome), "reason": r.Reason, "message": r.Message,
					"package": p.Package, "durationMicros": r.Duration.Microseconds(),
				})
			} else {
				out := newPrinter(cmd.OutOrStdout())
				out.printf("%s (%s) package %s in %s\n", verdict(r.Outcome), r.Reason, p.Package, r.Duration.Round(time.Microsecond))
				if r.Message != "" {
					out.printf("message: %s\n", r.Message)
				}
				err = out.done()
			}
			if err != nil {
				return err
			}
			if !r.Passed() {
				return silentExit(exitFailed)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&policyPath, "policy", "p", "", "the policy file (.rego)")
	cmd.Flags().StringVar(&embedded, "embedded", "", "evaluate the manager's embedded policy of this condition type instead, e.g. deployment_exists")
	cmd.Flags().StringVarP(&inputPath, "input", "i", "", "the input document, JSON or YAML; - for stdin")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	return cmd
}
