package approval

import (
	"slices"
	"testing"
	"time"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

func entry(who string, d commonv1alpha1.ApprovalDecision) commonv1alpha1.Approval {
	return commonv1alpha1.Approval{Approver: who, Decision: d, Reason: "because"}
}

func TestCount(t *testing.T) {
	approve, reject := commonv1alpha1.Approve, commonv1alpha1.Reject
	cases := []struct {
		name      string
		entries   []commonv1alpha1.Approval
		allowSelf bool
		approvers []string
		rejected  string
		ignored   int
	}{
		{name: "none"},
		{name: "two distinct", entries: []commonv1alpha1.Approval{entry("bob", approve), entry("carol", approve)}, approvers: []string{"bob", "carol"}},
		{name: "one person counts once", entries: []commonv1alpha1.Approval{entry("bob", approve), entry("bob", approve)}, approvers: []string{"bob"}},
		{name: "the requester does not count", entries: []commonv1alpha1.Approval{entry("alice", approve)}, ignored: 1},
		{name: "unless self-approval is allowed", entries: []commonv1alpha1.Approval{entry("alice", approve)}, allowSelf: true, approvers: []string{"alice"}},
		{name: "a reject", entries: []commonv1alpha1.Approval{entry("bob", approve), entry("carol", reject)}, approvers: []string{"bob"}, rejected: "carol"},
		{name: "the requester cannot reject their own run either", entries: []commonv1alpha1.Approval{entry("alice", reject)}, ignored: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Count(tc.entries, "alice", tc.allowSelf)
			if !slices.Equal(got.Approvers, tc.approvers) {
				t.Errorf("approvers = %v, want %v", got.Approvers, tc.approvers)
			}
			if rejected := ""; got.Rejection != nil {
				rejected = got.Rejection.Approver
				if rejected != tc.rejected {
					t.Errorf("rejected by %q, want %q", rejected, tc.rejected)
				}
			} else if tc.rejected != "" {
				t.Errorf("no rejection, want one by %q", tc.rejected)
			}
			if len(got.Ignored) != tc.ignored {
				t.Errorf("ignored = %v, want %d", got.Ignored, tc.ignored)
			}
		})
	}
	if !Count([]commonv1alpha1.Approval{entry("bob", approve), entry("carol", approve)}, "alice", false).Enough(2) {
		t.Error("two approvers are enough for two")
	}
	if Count([]commonv1alpha1.Approval{entry("bob", approve), entry("bob", approve)}, "alice", false).Enough(2) {
		t.Error("one approver twice is not enough for two")
	}
}

func TestObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	records, fresh := Observe(nil, []commonv1alpha1.Approval{entry("bob", commonv1alpha1.Approve)}, t0)
	if len(records) != 1 || len(fresh) != 1 || !records[0].ObservedTime.Time.Equal(t0) {
		t.Fatalf("first observation: %+v, fresh %v", records, fresh)
	}
	records, fresh = Observe(records, []commonv1alpha1.Approval{entry("bob", commonv1alpha1.Approve), entry("carol", commonv1alpha1.Reject)}, t1)
	if len(records) != 2 || len(fresh) != 1 || fresh[0].Approver != "carol" {
		t.Fatalf("second observation: %+v, fresh %v", records, fresh)
	}
	if !records[0].ObservedTime.Time.Equal(t0) || !records[1].ObservedTime.Time.Equal(t1) {
		t.Fatalf("observed times: %v, %v; want the first kept, the second new", records[0].ObservedTime, records[1].ObservedTime)
	}
	if _, fresh = Observe(records, []commonv1alpha1.Approval{entry("bob", commonv1alpha1.Approve), entry("carol", commonv1alpha1.Reject)}, t1.Add(time.Minute)); len(fresh) != 0 {
		t.Fatalf("nothing new, got %v", fresh)
	}
}

func TestDecide(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	two := int32(2)
	gates := &commonv1alpha1.Gates{ApprovalRequired: true, ApprovalsRequired: &two}
	bob, carol := entry("bob", commonv1alpha1.Approve), entry("carol", commonv1alpha1.Approve)
	cases := []struct {
		name    string
		entries []commonv1alpha1.Approval
		at      time.Duration
		want    Outcome
		message string
	}{
		{name: "nobody yet", at: time.Minute, want: Waiting, message: "waiting for approval (0 of 2 approvals)"},
		{name: "one of two", entries: []commonv1alpha1.Approval{bob}, at: time.Minute, want: Waiting, message: "waiting for approval (approved by bob (1 of 2))"},
		{name: "two of two", entries: []commonv1alpha1.Approval{bob, carol}, at: time.Minute, want: Approved, message: "approved by bob, carol (2 of 2)"},
		{name: "approved after the deadline still counts", entries: []commonv1alpha1.Approval{bob, carol}, at: 2 * time.Hour, want: Approved},
		{name: "a reject wins", entries: []commonv1alpha1.Approval{bob, entry("dave", commonv1alpha1.Reject), carol}, at: time.Minute,
			want: Rejected, message: "rejected by dave: because"},
		{name: "time runs out", entries: []commonv1alpha1.Approval{bob}, at: time.Hour, want: TimedOut, message: "not approved within 1h0m0s: approved by bob (1 of 2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(gates, tc.entries, "alice", false, start, start.Add(tc.at))
			if v.Outcome != tc.want || (tc.message != "" && v.Message != tc.message) {
				t.Fatalf("verdict = %+v, want outcome %d, message %q", v, tc.want, tc.message)
			}
			if v.Outcome == Waiting && !v.Deadline.Equal(start.Add(time.Hour)) {
				t.Fatalf("deadline = %v, want the start plus the default 1h", v.Deadline)
			}
		})
	}
}
