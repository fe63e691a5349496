package catalog

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateRestartStatefulSetParameters(t *testing.T) {
	checkParameterCases(t, field.NewPath("spec", "parameters"), []parameterCase{
		{name: "valid", action: "restart_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production"}}`},
		{name: "without a namespace", action: "restart_statefulset",
			params: `{"statefulset": {"name": "db"}}`,
			want:   []string{"spec.parameters.statefulset.namespace: Required value"}},
		{name: "a restart takes no replicas", action: "restart_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 3}}`,
			want:   []string{`spec.parameters.statefulset.replicas: Unsupported value: "replicas": supported values: "name", "namespace"`}},
	})
}

func TestRestartStatefulSetHasNoInverse(t *testing.T) {
	a, _ := Lookup("restart_statefulset")
	if a.Inverse != nil {
		t.Error("a StatefulSet restart cannot be undone; its Inverse must be nil")
	}
}
