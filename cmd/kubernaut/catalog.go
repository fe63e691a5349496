package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"kubernaut.io/stepvalidation/catalog"
)

func newCatalogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Show the remediation actions and what their conditions read",
		Long: `The action catalog: every action a workflow step may run, the schema of its
parameters, the RBAC rules of its ServiceAccount, the conditions suggested for it
(injected into new workflows), and the input keys (facts) its policies can read.

` + exitHelpMsg,
		Example: `  kubernaut catalog list
  kubernaut catalog show scale_deployment
  kubernaut catalog show scale_deployment -o yaml`,
	}
	cmd.AddCommand(newCatalogListCommand(), newCatalogShowCommand())
	return cmd
}

// outputFlag adds -o/--output to cmd and returns a function that checks its value.
func outputFlag(cmd *cobra.Command) func() (string, error) {
	var output string
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table for people)")
	return func() (string, error) {
		switch output {
		case "", "json", "yaml":
			return output, nil
		}
		return "", usageErrorf("unknown output format %q; use -o json or -o yaml, or leave it out for a table", output)
	}
}

// printStructured writes v as JSON or YAML.
func printStructured(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

func newCatalogListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the actions of the catalog",
		Long:  "List every action of the catalog with what it does.\n\n" + exitHelpMsg,
		Example: `  kubernaut catalog list
  kubernaut catalog list -o json | jq -r '.[].name'`,
		Args: cobra.NoArgs,
	}
	format := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		type entry struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		var entries []entry
		for _, name := range catalog.Names() {
			a, _ := catalog.Lookup(name)
			entries = append(entries, entry{a.Name, a.Description})
		}
		if f != "" {
			return printStructured(cmd.OutOrStdout(), f, entries)
		}
		tw := newTable(cmd.OutOrStdout())
		tw.println("ACTION\tDESCRIPTION")
		for _, e := range entries {
			tw.printf("%s\t%s\n", e.Name, e.Description)
		}
		return tw.done()
	}
	return cmd
}

// actionView is what catalog show prints, and its JSON/YAML form.
type actionView struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  []parameterView `json:"parameters"`
	Permissions []ruleView      `json:"permissions"`
	Conditions  conditionsView  `json:"suggestedConditions"`
	InputKeys   []inputKeyView  `json:"inputKeys"`
	Reversible  bool            `json:"reversible"`
}

type parameterView struct {
	Name        string   `json:"name"` // dotted path, e.g. deployment.replicas
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Min         *int64   `json:"min,omitempty"`
	Max         *int64   `json:"max,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Format      string   `json:"format,omitempty"`
	Description string   `json:"description,omitempty"`
}

type ruleView struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

type conditionsView struct {
	StepPre  []suggestedView `json:"stepPreConditions"`
	StepPost []suggestedView `json:"stepPostConditions"`
	Pre      []suggestedView `json:"preConditions"`
	Post     []suggestedView `json:"postConditions"`
}

type suggestedView struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
	Timeout     string `json:"timeout"`
}

type inputKeyView struct {
	Key         string `json:"key"`
	Description string `json:"description"`
}

func viewAction(a *catalog.Action) actionView {
	v := actionView{Name: a.Name, Description: a.Description, Reversible: a.Inverse != nil,
		Parameters: []parameterView{}, Permissions: []ruleView{}, InputKeys: []inputKeyView{}}
	var walk func(prefix string, fields []catalog.Field)
	walk = func(prefix string, fields []catalog.Field) {
		for _, f := range fields {
			v.Parameters = append(v.Parameters, parameterView{
				Name: prefix + f.Name, Type: string(f.Type), Required: f.Required, Min: f.Min, Max: f.Max,
				Enum: f.Enum, Format: string(f.Format), Description: f.Description,
			})
			walk(prefix+f.Name+".", f.Fields)
		}
	}
	walk("", a.Parameters)
	for _, r := range a.Permissions {
		v.Permissions = append(v.Permissions, ruleView{APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs})
	}
	suggested := func(ss []catalog.Suggested) []suggestedView {
		out := []suggestedView{}
		for _, s := range ss {
			out = append(out, suggestedView{Type: s.Type, Description: s.Description, Required: s.Required, Timeout: s.Timeout.String()})
		}
		return out
	}
	v.Conditions = conditionsView{StepPre: suggested(a.StepPreConditions), StepPost: suggested(a.StepPostConditions),
		Pre: suggested(a.PreConditions), Post: suggested(a.PostConditions)}
	for _, f := range a.Facts {
		v.InputKeys = append(v.InputKeys, inputKeyView{Key: f.Key, Description: f.Description})
	}
	return v
}

// lookupAction finds an action or says what the user may have meant.
func lookupAction(name string) (*catalog.Action, error) {
	if name == "" {
		return nil, usageErrorf("no action given; kubernaut catalog list shows them all")
	}
	if a, ok := catalog.Lookup(name); ok {
		return a, nil
	}
	if near := closest(name, catalog.Names()); near != "" {
		return nil, usageErrorf("no action named %s; did you mean %s? kubernaut catalog list shows them all", name, near)
	}
	return nil, usageErrorf("no action named %s; kubernaut catalog list shows them all", name)
}

func newCatalogShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ACTION",
		Short: "Show an action's parameters, permissions, suggested conditions and input keys",
		Long: `Show one action of the catalog:
  - its parameters, with type, whether required, and allowed ranges or values;
  - the RBAC rules its ServiceAccount needs;
  - the conditions suggested for it, per level (workflow step, KubernetesExecution),
    with whether each is required and its timeout;
  - the input keys (facts) its condition policies can read, with what each means.

` + exitHelpMsg,
		Example: `  kubernaut catalog show scale_deployment
  kubernaut catalog show drain_node -o yaml
  kubernaut catalog show scale_deployment -o json | jq -r '.inputKeys[].key'`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return catalog.Names(), cobra.ShellCompDirectiveNoFileComp
		},
	}
	format := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		a, err := lookupAction(args[0])
		if err != nil {
			return err
		}
		v := viewAction(a)
		if f != "" {
			return printStructured(cmd.OutOrStdout(), f, v)
		}
		return printAction(cmd.OutOrStdout(), v)
	}
	return cmd
}

func printAction(w io.Writer, v actionView) error {
	tw := newTable(w)
	tw.printf("Action:\t%s\n", v.Name)
	tw.printf("Description:\t%s\n", v.Description)
	reversible := "no"
	if v.Reversible {
		reversible = "yes (the catalog's inverse, from what the executor records before acting)"
	}
	tw.printf("Rollback:\t%s\n", reversible)

	tw.println("\nParameters:")
	tw.println("  NAME\tTYPE\tREQUIRED\tCONSTRAINTS\tDESCRIPTION")
	for _, p := range v.Parameters {
		tw.printf("  %s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, yesNo(p.Required), constraints(p), p.Description)
	}

	tw.println("\nPermissions (of the action's ServiceAccount):")
	tw.println("  API GROUPS\tRESOURCES\tVERBS")
	for _, r := range v.Permissions {
		groups := slices.Clone(r.APIGroups)
		for i, g := range groups {
			if g == "" {
				groups[i] = `"" (core)`
			}
		}
		tw.printf("  %s\t%s\t%s\n", strings.Join(groups, ","), strings.Join(r.Resources, ","), strings.Join(r.Verbs, ","))
	}

	tw.println("\nSuggested conditions:")
	tw.println("  LEVEL\tTYPE\tREQUIRED\tTIMEOUT\tDESCRIPTION")
	for _, level := range []struct {
		name string
		ss   []suggestedView
	}{
		{"step pre", v.Conditions.StepPre}, {"step post", v.Conditions.StepPost},
		{"action pre", v.Conditions.Pre}, {"action post", v.Conditions.Post},
	} {
		for _, s := range level.ss {
			tw.printf("  %s\t%s\t%s\t%s\t%s\n", level.name, s.Type, yesNo(s.Required), s.Timeout, s.Description)
		}
	}

	tw.println("\nInput keys (input.<key> in a policy; also action, parameters, phase):")
	for _, k := range v.InputKeys {
		tw.printf("  %s\t%s\n", k.Key, k.Description)
	}
	return tw.done()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func constraints(p parameterView) string {
	var parts []string
	switch {
	case p.Min != nil && p.Max != nil:
		parts = append(parts, fmt.Sprintf("%d..%d", *p.Min, *p.Max))
	case p.Min != nil:
		parts = append(parts, fmt.Sprintf(">= %d", *p.Min))
	case p.Max != nil:
		parts = append(parts, fmt.Sprintf("<= %d", *p.Max))
	}
	if len(p.Enum) > 0 {
		parts = append(parts, "one of "+strings.Join(p.Enum, "|"))
	}
	if p.Format != "" {
		parts = append(parts, p.Format)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// closest returns the candidate nearest to s by edit distance, or "" when none is
// near enough to be a likely typo.
func closest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(3, len(s)/3) {
		for _, c := range candidates { // a prefix or part of the name
			if len(s) >= 3 && strings.Contains(c, s) {
				return c
			}
		}
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
