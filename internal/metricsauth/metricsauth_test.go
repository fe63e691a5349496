package metricsauth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/internal/metricsauth"
	"kubernaut.io/stepvalidation/test/harness"
)

// TestGuard runs against a real API server: only a token it authenticates, of a
// user it authorizes for get on the path, reaches the metrics; an allowed answer
// is reused for AllowedFor, and a revoked permission stops working after it.
func TestGuard(t *testing.T) {
	ctx := t.Context()
	cluster, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	c := cluster.Client

	const ns = "monitoring"
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	create(t, c, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}})
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scraper-reads-metrics"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: ns}}}
	create(t, c, binding)
	scraper, stranger := token(t, c, ns, "scraper"), token(t, c, ns, "stranger")
	authorized(t, cluster.Config, ns, "scraper")

	var tokenReviews, accessReviews atomic.Int32
	authn, err := authenticationclient.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := authorizationclient.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	guard := &metricsauth.Guard{
		Tokens:  countingTokens{authn.TokenReviews(), &tokenReviews},
		Reviews: countingAccess{authz.SubjectAccessReviews(), &accessReviews},
		Now:     func() time.Time { return now },
	}
	metrics := httptest.NewServer(guard.Wrap(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "kubernaut_up 1\n")
	})))
	t.Cleanup(metrics.Close)

	expect := func(what, path, token string, want int, wantReviews int32) {
		t.Helper()
		tokenReviews.Store(0)
		accessReviews.Store(0)
		if got := get(t, metrics.URL+path, token); got != want {
			t.Fatalf("%s: status %d, want %d", what, got, want)
		}
		if got := tokenReviews.Load() + accessReviews.Load(); got != wantReviews {
			t.Fatalf("%s: %d reviews, want %d", what, got, wantReviews)
		}
	}
	expect("no token", "/metrics", "", http.StatusUnauthorized, 0)
	expect("a token the API server did not issue", "/metrics", "not-a-token", http.StatusUnauthorized, 1)
	expect("a user without the permission", "/metrics", stranger, http.StatusForbidden, 2)
	expect("a path the permission does not name", "/debug/pprof/", scraper, http.StatusForbidden, 2)
	expect("the scraper", "/metrics", scraper, http.StatusOK, 2)
	expect("the scraper again", "/metrics", scraper, http.StatusOK, 0)
	expect("a refusal is not reused", "/metrics", stranger, http.StatusForbidden, 2)

	if err := c.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	expect("revoked, within AllowedFor", "/metrics", scraper, http.StatusOK, 0)
	now = now.Add(metricsauth.AllowedFor)
	// RBAC reaches the authorizer through an informer: allow it a moment.
	deadline := time.Now().Add(10 * time.Second)
	for get(t, metrics.URL+"/metrics", scraper) != http.StatusForbidden {
		if time.Now().After(deadline) {
			t.Fatal("the scraper still reads the metrics 10 s after its permission was revoked and AllowedFor passed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The provider the manager uses builds the same guard from a rest.Config.
	create(t, c, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-metrics"},
		RoleRef:  binding.RoleRef,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}}})
	prometheus := token(t, c, ns, "prometheus")
	authorized(t, cluster.Config, ns, "prometheus")
	httpClient, err := rest.HTTPClientFor(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := metricsauth.Filter(cluster.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "kubernaut_up 1\n")
	}))
	if err != nil {
		t.Fatal(err)
	}
	filtered := httptest.NewServer(handler)
	t.Cleanup(filtered.Close)
	for _, tc := range []struct {
		what, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"an empty bearer token", "Bearer", http.StatusUnauthorized},
		{"a user without the permission", stranger, http.StatusForbidden},
		{"the scraper, its permission revoked", scraper, http.StatusForbidden},
		{"a user with the permission", prometheus, http.StatusOK},
	} {
		if got := get(t, filtered.URL+"/metrics", tc.token); got != tc.want {
			t.Errorf("filter, %s: status %d, want %d", tc.what, got, tc.want)
		}
	}
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
}

// token creates the ServiceAccount ns/name and returns a token the API server
// issued for it.
func token(t *testing.T, c client.Client, ns, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	create(t, c, sa)
	req := &authenticationv1.TokenRequest{}
	if err := c.SubResource("token").Create(t.Context(), sa, req); err != nil {
		t.Fatal(err)
	}
	return req.Status.Token
}

// authorized waits until the API server's authorizer has the ClusterRoleBinding
// just created for the ServiceAccount ns/name: RBAC reaches it through an
// informer.
func authorized(t *testing.T, config *rest.Config, ns, name string) {
	t.Helper()
	authz, err := authorizationclient.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  "system:serviceaccount:" + ns + ":" + name,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/metrics"},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := authz.SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s is not allowed get /metrics 10 s after its binding was created", ns, name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get sends GET url with the bearer token (none when empty; "Bearer" alone sends
// the header without a token) and returns the status code.
func get(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch token {
	case "":
	case "Bearer":
		req.Header.Set("Authorization", "Bearer ")
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

type countingTokens struct {
	authenticationclient.TokenReviewInterface
	n *atomic.Int32
}

func (c countingTokens) Create(ctx context.Context, r *authenticationv1.TokenReview, o metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	c.n.Add(1)
	return c.TokenReviewInterface.Create(ctx, r, o)
}

type countingAccess struct {
	authorizationclient.SubjectAccessReviewInterface
	n *atomic.Int32
}

func (c countingAccess) Create(ctx context.Context, r *authorizationv1.SubjectAccessReview, o metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	c.n.Add(1)
	return c.SubjectAccessReviewInterface.Create(ctx, r, o)
}
