package conditions

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Policies come from CRs and run inside the manager, and OPA has no memory limit:
// several built-ins size their whole result before they look at cancellation, so
// one call can allocate gigabytes from a few bytes of policy (a string doubled by
// concat, numbers.range(1, 1e9), sprintf("%0999999999d", [1])). Two mechanisms
// bound what an evaluation may hold:
//
//   - here, the built-ins whose result can be far larger than their arguments
//     check its size before building it, and refuse past these limits, so that no
//     single step allocates more than a few MiB;
//   - the memory governor (memory.go) cancels an evaluation whose growth, step by
//     step, passes the engine's memory limit (a comprehension that accumulates).
const (
	// MaxValueBytes bounds a string, or the JSON-ish size of a value, that a
	// guarded built-in returns.
	MaxValueBytes = 1 << 20
	// MaxElements bounds the elements of a collection a guarded built-in returns.
	MaxElements = 100_000
	// MaxNumberDigits bounds the digits (or decimal exponent) of a number an
	// arithmetic built-in takes: a number doubles its digits with each mul.
	MaxNumberDigits = 4096
	// maxUnmarshalBytes bounds a document json.unmarshal or yaml.unmarshal parses:
	// its values take up to a hundred times its text.
	maxUnmarshalBytes = MaxValueBytes / 8
	// maxFormatWidth bounds a sprintf width or precision (%0999999d).
	maxFormatWidth = 1000
)

// LimitError says which limit an evaluation reached. Evaluations that end with it
// give a Result with reason ResourceLimit.
type LimitError struct{ What string }

func (e *LimitError) Error() string { return "resource limit: " + e.What }

func limited(format string, args ...any) error {
	// Halt stops the evaluation at once rather than letting a rule try another way.
	return topdown.Halt{Err: &LimitError{What: fmt.Sprintf(format, args...)}}
}

// removedBuiltin says why a built-in that allocates beyond what a condition needs
// is left out of the sandbox: parsers of tokens, certificates and GraphQL, graph
// path enumeration (exponential), templates and Rego parsing.
func removedBuiltin(name string) string {
	switch {
	case name == "graph.reachable_paths", name == "graph.reachable":
		return "graph traversal can enumerate exponentially many paths"
	case name == "strings.render_template":
		return "a template can repeat its input without bound"
	case name == "rego.parse_module":
		return "parsing Rego at evaluation time is not bounded"
	case strings.HasPrefix(name, "io.jwt."), strings.HasPrefix(name, "crypto.x509."),
		name == "crypto.parse_private_keys", strings.HasPrefix(name, "graphql."), name == "providers.aws.sign_req":
		return "condition policies decide from cluster facts; they do not parse tokens, certificates or GraphQL"
	}
	return ""
}

// guard checks the arguments of one built-in before it runs.
type guard func(args []*ast.Term) error

// guards are the built-ins whose result can be far larger than their arguments.
var guards = map[string]guard{
	"concat":                   guardConcat,
	"sprintf":                  guardSprintf,
	"internal.template_string": func(a []*ast.Term) error { return valueAtMost("a template string's values", a[0].Value, MaxValueBytes) },
	"replace":                  guardReplace,
	"strings.replace_n":        guardReplaceN,
	"regex.replace": func(a []*ast.Term) error {
		return productAtMost("regex.replace", stringLen(a[0])+1, stringLen(a[2])+1)
	},
	"numbers.range":      func(a []*ast.Term) error { return guardRange(a[0], a[1], nil) },
	"numbers.range_step": func(a []*ast.Term) error { return guardRange(a[0], a[1], a[2]) },
	"bits.lsh":           guardShift,
	"json.marshal":       func(a []*ast.Term) error { return valueAtMost("json.marshal's value", a[0].Value, MaxValueBytes) },
	"yaml.marshal":       func(a []*ast.Term) error { return valueAtMost("yaml.marshal's value", a[0].Value, MaxValueBytes) },
	"json.marshal_with_options": func(a []*ast.Term) error {
		if err := valueAtMost("json.marshal_with_options' options", a[1].Value, 256); err != nil {
			return err // a long indent or prefix repeats on every line
		}
		return valueAtMost("json.marshal_with_options' value", a[0].Value, MaxValueBytes)
	},
	"base64.encode":           encodes,
	"base64url.encode":        encodes,
	"base64url.encode_no_pad": encodes,
	"hex.encode":              encodes,
	"urlquery.encode":         encodes,
	"urlquery.encode_object": func(a []*ast.Term) error {
		return valueAtMost("urlquery.encode_object's value", a[0].Value, MaxValueBytes/3)
	},
	"split": func(a []*ast.Term) error {
		return countAtMost("split", pieces(a[0], a[1]))
	},
	"strings.split_n": func(a []*ast.Term) error { return countAtMost("strings.split_n", pieces(a[0], a[1])) },
	"indexof_n":       func(a []*ast.Term) error { return countAtMost("indexof_n", pieces(a[0], a[1])) },
	"regex.split":     func(a []*ast.Term) error { return countAtMost("regex.split", stringLen(a[1])+1) },
	"regex.find_n":    func(a []*ast.Term) error { return countAtMost("regex.find_n", matches(a[1], a[2])) },
	"regex.find_all_string_submatch_n": func(a []*ast.Term) error {
		return countAtMost("regex.find_all_string_submatch_n", matches(a[1], a[2]))
	},
	"json.unmarshal": func(a []*ast.Term) error {
		return lengthAtMost("json.unmarshal's document", stringLen(a[0]), maxUnmarshalBytes)
	},
	"yaml.unmarshal": func(a []*ast.Term) error {
		return lengthAtMost("yaml.unmarshal's document", stringLen(a[0]), maxUnmarshalBytes)
	},
	"array.concat":   func(a []*ast.Term) error { return countAtMost("array.concat", elements(a[0])+elements(a[1])) },
	"array.flatten":  func(a []*ast.Term) error { return valueAtMost("array.flatten's array", a[0].Value, MaxValueBytes) },
	"union":          func(a []*ast.Term) error { return countAtMost("union", nestedElements(a[0])) },
	"intersection":   func(a []*ast.Term) error { return countAtMost("intersection", nestedElements(a[0])) },
	"object.union":   func(a []*ast.Term) error { return countAtMost("object.union", elements(a[0])+elements(a[1])) },
	"object.union_n": func(a []*ast.Term) error { return countAtMost("object.union_n", nestedElements(a[0])) },
	"plus":           numbers,
	"minus":          numbers,
	"mul":            numbers,
	"div":            numbers,
	"rem":            numbers,
	"abs":            numbers,
	"round":          numbers,
	"ceil":           numbers,
	"floor":          numbers,
	"format_int":     numbers,
	"sum":            numbers,
	"product":        numbers,
	"units.parse":    func(a []*ast.Term) error { return lengthAtMost("units.parse's quantity", stringLen(a[0]), 64) },
	"units.parse_bytes": func(a []*ast.Term) error {
		return lengthAtMost("units.parse_bytes' quantity", stringLen(a[0]), 64)
	},
}

func init() {
	for name, check := range guards {
		original := topdown.GetBuiltin(name)
		if original == nil {
			panic("conditions: no built-in " + name + " to guard") // an OPA upgrade renamed it: fail the tests
		}
		topdown.RegisterBuiltinFunc(name, func(bctx topdown.BuiltinContext, args []*ast.Term, iter func(*ast.Term) error) error {
			if err := check(args); err != nil {
				return err
			}
			return original(bctx, args, func(result *ast.Term) error {
				if err := valueAtMost(name+"'s result", result.Value, 4*MaxValueBytes); err != nil {
					return err
				}
				return iter(result)
			})
		})
	}
}

func guardConcat(a []*ast.Term) error {
	delim := stringLen(a[0])
	total, n := 0, 0
	err := eachElement(a[1].Value, func(t *ast.Term) bool {
		total += stringLen(t) + delim
		n++
		return total > MaxValueBytes
	})
	if err != nil {
		return nil // not a collection: concat's own type error says so
	}
	return lengthAtMost("concat's result", total, MaxValueBytes)
}

// guardSprintf bounds sprintf's result by its format: each verb may print all of
// the arguments, and no width or precision may be huge.
func guardSprintf(a []*ast.Term) error {
	format, ok := a[0].Value.(ast.String)
	if !ok {
		return nil
	}
	verbs := 0
	for s := string(format); ; {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			break
		}
		s = s[i+1:]
		verbs++
		width := 0
		for len(s) > 0 && strings.IndexByte("+-# 0123456789.*[]", s[0]) >= 0 {
			if s[0] >= '0' && s[0] <= '9' {
				width = width*10 + int(s[0]-'0')
				if width > maxFormatWidth {
					return limited("sprintf: a width or precision above %d", maxFormatWidth)
				}
			} else {
				width = 0
			}
			s = s[1:]
		}
	}
	args := valueSize(a[1].Value, MaxValueBytes+1)
	return productAtMost("sprintf", verbs+1, args+len(format)/(verbs+1)+1)
}

func guardReplace(a []*ast.Term) error {
	s, ok1 := a[0].Value.(ast.String)
	old, ok2 := a[1].Value.(ast.String)
	repl, ok3 := a[2].Value.(ast.String)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	n := strings.Count(string(s), string(old))
	return lengthAtMost("replace's result", len(s)+n*max(0, len(repl)-len(old)), MaxValueBytes)
}

func guardReplaceN(a []*ast.Term) error {
	patterns, ok1 := a[0].Value.(ast.Object)
	s, ok2 := a[1].Value.(ast.String)
	if !ok1 || !ok2 {
		return nil
	}
	total := len(s)
	patterns.Foreach(func(k, v *ast.Term) {
		if old, ok := k.Value.(ast.String); ok {
			total += strings.Count(string(s), string(old)) * stringLen(v)
		}
	})
	return lengthAtMost("strings.replace_n's result", total, MaxValueBytes)
}

func guardRange(from, to, step *ast.Term) error {
	a, ok1 := bigOf(from)
	b, ok2 := bigOf(to)
	if !ok1 || !ok2 {
		return nil
	}
	n := new(big.Float).Sub(b, a)
	n.Abs(n)
	if step != nil {
		if s, ok := bigOf(step); ok && s.Sign() > 0 {
			n.Quo(n, s)
		}
	}
	if n.Cmp(big.NewFloat(MaxElements)) >= 0 {
		return limited("numbers.range: more than %d numbers", MaxElements)
	}
	return nil
}

func guardShift(a []*ast.Term) error {
	if err := numbers(a); err != nil {
		return err
	}
	if n, ok := bigOf(a[1]); ok && n.Cmp(big.NewFloat(MaxNumberDigits*4)) > 0 {
		return limited("bits.lsh: a shift above %d bits", MaxNumberDigits*4)
	}
	return nil
}

// numbers refuses numbers of more than MaxNumberDigits digits or decimal exponent,
// in the arguments or in a collection argument (sum, product).
func numbers(a []*ast.Term) error {
	var err error
	check := func(t *ast.Term) bool {
		n, ok := t.Value.(ast.Number)
		if !ok {
			return false
		}
		if len(n) > MaxNumberDigits || exponent(string(n)) > MaxNumberDigits {
			err = limited("a number of more than %d digits", MaxNumberDigits)
			return true
		}
		return false
	}
	digits := 0
	for _, t := range a {
		if check(t) {
			return err
		}
		_ = eachElement(t.Value, func(e *ast.Term) bool {
			if n, ok := e.Value.(ast.Number); ok {
				digits += len(n)
			}
			return check(e) || digits > MaxNumberDigits
		})
		if err != nil {
			return err
		}
		if digits > MaxNumberDigits {
			return limited("numbers of more than %d digits in all", MaxNumberDigits)
		}
	}
	return nil
}

// exponent is the decimal exponent a number's text gives, 0 without one.
func exponent(s string) int {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return 0
	}
	e, ok := new(big.Int).SetString(strings.TrimPrefix(s[i+1:], "+"), 10)
	if !ok || !e.IsInt64() {
		return MaxNumberDigits + 1
	}
	if v := e.Int64(); v > 0 {
		return int(min(v, MaxNumberDigits+1))
	}
	return 0
}

func encodes(a []*ast.Term) error {
	return lengthAtMost("the encoded string", 3*stringLen(a[0]), MaxValueBytes)
}

func bigOf(t *ast.Term) (*big.Float, bool) {
	n, ok := t.Value.(ast.Number)
	if !ok || len(n) > MaxNumberDigits || exponent(string(n)) > MaxNumberDigits {
		return nil, false
	}
	f, _, err := big.ParseFloat(string(n), 10, 64, big.ToNearestEven)
	return f, err == nil
}

func stringLen(t *ast.Term) int {
	if s, ok := t.Value.(ast.String); ok {
		return len(s)
	}
	return 0
}

// pieces is how many parts splitting s at sep gives: at most one per rune for "".
func pieces(s, sep *ast.Term) int {
	str, ok1 := s.Value.(ast.String)
	sp, ok2 := sep.Value.(ast.String)
	if !ok1 || !ok2 {
		return 0
	}
	if sp == "" {
		return utf8.RuneCountInString(string(str)) + 1
	}
	return strings.Count(string(str), string(sp)) + 1
}

// matches bounds how many matches a regex.find_* call returns: n, or one per
// position of s when n is -1.
func matches(s, n *ast.Term) int {
	limit := stringLen(s) + 1
	if v, ok := n.Value.(ast.Number); ok {
		if i, ok := v.Int(); ok && i >= 0 {
			return min(i, limit)
		}
	}
	return limit
}

func elements(t *ast.Term) int {
	switch v := t.Value.(type) {
	case *ast.Array:
		return v.Len()
	case ast.Set:
		return v.Len()
	case ast.Object:
		return v.Len()
	}
	return 0
}

func nestedElements(t *ast.Term) int {
	n := 0
	_ = eachElement(t.Value, func(e *ast.Term) bool {
		n += elements(e)
		return n > MaxElements
	})
	return n
}

var errNotCollection = errors.New("not a collection")

// eachElement calls f with each element of an array or set, until f returns true.
func eachElement(v ast.Value, f func(*ast.Term) bool) error {
	switch c := v.(type) {
	case *ast.Array:
		c.Until(f)
	case ast.Set:
		c.Until(f)
	default:
		return errNotCollection
	}
	return nil
}

func lengthAtMost(what string, n, limit int) error {
	if n > limit {
		return limited("%s would take more than %d bytes", what, limit)
	}
	return nil
}

func countAtMost(what string, n int) error {
	if n > MaxElements {
		return limited("%s would give more than %d elements", what, MaxElements)
	}
	return nil
}

func productAtMost(what string, a, b int) error {
	if a > 0 && b > MaxValueBytes/a {
		return limited("%s's result could take more than %d bytes", what, MaxValueBytes)
	}
	return nil
}

func valueAtMost(what string, v ast.Value, limit int) error {
	if valueSize(v, limit) > limit {
		return limited("%s is larger than %d bytes", what, limit)
	}
	return nil
}

// valueSize estimates the memory of v as its JSON text plus an overhead per
// element, counting a value reached twice twice (as marshaling does), and stops
// counting past limit.
func valueSize(v ast.Value, limit int) int {
	const overhead = 16
	size := 0
	var walk func(v ast.Value) bool
	visit := func(t *ast.Term) bool { return walk(t.Value) }
	walk = func(v ast.Value) bool {
		switch x := v.(type) {
		case ast.String:
			size += len(x) + overhead
		case ast.Number:
			size += len(x) + overhead
		case *ast.Array:
			size += overhead
			x.Until(visit)
		case ast.Set:
			size += overhead
			x.Until(visit)
		case ast.Object:
			size += overhead
			x.Until(func(k, v *ast.Term) bool { return walk(k.Value) || walk(v.Value) })
		default:
			size += overhead
		}
		return size > limit
	}
	walk(v)
	return size
}
