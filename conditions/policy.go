package conditions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// The rules a condition policy may define. allow decides; the others explain a
// failure.
const (
	ruleAllow        = "allow"
	ruleErrorMessage = "error_message"
	ruleMessage      = "message"
	ruleDeny         = "deny"
)

// Policy is a condition's Rego compiled into prepared queries: ready to be evaluated
// any number of times, from any goroutine.
type Policy struct {
	// Package is the policy's package, e.g. precondition.scale_deployment.
	Package string
	// Hash identifies the policy text (sha256, hex).
	Hash string

	safety    bool                   // a safety policy: its deny set decides
	allow     rego.PreparedEvalQuery // data.<package>.allow, or .deny for a safety policy
	explain   *rego.PreparedEvalQuery
	inputKeys []string // top-level input keys the deciding rules read, sorted
	reads     []string // top-level input keys any rule reads, sorted
	readsAll  bool     // some rule reads input as a whole, or by a computed key
}

// CompileError says why a policy does not compile: one Problem per error OPA found,
// each with its place in the policy text.
type CompileError struct {
	ConditionType string
	Problems      []Problem
}

// Problem is one compile error.
type Problem struct {
	// Line and Column are 1-based; 0 when OPA gave no location.
	Line, Column int
	// Code is OPA's error code, e.g. rego_parse_error.
	Code    string
	Message string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Code + ": " + p.Message
	}
	return fmt.Sprintf("line %d, column %d: %s: %s", p.Line, p.Column, p.Code, p.Message)
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("condition %s: %s", e.ConditionType, e.Detail())
}

// Detail lists the problems without naming the condition, for an error that names
// it already (a field path).
func (e *CompileError) Detail() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// hashOf is the cache key of a policy text.
func hashOf(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])
}

// compile parses source as Rego v1 or, failing that, v0, checks that it defines its
// deciding rule (allow, or deny for a safety policy), and prepares its queries in the
// sandbox. Errors are *CompileError.
func compile(ctx context.Context, name, source string, safety bool) (*Policy, error) {
	module, version, err := parse(source)
	if err != nil {
		return nil, compileError(name, err)
	}
	decider, missing := ruleAllow, "the policy defines no allow rule; a condition passes when allow is true"
	if safety {
		decider, missing = ruleDeny, "the policy defines no deny rule; a safety policy allows when its deny set is empty"
	}
	if !defines(module, decider) {
		return nil, &CompileError{ConditionType: name, Problems: []Problem{{
			Line: module.Package.Location.Row, Column: module.Package.Location.Col, Code: "rego_missing_" + decider,
			Message: missing,
		}}}
	}
	pkg := module.Package.Path.String()
	p := &Policy{
		Package:   strings.TrimPrefix(pkg, "data."),
		Hash:      hashOf(source),
		safety:    safety,
		inputKeys: inputKeys(module, decider),
	}
	p.reads, p.readsAll = reads(module)

	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.Query(query),
			rego.ParsedModule(module),
			rego.SetRegoVersion(version),
			rego.Capabilities(sandbox),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
	}
	if p.allow, err = prepare(pkg + "." + decider); err != nil {
		return nil, compileError(name, err)
	}
	if !safety && (defines(module, ruleErrorMessage) || defines(module, ruleMessage) || defines(module, ruleDeny)) {
		explain, err := prepare(pkg)
		if err != nil {
			return nil, compileError(name, err)
		}
		p.explain = &explain
	}
	return p, nil
}

// parse tries Rego v1 first, the syntax of the seed's policies (`import
// future.keywords.if` is accepted there), then v0. When both fail, v1's errors are
// reported: it is the syntax the project documents.
func parse(source string) (*ast.Module, ast.RegoVersion, error) {
	opts := ast.ParserOptions{Capabilities: sandbox, ProcessAnnotation: false}
	opts.RegoVersion = ast.RegoV1
	module, errV1 := ast.ParseModuleWithOpts("policy.rego", source, opts)
	if errV1 == nil {
		return module, ast.RegoV1, nil
	}
	opts.RegoVersion = ast.RegoV0
	if module, err := ast.ParseModuleWithOpts("policy.rego", source, opts); err == nil {
		return module, ast.RegoV0, nil
	}
	return nil, ast.RegoV1, errV1
}

func defines(module *ast.Module, name string) bool {
	return slices.ContainsFunc(module.Rules, func(r *ast.Rule) bool { return r.Head.Name.String() == name })
}

// inputKeys lists the top-level keys of input that the rules named decider read, so
// that an undefined allow caused by a missing fact can be told from one caused by a
// fact that does not satisfy the policy.
func inputKeys(module *ast.Module, decider string) []string {
	var keys []string
	for _, rule := range module.Rules {
		if rule.Head.Name.String() != decider {
			continue
		}
		ast.WalkRefs(rule, func(ref ast.Ref) bool {
			if len(ref) > 1 && ref[0].Equal(ast.InputRootDocument) {
				if key, ok := ref[1].Value.(ast.String); ok && !slices.Contains(keys, string(key)) {
					keys = append(keys, string(key))
				}
			}
			return false
		})
	}
	slices.Sort(keys)
	return keys
}

// reads lists the top-level keys of input that any part of module reads, or says
// that it may read every key: input alone (passed on whole, imported, replaced
// with `with`) or indexed by a computed key.
func reads(module *ast.Module) (keys []string, all bool) {
	ast.NewGenericVisitor(func(x any) bool {
		switch t := x.(type) {
		case ast.Ref:
			if !t[0].Equal(ast.InputRootDocument) {
				return false
			}
			if key, ok := readKey(t); ok {
				if !slices.Contains(keys, key) {
					keys = append(keys, key)
				}
			} else {
				all = true
			}
			return true // not the input var at its head again
		case ast.Var:
			if t.Equal(ast.InputRootDocument.Value) {
				all = true // input on its own, e.g. x := input
			}
		}
		return false
	}).Walk(module)
	slices.Sort(keys)
	return keys, all
}

// readKey returns the top-level key a reference into input reads, when it names one.
func readKey(ref ast.Ref) (string, bool) {
	if len(ref) < 2 {
		return "", false
	}
	key, ok := ref[1].Value.(ast.String)
	return string(key), ok
}

// undefinedFunction finds the name in OPA's "undefined function NAME" message.
var undefinedFunction = regexp.MustCompile(`undefined function ([\w.]+)`)

// compileError turns OPA's errors into a *CompileError, naming forbidden built-ins.
func compileError(conditionType string, err error) *CompileError {
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) {
		return &CompileError{ConditionType: conditionType, Problems: []Problem{{Code: "rego_compile_error", Message: err.Error()}}}
	}
	ce := &CompileError{ConditionType: conditionType}
	for _, e := range astErrs {
		p := Problem{Code: e.Code, Message: e.Message}
		if e.Location != nil {
			p.Line, p.Column = e.Location.Row, e.Location.Col
		}
		if m := undefinedFunction.FindStringSubmatch(e.Message); m != nil {
			if why := forbiddenBuiltin(m[1]); why != "" {
				p.Code = "rego_forbidden_builtin"
				p.Message = fmt.Sprintf("%s is not allowed in condition policies: %s", m[1], why)
			}
		}
		ce.Problems = append(ce.Problems, p)
	}
	return ce
}

// InputKeys returns the top-level input keys the policy's deciding rules read.
func (p *Policy) InputKeys() []string { return slices.Clone(p.inputKeys) }

// Reads returns the top-level input keys the policy may read, sorted; all is true
// when it may read any of them. The facts a round gathers can skip what no policy
// of the round reads.
func (p *Policy) Reads() (keys []string, all bool) { return slices.Clone(p.reads), p.readsAll }
