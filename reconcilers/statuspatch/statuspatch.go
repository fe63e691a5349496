// Package statuspatch writes a reconciler's status, once at the end of a reconcile
// (or also before a step that must follow a durable record, such as an action):
// a merge patch from the object as it was read, with an optimistic lock, so that a
// reconcile that read a stale copy from the cache never overwrites newer status.
// Before writing it keeps the status within a budget (see Fit).
package statuspatch

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Retry is how soon a reconcile that read a stale copy, or whose write
// conflicted, looks again.
const Retry = 100 * time.Millisecond

// Write patches the status of obj from orig, obj as the reconcile read it, when it
// changed. It first fits the status into MaxStatusBytes (see Fit). A conflict is not
// an error: it returns conflicted, and the caller reconciles
// again shortly (a controller may not watch its own status writes). A write that
// succeeds is recorded in versions (which may be nil).
func Write(ctx context.Context, c client.Client, obj, orig client.Object, b Budget, versions *Versions) (conflicted bool, _ error) {
	if equality.Semantic.DeepEqual(orig, obj) {
		return false, nil
	}
	if dropped, err := Fit(b, MaxStatusBytes); err != nil {
		// Write it anyway: the API server, not the budget, has the last word.
		ctrl.LoggerFrom(ctx).Error(err, "status over budget")
	} else if dropped != "" {
		ctrl.LoggerFrom(ctx).Info("status over budget; dropped detail", "dropped", dropped)
	}
	err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("status changed meanwhile; reconciling again")
		return true, nil
	case err != nil:
		return false, fmt.Errorf("writing status: %w", err)
	}
	versions.wrote(orig)
	return false, nil
}
