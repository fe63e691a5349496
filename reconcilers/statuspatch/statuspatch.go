// Package statuspatch writes a reconciler's status once, at the end of a reconcile:
// a merge patch from the object as it was read, with an optimistic lock, so that a
// reconcile that read a stale copy from the cache never overwrites newer status.
// Before writing it keeps the status within a budget (see Fit).
package statuspatch

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Write patches the status of obj from orig, obj as the reconcile read it, when it
// changed. It first fits the status into MaxStatusBytes (see Fit). A conflict is not
// an error: the newer version's event brings another reconcile, which decides again.
// A write that succeeds is recorded in versions (which may be nil).
func Write(ctx context.Context, c client.Client, obj, orig client.Object, b Budget, versions *Versions) error {
	if equality.Semantic.DeepEqual(orig, obj) {
		return nil
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
		return nil
	case err != nil:
		return fmt.Errorf("writing status: %w", err)
	}
	versions.wrote(orig)
	return nil
}
