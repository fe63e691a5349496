package catalog

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"kubernaut.io/stepvalidation/conditions"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Keys every facts document has, whatever the action.
var commonFacts = []string{"action", "parameters", "phase"}

// TestEveryAction checks what each action promises the rest of the project: its
// suggested conditions have policies that compile and read only the facts it
// declares, its schema is well formed, and its inverse yields valid parameters.
func TestEveryAction(t *testing.T) {
	engine := conditions.NewEngine(conditions.Options{})
	policies := conditions.EmbeddedPolicies()
	for _, name := range Names() {
		a, _ := Lookup(name)
		t.Run(name, func(t *testing.T) {
			if !snakeCase.MatchString(a.Name) || a.Description == "" {
				t.Errorf("name %q must be snake_case and the description set", a.Name)
			}
			if len(a.Permissions) == 0 {
				t.Error("no permissions: the action's ServiceAccount could not act")
			}
			checkSchema(t, a.Parameters, "parameters")

			for level, list := range map[string][]Suggested{
				"step pre": a.StepPreConditions, "step post": a.StepPostConditions,
				"action pre": a.PreConditions, "action post": a.PostConditions,
			} {
				var seen []string
				for _, s := range list {
					if slices.Contains(seen, s.Type) {
						t.Errorf("%s conditions list %s twice", level, s.Type)
					}
					seen = append(seen, s.Type)
				}
			}
			if len(a.StepPreConditions)+len(a.PreConditions) == 0 || len(a.StepPostConditions)+len(a.PostConditions) == 0 {
				t.Error("an action needs suggested preconditions and postconditions")
			}
			for _, s := range a.SuggestedConditions() {
				if s.Description == "" || s.Timeout <= 0 {
					t.Errorf("condition %s needs a description and a timeout", s.Type)
				}
				source, ok := policies[s.Type]
				if !ok {
					t.Errorf("condition %s has no embedded policy (conditions/embedded/%s.rego)", s.Type, s.Type)
					continue
				}
				p, err := engine.Compile(context.Background(), s.Type, source)
				if err != nil {
					t.Error(err)
					continue
				}
				for _, key := range p.InputKeys() {
					if !slices.Contains(a.FactKeys(), key) && !slices.Contains(commonFacts, key) {
						t.Errorf("condition %s reads input.%s, which is not among the action's facts", s.Type, key)
					}
				}
			}
		})
	}
}

func checkSchema(t *testing.T, fields []Field, path string) {
	t.Helper()
	for _, f := range fields {
		p := path + "." + f.Name
		if f.Name == "" || f.Description == "" {
			t.Errorf("%s: a parameter needs a name and a description", p)
		}
		switch f.Type {
		case Object:
			if len(f.Fields) == 0 {
				t.Errorf("%s: an object parameter lists its fields", p)
			}
			checkSchema(t, f.Fields, p)
		case String, Integer, Boolean, StringMap, AnyObject:
		default:
			t.Errorf("%s: unknown type %q", p, f.Type)
		}
	}
}

func TestInverse(t *testing.T) {
	cases := []struct {
		action string
		params map[string]any
		before map[string]string
		want   Rollback
	}{
		{
			action: "scale_deployment",
			params: map[string]any{"deployment": map[string]any{"name": "web-app", "namespace": "production", "replicas": float64(5)}},
			before: map[string]string{"replicas": "3"},
			want: Rollback{Action: "scale_deployment", Parameters: map[string]any{
				"deployment": map[string]any{"name": "web-app", "namespace": "production", "replicas": int64(3)}}},
		},
	}
	for _, c := range cases {
		a, _ := Lookup(c.action)
		got, err := a.Inverse(c.params, c.before)
		if err != nil {
			t.Fatalf("%s: %v", c.action, err)
		}
		if got.Action != c.want.Action || !equalJSON(got.Parameters, c.want.Parameters) {
			t.Errorf("%s: got %+v, want %+v", c.action, got, c.want)
		}
		inverse, _ := Lookup(got.Action)
		if errs := inverse.ValidateParameters(got.Parameters, field.NewPath("parameters")); len(errs) > 0 {
			t.Errorf("%s: the inverse's parameters are invalid: %v", c.action, errs.ToAggregate())
		}
	}
	scale, _ := Lookup("scale_deployment")
	if _, err := scale.Inverse(map[string]any{}, map[string]string{}); err == nil {
		t.Error("an inverse without the recorded replica count must fail, not guess")
	}
}

func TestValidateParameters(t *testing.T) {
	path := field.NewPath("spec", "parameters")
	cases := []parameterCase{
		{name: "valid", action: "scale_deployment",
			params: `{"deployment": {"name": "web-app", "namespace": "production", "replicas": 5}}`},
		{name: "zero replicas are allowed", action: "scale_deployment",
			params: `{"deployment": {"name": "web-app", "namespace": "production", "replicas": 0}}`},
		{name: "replicas above the range", action: "scale_deployment",
			params: `{"deployment": {"name": "web-app", "namespace": "production", "replicas": 1001}}`,
			want:   []string{"spec.parameters.deployment.replicas: Invalid value: 1001: must be between 0 and 1000"}},
		{name: "negative replicas", action: "scale_deployment",
			params: `{"deployment": {"name": "web-app", "namespace": "production", "replicas": -1}}`,
			want:   []string{"spec.parameters.deployment.replicas: Invalid value: -1: must be between 0 and 1000"}},
		{name: "fractional replicas", action: "scale_deployment",
			params: `{"deployment": {"name": "web-app", "namespace": "production", "replicas": 2.5}}`,
			want:   []string{"spec.parameters.deployment.replicas: Invalid value: 2.5: must be an integer"}},
		{name: "replicas as a string", action: "scale_deployment",
			params: `{"deployment": {"name": "web-app", "namespace": "production", "replicas": "5"}}`,
			want:   []string{`spec.parameters.deployment.replicas: Invalid value: "5": must be an integer`}},
		{name: "no parameters", action: "scale_deployment", params: `{}`,
			want: []string{"spec.parameters.deployment: Required value"}},
		{name: "every problem at once", action: "scale_deployment",
			params: `{"deployment": {"name": "Web_App", "replica": 5}, "force": true}`,
			want: []string{
				`spec.parameters.deployment.name: Invalid value: "Web_App": a lowercase RFC 1123 subdomain`,
				"spec.parameters.deployment.namespace: Required value",
				"spec.parameters.deployment.replicas: Required value",
				`spec.parameters.deployment.replica: Unsupported value: "replica": supported values: "name", "namespace", "replicas", "baselineReplicas"`,
				`spec.parameters.force: Unsupported value: "force"`,
			}},
		{name: "target not an object", action: "scale_deployment", params: `{"deployment": "web-app"}`,
			want: []string{`spec.parameters.deployment: Invalid value: "web-app": must be an object`}},
	}
	checkParameterCases(t, path, cases)
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestEveryFactIsDescribed(t *testing.T) {
	for _, name := range Names() {
		a, _ := Lookup(name)
		var seen []string
		for _, f := range a.Facts {
			if !snakeCase.MatchString(f.Key) || f.Description == "" {
				t.Errorf("%s: fact %q needs a snake_case key and a description", name, f.Key)
			}
			if slices.Contains(seen, f.Key) {
				t.Errorf("%s: fact %s is declared twice", name, f.Key)
			}
			seen = append(seen, f.Key)
		}
	}
}

// TestFactsMeanOneThing: actions that declare the same key give it the same
// meaning, so that a policy written for one reads it right for the others.
func TestFactsMeanOneThing(t *testing.T) {
	meaning := map[string]string{}
	for _, name := range Names() {
		a, _ := Lookup(name)
		for _, f := range a.Facts {
			if m, ok := meaning[f.Key]; ok && m != f.Description {
				t.Errorf("fact %s means %q for %s but %q elsewhere", f.Key, f.Description, name, m)
			}
			meaning[f.Key] = f.Description
		}
	}
}

// parameterCase is one parameters document for an action and the errors it must
// give: each want is a substring of one error, and there are no others.
type parameterCase struct {
	name   string
	action string
	params string
	want   []string
}

func checkParameterCases(t *testing.T, path *field.Path, cases []parameterCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, ok := Lookup(c.action)
			if !ok {
				t.Fatalf("no action %s", c.action)
			}
			params, err := DecodeParameters([]byte(c.params))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range a.ValidateParameters(params, path) {
				got = append(got, e.Error())
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(c.want), strings.Join(got, "\n"))
			}
			for _, w := range c.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
					t.Errorf("no error contains %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestMeasured(t *testing.T) {
	suggested := []Suggested{
		{Type: "no_crashloop_pods", Required: true},
		{Type: "resource_usage_acceptable", Required: true, Needs: SourceThrottling},
		{Type: "optional_anyway", Required: false, Needs: SourceThrottling},
	}
	none := Measured(suggested, func(Source) bool { return false })
	if !none[0].Required || none[1].Required || none[2].Required {
		t.Errorf("without throttling, only the condition that needs it becomes optional: %+v", none)
	}
	if !suggested[1].Required {
		t.Error("Measured changed the catalog's own list")
	}
	all := Measured(suggested, func(s Source) bool { return s == SourceThrottling })
	if !all[0].Required || !all[1].Required || all[2].Required {
		t.Errorf("with throttling, the catalog's requirements stand: %+v", all)
	}
	// Every suggestion that needs a source names one the managers know.
	for _, name := range Names() {
		a, _ := Lookup(name)
		for _, list := range [][]Suggested{a.PreConditions, a.PostConditions, a.StepPreConditions, a.StepPostConditions} {
			for _, s := range list {
				if s.Needs != "" && s.Needs != SourceThrottling {
					t.Errorf("%s: %s needs unknown source %q", a.Name, s.Type, s.Needs)
				}
			}
		}
	}
}
