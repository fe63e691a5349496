package conditions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Outcome is what one evaluation decided.
type Outcome string

const (
	// Passed: allow was true.
	Passed Outcome = "Passed"
	// Failed: the policy evaluated, and allow was false or undefined.
	Failed Outcome = "Failed"
	// Errored: the policy could not decide: a fact it reads is missing, allow is
	// not a boolean, a built-in failed, or the deadline passed.
	Errored Outcome = "Errored"
)

// Reasons of a Result, in UpperCamel for status conditions and Events.
const (
	ReasonAllowed         = "PolicyAllowed"
	ReasonNotAllowed      = "PolicyNotAllowed"
	ReasonDenied          = "PolicyDenied" // a safety policy's deny set was not empty
	ReasonMissingFacts    = "MissingFacts"
	ReasonNotBoolean      = "AllowNotBoolean"
	ReasonDeadline        = "EvaluationDeadlineExceeded"
	ReasonEvaluationError = "EvaluationError"
)

// Result is the outcome of one evaluation of a policy.
type Result struct {
	Outcome Outcome
	// Reason is one of the Reason constants.
	Reason string
	// Message explains a failure or error in words: the policy's error_message or
	// message, its deny set, or what kept it from deciding.
	Message string
	// Duration is how long the evaluation took.
	Duration time.Duration
}

// Passed reports whether the policy allowed.
func (r Result) Passed() bool { return r.Outcome == Passed }

// Input is a facts document converted once into OPA's value form, so the policies of
// a round that all read it do not convert it again.
type Input struct {
	doc   map[string]any
	value ast.Value
}

// NewInput converts a facts document. It fails only when doc holds values that are
// not JSON (functions, channels).
func NewInput(doc map[string]any) (Input, error) {
	value, err := ast.InterfaceToValue(doc)
	if err != nil {
		return Input{}, fmt.Errorf("the facts are not a JSON document: %w", err)
	}
	return Input{doc: doc, value: value}, nil
}

// evaluate runs p on input under deadline.
func evaluate(ctx context.Context, p *Policy, input Input, deadline time.Duration) Result {
	start := time.Now()
	r := decide(ctx, p, input, deadline)
	r.Duration = time.Since(start)
	return r
}

func decide(ctx context.Context, p *Policy, input Input, deadline time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	rs, err := p.allow.Eval(ctx, rego.EvalParsedInput(input.value))
	if err != nil {
		return evalError(ctx, err, deadline)
	}
	if p.safety {
		return decideSafety(rs)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		if missing := missingKeys(p.inputKeys, input.doc); len(missing) > 0 {
			return Result{Outcome: Errored, Reason: ReasonMissingFacts,
				Message: "the input lacks " + strings.Join(missing, ", ") + ", which the policy reads"}
		}
		return Result{Outcome: Failed, Reason: ReasonNotAllowed, Message: p.explainFailure(ctx, input.value)}
	}
	switch allowed := rs[0].Expressions[0].Value.(type) {
	case bool:
		if allowed {
			return Result{Outcome: Passed, Reason: ReasonAllowed}
		}
		return Result{Outcome: Failed, Reason: ReasonNotAllowed, Message: p.explainFailure(ctx, input.value)}
	default:
		return Result{Outcome: Errored, Reason: ReasonNotBoolean,
			Message: fmt.Sprintf("allow is %T (%v), want a boolean", allowed, allowed)}
	}
}

// decideSafety reads a safety policy's deny set: empty (or undefined) allows.
func decideSafety(rs rego.ResultSet) Result {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Result{Outcome: Passed, Reason: ReasonAllowed}
	}
	deny, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return Result{Outcome: Errored, Reason: ReasonNotBoolean,
			Message: fmt.Sprintf("deny is %T, want a set of messages", rs[0].Expressions[0].Value)}
	}
	if len(deny) == 0 {
		return Result{Outcome: Passed, Reason: ReasonAllowed}
	}
	return Result{Outcome: Failed, Reason: ReasonDenied, Message: joinSorted(deny)}
}

func joinSorted(values []any) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = fmt.Sprint(v)
	}
	slices.Sort(s)
	return strings.Join(s, "; ")
}

func evalError(ctx context.Context, err error, deadline time.Duration) Result {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Result{Outcome: Errored, Reason: ReasonDeadline,
			Message: fmt.Sprintf("the policy did not decide within %s", deadline)}
	}
	return Result{Outcome: Errored, Reason: ReasonEvaluationError, Message: err.Error()}
}

func missingKeys(keys []string, input map[string]any) []string {
	var missing []string
	for _, k := range keys {
		if _, ok := input[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

// explainFailure builds the message of a failed condition from the policy's
// error_message or message and its deny set. A policy that explains nothing gets a
// message naming its package.
func (p *Policy) explainFailure(ctx context.Context, input ast.Value) string {
	fallback := "policy " + p.Package + " did not allow"
	if p.explain == nil {
		return fallback
	}
	rs, err := p.explain.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil || len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return fallback
	}
	doc, _ := rs[0].Expressions[0].Value.(map[string]any)
	var parts []string
	for _, rule := range []string{ruleErrorMessage, ruleMessage} {
		if s, ok := doc[rule].(string); ok && s != "" {
			parts = append(parts, s)
			break
		}
	}
	if deny, ok := doc[ruleDeny].([]any); ok && len(deny) > 0 {
		parts = append(parts, joinSorted(deny))
	}
	if len(parts) == 0 {
		return fallback
	}
	return strings.Join(parts, "; ")
}
