// Package wake reconciles a run that verifies postconditions as soon as an object
// its facts were read from changes, so that verification follows the cluster
// rather than a clock: a postcondition's interval becomes the longest it waits
// (DESIGN.md, "Verification is woken by change, not by a clock").
//
// A reconciler reads a round's facts through Reader, which notes each object read
// by name and each namespaced list (with its label selector) under the round's
// Key. The manager's informers already hold those objects; a handler on each
// informer looks a changed object up in an index of those reads and puts the
// waiting runs back in their controller's queue, Coalesce later, so that a burst
// of changes (a rollout touches its pods many times a second) makes one
// reconcile. Lists across all namespaces (free capacity: every node and pod)
// wake nothing: any change in the cluster would wake every run, and the interval
// still picks such changes up.
package wake

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"kubernaut.io/stepvalidation/reconcilers/evaluation"
)

// Coalesce is how long a wake waits for more changes before its run reconciles.
const Coalesce = 100 * time.Millisecond

// Key names one round of conditions a run waits on.
type Key struct {
	// Controller is the name of the controller whose queue the run is in.
	Controller string
	Request    reconcile.Request
	// Round tells a run's rounds apart: a workflow verifies several steps at once.
	Round string
}

// target is what one read depends on: an object by name, or a namespace's
// objects of a kind (name empty).
type target struct {
	gvk             schema.GroupVersionKind
	namespace, name string
}

// Waker is safe for concurrent use. A nil *Waker wakes nothing: its Reader is the
// reader it is given.
type Waker struct {
	informers cache.Informers
	scheme    *runtime.Scheme

	mu     sync.Mutex
	queues map[string]workqueue.TypedRateLimitingInterface[reconcile.Request]
	// handled holds the kinds whose informer has the handler, skipped those
	// never watched.
	handled, skipped map[schema.GroupVersionKind]bool
	// waiting maps a target to the rounds that read it, each with the label
	// selector of its list (nil for a read by name).
	waiting map[target]map[Key]labels.Selector
	// reads is the reverse of waiting, to forget a round.
	reads map[Key][]target
	// changed holds the rounds woken since they last read their facts.
	changed map[Key]bool
	// rounds lists each run's rounds, to forget a run.
	rounds map[run]map[string]bool
	// unwritten holds each round's evaluations status does not record.
	unwritten map[Key]*evaluation.Unwritten
}

// run is a Key without its round.
type run struct {
	controller string
	request    reconcile.Request
}

// New returns a Waker that watches through informers (the manager's cache, which
// the facts are read from). Reads of the uncached kinds, which the client reads
// around the cache, wake nothing: watching them would fill the cache with them.
func New(informers cache.Informers, scheme *runtime.Scheme, uncached ...client.Object) *Waker {
	w := &Waker{
		informers: informers, scheme: scheme,
		queues:  map[string]workqueue.TypedRateLimitingInterface[reconcile.Request]{},
		handled: map[schema.GroupVersionKind]bool{},
		skipped: map[schema.GroupVersionKind]bool{},
		waiting: map[target]map[Key]labels.Selector{},
		reads:   map[Key][]target{},
		changed: map[Key]bool{},
		rounds:  map[run]map[string]bool{},

		unwritten: map[Key]*evaluation.Unwritten{},
	}
	for _, o := range uncached {
		if gvk, err := apiutil.GVKForObject(o, scheme); err == nil {
			w.skipped[gvk] = true
		}
	}
	return w
}

// Source is the source a controller named controller watches, to be woken.
func (w *Waker) Source(controller string) source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.queues[controller] = q
		return nil
	})
}

// Reader returns a reader of base that notes what the round key reads. Its first
// read forgets what the round read before, and that it was woken: the new reads
// see the latest state.
func (w *Waker) Reader(key Key, base client.Reader) client.Reader {
	if w == nil {
		return base
	}
	return &reader{w: w, key: key, base: base}
}

// Round returns r set up to be woken as the round key: its facts read from
// facts through Reader, Changed, and its Unwritten evaluations. A nil Waker
// leaves r to read facts and to record every evaluation.
func (w *Waker) Round(key Key, facts client.Reader, r evaluation.Round) evaluation.Round {
	r.Reader, r.Changed, r.Unwritten = w.Reader(key, facts), w.Changed(key), w.Unwritten(key)
	return r
}

// Unwritten returns the round's evaluations that status does not record (see
// evaluation.Unwritten), kept as long as the round; nil from a nil Waker, which
// records every evaluation.
func (w *Waker) Unwritten(key Key) *evaluation.Unwritten {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	u := w.unwritten[key]
	if u == nil {
		u = &evaluation.Unwritten{}
		w.unwritten[key] = u
		w.noteRound(key)
	}
	return u
}

// Changed reports whether an object the round read has changed since it read it.
func (w *Waker) Changed(key Key) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed[key]
}

// Forget drops every round of the run request in controller: it waits no more.
func (w *Waker) Forget(controller string, request reconcile.Request) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r := run{controller, request}
	for round := range w.rounds[r] {
		key := Key{Controller: controller, Request: request, Round: round}
		w.forgetLocked(key)
		delete(w.unwritten, key)
	}
	delete(w.rounds, r)
}

// ForgetRound drops one round of a run.
func (w *Waker) ForgetRound(key Key) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forgetLocked(key)
	delete(w.unwritten, key)
	r := run{key.Controller, key.Request}
	delete(w.rounds[r], key.Round)
	if len(w.rounds[r]) == 0 {
		delete(w.rounds, r)
	}
}

// Waiting returns how many rounds wait on a change, for tests and metrics.
func (w *Waker) Waiting() int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.reads)
}

// forgetLocked drops what key read, and that it was woken.
func (w *Waker) forgetLocked(key Key) {
	delete(w.changed, key)
	for _, t := range w.reads[key] {
		if keys := w.waiting[t]; keys != nil {
			delete(keys, key)
			if len(keys) == 0 {
				delete(w.waiting, t)
			}
		}
	}
	delete(w.reads, key)
}

// note records that key reads t (with selector, for a list).
func (w *Waker) note(key Key, t target, selector labels.Selector) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := w.waiting[t]
	if keys == nil {
		keys = map[Key]labels.Selector{}
		w.waiting[t] = keys
	}
	w.noteRound(key)
	prev, seen := keys[key]
	if !seen {
		w.reads[key] = append(w.reads[key], t)
	} else if prev == nil || selector == nil || prev.String() != selector.String() {
		// Two lists of one namespace with different selectors: any object wakes.
		selector = nil
	}
	keys[key] = selector
}

// noteRound lists key among its run's rounds.
func (w *Waker) noteRound(key Key) {
	r := run{key.Controller, key.Request}
	if w.rounds[r] == nil {
		w.rounds[r] = map[string]bool{}
	}
	w.rounds[r][key.Round] = true
}

// begin starts a round's new reading.
func (w *Waker) begin(key Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forgetLocked(key)
}

// watch makes sure a handler wakes the rounds that read objects of gvk, adding
// it to the informer on first use. obj is an object of that kind.
func (w *Waker) watch(ctx context.Context, gvk schema.GroupVersionKind, obj client.Object) bool {
	w.mu.Lock()
	handled, skipped := w.handled[gvk], w.skipped[gvk]
	w.mu.Unlock()
	if handled || skipped {
		return handled
	}
	// The read that follows waits for the informer to sync, not this.
	informer, err := w.informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("not woken by changes: no informer", "kind", gvk.String(), "error", err.Error())
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.handled[gvk] {
		return true
	}
	_, err = informer.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(o any, initial bool) {
			if !initial {
				w.changedObject(gvk, o)
			}
		},
		UpdateFunc: func(_, o any) { w.changedObject(gvk, o) },
		DeleteFunc: func(o any) {
			if tombstone, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = tombstone.Obj
			}
			w.changedObject(gvk, o)
		},
	})
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("not woken by changes: no handler", "kind", gvk.String(), "error", err.Error())
		return false
	}
	w.handled[gvk] = true
	return true
}

// changedObject wakes the rounds that read o, by name or through a list whose
// selector matches it.
func (w *Waker) changedObject(gvk schema.GroupVersionKind, o any) {
	m, err := meta.Accessor(o)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	wake := func(key Key) {
		w.changed[key] = true
		if q := w.queues[key.Controller]; q != nil {
			q.AddAfter(key.Request, Coalesce)
		}
	}
	for key := range w.waiting[target{gvk: gvk, namespace: m.GetNamespace(), name: m.GetName()}] {
		wake(key)
	}
	for key, selector := range w.waiting[target{gvk: gvk, namespace: m.GetNamespace()}] {
		if selector == nil || selector.Matches(labels.Set(m.GetLabels())) {
			wake(key)
		}
	}
}

// reader notes what one round reads, and reads it from base.
type reader struct {
	w     *Waker
	key   Key
	base  client.Reader
	begun sync.Once
}

func (r *reader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.begun.Do(func() { r.w.begin(r.key) })
	if gvk, err := apiutil.GVKForObject(obj, r.w.scheme); err == nil && r.w.watch(ctx, gvk, obj) {
		r.w.note(r.key, target{gvk: gvk, namespace: key.Namespace, name: key.Name}, nil)
	}
	return r.base.Get(ctx, key, obj, opts...)
}

func (r *reader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.begun.Do(func() { r.w.begin(r.key) })
	o := (&client.ListOptions{}).ApplyOptions(opts)
	// Across all namespaces: see the package comment.
	if o.Namespace != "" {
		if gvk, item, ok := r.itemOf(list); ok && r.w.watch(ctx, gvk, item) {
			r.w.note(r.key, target{gvk: gvk, namespace: o.Namespace}, o.LabelSelector)
		}
	}
	return r.base.List(ctx, list, opts...)
}

// itemOf returns the kind of a list's items and an empty one.
func (r *reader) itemOf(list client.ObjectList) (schema.GroupVersionKind, client.Object, bool) {
	gvk, err := apiutil.GVKForObject(list, r.w.scheme)
	if err != nil || !strings.HasSuffix(gvk.Kind, "List") {
		return schema.GroupVersionKind{}, nil, false
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	obj, err := r.w.scheme.New(gvk)
	if err != nil {
		return schema.GroupVersionKind{}, nil, false
	}
	item, ok := obj.(client.Object)
	return gvk, item, ok
}
