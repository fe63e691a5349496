package evaluation

import (
	"sync"
	"time"

	"kubernaut.io/stepvalidation/conditions"
)

// Unwritten keeps in memory the evaluations of a round's postconditions that
// status does not record: those that failed again, as the last recorded one
// did, and decided nothing final. A rollout is verified by many evaluations
// that fail the same way until the last passes; writing each would cost a
// status write and a reconcile for nothing a reader needs. Status records the
// first evaluation, every change of verdict, an evaluation that could not
// decide (consecutive errors count toward giving up) and the last, with the
// attempts counted here included. After a restart what was kept here is lost:
// the interval then counts from the last recorded evaluation, which at worst
// evaluates once more. Safe for concurrent use; the zero value is ready, and a
// nil one records everything.
type Unwritten struct {
	mu   sync.Mutex
	kept map[string]kept // by condition type
}

type kept struct {
	at       time.Time // the last evaluation not recorded
	attempts int       // evaluations not recorded since the last recorded one
	since    time.Time // the last recorded evaluation they follow
}

// add returns p, the polling status recorded of conditionType, with what u
// kept since.
func (u *Unwritten) add(conditionType string, p conditions.Polling) conditions.Polling {
	if u == nil {
		return p
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.kept[conditionType]
	if !ok || !k.since.Equal(p.LastEvaluatedAt) {
		return p // status moved on (or is older than what was kept)
	}
	p.LastEvaluatedAt = k.at
	p.Attempts += k.attempts
	return p
}

// keep decides whether the evaluation that took the polling of conditionType
// from before to after needs no status write, and if so keeps it. before is as
// add returned it.
func (u *Unwritten) keep(conditionType string, before, after conditions.Polling, now time.Time) bool {
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.kept[conditionType]
	recorded := before.LastEvaluatedAt
	if ok {
		recorded = k.since
	}
	same := before.Attempts > 0 && before.Last.Outcome == conditions.Failed && after.Last.Outcome == conditions.Failed
	if !same || conditions.Decide(after, now).Final() {
		delete(u.kept, conditionType)
		return false
	}
	if u.kept == nil {
		u.kept = map[string]kept{}
	}
	u.kept[conditionType] = kept{at: now, attempts: k.attempts + 1, since: recorded}
	return true
}
