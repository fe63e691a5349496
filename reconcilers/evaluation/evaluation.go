// Package evaluation is what both reconcilers share around the condition service:
// it applies the validation mode and the overrides to a list of conditions,
// evaluates preconditions once, and advances the polling of postconditions from what
// status recorded, so that a reconciler never sleeps: it writes the results and
// requeues for the next evaluation.
package evaluation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/mode"
)

// Enforcement says how the conditions of one run are enforced.
type Enforcement struct {
	Mode mode.Mode
	// Overridden are the condition types the override annotations skip, as long
	// as they have not expired.
	Overridden map[string]bool
	// Required replaces the required flag of these condition types
	// (spec.conditionOverrides of the workflow).
	Required map[string]bool
	// Overrides records every override annotation that applies, expired or not,
	// for status.
	Overrides []commonv1alpha1.OverrideRecord
}

// OverrideSource is an object whose override annotations apply to a run: the run
// itself, and for a workflow's execution the workflow.
type OverrideSource struct {
	// Name is Kind/name, e.g. WorkflowExecution/scale-web-app.
	Name        string
	Annotations map[string]string
}

// NewEnforcement builds the enforcement of a run at now from its mode, the objects
// whose override annotations apply to it and the workflow's conditionOverrides.
// An override past its expiry is recorded but skips nothing.
func NewEnforcement(m mode.Mode, sources []OverrideSource, overrides []commonv1alpha1.ConditionOverride, now time.Time) Enforcement {
	e := Enforcement{Mode: m, Overridden: map[string]bool{}, Required: map[string]bool{}}
	for _, src := range sources {
		o, ok := commonv1alpha1.OverrideOf(src.Annotations)
		if !ok {
			continue
		}
		record := commonv1alpha1.OverrideRecord{
			Source: src.Name, Conditions: slices.Sorted(maps.Keys(o.Conditions)), By: o.By, Reason: o.Reason,
			At: timeOrNil(o.At), Expires: timeOrNil(o.Expires), Expired: o.ExpiredAt(now),
		}
		e.Overrides = append(e.Overrides, record)
		if record.Expired {
			continue
		}
		for t := range o.Conditions {
			e.Overridden[t] = true
		}
	}
	for _, o := range overrides {
		e.Required[o.Type] = o.Required
	}
	return e
}

func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

// Round is what a reconciler evaluates: one step's or one action's conditions of one
// phase.
type Round struct {
	// Round is what the condition service evaluates: the action, its parameters,
	// the phase, the conditions (with Required as written: the enforcement
	// resolves it) and where the facts are read from.
	check.Round
	// Changed says that an object the postconditions' facts were read from has
	// changed since (package wake): every postcondition not yet decided is
	// evaluated now, before its interval.
	Changed bool
	// Unwritten, when set, keeps the round's evaluations that status need not
	// record; without it every evaluation is recorded.
	Unwritten *Unwritten
}

// Report is the state of a round after an evaluation.
type Report struct {
	// Results are the round's ConditionResults, in the order of its conditions.
	Results []commonv1alpha1.ConditionResult
	// Done is true when no condition needs another evaluation.
	Done bool
	// Blocking lists the required conditions that failed (final).
	Blocking []Failure
	// Warnings lists the optional conditions that failed (final), and in warn mode
	// the required ones.
	Warnings []Failure
	// TimedOut lists the postconditions whose timeout ran out.
	TimedOut []string
	// Undecided lists the required postconditions still inconclusive at their
	// timeout (final): no data to decide on, so neither passed nor failed. A
	// person decides: an override, an approval or a reject.
	Undecided []Failure
	// NextAt is when to evaluate again, when not Done.
	NextAt time.Time
}

// Failure is a condition that failed, and why.
type Failure struct{ Type, Message string }

func (f Failure) String() string { return f.Type + ": " + f.Message }

// Summary joins failures for a status message or an Event.
func Summary(fs []Failure) string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	return strings.Join(lines, "; ")
}

// Passed reports whether the round is over and nothing blocks.
func (r Report) Passed() bool { return r.Done && len(r.Blocking) == 0 }

// Preconditions evaluates every precondition of the round once, and counts each
// required one that blocks (metrics.RecordBlocked).
func Preconditions(ctx context.Context, svc *check.Service, e Enforcement, r Round, now time.Time) (Report, error) {
	report, err := evaluateDue(ctx, svc, e, r, nil, now)
	for _, f := range report.Blocking {
		metrics.RecordBlocked(r.Action, metrics.ConditionTypeLabel(f.Type, svc.Library.Has))
	}
	return report, err
}

// Postconditions evaluates the postconditions whose next evaluation is due, given
// the results status recorded so far (prev), and reports where verification stands.
func Postconditions(ctx context.Context, svc *check.Service, e Enforcement, r Round, prev []commonv1alpha1.ConditionResult, now time.Time) (Report, error) {
	return evaluateDue(ctx, svc, e, r, prev, now)
}

// evaluateDue evaluates what is due and decides. Preconditions (prev nil, phase pre) get
// a single evaluation each; postconditions are polled with conditions.Decide.
func evaluateDue(ctx context.Context, svc *check.Service, e Enforcement, r Round, prev []commonv1alpha1.ConditionResult, now time.Time) (Report, error) {
	if e.Mode == mode.Off {
		return Report{Done: true}, nil
	}
	post := r.Phase == facts.Post
	results := make([]commonv1alpha1.ConditionResult, len(r.Conditions))
	polls := make([]conditions.Polling, len(r.Conditions))
	warnOnly := make([]bool, len(r.Conditions))
	var due []int
	r.Conditions = slices.Clone(r.Conditions)
	for i := range r.Conditions {
		c, downgraded := e.apply(r.Conditions[i])
		r.Conditions[i], warnOnly[i] = c, downgraded
		if e.Overridden[c.Type] {
			results[i] = overriddenResult(c, now)
			continue
		}
		if last, ok := find(prev, c.Type); ok && post {
			results[i] = last
			polls[i] = r.Unwritten.add(c.Type, polling(c, last))
		} else {
			polls[i] = polling(c, commonv1alpha1.ConditionResult{})
		}
		next := conditions.Decide(polls[i], now)
		if !post || next.Move == conditions.EvaluateNow || (r.Changed && !next.Final()) {
			due = append(due, i)
		}
	}

	if len(due) > 0 {
		round := r.Round
		round.Conditions = nil
		for _, i := range due {
			round.Conditions = append(round.Conditions, r.Conditions[i])
		}
		outcomes, err := svc.Run(ctx, round)
		if err != nil {
			return Report{}, fmt.Errorf("reading the cluster state for the %s conditions of %s: %w", r.Phase, r.Action, err)
		}
		for k, i := range due {
			o := outcomes[k]
			before := polls[i]
			polls[i] = polls[i].Record(o.Result, now)
			result := status(o, polls[i], warnOnly[i])
			if post && r.Unwritten.keep(r.Conditions[i].Type, before, polls[i], now) {
				continue // status keeps the last recorded result
			}
			results[i] = result
		}
	}

	report := Report{Results: results, Done: true}
	for i, c := range r.Conditions {
		if results[i].Overridden {
			continue
		}
		step := conditions.Next{Move: conditions.Verified}
		if !results[i].Passed {
			step = conditions.Next{Move: conditions.TimedOut, Message: results[i].ErrorMessage}
			if results[i].Inconclusive {
				// A precondition has one evaluation: without data it blocks, and
				// the block waits for a person to override it.
				step.Message = "inconclusive: " + step.Message
			}
		}
		if post {
			step = conditions.Decide(polls[i], now)
		}
		switch step.Move {
		case conditions.Verified:
			continue
		case conditions.WaitUntil:
			report.Done = false
			if report.NextAt.IsZero() || step.At.Before(report.NextAt) {
				report.NextAt = step.At
			}
			continue
		case conditions.EvaluateNow:
			// Due again at once (a zero interval): evaluate on the next reconcile.
			report.Done = false
			report.NextAt = now
			continue
		}
		// Final failure.
		failure := Failure{Type: c.Type, Message: step.Message}
		if post {
			// The timeout's message quotes the last one, already capped: cap again.
			results[i].ErrorMessage = text.CapMessage(step.Message)
		}
		if step.Move == conditions.TimedOut && post {
			report.TimedOut = append(report.TimedOut, c.Type)
			metrics.RecordTimeout(metrics.ConditionTypeLabel(c.Type, svc.Library.Has), r.Service)
		}
		switch {
		case step.Move == conditions.Undecided && c.IsRequired():
			report.Undecided = append(report.Undecided, failure)
		case c.IsRequired():
			report.Blocking = append(report.Blocking, failure)
		default:
			report.Warnings = append(report.Warnings, failure)
		}
	}
	if !report.Done {
		report.Blocking, report.Warnings, report.TimedOut, report.Undecided = nil, nil, nil, nil
	}
	return report, nil
}

// apply resolves whether c is required in this run: the workflow's
// conditionOverrides first, then warn mode, which makes every condition optional.
// downgraded reports that warn mode made a required condition optional.
func (e Enforcement) apply(c commonv1alpha1.ValidationCondition) (_ commonv1alpha1.ValidationCondition, downgraded bool) {
	required := c.IsRequired()
	if r, ok := e.Required[c.Type]; ok {
		required = r
	}
	if e.Mode == mode.Warn && required {
		required, downgraded = false, true
	}
	c.Required = &required
	return c, downgraded
}

// polling rebuilds a condition's polling state from its last recorded result.
func polling(c commonv1alpha1.ValidationCondition, last commonv1alpha1.ConditionResult) conditions.Polling {
	p := conditions.Polling{
		Timeout:  durationOr(c.Timeout, commonv1alpha1.DefaultPostConditionTimeout),
		Interval: durationOr(c.Interval, commonv1alpha1.DefaultPostConditionPoll),
	}
	if last.Attempts == 0 {
		return p
	}
	p.StartedAt = last.EvaluationTime.Time
	if last.FirstEvaluationTime != nil {
		p.StartedAt = last.FirstEvaluationTime.Time
	}
	p.LastEvaluatedAt = last.EvaluationTime.Time
	p.Attempts = int(last.Attempts)
	p.ConsecutiveErrors = int(last.ConsecutiveErrors)
	switch {
	case last.Inconclusive:
		p.Last = conditions.Result{Outcome: conditions.Inconclusive, Message: last.ErrorMessage}
	case !last.Evaluated:
		p.Last = conditions.Result{Outcome: conditions.Errored, Message: last.ErrorMessage}
	case last.Passed:
		p.Last = conditions.Result{Outcome: conditions.Passed}
	default:
		p.Last = conditions.Result{Outcome: conditions.Failed, Message: last.ErrorMessage}
	}
	return p
}

func status(o check.Outcome, p conditions.Polling, warnOnly bool) commonv1alpha1.ConditionResult {
	r := o.Status(p.LastEvaluatedAt, int32(p.Attempts))
	first := metav1.NewTime(p.StartedAt)
	r.FirstEvaluationTime = &first
	r.ConsecutiveErrors = int32(p.ConsecutiveErrors)
	r.WarnOnly = warnOnly
	return r
}

func overriddenResult(c commonv1alpha1.ValidationCondition, now time.Time) commonv1alpha1.ConditionResult {
	return commonv1alpha1.ConditionResult{
		ConditionType:  c.Type,
		Passed:         true,
		Overridden:     true,
		Required:       c.IsRequired(),
		EvaluationTime: metav1.NewTime(now),
		ErrorMessage:   "skipped: listed in the " + commonv1alpha1.OverrideConditionAnnotation + " annotation",
	}
}

func find(results []commonv1alpha1.ConditionResult, conditionType string) (commonv1alpha1.ConditionResult, bool) {
	i := slices.IndexFunc(results, func(r commonv1alpha1.ConditionResult) bool { return r.ConditionType == conditionType })
	if i < 0 {
		return commonv1alpha1.ConditionResult{}, false
	}
	return results[i], true
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

// Lifted reports whether the overrides in e lift a block: every required
// precondition that failed is overridden now.
func Lifted(results []commonv1alpha1.ConditionResult, e Enforcement) bool {
	for _, res := range results {
		if !res.Passed && res.Required && !e.Overridden[res.ConditionType] {
			return false
		}
	}
	return true
}

// NewOverrides returns the records of current that prev (status) did not have:
// overrides set or changed since, for an Event each.
func NewOverrides(prev, current []commonv1alpha1.OverrideRecord) []commonv1alpha1.OverrideRecord {
	var out []commonv1alpha1.OverrideRecord
	for _, c := range current {
		if !slices.ContainsFunc(prev, func(p commonv1alpha1.OverrideRecord) bool { return sameOverride(p, c) }) {
			out = append(out, c)
		}
	}
	return out
}

func sameOverride(a, b commonv1alpha1.OverrideRecord) bool {
	return a.Source == b.Source && slices.Equal(a.Conditions, b.Conditions) && a.By == b.By && a.Reason == b.Reason &&
		a.At.Equal(b.At) && a.Expires.Equal(b.Expires) && a.Expired == b.Expired
}

// Describe says in words who overrode what, why and until when.
func Describe(records []commonv1alpha1.OverrideRecord) string {
	parts := make([]string, len(records))
	for i, o := range records {
		by := o.By
		if by == "" {
			by = "an unknown user"
		}
		p := fmt.Sprintf("%s overridden by %s on %s: %s", strings.Join(o.Conditions, ","), by, o.Source, o.Reason)
		switch {
		case o.Expired:
			p += " (expired " + o.Expires.UTC().Format(time.RFC3339) + ")"
		case o.Expires != nil:
			p += " (until " + o.Expires.UTC().Format(time.RFC3339) + ")"
		}
		parts[i] = p
	}
	return strings.Join(parts, "; ")
}
