package catalog

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestEvictionRefusalsAnswerAtOnce: an API server refusing an eviction with 429
// and Retry-After (a budget whose status it has not observed yet) is asked once,
// not eleven times over a hundred seconds; the caller still learns the delay.
func TestEvictionRefusalsAnswerAtOnce(t *testing.T) {
	var evictions atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/namespaces/apps/pods/db-0/eviction" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		}
		evictions.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests",` +
			`"message":"Cannot evict pod as it would violate the pod's disruption budget.","code":429,"details":{"retryAfterSeconds":1}}`))
	}))
	defer server.Close()

	a, _ := Lookup("drain_node")
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Pod"), meta.RESTScopeNamespace)
	c, err := client.New(a.ImpersonatingConfig(&rest.Config{Host: server.URL}, ServiceAccountNamespace), client.Options{Mapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "apps"}}
	err = c.SubResource("eviction").Create(t.Context(), pod, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "apps"}})
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("err = %v, want TooManyRequests", err)
	}
	if n := evictions.Load(); n != 1 {
		t.Errorf("the eviction was asked %d times, want once", n)
	}
	if seconds, ok := apierrors.SuggestsClientDelay(err); !ok || seconds != 1 {
		t.Errorf("suggested delay = %d (%v), want 1s from the Status", seconds, ok)
	}
}
