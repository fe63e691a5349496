package statuspatch

import (
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// NotStatusOnly passes every change of an object but those of its status alone:
// its spec (approvals), its metadata (override annotations, labels, finalizers)
// and its deletion. A reconciler that writes status through Write watches its
// objects with it: whatever follows one of its own writes, the reconcile that
// wrote it asked for (a requeue, or the children it waits on), and a write that
// conflicted is retried after Retry.
var NotStatusOnly = predicate.Or[client.Object](
	predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{},
	predicate.TypedFuncs[client.Object]{UpdateFunc: func(e event.TypedUpdateEvent[client.Object]) bool {
		return !e.ObjectOld.GetDeletionTimestamp().Equal(e.ObjectNew.GetDeletionTimestamp()) ||
			!slices.Equal(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers())
	}},
)
