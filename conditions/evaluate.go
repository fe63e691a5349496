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

	"kubernaut.io/stepvalidation/internal/text"
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
	// Inconclusive: the data the condition declared (metrics queries, objects)
	// was not there to decide on: an empty or NaN result, a Prometheus that does
	// not answer, a missing object. The policy did not run. Unlike Errored, it is
	// nobody's mistake, so it neither fails the condition nor ends verification
	// early: a required condition still inconclusive at its timeout waits for a
	// person.
	Inconclusive Outcome = "Inconclusive"
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
	// ReasonResourceLimit: the policy built a value, or held memory, beyond the
	// engine's limits (limits.go, memory.go).
	ReasonResourceLimit = "ResourceLimit"
	// Reasons of an Inconclusive result.
	ReasonNoMetricsData = "NoMetricsData"
	ReasonObjectMissing = "ObjectMissing"
)

// MaxMessageBytes caps a Result's Message. A policy's error_message, message and deny
// set are text a requester can write (inline Rego in a CR); status, Events and
// admission warnings copy the message, so it is capped once, here, for all of them.
const MaxMessageBytes = text.MaxMessageBytes

// Result is the outcome of one evaluation of a policy.
type Result struct {
	Outcome Outcome
	// Reason is one of the Reason constants.
	Reason string
	// Message explains a failure or error in words: the policy's error_message or
	// message, its deny set, or what kept it from deciding. It is valid UTF-8 of at
	// most MaxMessageBytes bytes.
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

// evaluate runs p on input under the engine's deadline and memory governor. Every
// evaluation passes here, so no Result carries more than MaxMessageBytes of what
// a policy wrote.
func (e *Engine) evaluate(ctx context.Context, p *Policy, input Input) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.evalDeadline)
	defer cancel()
	var r Result
	ctx, w, end, err := e.governor.begin(ctx)
	if err != nil {
		r = Result{Outcome: Errored, Reason: ReasonDeadline,
			Message: fmt.Sprintf("no evaluation slot within %s: the manager is evaluating as many policies as it may at once", e.evalDeadline)}
	} else {
		r = decide(ctx, p, input, e.evalDeadline)
		end()
		if w.limited.Load() {
			r = Result{Outcome: Errored, Reason: ReasonResourceLimit,
				Message: fmt.Sprintf("the policy held more than %d MiB while it evaluated, and was stopped", e.governor.trigger>>20)}
		}
	}
	r.Message = CapMessage(r.Message)
	r.Duration = time.Since(start)
	return r
}

// CapMessage cuts a message about a condition to MaxMessageBytes of valid UTF-8. The
// condition service uses it for the results it makes without evaluating (a policy
// that does not compile), whose errors can quote the requester's Rego.
func CapMessage(s string) string { return text.CapMessage(s) }

func decide(ctx context.Context, p *Policy, input Input, deadline time.Duration) Result {
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
		return p.failed(ctx, input.value)
	}
	switch allowed := rs[0].Expressions[0].Value.(type) {
	case bool:
		if allowed {
			return Result{Outcome: Passed, Reason: ReasonAllowed}
		}
		return p.failed(ctx, input.value)
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

// joinSorted joins a deny set's messages in order. It stops once the text is past
// MaxMessageBytes, which is all a Result keeps: a policy can deny with many long
// messages.
func joinSorted(values []any) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = fmt.Sprint(v)
	}
	slices.Sort(s)
	var b strings.Builder
	for i, m := range s {
		if i > 0 {
			b.WriteString("; ")
		}
		if b.Len()+len(m) > MaxMessageBytes {
			// Enough to cut at the cap and know there was more.
			b.WriteString(m[:min(len(m), MaxMessageBytes+1)])
			break
		}
		b.WriteString(m)
	}
	return b.String()
}

func evalError(ctx context.Context, err error, deadline time.Duration) Result {
	var limit *LimitError
	if errors.As(err, &limit) {
		return Result{Outcome: Errored, Reason: ReasonResourceLimit, Message: limit.Error()}
	}
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

// failed is the Result of a policy that did not allow, explained by its
// error_message or message and its deny set. An explanation that reached a
// resource limit makes the evaluation one that did: the limits hold for every
// rule of the policy, not only allow.
func (p *Policy) failed(ctx context.Context, input ast.Value) Result {
	msg, err := p.explainFailure(ctx, input)
	var limit *LimitError
	if errors.As(err, &limit) {
		return Result{Outcome: Errored, Reason: ReasonResourceLimit, Message: limit.Error()}
	}
	return Result{Outcome: Failed, Reason: ReasonNotAllowed, Message: msg}
}

// explainFailure builds the message of a failed condition from the policy's
// error_message or message and its deny set. A policy that explains nothing, or
// whose explanation fails, gets a message naming its package.
func (p *Policy) explainFailure(ctx context.Context, input ast.Value) (string, error) {
	fallback := "policy " + p.Package + " did not allow"
	if p.explain == nil {
		return fallback, nil
	}
	rs, err := p.explain.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil || len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return fallback, err
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
		return fallback, nil
	}
	return strings.Join(parts, "; "), nil
}

// Doc is the facts document the input was converted from; callers must not change it.
func (in Input) Doc() map[string]any { return in.doc }
