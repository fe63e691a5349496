package conditions

import (
	"fmt"
	"strings"
	"time"
)

// Polling is what a reconciler keeps in status between reconciles about one
// postcondition it verifies: enough for Decide to decide without sleeping.
type Polling struct {
	// Timeout and Interval come from the condition (or its defaults).
	Timeout, Interval time.Duration
	// MaxConsecutiveErrors ends verification early when the policy could not
	// decide this many times in a row; 0 means DefaultMaxConsecutiveErrors.
	MaxConsecutiveErrors int

	// StartedAt is when verification began; zero before the first evaluation.
	StartedAt time.Time
	// LastEvaluatedAt is when the last evaluation finished.
	LastEvaluatedAt time.Time
	// Attempts counts evaluations, Failures those that decided "not allowed",
	// Errors those that could not decide, ConsecutiveErrors the errors since the
	// last decision.
	Attempts, Failures, Errors, ConsecutiveErrors int
	// Last is the last evaluation's result.
	Last Result
}

// DefaultMaxConsecutiveErrors is the limit of consecutive evaluations that could not
// decide before a postcondition is given up on.
const DefaultMaxConsecutiveErrors = 3

// Record adds the result of an evaluation that finished at now.
func (p Polling) Record(r Result, now time.Time) Polling {
	if p.StartedAt.IsZero() {
		p.StartedAt = now
	}
	p.LastEvaluatedAt = now
	p.Attempts++
	p.Last = r
	switch r.Outcome {
	case Errored:
		p.Errors++
		p.ConsecutiveErrors++
	case Failed:
		p.Failures++
		p.ConsecutiveErrors = 0
	case Inconclusive:
		// No data is neither a decision nor an error: polling goes on, and the
		// errors around it still count as in a row.
	default:
		p.ConsecutiveErrors = 0
	}
	return p
}

// Move is what a reconciler does next with a postcondition.
type Move string

const (
	// EvaluateNow: evaluate the policy now and Record the result.
	EvaluateNow Move = "EvaluateNow"
	// WaitUntil: requeue for Next.At; nothing to do before.
	WaitUntil Move = "WaitUntil"
	// Verified: the postcondition passed. Final.
	Verified Move = "Verified"
	// TimedOut: the timeout ran out before the postcondition passed. Final.
	TimedOut Move = "TimedOut"
	// GaveUp: the policy could not decide too many times in a row. Final.
	GaveUp Move = "GaveUp"
	// Undecided: the timeout ran out while the condition was inconclusive (no
	// data to decide on). Final for verification: neither passed nor failed, it
	// waits for a person.
	Undecided Move = "Undecided"
)

// Next is Decide's decision.
type Next struct {
	Move Move
	// At is when to evaluate again, for WaitUntil.
	At time.Time
	// Message explains a final failure.
	Message string
}

// Final reports whether verification is over.
func (s Next) Final() bool {
	return s.Move == Verified || s.Move == TimedOut || s.Move == GaveUp || s.Move == Undecided
}

// Decide decides, from the polling so far and the clock, what to do with a
// postcondition. It is pure: the reconciler passes now and acts on the Next, with a
// requeue instead of a sleep.
func Decide(p Polling, now time.Time) Next {
	if p.Attempts == 0 {
		return Next{Move: EvaluateNow}
	}
	if p.Last.Outcome == Passed {
		return Next{Move: Verified}
	}
	limit := p.MaxConsecutiveErrors
	if limit <= 0 {
		limit = DefaultMaxConsecutiveErrors
	}
	if p.ConsecutiveErrors >= limit {
		return Next{Move: GaveUp, Message: fmt.Sprintf(
			"condition could not be evaluated %d times in a row: %s", p.ConsecutiveErrors, p.Last.Message)}
	}
	// The last evaluation happens at the deadline; once one has, time is up.
	deadline := p.StartedAt.Add(p.Timeout)
	if !p.LastEvaluatedAt.Before(deadline) {
		if p.Last.Outcome == Inconclusive {
			return Next{Move: Undecided, Message: fmt.Sprintf(
				"inconclusive after %s (%d attempts): %s", shortDuration(p.Timeout), p.Attempts, p.Last.Message)}
		}
		return Next{Move: TimedOut, Message: timeoutMessage(p)}
	}
	next := p.LastEvaluatedAt.Add(p.Interval)
	if next.After(deadline) {
		next = deadline
	}
	if !now.Before(next) {
		return Next{Move: EvaluateNow}
	}
	return Next{Move: WaitUntil, At: next}
}

func timeoutMessage(p Polling) string {
	msg := fmt.Sprintf("Verification timeout: condition not met within %s (%d attempts)", shortDuration(p.Timeout), p.Attempts)
	if p.Last.Message != "" {
		msg += ": " + p.Last.Message
	}
	return msg
}

// shortDuration prints 2m rather than Go's 2m0s, as users write timeouts.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
