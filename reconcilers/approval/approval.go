// Package approval counts the decisions in a run's spec.approvals, for both
// reconcilers. The admission webhook decides who may add an entry (SECURITY.md,
// invariant 7); this package only reads what it admitted, and still never counts
// the requester's own approval unless self-approval is allowed, so that a bypassed
// webhook does not turn one person into two.
package approval

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

// Tally is where a run's approvals stand.
type Tally struct {
	// Approvers are the distinct users whose approval counts, in order.
	Approvers []string
	// Rejection is the first reject, if any: it fails the run.
	Rejection *commonv1alpha1.Approval
	// Ignored are entries that do not count: the requester's own, when
	// self-approval is off.
	Ignored []string
}

// Count tallies approvals of a run requested by requester.
func Count(approvals []commonv1alpha1.Approval, requester string, allowSelf bool) Tally {
	var t Tally
	seen := map[string]bool{}
	for i := range approvals {
		a := &approvals[i]
		if a.Approver == requester && !allowSelf {
			t.Ignored = append(t.Ignored, a.Approver)
			continue
		}
		if seen[a.Approver] {
			continue // an approver decides once; the webhook refuses a second entry
		}
		seen[a.Approver] = true
		switch a.Decision {
		case commonv1alpha1.Reject:
			if t.Rejection == nil {
				t.Rejection = a
			}
		case commonv1alpha1.Approve:
			t.Approvers = append(t.Approvers, a.Approver)
		}
	}
	return t
}

// Enough reports whether n approvers have approved.
func (t Tally) Enough(n int) bool { return len(t.Approvers) >= n }

// Progress says in words how far the approvals are: "approved by alice (1 of 2)".
func (t Tally) Progress(n int) string {
	if len(t.Approvers) == 0 {
		return fmt.Sprintf("0 of %d approvals", n)
	}
	return fmt.Sprintf("approved by %s (%d of %d)", strings.Join(t.Approvers, ", "), len(t.Approvers), n)
}

// Observe brings status.approvals up to date with spec.approvals: entries already
// recorded keep their observedTime, new ones are recorded at now and returned, for
// Events. Entries are append-only, so a record matches the entry at its index.
func Observe(records []commonv1alpha1.ApprovalRecord, approvals []commonv1alpha1.Approval, now time.Time) ([]commonv1alpha1.ApprovalRecord, []commonv1alpha1.Approval) {
	kept := 0
	for kept < len(records) && kept < len(approvals) && records[kept].Approval == approvals[kept] {
		kept++
	}
	out := append([]commonv1alpha1.ApprovalRecord(nil), records[:kept]...)
	for _, a := range approvals[kept:] {
		out = append(out, commonv1alpha1.ApprovalRecord{Approval: a, ObservedTime: metav1.NewTime(now)})
	}
	return out, approvals[kept:]
}

// EventReason is the reason of the Event for one decision: Approved or Rejected.
func EventReason(a commonv1alpha1.Approval) string {
	if a.Decision == commonv1alpha1.Reject {
		return commonv1alpha1.RejectedReason
	}
	return commonv1alpha1.ApprovedReason
}

// Describe says in words who decided what and why.
func Describe(a commonv1alpha1.Approval) string {
	verb := "approved"
	if a.Decision == commonv1alpha1.Reject {
		verb = "rejected"
	}
	return fmt.Sprintf("%s by %s: %s", verb, a.Approver, a.Reason)
}

// Outcome is where a run's approval gate stands.
type Outcome int

const (
	// Waiting: not enough approvals yet, and time is left.
	Waiting Outcome = iota
	// Approved: enough approvers approved; the run goes on.
	Approved
	// Rejected: an approver rejected the run; it fails.
	Rejected
	// TimedOut: approvalTimeout ran out first; the run fails.
	TimedOut
)

// Verdict is the gate's decision at one moment, with the words for status.
type Verdict struct {
	Outcome Outcome
	Message string
	// Deadline is when the wait ends, for a Waiting run's requeue.
	Deadline time.Time
}

// Decide applies a run's gates to its approvals at now: a reject fails it at once,
// enough approvers let it go, else it waits until since (its start) plus the
// approval timeout.
func Decide(g *commonv1alpha1.Gates, approvals []commonv1alpha1.Approval, requester string, allowSelf bool, since, now time.Time) Verdict {
	t := Count(approvals, requester, allowSelf)
	n := g.Approvals()
	deadline := since.Add(g.ApprovalWait())
	switch {
	case t.Rejection != nil:
		return Verdict{Outcome: Rejected, Message: fmt.Sprintf("rejected by %s: %s", t.Rejection.Approver, t.Rejection.Reason)}
	case t.Enough(n):
		return Verdict{Outcome: Approved, Message: t.Progress(n)}
	case !now.Before(deadline):
		return Verdict{Outcome: TimedOut, Message: fmt.Sprintf("not approved within %s: %s", g.ApprovalWait(), t.Progress(n))}
	}
	return Verdict{Outcome: Waiting, Message: "waiting for approval (" + t.Progress(n) + ")", Deadline: deadline}
}
