package promquery

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// MaxQueryBytes bounds the text of a query as written in a condition, so that
// admission never parses or stores an arbitrarily large expression.
const MaxQueryBytes = 4096

// Vars are the values a query's template variables stand for: the target of the
// step whose condition runs the query.
type Vars struct{ Name, Namespace string }

// Expand replaces {{name}} and {{namespace}} (spaces inside the braces allowed) by
// vars.Name and vars.Namespace. A variable may appear only inside a quoted PromQL
// string ("..." or '...'), where its value is escaped so that it stays one string
// whatever it holds: outside a string a name like web-1 would silently become an
// expression (web minus 1). Any other {{...}} is an error naming it. Text in a
// comment (# to the end of the line) is left as it is. In a regex matcher
// (pod=~"{{name}}-.*") the value is escaped as a string, not as a regex: the "." a
// Kubernetes name may hold matches any character there. There are no functions or
// pipelines: this is not text/template.
func Expand(query string, vars Vars) (string, error) {
	return expand(query, func(variable string, _ int) string {
		if variable == "name" {
			return vars.Name
		}
		return vars.Namespace
	})
}

// Validate reports whether query, once expanded, is an instant query a condition
// can run: it parses as PromQL, and its result is a number or an instant vector
// (Query refuses range vectors and strings, so admission does too). Parse errors
// keep the parser's position and explanation; positions are those of the query as
// written, since each variable is replaced by a placeholder of its own length.
func Validate(query string) error {
	if strings.TrimSpace(query) == "" {
		return fmt.Errorf("query is empty")
	}
	if len(query) > MaxQueryBytes {
		return fmt.Errorf("query is %d bytes long; at most %d are allowed", len(query), MaxQueryBytes)
	}
	expanded, err := expand(query, func(_ string, length int) string {
		return strings.Repeat("x", length)
	})
	if err != nil {
		return err
	}
	expr, err := promqlParser.ParseExpr(expanded)
	if err != nil {
		return fmt.Errorf("query is not valid PromQL: %w", err)
	}
	switch expr.Type() {
	case parser.ValueTypeScalar, parser.ValueTypeVector:
		return nil
	case parser.ValueTypeMatrix:
		return fmt.Errorf("query returns a range vector (matrix); use an instant query, e.g. rate(metric[5m]) instead of metric[5m]")
	case parser.ValueTypeString:
		return fmt.Errorf("query returns a string; a condition needs a number or an instant vector")
	default:
		return fmt.Errorf("query returns a %s; a condition needs a number or an instant vector", expr.Type())
	}
}

// promqlParser has Prometheus' default options: no experimental functions, as a
// default Prometheus server has none either.
var promqlParser = parser.NewParser(parser.Options{})

// expand scans query as the PromQL lexer would, enough to know whether each
// {{...}} is inside a quoted string, and replaces each variable by value(variable,
// length of the {{...}} text), escaped for the string it is in.
func expand(query string, value func(variable string, length int) string) (string, error) {
	var out strings.Builder
	out.Grow(len(query))
	var quote byte // the quote of the string we are in: '"', '\'', '`', or 0 outside
	comment := false
	for i := 0; i < len(query); {
		c := query[i]
		if strings.HasPrefix(query[i:], "{{") && !comment {
			end := strings.Index(query[i+2:], "}}")
			if end < 0 {
				return "", fmt.Errorf("query has an unclosed {{ at offset %d", i)
			}
			token := query[i : i+2+end+2]
			variable := strings.TrimSpace(token[2 : len(token)-2])
			if variable != "name" && variable != "namespace" {
				return "", fmt.Errorf("query uses unknown template variable %s at offset %d; only {{name}} and {{namespace}} exist", token, i)
			}
			switch quote {
			case 0:
				return "", fmt.Errorf("query uses %s at offset %d outside a quoted string; write it inside double quotes, e.g. pod=\"%s\"", token, i, token)
			case '`':
				return "", fmt.Errorf("query uses %s at offset %d inside a raw `string`, where its value cannot be escaped; use double quotes", token, i)
			}
			out.WriteString(escapeString(value(variable, len(token)), quote))
			i += len(token)
			continue
		}
		out.WriteByte(c)
		i++
		switch {
		case comment:
			comment = c != '\n'
		case quote == 0:
			switch c {
			case '"', '\'', '`':
				quote = c
			case '#':
				comment = true
			}
		case c == quote:
			quote = 0
		case c == '\\' && quote != '`' && i < len(query):
			// An escaped character, whichever it is, does not end the string.
			out.WriteByte(query[i])
			i++
		}
	}
	return out.String(), nil
}

// escapeString escapes s for a PromQL string opened by quote (" or '): backslash
// and that quote get a backslash, and line breaks, which would end the string,
// become \n and \r.
func escapeString(s string, quote byte) string {
	if !strings.ContainsAny(s, "\\\"'\n\r") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', quote:
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
