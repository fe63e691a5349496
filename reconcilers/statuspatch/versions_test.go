package statuspatch

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/internal/scheme"
)

// After a status write, the copy it replaced is stale and the written one is
// not; nothing is stale before a write or after Forget.
func TestVersionsTellTheCopyAWriteReplaced(t *testing.T) {
	ctx := context.Background()
	ke := &kev1alpha1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run"}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithStatusSubresource(ke).WithObjects(ke).Build()
	var v Versions
	read := &kev1alpha1.KubernetesExecution{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ke), read); err != nil {
		t.Fatal(err)
	}
	if v.Stale(read) {
		t.Fatal("stale before any write")
	}
	orig := read.DeepCopy()
	read.Status.Phase = kev1alpha1.ExecutionValidating
	if _, err := Write(ctx, c, read, orig, Budget{Status: read.Status}, &v); err != nil {
		t.Fatal(err)
	}
	if !v.Stale(orig) {
		t.Fatal("the copy the write replaced is not stale")
	}
	if v.Stale(read) {
		t.Fatal("the written copy is stale")
	}
	v.Forget(orig)
	if v.Stale(orig) {
		t.Fatal("stale after Forget")
	}
	var none *Versions
	if none.Stale(orig) {
		t.Fatal("a nil Versions says stale")
	}
}
