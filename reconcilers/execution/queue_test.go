package execution

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/internal/scheme"
)

func run(ns, name string, phase kev1alpha1.ExecutionPhase) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{Finalizer}},
		Spec:       kev1alpha1.KubernetesExecutionSpec{Action: "scale_deployment"},
		Status:     kev1alpha1.KubernetesExecutionStatus{Phase: phase},
	}
}

// A namespace with as many runs in flight as it may queues its new runs, and
// starts one when a place is free; another namespace is not held up.
func TestNewRunsQueueBehindTheirNamespacesLimit(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithStatusSubresource(&kev1alpha1.KubernetesExecution{}).
		WithObjects(
			run("noisy", "a", kev1alpha1.ExecutionValidating), run("noisy", "b", kev1alpha1.ExecutionVerifying),
			run("noisy", "done", kev1alpha1.ExecutionCompleted), run("noisy", "blocked", kev1alpha1.ExecutionBlocked),
			run("noisy", "new", ""), run("quiet", "new", ""),
		).Build()
	r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(100), MaxRunsPerNamespace: 2}
	reconcile := func(ns string) *kev1alpha1.KubernetesExecution {
		t.Helper()
		key := client.ObjectKey{Namespace: ns, Name: "new"}
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatal(err)
		}
		var ke kev1alpha1.KubernetesExecution
		if err := c.Get(ctx, key, &ke); err != nil {
			t.Fatal(err)
		}
		return &ke
	}

	queued := reconcile("noisy")
	cond := meta.FindStatusCondition(queued.Status.Conditions, commonv1alpha1.SucceededCondition)
	if queued.Status.Phase != "" || cond == nil || cond.Reason != commonv1alpha1.QueuedReason || queued.Status.StartTime != nil {
		t.Fatalf("with 2 runs in flight of 2: phase %q, condition %+v; want unstarted and Queued", queued.Status.Phase, cond)
	}
	// A run starts and validates in one reconcile (these fail: they have no
	// parameters).
	if started := reconcile("quiet"); started.Status.StartTime == nil || started.Status.Phase == "" {
		t.Fatalf("another namespace's run: phase %q, want started", started.Status.Phase)
	}

	var a kev1alpha1.KubernetesExecution
	if err := c.Get(ctx, client.ObjectKey{Namespace: "noisy", Name: "a"}, &a); err != nil {
		t.Fatal(err)
	}
	a.Status.Phase = kev1alpha1.ExecutionCompleted
	if err := c.Status().Update(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if started := reconcile("noisy"); started.Status.StartTime == nil || started.Status.Phase == "" {
		t.Fatalf("once a place is free: phase %q, want started", started.Status.Phase)
	}
}
