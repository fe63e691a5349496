package catalog

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateWorkloadParameters(t *testing.T) {
	path := field.NewPath("spec", "parameters")
	cases := []parameterCase{
		// scale_statefulset
		{name: "statefulset valid", action: "scale_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 3}}`},
		{name: "statefulset to zero", action: "scale_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 0}}`},
		{name: "statefulset replicas above the range", action: "scale_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 1001}}`,
			want:   []string{"spec.parameters.statefulset.replicas: Invalid value: 1001: must be between 0 and 1000"}},
		{name: "statefulset without replicas, under the deployment key", action: "scale_statefulset",
			params: `{"deployment": {"name": "db", "namespace": "production", "replicas": 3}}`,
			want: []string{
				"spec.parameters.statefulset: Required value",
				`spec.parameters.deployment: Unsupported value: "deployment": supported values: "statefulset"`,
			}},

		// rollout_restart
		{name: "restart valid", action: "rollout_restart",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`},
		{name: "restart takes no replicas", action: "rollout_restart",
			params: `{"deployment": {"name": "web", "namespace": "production", "replicas": 3}}`,
			want:   []string{`spec.parameters.deployment.replicas: Unsupported value: "replicas": supported values: "name", "namespace"`}},
		{name: "restart with a bad namespace", action: "rollout_restart",
			params: `{"deployment": {"name": "web", "namespace": "Prod.1"}}`,
			want:   []string{`spec.parameters.deployment.namespace: Invalid value: "Prod.1": a lowercase RFC 1123 label`}},

		// restart_daemonset
		{name: "daemonset valid", action: "restart_daemonset",
			params: `{"daemonset": {"name": "node-agent", "namespace": "kube-system"}}`},
		{name: "daemonset without a name", action: "restart_daemonset",
			params: `{"daemonset": {"namespace": "kube-system"}}`,
			want:   []string{"spec.parameters.daemonset.name: Required value"}},

		// increase_resources
		{name: "resources valid", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web",
				"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}`},
		{name: "resources, limits only", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "limits": {"memory": "2Gi"}}`},
		{name: "resources without container", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "requests": {"cpu": "1"}}`,
			want:   []string{"spec.parameters.container: Required value"}},
		{name: "resources with bad quantities", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web",
				"requests": {"cpu": "lots", "memory": "0"}, "limits": {"gpu": "1"}}`,
			want: []string{
				`spec.parameters.requests.cpu: Invalid value: "lots": must be a quantity such as 500m, 2 or 10Gi`,
				`spec.parameters.requests.memory: Invalid value: "0": must be positive`,
				`spec.parameters.limits.gpu: Unsupported value: "gpu": supported values: "cpu", "memory"`,
			}},
		{name: "resources with a bad container name", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "Web_1", "limits": {"cpu": "2"}}`,
			want:   []string{`spec.parameters.container: Invalid value: "Web_1": a lowercase RFC 1123 label`}},
		{name: "resources as a string", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "requests": "1Gi"}`,
			want:   []string{`spec.parameters.requests: Invalid value: "1Gi": must be an object`}},

		// rollback_deployment
		{name: "rollback to the previous revision", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`},
		{name: "rollback to revision 0", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "revision": 0}`},
		{name: "rollback to revision 4", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "revision": 4}`},
		{name: "rollback to a negative revision", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "revision": -1}`,
			want:   []string{"spec.parameters.revision: Invalid value: -1: must be at least 0"}},
		{name: "rollback to a revision as a string", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "revision": "4"}`,
			want:   []string{`spec.parameters.revision: Invalid value: "4": must be an integer`}},

		// update_image
		{name: "image valid", action: "update_image",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "image": "registry.example/web:1.3"}`},
		{name: "image with a space", action: "update_image",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "image": "web 1.3"}`,
			want:   []string{`spec.parameters.image: Invalid value: "web 1.3": must be a container image reference`}},
		{name: "image missing", action: "update_image",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`,
			want:   []string{"spec.parameters.container: Required value", "spec.parameters.image: Required value"}},

		// patch_deployment
		{name: "patch valid", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"},
				"patch": {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "DEBUG", "value": "1"}]}]}}}}}`},
		{name: "patch missing", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`,
			want:   []string{"spec.parameters.patch: Required value"}},
		{name: "patch as a string", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "patch": "spec: {}"}`,
			want:   []string{`spec.parameters.patch: Invalid value: "spec: {}": must be an object`}},

		// update_hpa
		{name: "hpa valid", action: "update_hpa",
			params: `{"hpa": {"name": "web", "namespace": "production"}, "minReplicas": 2, "maxReplicas": 10}`},
		{name: "hpa bounds out of range", action: "update_hpa",
			params: `{"hpa": {"name": "web", "namespace": "production"}, "minReplicas": 0, "maxReplicas": 1001}`,
			want: []string{
				"spec.parameters.minReplicas: Invalid value: 0: must be between 1 and 1000",
				"spec.parameters.maxReplicas: Invalid value: 1001: must be between 1 and 1000",
			}},
		{name: "hpa without bounds", action: "update_hpa",
			params: `{"hpa": {"name": "web", "namespace": "production"}}`,
			want:   []string{"spec.parameters.minReplicas: Required value", "spec.parameters.maxReplicas: Required value"}},

		// update_configmap
		{name: "configmap valid", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug"}}`},
		{name: "configmap replaced", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {}, "replace": true}`},
		{name: "configmap value not a string", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"PORT": 8080}}`,
			want:   []string{`spec.parameters.data[PORT]: Invalid value: 8080: must be a string, or null to remove the key`}},
		{name: "configmap key set to null is removed", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug", "TRACE": null}}`},
		{name: "configmap replace not a boolean", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"A": "b"}, "replace": "yes"}`,
			want:   []string{`spec.parameters.replace: Invalid value: "yes": must be a boolean`}},
		{name: "configmap without data", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}}`,
			want:   []string{"spec.parameters.data: Required value"}},
	}
	checkParameterCases(t, path, cases)
}

func TestWorkloadInverse(t *testing.T) {
	web := func() map[string]any { return map[string]any{"name": "web", "namespace": "production"} }
	webConfig := func() map[string]any { return map[string]any{"name": "web-config", "namespace": "production"} }
	cases := []struct {
		name   string
		action string
		params string // as a step carries them, JSON
		before map[string]string
		want   Rollback
	}{
		{name: "scale_statefulset back to the previous replicas", action: "scale_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 5}}`,
			before: map[string]string{"replicas": "3"},
			want: Rollback{Action: "scale_statefulset", Parameters: map[string]any{
				"statefulset": map[string]any{"name": "db", "namespace": "production", "replicas": 3}}}},
		{name: "rollout_restart rolls back to the revision before", action: "rollout_restart",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`,
			before: map[string]string{"revision": "7"},
			want:   Rollback{Action: "rollback_deployment", Parameters: map[string]any{"deployment": web(), "revision": 7}}},
		{name: "rollback_deployment rolls forward to the revision before", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`,
			before: map[string]string{"revision": "8"},
			want:   Rollback{Action: "rollback_deployment", Parameters: map[string]any{"deployment": web(), "revision": 8}}},
		{name: "update_image back to the previous image", action: "update_image",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "image": "registry.example/web:1.3"}`,
			before: map[string]string{"image": "registry.example/web:1.2"},
			want: Rollback{Action: "update_image", Parameters: map[string]any{
				"deployment": web(), "container": "web", "image": "registry.example/web:1.2"}}},
		{name: "increase_resources back to the previous values", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web",
				"requests": {"cpu": "1"}, "limits": {"cpu": "2", "memory": "2Gi"}}`,
			before: map[string]string{"requests.cpu": "500m", "limits.cpu": "1", "limits.memory": "1Gi", "requests.memory": "256Mi"},
			want: Rollback{Action: "increase_resources", Parameters: map[string]any{
				"deployment": web(), "container": "web",
				"requests": map[string]any{"cpu": "500m"}, "limits": map[string]any{"cpu": "1", "memory": "1Gi"}}}},
		{name: "increase_resources of a value that was unset removes it by a patch", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web",
				"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}`,
			before: map[string]string{"requests.cpu": "500m", "limits.memory": ""},
			want: Rollback{Action: "patch_deployment", Parameters: map[string]any{"deployment": web(), "patch": map[string]any{
				"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
					map[string]any{"name": "web", "resources": map[string]any{
						"requests": map[string]any{"cpu": "500m"}, "limits": map[string]any{"memory": nil}}},
				}}}}}}}},
		{name: "patch_deployment of the pod template rolls back", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"},
				"patch": {"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}}}`,
			before: map[string]string{"revision": "3"},
			want:   Rollback{Action: "rollback_deployment", Parameters: map[string]any{"deployment": web(), "revision": 3}}},
		{name: "update_hpa back to the previous bounds", action: "update_hpa",
			params: `{"hpa": {"name": "web", "namespace": "production"}, "minReplicas": 4, "maxReplicas": 20}`,
			before: map[string]string{"min_replicas": "2", "max_replicas": "10"},
			want: Rollback{Action: "update_hpa", Parameters: map[string]any{
				"hpa": web(), "minReplicas": 2, "maxReplicas": 10}}},
		{name: "update_configmap sets back the keys it changed", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug"}}`,
			before: map[string]string{"data": `{"LOG_LEVEL": "info"}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"LOG_LEVEL": "info"}}}},
		{name: "update_configmap that added a key removes it, and only touches its own keys", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug", "TRACE": "1"}}`,
			before: map[string]string{"data": `{"LOG_LEVEL": "info", "TRACE": null}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"LOG_LEVEL": "info", "TRACE": nil}}}},
		{name: "update_configmap that removed a key sets it back", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"TRACE": null}}`,
			before: map[string]string{"data": `{"TRACE": "1"}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"TRACE": "1"}}}},
		{name: "update_configmap that replaced the data sets back the removed keys and removes the added ones", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug", "NEW": "x"}, "replace": true}`,
			before: map[string]string{"data": `{"LOG_LEVEL": "info", "MODE": "prod", "NEW": null}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"LOG_LEVEL": "info", "MODE": "prod", "NEW": nil}}}},
		{name: "update_configmap of a ConfigMap without data", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug"}}`,
			before: map[string]string{"data": `{"LOG_LEVEL": null}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"LOG_LEVEL": nil}}}},
		// Executors before the record held only the changed keys recorded the whole data:
		// the inverse still restores only the keys the action set.
		{name: "update_configmap recorded with the whole data", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug", "TRACE": "1"}}`,
			before: map[string]string{"data": `{"LOG_LEVEL": "info", "MODE": "prod"}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"LOG_LEVEL": "info", "TRACE": nil}}}},
		{name: "update_configmap with replace recorded with the whole data", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"LOG_LEVEL": "debug"}, "replace": true}`,
			before: map[string]string{"data": `{"LOG_LEVEL": "info", "MODE": "prod"}`},
			want: Rollback{Action: "update_configmap", Parameters: map[string]any{
				"configmap": webConfig(), "data": map[string]any{"LOG_LEVEL": "info", "MODE": "prod"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := Lookup(c.action)
			params, err := DecodeParameters([]byte(c.params))
			if err != nil {
				t.Fatal(err)
			}
			if errs := a.ValidateParameters(params, field.NewPath("parameters")); len(errs) > 0 {
				t.Fatalf("the case's parameters are invalid: %v", errs.ToAggregate())
			}
			got, err := a.Inverse(params, c.before)
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != c.want.Action || !equalJSON(got.Parameters, c.want.Parameters) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			inverse, ok := Lookup(got.Action)
			if !ok {
				t.Fatalf("the inverse action %s is not in the catalog", got.Action)
			}
			if errs := inverse.ValidateParameters(got.Parameters, field.NewPath("parameters")); len(errs) > 0 {
				t.Errorf("the inverse's parameters are invalid: %v", errs.ToAggregate())
			}
		})
	}
}

// An inverse that lacks what the executor should have recorded fails: it does not
// guess. So does one that cannot undo what the action did.
func TestWorkloadInverseRefuses(t *testing.T) {
	cases := []struct {
		name   string
		action string
		params string
		before map[string]string
		want   string // a substring of the error
	}{
		{name: "statefulset replicas not recorded", action: "scale_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 5}}`,
			before: map[string]string{}, want: `the replica count before scaling was not recorded (before["replicas"])`},
		{name: "statefulset replicas not a number", action: "scale_statefulset",
			params: `{"statefulset": {"name": "db", "namespace": "production", "replicas": 5}}`,
			before: map[string]string{"replicas": "three"}, want: `recorded as "three", not an integer`},
		{name: "restart revision not recorded", action: "rollout_restart",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`,
			before: map[string]string{}, want: `the Deployment's revision before acting was not recorded (before["revision"])`},
		{name: "rollback to revision 0", action: "rollback_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}}`,
			before: map[string]string{"revision": "0"}, want: "the recorded revision 0 is not a revision to roll back to"},
		{name: "image not recorded", action: "update_image",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "image": "registry.example/web:1.3"}`,
			before: map[string]string{"revision": "4"}, want: `the image of container "web" before the update was not recorded`},
		{name: "one resource value not recorded", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "requests": {"cpu": "1", "memory": "1Gi"}}`,
			before: map[string]string{"requests.cpu": "500m"}, want: "the value of requests.memory of container web before the update was not recorded"},
		{name: "no resource values set", action: "increase_resources",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "container": "web", "requests": {}}`,
			before: map[string]string{}, want: "there is nothing to undo"},
		{name: "patch outside the pod template", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"},
				"patch": {"metadata": {"labels": {"a": "b"}}, "spec": {"replicas": 5, "template": {}}}}`,
			before: map[string]string{"revision": "3"}, want: "the patch changes [metadata spec.replicas], outside spec.template"},
		{name: "empty patch", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "patch": {}}`,
			before: map[string]string{"revision": "3"}, want: "the patch is empty"},
		{name: "patch revision not recorded", action: "patch_deployment",
			params: `{"deployment": {"name": "web", "namespace": "production"}, "patch": {"spec": {"template": {}}}}`,
			before: map[string]string{}, want: `before["revision"]`},
		{name: "hpa max not recorded", action: "update_hpa",
			params: `{"hpa": {"name": "web", "namespace": "production"}, "minReplicas": 4, "maxReplicas": 20}`,
			before: map[string]string{"min_replicas": "2"}, want: `maxReplicas before the update was not recorded (before["max_replicas"])`},
		{name: "configmap data not recorded", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"A": "b"}}`,
			before: map[string]string{}, want: "the data of the ConfigMap before the update was not recorded"},
		{name: "configmap data not JSON", action: "update_configmap",
			params: `{"configmap": {"name": "web-config", "namespace": "production"}, "data": {"A": "b"}}`,
			before: map[string]string{"data": "A=b"}, want: `the recorded data of the ConfigMap (before["data"]) is not a JSON object of strings and nulls`},
		{name: "no target", action: "update_image",
			params: `{}`, before: map[string]string{"image": "registry.example/web:1.2"},
			want: "parameters.deployment.name is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := Lookup(c.action)
			params, err := DecodeParameters([]byte(c.params))
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Inverse(params, c.before)
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", got, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestRestartDaemonSetHasNoInverse(t *testing.T) {
	a, _ := Lookup("restart_daemonset")
	if a.Inverse != nil {
		t.Error("a DaemonSet restart cannot be undone; its Inverse must be nil")
	}
}
