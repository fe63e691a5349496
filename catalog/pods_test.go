package catalog

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidatePodParameters(t *testing.T) {
	path := field.NewPath("spec", "parameters")
	cases := []parameterCase{
		{name: "restart", action: "restart_pod", params: `{"pod": {"name": "web-app-7d9f-abcde", "namespace": "production"}}`},
		{name: "restart without a pod", action: "restart_pod", params: `{}`,
			want: []string{"spec.parameters.pod: Required value"}},
		{name: "restart without a namespace", action: "restart_pod", params: `{"pod": {"name": "web-app-7d9f-abcde"}}`,
			want: []string{"spec.parameters.pod.namespace: Required value"}},
		{name: "restart of invalid names", action: "restart_pod", params: `{"pod": {"name": "Web_App", "namespace": "prod.eu"}}`,
			want: []string{
				`spec.parameters.pod.name: Invalid value: "Web_App": a lowercase RFC 1123 subdomain`,
				`spec.parameters.pod.namespace: Invalid value: "prod.eu": must not contain dots`,
			}},
		{name: "restart takes no grace period", action: "restart_pod",
			params: `{"pod": {"name": "web-app-7d9f-abcde", "namespace": "production"}, "gracePeriodSeconds": 0}`,
			want:   []string{`spec.parameters.gracePeriodSeconds: Unsupported value: "gracePeriodSeconds": supported values: "pod"`}},
		{name: "pod as a string", action: "restart_pod", params: `{"pod": "web-app-7d9f-abcde"}`,
			want: []string{`spec.parameters.pod: Invalid value: "web-app-7d9f-abcde": must be an object`}},

		{name: "delete", action: "delete_pod", params: `{"pod": {"name": "debug", "namespace": "default"}}`},
		{name: "delete at once", action: "delete_pod", params: `{"pod": {"name": "debug", "namespace": "default"}, "gracePeriodSeconds": 0}`},
		{name: "delete with the longest grace period", action: "delete_pod",
			params: `{"pod": {"name": "debug", "namespace": "default"}, "gracePeriodSeconds": 3600}`},
		{name: "delete with a grace period above the range", action: "delete_pod",
			params: `{"pod": {"name": "debug", "namespace": "default"}, "gracePeriodSeconds": 3601}`,
			want:   []string{"spec.parameters.gracePeriodSeconds: Invalid value: 3601: must be between 0 and 3600"}},
		{name: "delete with a negative grace period", action: "delete_pod",
			params: `{"pod": {"name": "debug", "namespace": "default"}, "gracePeriodSeconds": -1}`,
			want:   []string{"spec.parameters.gracePeriodSeconds: Invalid value: -1: must be between 0 and 3600"}},
		{name: "delete with a grace period as a duration", action: "delete_pod",
			params: `{"pod": {"name": "debug", "namespace": "default"}, "gracePeriodSeconds": "30s"}`,
			want:   []string{`spec.parameters.gracePeriodSeconds: Invalid value: "30s": must be an integer`}},
		{name: "delete with the grace period inside the pod", action: "delete_pod",
			params: `{"pod": {"name": "debug", "namespace": "default", "gracePeriodSeconds": 0}}`,
			want:   []string{`spec.parameters.pod.gracePeriodSeconds: Unsupported value: "gracePeriodSeconds": supported values: "name", "namespace"`}},

		{name: "quarantine", action: "quarantine_pod", params: `{"pod": {"name": "web-app-7d9f-abcde", "namespace": "production"}}`},
		{name: "quarantine without a name", action: "quarantine_pod", params: `{"pod": {"namespace": "production"}}`,
			want: []string{"spec.parameters.pod.name: Required value"}},
		{name: "quarantine with labels", action: "quarantine_pod",
			params: `{"pod": {"name": "web-app-7d9f-abcde", "namespace": "production"}, "labels": {"quarantined": "yes"}}`,
			want:   []string{`spec.parameters.labels: Unsupported value: "labels": supported values: "pod"`}},

		{name: "expand", action: "expand_pvc", params: `{"pvc": {"name": "data-db-0", "namespace": "production", "size": "20Gi"}}`},
		{name: "expand in decimal units", action: "expand_pvc", params: `{"pvc": {"name": "data-db-0", "namespace": "production", "size": "1.5T"}}`},
		{name: "expand without a size", action: "expand_pvc", params: `{"pvc": {"name": "data-db-0", "namespace": "production"}}`,
			want: []string{"spec.parameters.pvc.size: Required value"}},
		{name: "expand to no quantity", action: "expand_pvc", params: `{"pvc": {"name": "data-db-0", "namespace": "production", "size": "20 gigs"}}`,
			want: []string{`spec.parameters.pvc.size: Invalid value: "20 gigs": must be a quantity such as 500m, 2 or 10Gi`}},
		{name: "expand to zero", action: "expand_pvc", params: `{"pvc": {"name": "data-db-0", "namespace": "production", "size": "0"}}`,
			want: []string{`spec.parameters.pvc.size: Invalid value: "0": must be positive`}},
		{name: "expand to a number", action: "expand_pvc", params: `{"pvc": {"name": "data-db-0", "namespace": "production", "size": 20}}`,
			want: []string{"spec.parameters.pvc.size: Invalid value: 20: must be a string"}},
		{name: "expand with the size beside the claim", action: "expand_pvc",
			params: `{"pvc": {"name": "data-db-0", "namespace": "production"}, "size": "20Gi"}`,
			want: []string{
				"spec.parameters.pvc.size: Required value",
				`spec.parameters.size: Unsupported value: "size": supported values: "pvc"`,
			}},
		{name: "expand without a claim", action: "expand_pvc", params: `{}`,
			want: []string{"spec.parameters.pvc: Required value"}},

		{name: "notify", action: "notify_only", params: `{"message": "Disk of db-0 is 95% full", "severity": "critical"}`},
		{name: "notify info", action: "notify_only", params: `{"message": "nothing to do", "severity": "info"}`},
		{name: "notify without anything", action: "notify_only", params: `{}`,
			want: []string{"spec.parameters.message: Required value", "spec.parameters.severity: Required value"}},
		{name: "notify with an unknown severity", action: "notify_only", params: `{"message": "x", "severity": "fatal"}`,
			want: []string{`spec.parameters.severity: Unsupported value: "fatal": supported values: "info", "warning", "critical"`}},
		{name: "notify with severities in capitals", action: "notify_only", params: `{"message": "x", "severity": "Warning"}`,
			want: []string{`spec.parameters.severity: Unsupported value: "Warning"`}},
		{name: "notify with a structured message", action: "notify_only", params: `{"message": {"text": "x"}, "severity": "info"}`,
			want: []string{`spec.parameters.message: Invalid value: {"text":"x"}: must be a string`}},
		{name: "notify names no target", action: "notify_only",
			params: `{"message": "x", "severity": "info", "pod": {"name": "web", "namespace": "default"}}`,
			want:   []string{`spec.parameters.pod: Unsupported value: "pod": supported values: "message", "severity"`}},
	}
	checkParameterCases(t, path, cases)
}

// None of the pod actions can be undone by a catalog action (see pods.go): a
// rollback of them must come from the step's rollbackSpec.
func TestPodActionsHaveNoInverse(t *testing.T) {
	for _, a := range podGroup() {
		if a.Inverse != nil {
			t.Errorf("%s has an inverse; document the before keys it reads and test it", a.Name)
		}
	}
}

// The facts of the pod actions are either shared with scale_deployment, with the same
// meaning, or prefixed by their domain, so that they cannot clash with other groups'.
func TestPodFactsArePrefixed(t *testing.T) {
	scale, _ := Lookup("scale_deployment")
	for _, a := range podGroup() {
		for _, f := range a.Facts {
			if slices.Contains(scale.Facts, f) {
				continue
			}
			if !strings.HasPrefix(f.Key, "pod_") && !strings.HasPrefix(f.Key, "pvc_") && !strings.HasPrefix(f.Key, "notify_") {
				t.Errorf("%s: fact %s is neither shared nor prefixed pod_, pvc_ or notify_", a.Name, f.Key)
			}
		}
	}
}

// podGroup returns the pod actions: those that act on a pod or a claim, and
// notify_only, which has no target.
func podGroup() []*Action {
	var group []*Action
	for _, name := range Names() {
		a, _ := Lookup(name)
		if a.Target == nil || a.Target == podTarget || a.Target == pvcTarget {
			group = append(group, a)
		}
	}
	return group
}
