package pause

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

func namespace(name, pausedFor string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if pausedFor != "" {
		ns.Annotations = map[string]string{commonv1alpha1.PauseAnnotation: pausedFor}
	}
	return ns
}

func pauseConfigMap(reason string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: commonv1alpha1.PauseConfigMap, Namespace: "kubernaut-system"},
		Data: map[string]string{commonv1alpha1.PauseReasonKey: reason}}
}

func TestResolverFor(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		objects    []runtime.Object
		namespaces []string
		scope      string
		reason     string
		wantErr    bool
	}{
		{name: "nothing paused", objects: []runtime.Object{namespace("apps", ""), namespace("db", "")}, namespaces: []string{"apps", "db"}},
		{name: "the run's namespace", objects: []runtime.Object{namespace("apps", "freeze"), namespace("db", "")},
			namespaces: []string{"apps", "db"}, scope: ScopeNamespace, reason: "freeze"},
		{name: "the target's namespace", objects: []runtime.Object{namespace("apps", ""), namespace("db", "migration")},
			namespaces: []string{"apps", "db"}, scope: ScopeNamespace, reason: "migration"},
		{name: "a cluster-scoped target has no namespace", objects: []runtime.Object{namespace("apps", "")}, namespaces: []string{"apps", ""}},
		{name: "cluster-wide first", objects: []runtime.Object{namespace("apps", "freeze"), pauseConfigMap("incident")},
			namespaces: []string{"apps"}, scope: ScopeCluster, reason: "incident"},
		{name: "no reason given", objects: []runtime.Object{pauseConfigMap("  ")}, namespaces: []string{"apps"}, scope: ScopeCluster, reason: "no reason given"},
		{name: "an unreadable namespace is an error, not a go-ahead", namespaces: []string{"gone"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Resolver{Reader: fake.NewClientBuilder().WithRuntimeObjects(tc.objects...).Build(), Namespace: "kubernaut-system"}
			p, err := r.For(ctx, tc.namespaces...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if p.Scope != tc.scope || p.Reason != tc.reason || p.Active() != (tc.scope != "") {
				t.Fatalf("pause = %+v, want scope %q reason %q", p, tc.scope, tc.reason)
			}
			if p.Active() && !strings.Contains(p.String(), tc.reason) {
				t.Fatalf("%q does not say why", p.String())
			}
		})
	}
	if p, err := (*Resolver)(nil).For(ctx, "apps"); err != nil || p.Active() {
		t.Fatalf("without a resolver nothing is paused, got %+v, %v", p, err)
	}
}

func TestReporterMarksBothEdges(t *testing.T) {
	ctx := context.Background()
	ns := namespace("apps", "freeze")
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(ns).Build()
	recorder := events.NewFakeRecorder(10)
	r := &Reporter{Client: c, Namespace: "kubernaut-system", Recorder: recorder}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: "apps"}}
	gauge := func() int {
		families, err := crmetrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "kubernaut_paused" {
				return len(f.GetMetric())
			}
		}
		return 0
	}

	reconcile := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	reconcile()
	if e := <-recorder.Events; !strings.Contains(e, "Paused") || !strings.Contains(e, "freeze") {
		t.Fatalf("event %q, want Paused with the reason", e)
	}
	if gauge() != 1 {
		t.Fatal("kubernaut_paused is not set while paused")
	}
	reconcile() // nothing changed: no second Event
	if len(recorder.Events) != 0 {
		t.Fatalf("an Event without an edge: %q", <-recorder.Events)
	}

	delete(ns.Annotations, commonv1alpha1.PauseAnnotation)
	if err := c.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if e := <-recorder.Events; !strings.Contains(e, "Resumed") {
		t.Fatalf("event %q, want Resumed", e)
	}
	if gauge() != 0 {
		t.Fatal("kubernaut_paused is still set after the pause ended")
	}
}
