package wake_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"kubernaut.io/stepvalidation/reconcilers/evaluation"
	"kubernaut.io/stepvalidation/reconcilers/wake"
	"kubernaut.io/stepvalidation/test/harness"
)

// quiet is how long a test waits to see that nothing was woken: many times
// Coalesce and a watch event's latency on a local API server.
const quiet = time.Second

type fixture struct {
	t     *testing.T
	ctx   context.Context
	api   client.Client // writes, and reads of what is not cached
	cache cache.Cache
	waker *wake.Waker
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
}

// TestWaker runs against a real API server, with the informers of a real cache:
// what a round reads through the Waker's reader, and only that, puts the round's
// run back in its controller's queue when it changes.
func TestWaker(t *testing.T) {
	ctx := t.Context()
	cluster := harness.StartForTest(t, harness.Options{})
	c, err := cache.New(cluster.Config, cache.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	f := &fixture{t: t, ctx: ctx, api: cluster.Client, cache: c,
		waker: wake.New(c, cluster.Scheme, &corev1.Secret{}),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())}
	t.Cleanup(f.queue.ShutDown)
	if err := f.waker.Source("runs").Start(ctx, f.queue); err != nil {
		t.Fatal(err)
	}

	t.Run("an object read by name wakes its round once per burst of changes, and only it", func(t *testing.T) {
		ns := f.namespace()
		f.create(deployment(ns, "web"))
		f.create(deployment(ns, "other"))
		key := f.key("scale-web")
		f.get(key, ns, "web", &appsv1.Deployment{})
		if f.waker.Changed(key) {
			t.Fatal("changed before any change")
		}
		f.label(&appsv1.Deployment{}, ns, "other")
		f.expectNothing()

		for range 3 {
			f.label(&appsv1.Deployment{}, ns, "web")
		}
		f.expectWoken(key)
		if !f.waker.Changed(key) {
			t.Fatal("not changed after a change")
		}
		// Reading again starts over: the new reads see the change.
		f.get(key, ns, "web", &appsv1.Deployment{})
		if f.waker.Changed(key) {
			t.Fatal("still changed after reading again")
		}
	})

	t.Run("an object read while missing wakes its round when it is created", func(t *testing.T) {
		ns := f.namespace()
		key := f.key("scale-late")
		var d appsv1.Deployment
		if err := f.waker.Reader(key, f.cache).Get(f.ctx, client.ObjectKey{Namespace: ns, Name: "late"}, &d); err == nil {
			t.Fatal("read a Deployment that does not exist")
		}
		f.create(deployment(ns, "late"))
		f.expectWoken(key)
	})

	t.Run("a namespaced list wakes on the objects its selector matches", func(t *testing.T) {
		ns := f.namespace()
		key := f.key("pods-of-web")
		var pods corev1.PodList
		sel := labels.SelectorFromSet(labels.Set{"app": "web"})
		if err := f.waker.Reader(key, f.cache).List(f.ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			t.Fatal(err)
		}
		f.create(pod(ns, "db-0", "db"))
		f.create(pod(f.namespace(), "web-elsewhere", "web"))
		f.expectNothing()
		f.create(pod(ns, "web-0", "web"))
		f.expectWoken(key)
	})

	t.Run("a list across all namespaces and an uncached kind wake nothing", func(t *testing.T) {
		ns := f.namespace()
		f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pull"}})
		key := f.key("capacity")
		r := f.waker.Reader(key, f.api)
		if err := r.List(f.ctx, &corev1.PodList{}); err != nil {
			t.Fatal(err)
		}
		if err := r.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: "pull"}, &corev1.Secret{}); err != nil {
			t.Fatal(err)
		}
		f.create(pod(ns, "web-0", "web"))
		f.label(&corev1.Secret{}, ns, "pull")
		f.expectNothing()
	})

	t.Run("a deleted object wakes its round", func(t *testing.T) {
		ns := f.namespace()
		f.create(deployment(ns, "web"))
		key := f.key("deleted")
		f.get(key, ns, "web", &appsv1.Deployment{})
		if err := f.api.Delete(f.ctx, deployment(ns, "web")); err != nil {
			t.Fatal(err)
		}
		f.expectWoken(key)
	})

	t.Run("two lists of a namespace with different selectors: any object of it wakes", func(t *testing.T) {
		ns := f.namespace()
		key := f.key("two-lists")
		r := f.waker.Reader(key, f.cache)
		for _, app := range []string{"web", "db"} {
			sel := labels.SelectorFromSet(labels.Set{"app": app})
			if err := r.List(f.ctx, &corev1.PodList{}, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
				t.Fatal(err)
			}
		}
		f.create(pod(ns, "cache-0", "cache"))
		f.expectWoken(key)
	})

	t.Run("a round's Unwritten lives as long as the round", func(t *testing.T) {
		key := f.key("unwritten")
		round := f.waker.Round(key, f.cache, evaluation.Round{})
		if round.Unwritten == nil || round.Reader == nil || round.Changed {
			t.Fatalf("round set up as %+v", round)
		}
		if again := f.waker.Round(key, f.cache, evaluation.Round{}); again.Unwritten != round.Unwritten {
			t.Fatal("a second reconcile of the round lost its unwritten evaluations")
		}
		f.waker.ForgetRound(key)
		if after := f.waker.Unwritten(key); after == round.Unwritten {
			t.Fatal("a forgotten round kept its unwritten evaluations")
		}
		f.waker.Forget(key.Controller, key.Request)
	})

	t.Run("a nil Waker reads through, records every evaluation and wakes nothing", func(t *testing.T) {
		var w *wake.Waker
		key := f.key("nil")
		round := w.Round(key, f.api, evaluation.Round{})
		if round.Reader != f.api || round.Unwritten != nil || round.Changed {
			t.Fatalf("round set up as %+v", round)
		}
		w.Forget(key.Controller, key.Request)
		w.ForgetRound(key)
		if w.Waiting() != 0 {
			t.Fatal("a nil Waker has rounds waiting")
		}
	})

	t.Run("a forgotten run is not woken, and nothing is left of it", func(t *testing.T) {
		ns := f.namespace()
		f.create(deployment(ns, "web"))
		others := f.waker.Waiting() // the rounds of the tests before
		step1, step2 := f.key("wf"), f.key("wf")
		step2.Round = "step-2"
		f.get(step1, ns, "web", &appsv1.Deployment{})
		f.get(step2, ns, "web", &appsv1.Deployment{})

		f.waker.ForgetRound(step1)
		f.label(&appsv1.Deployment{}, ns, "web")
		f.expectWoken(step2)
		if f.waker.Changed(step1) {
			t.Fatal("a forgotten round is changed")
		}

		f.waker.Forget(step2.Controller, step2.Request)
		f.label(&appsv1.Deployment{}, ns, "web")
		f.expectNothing()
		if n := f.waker.Waiting(); n != others {
			t.Fatalf("%d rounds of the forgotten run still wait", n-others)
		}
	})
}

func (f *fixture) namespace() string {
	f.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wake-"}}
	f.create(ns)
	return ns.Name
}

func (f *fixture) key(name string) wake.Key {
	return wake.Key{Controller: "runs", Request: reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "runs", Name: name}}, Round: "postconditions"}
}

func (f *fixture) create(o client.Object) {
	f.t.Helper()
	if err := f.api.Create(f.ctx, o); err != nil {
		f.t.Fatal(err)
	}
}

// get reads an object through the round's reader, once the cache has it.
func (f *fixture) get(key wake.Key, ns, name string, o client.Object) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f.waker.Reader(key, f.cache).Get(f.ctx, client.ObjectKey{Namespace: ns, Name: name}, o)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// label changes an object: a new value of a label each time.
func (f *fixture) label(o client.Object, ns, name string) {
	f.t.Helper()
	if err := f.api.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
		f.t.Fatal(err)
	}
	patch := client.MergeFrom(o.DeepCopyObject().(client.Object))
	o.SetLabels(map[string]string{"touched": time.Now().Format("150405.000000")})
	if err := f.api.Patch(f.ctx, o, patch); err != nil {
		f.t.Fatal(err)
	}
}

// expectWoken waits for the queue to hold exactly the run of key, once, and
// takes it out.
func (f *fixture) expectWoken(key wake.Key) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.queue.Len() == 0 {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s was not woken", key.Request)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * wake.Coalesce) // late changes of the same burst
	if n := f.queue.Len(); n != 1 {
		f.t.Fatalf("the queue holds %d runs, want only %s", n, key.Request)
	}
	got, _ := f.queue.Get()
	f.queue.Done(got)
	if got != key.Request {
		f.t.Fatalf("woken %s, want %s", got, key.Request)
	}
}

func (f *fixture) expectNothing() {
	f.t.Helper()
	time.Sleep(quiet)
	if n := f.queue.Len(); n != 0 {
		got, _ := f.queue.Get()
		f.queue.Done(got)
		f.t.Fatalf("%d runs woken (first %s), want none", n, got)
	}
}

func deployment(ns, name string) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	}
}

func pod(ns, name, app string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
}
