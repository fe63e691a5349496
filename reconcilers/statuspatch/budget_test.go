package statuspatch

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
)

type fakeStatus struct {
	Parts      []string           `json:"parts"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// budgetOf drops the parts one at a time, first to last.
func budgetOf(s *fakeStatus, drops *int) Budget {
	return Budget{
		Status: s,
		Drops: func() []Drop {
			*drops++
			var out []Drop
			for i := range s.Parts {
				out = append(out, Drop{What: "parts", Of: string(rune('a' + i)), Do: func() int {
					saved := Size(s.Parts[i])
					s.Parts[i] = ""
					return saved
				}})
			}
			return out
		},
		Note: Truncated(&s.Conditions, 3),
	}
}

func TestFitLeavesAStatusThatFits(t *testing.T) {
	s := &fakeStatus{Parts: []string{"small", "status"}}
	calls := 0
	dropped, err := Fit(budgetOf(s, &calls), 1<<10)
	if err != nil || dropped != "" || calls != 0 || s.Parts[0] != "small" || len(s.Conditions) != 0 {
		t.Fatalf("Fit changed a status that fits: dropped %q, err %v, Drops called %d times, %+v", dropped, err, calls, s)
	}
}

func TestFitDropsInOrderUntilUnderBudgetAndSaysSo(t *testing.T) {
	const limit = 8 << 10
	s := &fakeStatus{Parts: []string{strings.Repeat("x", 4<<10), strings.Repeat("y", 4<<10), strings.Repeat("<", 1<<10), "newest"}}
	calls := 0
	dropped, err := Fit(budgetOf(s, &calls), limit)
	if err != nil {
		t.Fatal(err)
	}
	// a and b must go; c is 1 KiB that JSON writes as 6 KiB (\u003c), so it goes too.
	if dropped != "parts a, b, c" {
		t.Errorf("dropped = %q, want parts a, b, c", dropped)
	}
	if s.Parts[3] != "newest" {
		t.Errorf("the newest detail went: %q", s.Parts)
	}
	if size := Size(s); size > limit {
		t.Errorf("status is %d bytes, over %d", size, limit)
	}
	c := meta.FindStatusCondition(s.Conditions, commonv1alpha1.StatusTruncatedCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != commonv1alpha1.BudgetExceededReason ||
		!strings.Contains(c.Message, "dropped, oldest first: parts a, b, c") || c.ObservedGeneration != 3 {
		t.Errorf("note = %+v", c)
	}

	// What fits now stays as it is.
	again, err := Fit(budgetOf(s, &calls), limit)
	if err != nil || again != "" || calls != 1 {
		t.Errorf("second Fit: dropped %q, err %v, Drops called %d times", again, err, calls)
	}
}

func TestFitSaysWhenNothingHelps(t *testing.T) {
	s := &fakeStatus{Parts: []string{strings.Repeat("x", 4<<10)}}
	b := budgetOf(s, new(int))
	b.Drops = func() []Drop { return nil }
	if _, err := Fit(b, 1<<10); err == nil || !strings.Contains(err.Error(), "over its budget of 1024") {
		t.Errorf("err = %v", err)
	}
}

func TestDropMessages(t *testing.T) {
	results := []commonv1alpha1.ConditionResult{
		{ConditionType: "a", Passed: true, ErrorMessage: "skipped: overridden"},
		{ConditionType: "b", Passed: false, ErrorMessage: "replicas 1 < 3"},
	}
	if saved := DropMessages(results, true); saved != len(`"skipped: overridden"`) || results[0].ErrorMessage != "" || results[1].ErrorMessage == "" {
		t.Errorf("passed only: saved %d, %+v", saved, results)
	}
	if saved := DropMessages(results, false); saved != len(`"replicas 1 < 3"`)+len(`\u003c`)-1 || results[1].ErrorMessage != "" {
		t.Errorf("all: saved %d, %+v", saved, results)
	}
}

func TestNoteIsCapped(t *testing.T) {
	s := &fakeStatus{}
	for range 2000 {
		s.Parts = append(s.Parts, strings.Repeat("x", 100))
	}
	if _, err := Fit(budgetOf(s, new(int)), 8<<10); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(s.Conditions, commonv1alpha1.StatusTruncatedCondition); c == nil || len(c.Message) > text.MaxMessageBytes {
		t.Errorf("note = %+v", c)
	}
}
