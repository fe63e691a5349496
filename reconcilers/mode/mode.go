// Package mode decides how strictly conditions are enforced for one run, so that
// operators can roll validation out gradually: everywhere in warn mode first, then
// enforced in a canary share of runs, then everywhere.
//
// The decision, in order: the namespace label kubernaut.io/validation-mode, when
// set, wins; otherwise a run whose UID hashes outside the canary percentage is not
// validated (off); otherwise the manager's --validation-mode applies.
package mode

import (
	"context"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Mode says what a condition's failure does.
type Mode string

const (
	// Enforce: a required condition that fails blocks or fails the run.
	Enforce Mode = "enforce"
	// Warn: every condition acts as optional; failures are reported in results and
	// Events, never enforced.
	Warn Mode = "warn"
	// Off: conditions are not evaluated. Parameters, RBAC and safety policies still
	// apply: they are guard rails, not validation.
	Off Mode = "off"
)

// NamespaceLabel sets the mode of every run in a namespace.
const NamespaceLabel = "kubernaut.io/validation-mode"

// Parse reads a mode as the flag and the label spell it.
func Parse(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Enforce, Warn, Off:
		return m, nil
	}
	return "", fmt.Errorf("validation mode %q is not one of enforce, warn, off", s)
}

// Resolver decides the mode of runs. It is safe for concurrent use.
type Resolver struct {
	// Default is the manager's --validation-mode.
	Default Mode
	// CanaryPercent is the share of runs, by UID hash, that Default applies to;
	// the others are off. 100 applies it to all.
	CanaryPercent int
	// Reader reads namespaces (the manager's cache).
	Reader client.Reader
}

// For returns the mode of a run in namespace whose canary identity is uid (a
// workflow's UID, so that a workflow and its executions agree). An unreadable
// namespace is an error: guessing could enforce what the operator meant to warn
// about, or the reverse.
func (r *Resolver) For(ctx context.Context, namespace string, uid types.UID) (Mode, error) {
	var ns corev1.Namespace
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		return "", fmt.Errorf("reading namespace %s for its validation mode: %w", namespace, err)
	}
	if label, ok := ns.Labels[NamespaceLabel]; ok {
		m, err := Parse(label)
		if err != nil {
			return "", fmt.Errorf("namespace %s label %s: %w", namespace, NamespaceLabel, err)
		}
		return m, nil
	}
	if !InCanary(uid, r.CanaryPercent) {
		return Off, nil
	}
	if r.Default == "" {
		return Enforce, nil
	}
	return r.Default, nil
}

// InCanary reports whether uid falls within the first percent of the hash space.
func InCanary(uid types.UID, percent int) bool {
	if percent >= 100 {
		return true
	}
	if percent <= 0 {
		return false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid)) // a hash's Write never fails
	return int(h.Sum32()%100) < percent
}
