package promquery

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := Vars{Name: "web", Namespace: "shop"}
	cases := []struct {
		name  string
		query string
		vars  Vars
		want  string
		err   string
	}{
		{name: "no variables", query: `sum(rate(http_requests_total[5m]))`, want: `sum(rate(http_requests_total[5m]))`},
		{name: "both variables", query: `sum(rate(http_requests_total{namespace="{{namespace}}",deployment="{{name}}"}[5m]))`,
			want: `sum(rate(http_requests_total{namespace="shop",deployment="web"}[5m]))`},
		{name: "spaces inside the braces", query: `up{pod=~"{{ name }}-.*",ns="{{	namespace  }}"}`, want: `up{pod=~"web-.*",ns="shop"}`},
		{name: "single-quoted string", query: `up{pod='{{name}}'}`, want: `up{pod='web'}`},
		{name: "a quote in the name is escaped", query: `up{pod="{{name}}"}`, vars: Vars{Name: `we"b`},
			want: `up{pod="we\"b"}`},
		{name: "a backslash and a line break are escaped", query: `up{pod="{{name}}"}`, vars: Vars{Name: "a\\b\nc"},
			want: `up{pod="a\\b\nc"}`},
		{name: "in single quotes the single quote is escaped", query: `up{pod='{{name}}'}`, vars: Vars{Name: `it's "x"`},
			want: `up{pod='it\'s "x"'}`},
		{name: "a value is not expanded again", query: `up{pod="{{name}}"}`, vars: Vars{Name: "{{namespace}}"},
			want: `up{pod="{{namespace}}"}`},
		{name: "an escaped quote does not end the string", query: `up{a="x\"{{name}}"}`, want: `up{a="x\"web"}`},
		{name: "a comment is left as it is", query: "up # {{anything}} here\n+ up{pod=\"{{name}}\"}", want: "up # {{anything}} here\n+ up{pod=\"web\"}"},
		{name: "unknown variable", query: `up{pod="{{pod}}"}`, err: "unknown template variable {{pod}} at offset 8; only {{name}} and {{namespace}} exist"},
		{name: "template functions are unknown variables", query: `up{pod="{{ .Name | lower }}"}`, err: "unknown template variable {{ .Name | lower }}"},
		{name: "unclosed", query: `up{pod="{{name"}`, err: "unclosed {{ at offset 8"},
		{name: "outside a string", query: `up{pod={{name}}}`, err: "{{name}} at offset 7 outside a quoted string"},
		{name: "as a metric name", query: `{{name}}_requests_total`, err: "outside a quoted string"},
		{name: "in a raw string", query: "up{pod=`{{name}}`}", err: "inside a raw `string`"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := vars
			if tc.vars != (Vars{}) {
				v = tc.vars
			}
			got, err := Expand(tc.query, v)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Expand(%q) = %q, %v; want an error containing %q", tc.query, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Expand(%q) = %q, %v; want %q", tc.query, got, err, tc.want)
			}
			// What Expand makes of a valid query is valid PromQL, whatever the values.
			if err := Validate(tc.query); err != nil {
				t.Fatalf("Validate(%q): %v", tc.query, err)
			}
			if _, err := promqlParser.ParseExpr(got); err != nil {
				t.Fatalf("the expanded query %q does not parse: %v", got, err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		query string
		err   string // empty: valid
	}{
		{name: "error ratio", query: `sum(rate(http_requests_total{code=~"5..",namespace="{{namespace}}",deployment="{{name}}"}[5m])) / sum(rate(http_requests_total{namespace="{{namespace}}",deployment="{{name}}"}[5m]))`},
		{name: "vector by pod", query: `max by (pod) (rate(container_cpu_cfs_throttled_periods_total{namespace="{{namespace}}",pod=~"{{name}}-.*"}[5m]))`},
		{name: "scalar", query: `scalar(sum(up))`},
		{name: "number", query: `1`},
		{name: "subquery inside a function", query: `max_over_time(rate(x[1m])[10m:1m])`},
		{name: "empty", query: "  ", err: "query is empty"},
		{name: "too long", query: strings.Repeat("up + ", 1000) + "up", err: "at most 4096 are allowed"},
		{name: "syntax error keeps position and explanation", query: `sum(rate(x[5m])`, err: "query is not valid PromQL: 1:16: parse error: unclosed left parenthesis"},
		{name: "positions are those of the text as written", query: `rate(up{pod="{{ name }}"}[5m]) +`, err: "1:33: parse error: unexpected end of input"},
		{name: "unknown function", query: `rat(x[5m])`, err: `unknown function with name "rat"`},
		{name: "unknown variable", query: `up{pod="{{pod}}"}`, err: "unknown template variable {{pod}}"},
		{name: "variable outside a string", query: `up{pod={{name}}}`, err: "outside a quoted string"},
		{name: "range vector", query: `http_requests_total{pod="{{name}}"}[5m]`, err: "query returns a range vector (matrix); use an instant query"},
		{name: "subquery", query: `rate(x[1m])[10m:1m]`, err: "range vector (matrix)"},
		{name: "string", query: `"hello"`, err: "query returns a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.query)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Validate(%q): %v", tc.query, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Validate(%q) = %v; want an error containing %q", tc.query, err, tc.err)
			}
		})
	}
}
