// Package pause tells whether an administrator has paused new actions, cluster-wide
// (the ConfigMap kubernaut-pause in the manager's namespace) or in one namespace
// (the annotation kubernaut.io/paused on the Namespace). A paused run does not act
// until the pause ends; what already acted goes on being verified.
//
// Who may pause follows from RBAC the cluster already has: creating that ConfigMap
// needs write access to the manager's namespace, and annotating a Namespace needs
// update on namespaces.
package pause

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

// Pause says why actions are paused; the zero value means they are not.
type Pause struct {
	// Scope is "cluster" or "namespace"; Namespace names the paused one.
	Scope     string
	Namespace string
	Reason    string
}

// Active reports whether actions are paused.
func (p Pause) Active() bool { return p.Scope != "" }

// String says in words what is paused and why, for status messages.
func (p Pause) String() string {
	where := "cluster-wide (ConfigMap " + commonv1alpha1.PauseConfigMap + ")"
	if p.Scope == ScopeNamespace {
		where = "in namespace " + p.Namespace + " (annotation " + commonv1alpha1.PauseAnnotation + " on the Namespace)"
	}
	return fmt.Sprintf("new actions are paused %s: %s", where, p.Reason)
}

// Scopes of a pause.
const (
	ScopeCluster   = "cluster"
	ScopeNamespace = "namespace"
)

// Resolver reads the pause switches from the manager's cache.
type Resolver struct {
	// Reader reads the manager namespace's ConfigMaps and the Namespaces.
	Reader client.Reader
	// Namespace is the manager's.
	Namespace string
}

// For returns the pause that applies to a run in namespaces (the run's own and
// its target's; "" for a cluster-scoped target is skipped): the cluster-wide one
// first. An unreadable switch is an error: acting while a pause may be on is what
// the pause exists to prevent.
func (r *Resolver) For(ctx context.Context, namespaces ...string) (Pause, error) {
	if r == nil || r.Reader == nil {
		return Pause{}, nil
	}
	var cm corev1.ConfigMap
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: commonv1alpha1.PauseConfigMap}, &cm)
	switch {
	case err == nil && cm.DeletionTimestamp.IsZero():
		return Pause{Scope: ScopeCluster, Reason: reasonOf(cm.Data[commonv1alpha1.PauseReasonKey])}, nil
	case client.IgnoreNotFound(err) != nil:
		return Pause{}, fmt.Errorf("reading the pause switch %s/%s: %w", r.Namespace, commonv1alpha1.PauseConfigMap, err)
	}
	for i, namespace := range namespaces {
		if namespace == "" || slices.Contains(namespaces[:i], namespace) {
			continue
		}
		var ns corev1.Namespace
		if err := r.Reader.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
			return Pause{}, fmt.Errorf("reading namespace %s for its pause annotation: %w", namespace, err)
		}
		if v, ok := ns.Annotations[commonv1alpha1.PauseAnnotation]; ok {
			return Pause{Scope: ScopeNamespace, Namespace: namespace, Reason: reasonOf(v)}, nil
		}
	}
	return Pause{}, nil
}

func reasonOf(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "no reason given"
	}
	return s
}

// PollInterval is how often a paused run looks at the switches again, in case a
// change was missed (the Watch below wakes it at once otherwise).
const PollInterval = 30 * time.Second

// Watch makes b wake the paused runs (paused lists them) when a pause switch
// changes: a Namespace's annotations or the cluster-wide ConfigMap. Every paused
// run is woken, since a run may be held by its target's namespace as well as its
// own. Without a Resolver it adds nothing.
func (r *Resolver) Watch(b *builder.Builder, paused func(ctx context.Context, namespace string) []reconcile.Request) *builder.Builder {
	if r == nil {
		return b
	}
	return b.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return paused(ctx, "")
		}), builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return paused(ctx, "")
		}), builder.WithPredicates(predicate.NewPredicateFuncs(r.isSwitch)))
}

// Held returns the paused lister Watch takes for one kind of run: it lists the
// runs of list's kind in a namespace ("" for all) from c, and returns those
// isPaused says are paused.
func Held(c client.Reader, list client.ObjectList, isPaused func(client.Object) bool) func(ctx context.Context, namespace string) []reconcile.Request {
	return func(ctx context.Context, namespace string) []reconcile.Request {
		runs := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, runs, client.InNamespace(namespace)); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing paused runs", "kind", fmt.Sprintf("%T", list))
			return nil
		}
		var out []reconcile.Request
		_ = meta.EachListItem(runs, func(o runtime.Object) error {
			if run, ok := o.(client.Object); ok && isPaused(run) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(run)})
			}
			return nil
		})
		return out
	}
}

func (r *Resolver) isSwitch(o client.Object) bool {
	return o.GetNamespace() == r.Namespace && o.GetName() == commonv1alpha1.PauseConfigMap
}
