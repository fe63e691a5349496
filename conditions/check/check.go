// Package check is the condition service the webhooks and reconcilers call. It
// resolves each condition to its policy (inline Rego, else the policy library),
// gathers the facts of a round once, evaluates the round's conditions in parallel,
// counts them in the metrics, and reports each as a ConditionResult for status.
package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/metrics"
)

// DefaultParallelism bounds the evaluations of one round that run at once.
const DefaultParallelism = 1

// Service is safe for concurrent use.
type Service struct {
	Engine  *conditions.Engine
	Library *library.Library
	// Reader is where facts are read from: the manager's cache.
	Reader client.Reader
	// Parallelism bounds concurrent evaluations in one round; DefaultParallelism
	// when zero.
	Parallelism int
	// Facts gathers the facts of a round, with the sources beyond the API server
	// the manager has (pods' throttling).
	Facts facts.Gatherer
	// Metrics runs the conditions' Prometheus queries (*promquery.Client, whose
	// *promquery.InconclusiveError says there was no data); nil when the manager
	// has no --prometheus-url.
	Metrics facts.Querier
	// Objects reads the objects conditions declare; nil reads none.
	Objects ObjectReader
	// Authority, when set, asks before each round's metrics queries whether the
	// run's requester may still query (QueryPermission).
	Authority *authority.Reviewer
}

// Resolved is a condition's policy and where it came from.
type Resolved struct {
	Policy  *conditions.Policy
	Source  commonv1alpha1.PolicySource
	Version string
}

// NoPolicyError says a condition has neither inline Rego nor a library policy.
type NoPolicyError struct{ ConditionType string }

func (e *NoPolicyError) Error() string {
	return fmt.Sprintf("condition %s has no rego and the policy library has no policy of that type", e.ConditionType)
}

// Resolve returns the policy of c: its inline Rego compiled (from the engine's
// cache when seen before), else the library's policy for its type. Errors are
// *conditions.CompileError or *NoPolicyError.
func (s *Service) Resolve(ctx context.Context, c *commonv1alpha1.ValidationCondition) (Resolved, error) {
	if c.Rego != "" {
		p, err := s.Engine.Compile(ctx, c.Type, c.Rego)
		if err != nil {
			return Resolved{}, err
		}
		return Resolved{Policy: p, Source: commonv1alpha1.PolicySourceInline}, nil
	}
	if e, ok, err := s.Library.Lookup(c.Type); err != nil {
		return Resolved{}, err
	} else if ok {
		return Resolved{Policy: e.Policy, Source: e.Source, Version: e.Version}, nil
	}
	return Resolved{}, &NoPolicyError{ConditionType: c.Type}
}

// Round is one evaluation of a set of conditions of one step or action.
type Round struct {
	// Service is metrics.ServiceWorkflow or metrics.ServiceExecution.
	Service    string
	Action     string
	Parameters map[string]any
	Phase      facts.Phase
	// Conditions to evaluate, with Required already resolved (overrides,
	// validation mode) by the caller.
	Conditions []commonv1alpha1.ValidationCondition
	// Reader, when set, is where this round's facts are read from instead of the
	// service's Reader: one that notes what the round read, to be woken when it
	// changes (package wake).
	Reader client.Reader
	// Target is what the conditions' metrics queries and objects are about.
	Target Target
}

// Outcome is the evaluation of one condition of a round.
type Outcome struct {
	Condition commonv1alpha1.ValidationCondition
	Resolved
	conditions.Result
}

// Run gathers the round's facts once and evaluates every condition on them. An
// error means the facts could not be read; a condition that cannot be resolved or
// decided is an Errored outcome, not an error.
func (s *Service) Run(ctx context.Context, r Round) ([]Outcome, error) {
	reader := s.Reader
	if r.Reader != nil {
		reader = r.Reader
	}
	policies := s.resolveAll(ctx, r.Conditions)
	doc, err := s.Facts.Gather(ctx, reader, r.Action, r.Parameters, r.Phase, wanted(policies))
	if err != nil {
		return nil, err
	}
	return s.evaluate(ctx, r, policies, doc), nil
}

// resolution is a condition's policy, or why it has none.
type resolution struct {
	Resolved
	err error
}

// resolveAll resolves each condition's policy once for a round.
func (s *Service) resolveAll(ctx context.Context, conds []commonv1alpha1.ValidationCondition) []resolution {
	out := make([]resolution, len(conds))
	for i := range conds {
		out[i].Resolved, out[i].err = s.Resolve(ctx, &conds[i])
	}
	return out
}

// wanted returns the input keys the policies read, nil when one may read any. A
// condition without a policy reads nothing: it errors whatever the facts.
func wanted(policies []resolution) catalog.Wanted {
	want := catalog.Wanted{}
	for _, p := range policies {
		if p.err != nil {
			continue
		}
		keys, all := p.Policy.Reads()
		if all {
			return nil
		}
		for _, k := range keys {
			want[k] = true
		}
	}
	return want
}

// Evaluate evaluates the round's conditions on a facts document, converted once for
// all of them, at most Parallelism at a time, and returns the outcomes in the order
// of r.Conditions.
func (s *Service) Evaluate(ctx context.Context, r Round, doc map[string]any) []Outcome {
	return s.evaluate(ctx, r, s.resolveAll(ctx, r.Conditions), doc)
}

// evaluate is Evaluate with the conditions' policies already resolved.
func (s *Service) evaluate(ctx context.Context, r Round, policies []resolution, doc map[string]any) []Outcome {
	// The run's namespace is the tenant whose share of evaluation slots it uses.
	if ns, ok := r.Parameters[catalog.NamespaceParam].(string); ok {
		ctx = conditions.WithTenant(ctx, ns)
	}
	outcomes := make([]Outcome, len(r.Conditions))
	input, err := conditions.NewInput(doc)
	if err != nil {
		for i, c := range r.Conditions {
			outcomes[i] = Outcome{Condition: c, Result: conditions.Result{
				Outcome: conditions.Errored, Reason: conditions.ReasonEvaluationError, Message: conditions.CapMessage(err.Error())}}
			s.record(r, outcomes[i])
		}
		return outcomes
	}
	limit := s.Parallelism
	if limit <= 0 {
		limit = DefaultParallelism
	}
	if limit == 1 || len(r.Conditions) == 1 {
		// In the caller's goroutine: a new goroutine would grow its stack again for
		// OPA's deep recursion on every evaluation.
		for i := range r.Conditions {
			outcomes[i] = s.evaluateOne(ctx, r, i, policies[i], input)
		}
		return outcomes
	}
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range r.Conditions {
		g.Go(func() error {
			outcomes[i] = s.evaluateOne(ctx, r, i, policies[i], input)
			return nil
		})
	}
	_ = g.Wait() // evaluateOne reports problems in its outcome, never as an error
	return outcomes
}

func (s *Service) evaluateOne(ctx context.Context, r Round, i int, p resolution, input conditions.Input) Outcome {
	o := Outcome{Condition: r.Conditions[i], Resolved: p.Resolved}
	if p.err != nil {
		reason := conditions.ReasonEvaluationError
		var noPolicy *NoPolicyError
		if errors.As(p.err, &noPolicy) {
			reason = "NoPolicy"
		}
		// A compile error can quote the requester's inline Rego: capped like a policy's message.
		o.Result = conditions.Result{Outcome: conditions.Errored, Reason: reason, Message: conditions.CapMessage(p.err.Error())}
	} else {
		o.Result = s.evaluateDeclaring(ctx, r, &r.Conditions[i], p.Policy, input)
	}
	s.record(r, o)
	return o
}

// evaluateDeclaring evaluates a policy on the round's input, plus what its condition
// declares (metrics, objects) when it declares any.
func (s *Service) evaluateDeclaring(ctx context.Context, r Round, c *commonv1alpha1.ValidationCondition, p *conditions.Policy, input conditions.Input) conditions.Result {
	if !declares(c) {
		return s.Engine.EvaluateInput(ctx, p, input)
	}
	doc, res := s.declared(ctx, r, c, input.Doc())
	if res != nil {
		return *res
	}
	own, err := conditions.NewInput(doc)
	if err != nil {
		return *errored(err.Error())
	}
	return s.Engine.EvaluateInput(ctx, p, own)
}

func (s *Service) record(r Round, o Outcome) {
	e := metrics.Evaluation{
		ConditionType: metrics.ConditionTypeLabel(o.Condition.Type, s.known),
		Service:       r.Service,
		Action:        r.Action,
		Required:      o.Condition.IsRequired(),
		ErrorReason:   o.Reason,
		Duration:      o.Duration,
	}
	switch o.Outcome {
	case conditions.Passed:
		e.Outcome = metrics.Passed
	case conditions.Failed:
		e.Outcome = metrics.Failed
	case conditions.Inconclusive:
		e.Outcome = metrics.Inconclusive
	default:
		e.Outcome = metrics.Errored
	}
	metrics.RecordEvaluation(e)
}

// known reports whether a condition type is one of the project's: the catalog's or
// the library's. Other types are counted under one label.
func (s *Service) known(conditionType string) bool {
	return s.Library.Has(conditionType)
}

// Status turns an outcome into the ConditionResult status reports, as evaluated at
// now after attempts evaluations.
func (o Outcome) Status(now time.Time, attempts int32) commonv1alpha1.ConditionResult {
	return commonv1alpha1.ConditionResult{
		ConditionType:  o.Condition.Type,
		Evaluated:      o.Outcome != conditions.Errored && o.Outcome != conditions.Inconclusive,
		Passed:         o.Passed(),
		Inconclusive:   o.Outcome == conditions.Inconclusive,
		ErrorMessage:   o.Message,
		EvaluationTime: metav1.NewTime(now),
		Required:       o.Condition.IsRequired(),
		Attempts:       attempts,
		PolicySource:   o.Source,
		PolicyVersion:  o.Version,
		DurationMicros: o.Duration.Microseconds(),
	}
}
