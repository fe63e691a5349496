package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"kubernaut.io/stepvalidation/catalog"
)

// TestGeneratedFileIsCurrent fails when config/rbac/actions.yaml is not what the
// catalog renders (run make manifests).
func TestGeneratedFileIsCurrent(t *testing.T) {
	var rendered bytes.Buffer
	if err := render(&rendered); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "actions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rendered.Bytes(), committed) {
		t.Error("config/rbac/actions.yaml is stale: run make manifests")
	}
}

// TestObjects checks the identity of every action: its ServiceAccount, bound to a
// ClusterRole with its permissions, and the impersonator Role naming them all.
func TestObjects(t *testing.T) {
	objects := objects()
	names := catalog.Names()
	if want := 3*len(names) + 1; len(objects) != want {
		t.Fatalf("%d objects, want %d", len(objects), want)
	}
	for i, name := range names {
		action, _ := catalog.Lookup(name)
		binding := objects[3*i+2].(*rbacv1.ClusterRoleBinding)
		role := objects[3*i+1].(*rbacv1.ClusterRole)
		if binding.RoleRef.Name != role.Name || role.Name != "kubernaut-action-"+strings.ReplaceAll(name, "_", "-") {
			t.Errorf("%s: binding %s refers to %s", name, binding.Name, binding.RoleRef.Name)
		}
		if s := binding.Subjects[0]; s.Name != action.ServiceAccountName() || s.Namespace != catalog.ServiceAccountNamespace {
			t.Errorf("%s: binding subject %+v", name, s)
		}
		if want := action.Permissions; len(role.Rules) != len(want) || len(role.Rules) == 0 {
			t.Errorf("%s: %d rules, want %d", name, len(role.Rules), len(want))
		}
	}
	impersonator := objects[len(objects)-1].(*rbacv1.Role)
	if got := impersonator.Rules[0].ResourceNames; len(got) != len(names) {
		t.Errorf("the impersonator Role names %d ServiceAccounts, want %d", len(got), len(names))
	}
}
