package statuspatch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
)

// MaxStatusBytes is the budget of one object's status, as JSON: a third of the
// 1.5 MiB etcd stores an object in, the rest left to the spec (inline Rego) and
// metadata. An object past that limit cannot be written at all: its run could no
// longer record anything.
const MaxStatusBytes = 512 << 10

// noteBytes is kept free below the budget for the condition that says what was
// dropped: its message is capped at text.MaxMessageBytes.
const noteBytes = 2 << 10

// Budget is what Fit needs to know about one kind's status.
type Budget struct {
	// Status is measured as json.Marshal writes it.
	Status any
	// Drops lists the detail the status can do without, in the order it goes:
	// least useful and oldest first. Fit calls it only when over budget.
	Drops func() []Drop
	// Note records in the status what was dropped (see Truncated).
	Note func(message string)
}

// Drop is one piece of detail a status can do without.
type Drop struct {
	// What is dropped, e.g. "the condition results of steps", and whose, e.g.
	// "3". Drops of the same What are reported together: "... of steps 1, 2, 3".
	// Of may be empty.
	What, Of string
	// Do drops it and returns how many bytes of JSON that saved (Size of what it
	// removed); 0 when there was nothing to drop.
	Do func() int
}

// Fit keeps b.Status within limit bytes of JSON. A status that fits costs one
// json.Marshal and is left as it is. One that does not loses detail, drop by drop
// in order, until what the drops saved brings it within the budget, with room for
// the note; then it is measured again, and dropping goes on should the drops have
// saved less than they said. b.Note says what went. The same status always loses
// the same detail, at the cost of a few more Marshals. dropped is "" when nothing
// went; err says the status is still over budget after every drop.
func Fit(b Budget, limit int) (dropped string, err error) {
	raw, err := json.Marshal(b.Status)
	if err != nil {
		return "", fmt.Errorf("measuring the status: %w", err)
	}
	size := len(raw)
	if size <= limit {
		return "", nil
	}
	drops, next := b.Drops(), 0
	var groups []group // in the order they first dropped something
	for size > limit-noteBytes && next < len(drops) {
		for ; size > limit-noteBytes && next < len(drops); next++ {
			if saved := drops[next].Do(); saved > 0 {
				size -= saved
				groups = add(groups, drops[next])
			}
		}
		// Measure rather than trust: a drop that leaves "" or null behind saved less.
		size = Size(b.Status)
	}
	if len(groups) > 0 {
		parts := make([]string, len(groups))
		for i, g := range groups {
			parts[i] = strings.TrimSpace(g.what + " " + strings.Join(g.of, ", "))
		}
		dropped = strings.Join(parts, "; ")
		b.Note(text.CapMessage(fmt.Sprintf("the status outgrew its budget of %d KiB of JSON; dropped, oldest first: %s", limit>>10, dropped)))
	}
	if size = Size(b.Status); size > limit {
		return dropped, fmt.Errorf("the status is %d bytes of JSON after dropping all the detail it can, over its budget of %d", size, limit)
	}
	return dropped, nil
}

// group is the drops of one What that saved something, and whose they were.
type group struct {
	what string
	of   []string
}

func add(groups []group, d Drop) []group {
	i := slices.IndexFunc(groups, func(g group) bool { return g.what == d.What })
	if i < 0 {
		groups, i = append(groups, group{what: d.What}), len(groups)
	}
	if d.Of != "" {
		groups[i].of = append(groups[i].of, d.Of)
	}
	return groups
}

// Size is the length of v as JSON, or 0 when it cannot be encoded: a lower bound
// either way, as Drop.Do needs.
func Size(v any) int {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(raw)
}

// DropMessages empties the errorMessage of results (of those that passed, with
// passedOnly) and returns the bytes of JSON that saved, at least.
func DropMessages(results []commonv1alpha1.ConditionResult, passedOnly bool) int {
	saved := 0
	for i := range results {
		if r := &results[i]; r.ErrorMessage != "" && (r.Passed || !passedOnly) {
			saved += Size(r.ErrorMessage)
			r.ErrorMessage = ""
		}
	}
	return saved
}

// Truncated returns a Budget.Note that sets condition StatusTruncated True, with
// reason BudgetExceeded and the message Fit gives, in conds. It stays True: what
// was dropped does not come back.
func Truncated(conds *[]metav1.Condition, generation int64) func(string) {
	return func(message string) {
		meta.SetStatusCondition(conds, metav1.Condition{
			Type:               commonv1alpha1.StatusTruncatedCondition,
			Status:             metav1.ConditionTrue,
			Reason:             commonv1alpha1.BudgetExceededReason,
			Message:            message,
			ObservedGeneration: generation,
		})
	}
}
