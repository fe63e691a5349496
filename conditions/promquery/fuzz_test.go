package promquery

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzExpand checks what admission promises: a query Validate accepts still parses
// once Expand puts any target name in it, so a name can never break out of its
// string. The only exception is a regex matcher: the value is escaped as a string,
// not as a regex (Kubernetes names hold no regex syntax but "." and "-").
func FuzzExpand(f *testing.F) {
	f.Add(`up{pod="{{name}}",namespace="{{ namespace }}"}`, `we"b`, "shop")
	f.Add(`up{pod='{{name}}'} # {{x}}`, `it's`, `a\b`)
	f.Add(`sum(rate(x{a="\"{{name}}"}[5m]))`, "a\nb", "c\rd")
	f.Add("up{pod=`{{name}}`}", "web", "shop")
	f.Add(`up{pod={{name}}}`, "web", "shop")
	f.Fuzz(func(t *testing.T, query, name, namespace string) {
		if len(query) > MaxQueryBytes || !utf8.ValidString(name) || !utf8.ValidString(namespace) {
			return
		}
		expanded, expandErr := Expand(query, Vars{Name: name, Namespace: namespace})
		if Validate(query) != nil {
			return
		}
		if expandErr != nil {
			t.Fatalf("Validate accepts %q but Expand refuses it: %v", query, expandErr)
		}
		if _, err := promqlParser.ParseExpr(expanded); err != nil && !strings.Contains(err.Error(), "error parsing regexp") {
			t.Fatalf("Validate accepts %q but with name %q, namespace %q it becomes %q: %v", query, name, namespace, expanded, err)
		}
	})
}

// FuzzDecode feeds arbitrary answers to the conversion: it never panics, and what
// it returns is a finite number or a small map of finite numbers.
func FuzzDecode(f *testing.F) {
	f.Add(success("scalar", `[1,"0.5"]`))
	f.Add(vectorOf([2]string{`{"pod":"a"}`, "1"}, [2]string{`{"pod":"b"}`, "NaN"}))
	f.Add(vectorOf([2]string{`{}`, "+Inf"}))
	f.Add(success("vector", `[{"metric":{},"histogram":[1,{}]}]`))
	f.Add(success("matrix", `[]`))
	f.Add(`{"status":"error","errorType":"bad_data","error":"x"}`)
	f.Fuzz(func(t *testing.T, body string) {
		v, err := decode([]byte(body), 3)
		if err != nil {
			return
		}
		switch v := v.(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("decode(%q) = %v", body, v)
			}
		case map[string]any:
			if len(v) == 0 || len(v) > 3 {
				t.Fatalf("decode(%q) has %d series", body, len(v))
			}
			for k, x := range v {
				if f, ok := x.(float64); !ok || math.IsNaN(f) || math.IsInf(f, 0) {
					t.Fatalf("decode(%q)[%s] = %v", body, k, x)
				}
			}
		default:
			t.Fatalf("decode(%q) = %T", body, v)
		}
	})
}
