package authority_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/test/harness"
)

// TestReviewerAsksOnceForWhatIsGrantedEverywhere runs against a real API server:
// a permission granted by a ClusterRoleBinding costs one review for every
// namespace; one granted by a RoleBinding is asked in each namespace, is
// refused where it is not granted, and counts as soon as it is; a revoked one
// stops counting once its answer is no longer reused.
func TestReviewerAsksOnceForWhatIsGrantedEverywhere(t *testing.T) {
	ctx := t.Context()
	cluster := harness.StartForTest(t, harness.Options{})
	api := cluster.Client
	var reviews atomic.Int32
	counting, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	counted := interceptor.NewClient(counting, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*authorizationv1.SubjectAccessReview); ok {
				reviews.Add(1)
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	const allowedFor = 2 * time.Second
	r := &authority.Reviewer{Client: counted, AllowedFor: allowedFor}

	for _, ns := range []string{"a", "b"} {
		create(t, api, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	create(t, api, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "deployment-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}}}})
	role := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "deployment-reader"}
	everywhere := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "platform-reads"}, RoleRef: role,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "platform"}}}
	create(t, api, everywhere)
	create(t, api, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant-reads", Namespace: "a"}, RoleRef: role,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "tenant"}}})

	get := func(ns, name string) []authority.Permission {
		return []authority.Permission{{Verb: "get", Group: "apps", Resource: "deployments", Namespace: ns, Name: name}}
	}
	platform, tenant := authority.Requester{Username: "platform"}, authority.Requester{Username: "tenant"}
	expect := func(who authority.Requester, perms []authority.Permission, wantMissing bool, wantReviews int32) {
		t.Helper()
		reviews.Store(0)
		missing, err := r.Missing(ctx, who, perms)
		if err != nil {
			t.Fatal(err)
		}
		if (len(missing) > 0) != wantMissing || reviews.Load() != wantReviews {
			t.Fatalf("%s, %s: missing %v after %d reviews; want missing %t after %d", who, perms[0], missing, reviews.Load(), wantMissing, wantReviews)
		}
	}

	expect(platform, get("a", "web"), false, 1)
	expect(platform, get("b", "api"), false, 0) // the cluster-wide answer serves every namespace
	expect(tenant, get("a", "web"), false, 2)   // not everywhere, then in a
	expect(tenant, get("b", "api"), true, 1)    // only in b: not everywhere is remembered
	create(t, api, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant-reads", Namespace: "b"}, RoleRef: role,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "tenant"}}})
	eventually(t, func() bool {
		missing, err := r.Missing(ctx, tenant, get("b", "api"))
		return err == nil && len(missing) == 0
	}, "a RoleBinding granted in b counts")

	if err := api.Delete(ctx, everywhere); err != nil {
		t.Fatal(err)
	}
	time.Sleep(allowedFor)
	eventually(t, func() bool {
		missing, err := r.Missing(ctx, platform, get("b", "other"))
		return err == nil && len(missing) == 1
	}, "a revoked ClusterRoleBinding stops counting")
}

func create(t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
}

// eventually waits for RBAC changes to reach the API server's authorizer.
func eventually(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not so after 10s: %s", what)
		}
	}
}

// TestReviewerSharesAQuestionAskedAtOnce: requests that ask the same question
// while it is in flight (a cached answer expired under load) share one
// SubjectAccessReview; a caller that gives up does not fail the others.
func TestReviewerSharesAQuestionAskedAtOnce(t *testing.T) {
	var asked atomic.Int32
	release := make(chan struct{})
	c := interceptor.NewClient(nil, interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			asked.Add(1)
			<-release
			obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
			return nil
		},
	})
	r := &authority.Reviewer{Client: c, AllowedFor: -1}
	who := authority.Requester{Username: "alice"}
	perm := []authority.Permission{{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "prod", Name: "web"}}

	impatient, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 9)
	go func() {
		_, err := r.Missing(impatient, who, perm)
		errs <- err
	}()
	for range 8 {
		go func() {
			missing, err := r.Missing(t.Context(), who, perm)
			if err == nil && len(missing) > 0 {
				err = context.DeadlineExceeded // anything: the answer was allowed
			}
			errs <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // all nine are waiting on the review
	cancel()
	if err := <-errs; err == nil {
		t.Error("the caller that gave up got an answer")
	}
	close(release)
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("a caller sharing the review: %v", err)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("%d SubjectAccessReviews for one question asked nine times at once, want 1", n)
	}
}
