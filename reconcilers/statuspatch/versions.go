package statuspatch

import (
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Versions remembers, for each object, the resourceVersion its last status write
// replaced. A reconcile that reads that version from the cache reads a copy older
// than its own last write: redoing its work would repeat API calls (reviews,
// creates) only for the write to conflict. It can stop instead and look again
// after Retry, when the cache has caught up. This happens whenever a
// reconcile creates a child: the child's event may arrive before the parent's
// status write reaches the cache. Safe for concurrent use; the zero value is
// ready.
type Versions struct{ replaced sync.Map } // client.ObjectKey -> string

// Stale reports whether obj, as read from the cache, is the version a status
// write of ours already replaced.
func (v *Versions) Stale(obj client.Object) bool {
	if v == nil {
		return false
	}
	rv, ok := v.replaced.Load(client.ObjectKeyFromObject(obj))
	return ok && rv == obj.GetResourceVersion()
}

// Forget drops what is known of obj, once it needs no more reconciles.
func (v *Versions) Forget(obj client.Object) {
	if v != nil {
		v.replaced.Delete(client.ObjectKeyFromObject(obj))
	}
}

func (v *Versions) wrote(orig client.Object) {
	if v != nil {
		v.replaced.Store(client.ObjectKeyFromObject(orig), orig.GetResourceVersion())
	}
}
