package authority_test

import (
	"slices"
	"strings"
	"testing"

	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
)

// TestNeeded lists, for every action of the catalog, what its requester must be
// allowed, with the target t1 (in namespace ns1 unless cluster-scoped) and the run
// in namespace own.
func TestNeeded(t *testing.T) {
	want := map[string][]string{
		"scale_deployment": {
			`get deployments.apps "t1" in namespace "ns1"`,
			`list deployments.apps "t1" in namespace "ns1"`,
			`watch deployments.apps "t1" in namespace "ns1"`,
			`get deployments.apps/scale "t1" in namespace "ns1"`,
			`update deployments.apps/scale "t1" in namespace "ns1"`,
			`patch deployments.apps/scale "t1" in namespace "ns1"`,
		},
		"scale_statefulset": {
			`get statefulsets.apps/scale "t1" in namespace "ns1"`,
			`patch statefulsets.apps/scale "t1" in namespace "ns1"`,
			`get statefulsets.apps "t1" in namespace "ns1"`,
		},
		"rollout_restart": {
			`get deployments.apps "t1" in namespace "ns1"`,
			`patch deployments.apps "t1" in namespace "ns1"`,
		},
		"restart_daemonset": {
			`get daemonsets.apps "t1" in namespace "ns1"`,
			`patch daemonsets.apps "t1" in namespace "ns1"`,
		},
		"restart_statefulset": {
			`get statefulsets.apps "t1" in namespace "ns1"`,
			`patch statefulsets.apps "t1" in namespace "ns1"`,
		},
		"increase_resources": {
			`get deployments.apps "t1" in namespace "ns1"`,
			`patch deployments.apps "t1" in namespace "ns1"`,
		},
		"rollback_deployment": {
			`get deployments.apps "t1" in namespace "ns1"`,
			`patch deployments.apps "t1" in namespace "ns1"`,
			`list replicasets.apps in namespace "ns1"`,
		},
		"update_image": {
			`get deployments.apps "t1" in namespace "ns1"`,
			`patch deployments.apps "t1" in namespace "ns1"`,
		},
		"patch_deployment": {
			`get deployments.apps "t1" in namespace "ns1"`,
			`patch deployments.apps "t1" in namespace "ns1"`,
		},
		"update_hpa": {
			`get horizontalpodautoscalers.autoscaling "t1" in namespace "ns1"`,
			`patch horizontalpodautoscalers.autoscaling "t1" in namespace "ns1"`,
		},
		"update_configmap": {
			`get configmaps "t1" in namespace "ns1"`,
			`patch configmaps "t1" in namespace "ns1"`,
		},
		"restart_pod": {
			`get pods "t1" in namespace "ns1"`,
			`delete pods "t1" in namespace "ns1"`,
		},
		"delete_pod": {
			`get pods "t1" in namespace "ns1"`,
			`delete pods "t1" in namespace "ns1"`,
		},
		"quarantine_pod": {
			`get pods "t1" in namespace "ns1"`,
			`patch pods "t1" in namespace "ns1"`,
		},
		"expand_pvc": {
			`get persistentvolumeclaims "t1" in namespace "ns1"`,
			`patch persistentvolumeclaims "t1" in namespace "ns1"`,
		},
		// notify_only changes no object: it records an Event in the run's namespace.
		"notify_only": {
			`create events in namespace "own"`,
		},
		"cordon_node": {
			`get nodes "t1" cluster-wide`,
			`patch nodes "t1" cluster-wide`,
		},
		"uncordon_node": {
			`get nodes "t1" cluster-wide`,
			`patch nodes "t1" cluster-wide`,
		},
		// A drain evicts pods of every namespace within their budgets.
		"drain_node": {
			`get nodes "t1" cluster-wide`,
			`patch nodes "t1" cluster-wide`,
			`list pods cluster-wide`,
			`create pods/eviction cluster-wide`,
			`list poddisruptionbudgets.policy cluster-wide`,
		},
		"taint_node": {
			`get nodes "t1" cluster-wide`,
			`patch nodes "t1" cluster-wide`,
		},
		"untaint_node": {
			`get nodes "t1" cluster-wide`,
			`patch nodes "t1" cluster-wide`,
		},
	}
	if got, names := len(want), catalog.Names(); got != len(names) {
		t.Fatalf("the table covers %d actions, the catalog has %d: %v", got, len(names), names)
	}
	for _, name := range catalog.Names() {
		t.Run(name, func(t *testing.T) {
			a, _ := catalog.Lookup(name)
			params := map[string]any{}
			if a.Target != nil {
				target := map[string]any{"name": "t1"}
				if !a.Target.ClusterScoped {
					target["namespace"] = "ns1"
				}
				params[a.Target.Param] = target
			}
			perms, err := authority.Needed(a, params, "own")
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(perms))
			for i, p := range perms {
				got[i] = p.String()
			}
			if !slices.Equal(got, want[name]) {
				t.Errorf("Needed(%s):\n got %q\nwant %q", name, got, want[name])
			}
		})
	}
}

// TestNeededRequiresTheTarget: parameters that do not name the target give an
// error naming the parameter, never a permission on nothing.
func TestNeededRequiresTheTarget(t *testing.T) {
	for _, tc := range []struct {
		action string
		params map[string]any
		want   string
	}{
		{"scale_deployment", map[string]any{}, "parameters.deployment.name is missing"},
		{"scale_deployment", map[string]any{"deployment": map[string]any{"name": "web"}}, "parameters.deployment.namespace is missing"},
		{"drain_node", map[string]any{"node": "n1"}, "parameters.node must be an object, not string"},
	} {
		a, _ := catalog.Lookup(tc.action)
		if _, err := authority.Needed(a, tc.params, "own"); err == nil || err.Error() != tc.want {
			t.Errorf("Needed(%s, %v) = %v, want %q", tc.action, tc.params, err, tc.want)
		}
	}
}

// TestCatalogTargets: every action but notify_only names the object it changes
// with a parameter of its schema, and lists a permission on that resource.
func TestCatalogTargets(t *testing.T) {
	for _, name := range catalog.Names() {
		a, _ := catalog.Lookup(name)
		if a.Target == nil {
			if name != "notify_only" {
				t.Errorf("%s has no target", name)
			}
			continue
		}
		i := slices.IndexFunc(a.Parameters, func(f catalog.Field) bool { return f.Name == a.Target.Param })
		if i < 0 {
			t.Errorf("%s: target parameter %q is not in its schema", name, a.Target.Param)
			continue
		}
		wantFields := []string{"name", "namespace"}
		if a.Target.ClusterScoped {
			wantFields = []string{"name"}
		}
		for _, f := range wantFields {
			if !slices.ContainsFunc(a.Parameters[i].Fields, func(x catalog.Field) bool { return x.Name == f && x.Required }) {
				t.Errorf("%s: parameter %s has no required field %s", name, a.Target.Param, f)
			}
		}
		onTarget := false
		for _, rule := range a.Permissions {
			for _, res := range rule.Resources {
				base, _, _ := strings.Cut(res, "/")
				onTarget = onTarget || (slices.Contains(rule.APIGroups, a.Target.Group) && base == a.Target.Resource)
			}
		}
		if !onTarget {
			t.Errorf("%s: no permission on its target's resource %s", name, a.Target.Resource)
		}
	}
}
