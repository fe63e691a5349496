package retention

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestExpire checks when a run is kept and for how long, with a fake client: the
// reconcilers' tests delete runs on a real API server.
func TestExpire(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	finished := metav1.NewTime(created.Add(time.Hour))
	run := func(controlled bool) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns", UID: "u1", CreationTimestamp: metav1.NewTime(created)}}
		if controlled {
			cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u0", Controller: ptr.To(true)}}
		}
		return cm
	}
	for _, tc := range []struct {
		name       string
		ttl        time.Duration
		controlled bool
		finished   *metav1.Time
		now        time.Time
		requeue    time.Duration
		deleted    bool
	}{
		{name: "a zero TTL keeps runs", now: finished.Add(1000 * time.Hour)},
		{name: "kept until its TTL has passed since it finished", ttl: time.Hour, finished: &finished, now: finished.Add(20 * time.Minute), requeue: 40 * time.Minute},
		{name: "deleted once it has", ttl: time.Hour, finished: &finished, now: finished.Add(time.Hour), deleted: true},
		{name: "without a completion time, from its creation", ttl: time.Hour, now: created.Add(time.Hour), deleted: true},
		{name: "a run with a controller is left to it", ttl: time.Hour, controlled: true, finished: &finished, now: finished.Add(2 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := run(tc.controlled)
			c := fake.NewClientBuilder().WithObjects(obj).Build()
			res, err := Policy{TTL: tc.ttl}.Expire(t.Context(), c, "configmap", obj, tc.finished, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter != tc.requeue {
				t.Errorf("requeue after %s, want %s", res.RequeueAfter, tc.requeue)
			}
			err = c.Get(t.Context(), client.ObjectKeyFromObject(obj), &corev1.ConfigMap{})
			if gone := apierrors.IsNotFound(err); gone != tc.deleted {
				t.Errorf("deleted %v, want %v (%v)", gone, tc.deleted, err)
			}
		})
	}
}
