package objects_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/test/harness"
)

func TestRefOf(t *testing.T) {
	q := commonv1alpha1.ObjectQuery{Key: "cert", APIVersion: "cert-manager.io/v1", Kind: "Certificate", Name: "{{name}}-tls", Namespace: "{{ namespace }}"}
	ref, err := objects.RefOf(q, "runs", "web", "prod")
	if err != nil || ref.Name != "web-tls" || ref.Namespace != "prod" || ref.Group != "cert-manager.io" || ref.Version != "v1" {
		t.Errorf("RefOf: %+v, %v", ref, err)
	}
	q.Namespace = ""
	if ref, _ := objects.RefOf(q, "runs", "web", "prod"); ref.Namespace != "runs" {
		t.Errorf("no namespace named: read in the run's, got %q", ref.Namespace)
	}
	for _, bad := range []struct {
		q    commonv1alpha1.ObjectQuery
		want string
	}{
		{commonv1alpha1.ObjectQuery{APIVersion: "a/b/c", Kind: "K", Name: "x"}, `apiVersion "a/b/c"`},
		{commonv1alpha1.ObjectQuery{APIVersion: "v1", Kind: "K", Name: "{{pod}}"}, "unknown variable {{pod}}"},
		{commonv1alpha1.ObjectQuery{APIVersion: "v1", Kind: "K", Name: "{{name"}, "opens {{ without closing it"},
		{commonv1alpha1.ObjectQuery{APIVersion: "v1", Kind: "K", Name: "Not_A_Name"}, `name "Not_A_Name"`},
		{commonv1alpha1.ObjectQuery{APIVersion: "v1", Kind: "K", Name: "x", Namespace: "../etc"}, `namespace "../etc"`},
	} {
		if _, err := objects.RefOf(bad.q, "runs", "web", "prod"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: got %v, want an error with %q", bad.q, err, bad.want)
		}
	}
}

// TestReader reads objects against a real API server: as a requester who may get
// them, refused to one who may not, bounded, and as a manager without the rights.
func TestReader(t *testing.T) {
	ctx := t.Context()
	cluster := harness.StartForTest(t, harness.Options{})
	c := cluster.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod"}}))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-state", Namespace: "prod",
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1000)}},
		Data: map[string]string{"ready": "true"}}
	must(c.Create(ctx, cm))
	must(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: "prod"},
		Data: map[string]string{"blob": strings.Repeat("y", 100<<10)}}))
	_, err := harness.GrantRole(ctx, c, "prod", "alice", "read-app-state", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-state", "big", "absent"}, Verbs: []string{"get"}}})
	must(err)
	reviewer, err := authority.NewReviewer(cluster.Config, -1)
	must(err)
	r := &objects.Reader{Client: c, Mapper: c.RESTMapper(), Reviewer: reviewer}
	alice, bob := authority.Requester{Username: "alice"}, authority.Requester{Username: "bob"}
	ref := objects.Ref{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, Namespace: "prod", Name: "app-state"}

	got, err := r.Read(ctx, alice, ref)
	if err != nil {
		t.Fatalf("alice may get it: %v", err)
	}
	meta := got["metadata"].(map[string]any)
	if got["data"].(map[string]any)["ready"] != "true" || meta["managedFields"] != nil || meta["annotations"] != nil {
		t.Errorf("the object without managedFields and last-applied: %v", got)
	}
	if _, err := r.Read(ctx, bob, ref); err == nil || !strings.Contains(err.Error(), `user "bob" cannot get configmaps "app-state" in namespace "prod"`) {
		t.Errorf("bob may not get it: %v", err)
	}
	var missing *objects.MissingError
	if _, err := r.Read(ctx, alice, withName(ref, "absent")); !errors.As(err, &missing) {
		t.Errorf("a missing object: %v, want a MissingError", err)
	}
	if _, err := r.Read(ctx, alice, withName(ref, "big")); err == nil || !strings.Contains(err.Error(), "more than the 65536") {
		t.Errorf("an object over the bound: %v", err)
	}
	// Nodes are cluster-scoped: the namespace a condition names (or its run's) is
	// dropped, and the requester is asked cluster-wide.
	node := objects.Ref{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Node"}, Namespace: "prod", Name: "n1"}
	perm, node, err := objects.Permission(c.RESTMapper(), node)
	if err != nil || perm.Namespace != "" || node.Namespace != "" || perm.Resource != "nodes" {
		t.Errorf("a cluster-scoped kind: %+v %+v %v", perm, node, err)
	}
	if _, _, err := objects.Permission(c.RESTMapper(), objects.Ref{GroupVersionKind: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}}); err == nil ||
		!strings.Contains(err.Error(), "serves no kind Widget in example.com/v1") {
		t.Errorf("an unknown kind: %v", err)
	}

	// A manager that may not read the kind says which role grants it.
	limited := rest.CopyConfig(cluster.Config)
	limited.Impersonate = rest.ImpersonationConfig{UserName: "limited-manager"}
	lc, err := client.New(limited, client.Options{Scheme: cluster.Scheme, Mapper: c.RESTMapper()})
	must(err)
	r.Client = lc
	if _, err := r.Read(ctx, alice, ref); err == nil || !strings.Contains(err.Error(), objects.ReaderRole) {
		t.Errorf("a manager without get: %v", err)
	}
}

func withName(r objects.Ref, name string) objects.Ref {
	r.Name = name
	return r
}
