// Package retention deletes finished runs once they have been kept as long as the
// operator chose (the manager's --finished-run-ttl). Whatever creates runs, an
// alert router or a person, creates them without end, and every run kept costs
// etcd and the manager's cache, which holds them all.
package retention

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/metrics"
)

// Policy says how long a finished run is kept.
type Policy struct {
	// TTL is how long a run is kept after it finished; zero keeps runs for good.
	TTL time.Duration
}

// Expire deletes run, which finished at finished (its creation when nil), once the
// TTL has passed since, and otherwise asks to be called again when it has. A run
// with a controller is left to it: a workflow's rollback reads its executions, and
// its finalizer deletes them with it. kind labels the metric
// (metrics.ServiceWorkflow or metrics.ServiceExecution).
func (p Policy) Expire(ctx context.Context, c client.Client, kind string, run client.Object, finished *metav1.Time, now time.Time) (ctrl.Result, error) {
	if p.TTL <= 0 || metav1.GetControllerOfNoCopy(run) != nil || run.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil
	}
	since := run.GetCreationTimestamp().Time
	if finished != nil {
		since = finished.Time
	}
	if left := since.Add(p.TTL).Sub(now); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	// The UID precondition: a run created since under the same name is another run.
	uid := run.GetUID()
	err := c.Delete(ctx, run, client.Preconditions{UID: &uid})
	switch {
	case err == nil:
		metrics.RecordFinishedRunDeleted(kind)
		ctrl.LoggerFrom(ctx).Info("deleted the finished run: kept for the finished-run TTL", "finished", since, "ttl", p.TTL)
		return ctrl.Result{}, nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}
