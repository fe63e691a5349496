package conditions

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(seconds int) time.Time { return t0.Add(time.Duration(seconds) * time.Second) }

var (
	passed  = Result{Outcome: Passed, Reason: ReasonAllowed}
	failed  = Result{Outcome: Failed, Reason: ReasonNotAllowed, Message: "ready_pods 3 < 5"}
	errored = Result{Outcome: Errored, Reason: ReasonMissingFacts, Message: "the input lacks ready_pods"}
)

// poll runs a verification to its end the way a reconciler would: Decide, then
// evaluate (taking the next result) or requeue to the time asked for. It returns
// the final step and the times of the evaluations.
func poll(t *testing.T, p Polling, results []Result) (Next, []int) {
	t.Helper()
	now := t0
	var evaluatedAt []int
	for range 1000 {
		step := Decide(p, now)
		switch step.Move {
		case EvaluateNow:
			if len(results) == 0 {
				t.Fatalf("asked to evaluate again at %s after %v", now.Sub(t0), evaluatedAt)
			}
			evaluatedAt = append(evaluatedAt, int(now.Sub(t0)/time.Second))
			p = p.Record(results[0], now)
			results = results[1:]
		case WaitUntil:
			if !step.At.After(now) {
				t.Fatalf("WaitUntil %s is not after now %s", step.At, now)
			}
			now = step.At
		default:
			return step, evaluatedAt
		}
	}
	t.Fatal("verification did not end")
	return Next{}, nil
}

func repeat(r Result, n int) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func TestVerification(t *testing.T) {
	twoMinutes := Polling{Timeout: 2 * time.Minute, Interval: 5 * time.Second}
	cases := []struct {
		name        string
		polling     Polling
		results     []Result
		want        Move
		evaluations []int // seconds after the start
		message     string
	}{
		{
			name: "passes at once", polling: twoMinutes,
			results: []Result{passed}, want: Verified, evaluations: []int{0},
		},
		{
			name: "passes on the third attempt", polling: twoMinutes,
			results: []Result{failed, failed, passed}, want: Verified, evaluations: []int{0, 5, 10},
		},
		{
			name: "times out after the last evaluation at the deadline", polling: Polling{Timeout: 12 * time.Second, Interval: 5 * time.Second},
			results: repeat(failed, 4), want: TimedOut, evaluations: []int{0, 5, 10, 12},
			message: "Verification timeout: condition not met within 12s (4 attempts): ready_pods 3 < 5",
		},
		{
			name: "the 2m timeout of the seed", polling: twoMinutes,
			results: repeat(failed, 25), want: TimedOut,
			message: "Verification timeout: condition not met within 2m (25 attempts)",
		},
		{
			name: "passes at the deadline", polling: Polling{Timeout: 12 * time.Second, Interval: 5 * time.Second},
			results: []Result{failed, failed, failed, passed}, want: Verified, evaluations: []int{0, 5, 10, 12},
		},
		{
			name: "gives up after three errors in a row", polling: twoMinutes,
			results: []Result{errored, errored, errored}, want: GaveUp, evaluations: []int{0, 5, 10},
			message: "could not be evaluated 3 times in a row: the input lacks ready_pods",
		},
		{
			name: "a decision resets the error count", polling: twoMinutes,
			results: []Result{errored, errored, failed, errored, errored, passed}, want: Verified,
			evaluations: []int{0, 5, 10, 15, 20, 25},
		},
		{
			name: "a zero timeout checks once", polling: Polling{Interval: 5 * time.Second},
			results: []Result{failed}, want: TimedOut, evaluations: []int{0},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			step, evaluations := poll(t, c.polling, c.results)
			if step.Move != c.want {
				t.Fatalf("got %s (%s), want %s", step.Move, step.Message, c.want)
			}
			if !step.Final() {
				t.Errorf("%s is not final", step.Move)
			}
			if c.evaluations != nil && !slices.Equal(evaluations, c.evaluations) {
				t.Errorf("evaluated at %v s, want %v s", evaluations, c.evaluations)
			}
			if !strings.Contains(step.Message, c.message) {
				t.Errorf("message %q does not contain %q", step.Message, c.message)
			}
		})
	}
}

// A requeue that comes early (another event woke the reconciler) waits again
// instead of evaluating before the interval.
func TestEarlyWakeUpWaits(t *testing.T) {
	p := Polling{Timeout: time.Minute, Interval: 5 * time.Second}.Record(failed, at(0))
	if step := Decide(p, at(2)); step.Move != WaitUntil || !step.At.Equal(at(5)) {
		t.Fatalf("got %s at %s, want WaitUntil at +5s", step.Move, step.At)
	}
}

func TestRecordCountsFailuresAndErrorsApart(t *testing.T) {
	var p Polling
	for i, r := range []Result{failed, errored, failed, errored, errored} {
		p = p.Record(r, at(i))
	}
	if p.Attempts != 5 || p.Failures != 2 || p.Errors != 3 || p.ConsecutiveErrors != 2 || !p.StartedAt.Equal(t0) {
		t.Fatalf("got %+v", p)
	}
}

func TestInconclusiveVerification(t *testing.T) {
	inconclusive := Result{Outcome: Inconclusive, Reason: ReasonNoMetricsData, Message: "metrics error_rate: the query returned no series"}
	p := Polling{Timeout: 30 * time.Second, Interval: 10 * time.Second}

	// No data is nobody's error: polling goes on to the timeout instead of giving
	// up after DefaultMaxConsecutiveErrors, and ends Undecided, not TimedOut.
	step, evaluatedAt := poll(t, p, repeat(inconclusive, 10))
	if step.Move != Undecided {
		t.Fatalf("inconclusive to the end: got %s, want %s", step.Move, Undecided)
	}
	if !slices.Equal(evaluatedAt, []int{0, 10, 20, 30}) {
		t.Errorf("evaluated at %v, want every interval to the timeout", evaluatedAt)
	}
	if !step.Final() || !strings.Contains(step.Message, "inconclusive after 30s (4 attempts)") || !strings.Contains(step.Message, "no series") {
		t.Errorf("message %q must say it stayed inconclusive and why", step.Message)
	}

	// Data that arrives decides as usual.
	if step, _ := poll(t, p, []Result{inconclusive, inconclusive, passed}); step.Move != Verified {
		t.Errorf("inconclusive then passed: got %s", step.Move)
	}
	// The last evaluation decides: failed at the timeout is a failure, even after
	// inconclusive ones.
	if step, _ := poll(t, p, []Result{inconclusive, inconclusive, inconclusive, failed}); step.Move != TimedOut {
		t.Errorf("inconclusive then failed at the timeout: got %s", step.Move)
	}
	// Inconclusive evaluations neither add to the errors in a row nor reset them.
	long := Polling{Timeout: time.Minute, Interval: 10 * time.Second}
	if step, evaluatedAt := poll(t, long, []Result{errored, inconclusive, errored, errored}); step.Move != GaveUp || len(evaluatedAt) != 4 {
		t.Errorf("three errors in a row after an inconclusive one: got %s", step.Move)
	}
}
