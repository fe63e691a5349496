package pause_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/internal/reconcilertest"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/test/harness"
)

// TestSwitchesAgainstAnAPIServer flips both kinds of switch on a real API server,
// with the Reporter and a controller that watches through Resolver.Watch running
// in a manager: each edge of a pause is an Event on its switch, and the paused
// runs are woken by a switch changing and by nothing else.
func TestSwitchesAgainstAnAPIServer(t *testing.T) {
	ctx := t.Context()
	cluster := harness.StartForTest(t, harness.Options{})
	c := cluster.Client
	const managerNS = "kubernaut-system"
	reconcilertest.Create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNS}})

	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme: cluster.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&pause.Reporter{Namespace: managerNS}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	// A stand-in for the reconcilers, whose runs are ConfigMaps with a phase:
	// it counts the wakes of the paused ones, and of no other.
	var woken atomic.Int32
	resolver := &pause.Resolver{Reader: mgr.GetCache(), Namespace: managerNS}
	held := pause.Held(mgr.GetClient(), &corev1.ConfigMapList{}, func(o client.Object) bool {
		return o.(*corev1.ConfigMap).Data["phase"] == "paused"
	})
	err = resolver.Watch(ctrl.NewControllerManagedBy(mgr).Named("runs"), held).
		Complete(reconcile.Func(func(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
			if req.Name != "held-run" {
				t.Errorf("woke %s, which is not paused", req)
			}
			woken.Add(1)
			return reconcile.Result{}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	// The namespaces that exist at start wake the run once each; wait for those.
	settle := func() int32 {
		t.Helper()
		last := int32(-1)
		for n := woken.Load(); n != last; n = woken.Load() {
			last = n
			time.Sleep(500 * time.Millisecond)
		}
		return last
	}
	wokenAfter := func(what string, change func()) {
		t.Helper()
		before := settle()
		change()
		reconcilertest.Eventually(t, "the paused run woken by "+what, func() (bool, error) {
			return woken.Load() > before, nil
		})
	}
	notWoken := func(what string, change func()) {
		t.Helper()
		before := settle()
		change()
		if after := settle(); after != before {
			t.Errorf("%s woke the paused run %d times", what, after-before)
		}
	}

	apps := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}
	reconcilertest.Create(t, c, apps)
	reconcilertest.Create(t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held-run", Namespace: "apps"}, Data: map[string]string{"phase": "paused"}})
	reconcilertest.Create(t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "running-run", Namespace: "apps"}, Data: map[string]string{"phase": "running"}})
	wokenAfter("a namespace paused", func() {
		reconcilertest.Annotate(t, c, apps, map[string]string{commonv1alpha1.PauseAnnotation: "change freeze"})
	})
	// Events about a cluster-scoped object are in namespace default.
	reconcilertest.WaitEvent(t, c, metav1.NamespaceDefault, "apps", commonv1alpha1.PausedReason)
	notWoken("a namespace's label", func() {
		if err := c.Get(ctx, client.ObjectKeyFromObject(apps), apps); err != nil {
			t.Fatal(err)
		}
		apps.Labels = map[string]string{"team": "web"}
		if err := c.Update(ctx, apps); err != nil {
			t.Fatal(err)
		}
	})
	wokenAfter("a namespace resumed", func() {
		if err := c.Get(ctx, client.ObjectKeyFromObject(apps), apps); err != nil {
			t.Fatal(err)
		}
		delete(apps.Annotations, commonv1alpha1.PauseAnnotation)
		if err := c.Update(ctx, apps); err != nil {
			t.Fatal(err)
		}
	})
	reconcilertest.WaitEvent(t, c, metav1.NamespaceDefault, "apps", commonv1alpha1.ResumedReason)

	notWoken("another ConfigMap in the manager's namespace", func() {
		reconcilertest.Create(t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: managerNS}})
	})
	clusterWide := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: commonv1alpha1.PauseConfigMap, Namespace: managerNS},
		Data:       map[string]string{commonv1alpha1.PauseReasonKey: "incident 42"},
	}
	wokenAfter("the cluster-wide switch on", func() { reconcilertest.Create(t, c, clusterWide) })
	reconcilertest.WaitEvent(t, c, managerNS, commonv1alpha1.PauseConfigMap, commonv1alpha1.PausedReason)
	wokenAfter("the cluster-wide switch off", func() {
		if err := c.Delete(ctx, clusterWide); err != nil {
			t.Fatal(err)
		}
	})
	reconcilertest.WaitEvent(t, c, managerNS, commonv1alpha1.PauseConfigMap, commonv1alpha1.ResumedReason)
}
