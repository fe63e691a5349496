package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/executors"
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
	objects, err := objects()
	if err != nil {
		t.Fatal(err)
	}
	names := catalog.Names()
	if want := 3*len(names) + 1; len(objects) != want {
		t.Fatalf("%d objects, want %d", len(objects), want)
	}
	for i, action := range names {
		binding := objects[3*i+2].(*rbacv1.ClusterRoleBinding)
		role := objects[3*i+1].(*rbacv1.ClusterRole)
		if binding.RoleRef.Name != role.Name || role.Name != "kubernaut-action-"+strings.ReplaceAll(action, "_", "-") {
			t.Errorf("%s: binding %s refers to %s", action, binding.Name, binding.RoleRef.Name)
		}
		if s := binding.Subjects[0]; s.Name != executors.ServiceAccountName(action) || s.Namespace != executors.ServiceAccountNamespace {
			t.Errorf("%s: binding subject %+v", action, s)
		}
		want, _ := executors.Permissions(action)
		if len(role.Rules) != len(want) || len(role.Rules) == 0 {
			t.Errorf("%s: %d rules, want %d", action, len(role.Rules), len(want))
		}
	}
	impersonator := objects[len(objects)-1].(*rbacv1.Role)
	if got := impersonator.Rules[0].ResourceNames; len(got) != len(names) {
		t.Errorf("the impersonator Role names %d ServiceAccounts, want %d", len(got), len(names))
	}
}
