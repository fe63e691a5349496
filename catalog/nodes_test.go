package catalog

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateNodeParameters(t *testing.T) {
	path := field.NewPath("spec", "parameters")
	cases := []parameterCase{
		{name: "cordon", action: "cordon_node", params: `{"node": {"name": "worker-1"}}`},
		{name: "uncordon", action: "uncordon_node", params: `{"node": {"name": "ip-10-0-1-17.ec2.internal"}}`},
		{name: "cordon without a node", action: "cordon_node", params: `{}`,
			want: []string{"spec.parameters.node: Required value"}},
		{name: "cordon without a name", action: "cordon_node", params: `{"node": {}}`,
			want: []string{"spec.parameters.node.name: Required value"}},
		{name: "uncordon of a name that is no subdomain", action: "uncordon_node", params: `{"node": {"name": "Worker_1"}}`,
			want: []string{`spec.parameters.node.name: Invalid value: "Worker_1": a lowercase RFC 1123 subdomain`}},
		{name: "a node has no namespace", action: "cordon_node", params: `{"node": {"name": "worker-1", "namespace": "default"}}`,
			want: []string{`spec.parameters.node.namespace: Unsupported value: "namespace": supported values: "name"`}},
		{name: "node as a string", action: "uncordon_node", params: `{"node": "worker-1"}`,
			want: []string{`spec.parameters.node: Invalid value: "worker-1": must be an object`}},

		{name: "drain with defaults", action: "drain_node", params: `{"node": {"name": "worker-1"}}`},
		{name: "drain with every option", action: "drain_node",
			params: `{"node": {"name": "worker-1", "gracePeriodSeconds": 0, "ignoreDaemonSets": false, "deleteEmptyDirData": true}}`},
		{name: "drain with the longest grace period", action: "drain_node",
			params: `{"node": {"name": "worker-1", "gracePeriodSeconds": 3600}}`},
		{name: "drain with a grace period above the range", action: "drain_node",
			params: `{"node": {"name": "worker-1", "gracePeriodSeconds": 3601}}`,
			want:   []string{"spec.parameters.node.gracePeriodSeconds: Invalid value: 3601: must be between 0 and 3600"}},
		{name: "drain with a negative grace period", action: "drain_node",
			params: `{"node": {"name": "worker-1", "gracePeriodSeconds": -1}}`,
			want:   []string{"spec.parameters.node.gracePeriodSeconds: Invalid value: -1: must be between 0 and 3600"}},
		{name: "drain with options of the wrong types", action: "drain_node",
			params: `{"node": {"name": "worker-1", "gracePeriodSeconds": "30s", "ignoreDaemonSets": "yes", "deleteEmptyDirData": 1}}`,
			want: []string{
				`spec.parameters.node.gracePeriodSeconds: Invalid value: "30s": must be an integer`,
				`spec.parameters.node.ignoreDaemonSets: Invalid value: "yes": must be a boolean`,
				`spec.parameters.node.deleteEmptyDirData: Invalid value: 1: must be a boolean`,
			}},
		{name: "drain options beside the node", action: "drain_node",
			params: `{"node": {"name": "worker-1"}, "force": true}`,
			want:   []string{`spec.parameters.force: Unsupported value: "force": supported values: "node"`}},

		{name: "taint", action: "taint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/maintenance", "value": "planned", "effect": "NoExecute"}}`},
		{name: "taint without a value", action: "taint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "dedicated", "effect": "PreferNoSchedule"}}`},
		{name: "taint without a taint", action: "taint_node", params: `{"node": {"name": "worker-1"}}`,
			want: []string{"spec.parameters.taint: Required value"}},
		{name: "taint without key and effect", action: "taint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"value": "planned"}}`,
			want:   []string{"spec.parameters.taint.key: Required value", "spec.parameters.taint.effect: Required value"}},
		{name: "taint with an unknown effect", action: "taint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "dedicated", "effect": "NoRun"}}`,
			want:   []string{`spec.parameters.taint.effect: Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`}},
		{name: "taint with an invalid key and value", action: "taint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "-maintenance", "value": "not planned", "effect": "NoSchedule"}}`,
			want: []string{
				`spec.parameters.taint.key: Invalid value: "-maintenance": name part must consist of alphanumeric characters`,
				`spec.parameters.taint.value: Invalid value: "not planned": a valid label must be an empty string or consist of alphanumeric characters`,
			}},

		{name: "untaint", action: "untaint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/maintenance", "effect": "NoSchedule"}}`},
		{name: "untaint names no value", action: "untaint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/maintenance", "value": "planned", "effect": "NoSchedule"}}`,
			want:   []string{`spec.parameters.taint.value: Unsupported value: "value": supported values: "key", "effect"`}},
		{name: "untaint without an effect", action: "untaint_node",
			params: `{"node": {"name": "worker-1"}, "taint": {"key": "example.com/maintenance"}}`,
			want:   []string{"spec.parameters.taint.effect: Required value"}},
	}
	checkParameterCases(t, path, cases)
}

func TestNodeInverse(t *testing.T) {
	node := map[string]any{"name": "worker-1"}
	maintenance := map[string]any{"key": "example.com/maintenance", "value": "planned", "effect": "NoSchedule"}
	maintenanceKey := map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}
	cases := []struct {
		name   string
		action string
		params map[string]any
		before map[string]string
		want   Rollback
	}{
		{
			name: "cordon of a schedulable node", action: "cordon_node",
			params: map[string]any{"node": node}, before: map[string]string{"unschedulable": "false"},
			want: Rollback{Action: "uncordon_node", Parameters: map[string]any{"node": node}},
		},
		{
			name: "cordon of a node already cordoned keeps it cordoned", action: "cordon_node",
			params: map[string]any{"node": node}, before: map[string]string{"unschedulable": "true"},
			want: Rollback{Action: "cordon_node", Parameters: map[string]any{"node": node}},
		},
		{
			name: "uncordon", action: "uncordon_node",
			params: map[string]any{"node": node}, before: map[string]string{"unschedulable": "true"},
			want: Rollback{Action: "cordon_node", Parameters: map[string]any{"node": node}},
		},
		{
			name: "drain uncordons, without its options", action: "drain_node",
			params: map[string]any{"node": map[string]any{"name": "worker-1", "gracePeriodSeconds": float64(30), "ignoreDaemonSets": true}},
			before: map[string]string{"unschedulable": "false"},
			want:   Rollback{Action: "uncordon_node", Parameters: map[string]any{"node": node}},
		},
		{
			name: "drain of a node cordoned before", action: "drain_node",
			params: map[string]any{"node": node}, before: map[string]string{"unschedulable": "true"},
			want: Rollback{Action: "cordon_node", Parameters: map[string]any{"node": node}},
		},
		{
			name: "taint of a node without it", action: "taint_node",
			params: map[string]any{"node": node, "taint": maintenance}, before: map[string]string{"taint_present": "false"},
			want: Rollback{Action: "untaint_node", Parameters: map[string]any{"node": node, "taint": maintenanceKey}},
		},
		{
			name: "taint that changed a value", action: "taint_node",
			params: map[string]any{"node": node, "taint": maintenance},
			before: map[string]string{"taint_present": "true", "taint_value": "unplanned"},
			want: Rollback{Action: "taint_node", Parameters: map[string]any{"node": node, "taint": map[string]any{
				"key": "example.com/maintenance", "value": "unplanned", "effect": "NoSchedule"}}},
		},
		{
			name: "untaint", action: "untaint_node",
			params: map[string]any{"node": node, "taint": maintenanceKey},
			before: map[string]string{"taint_present": "true", "taint_value": "planned"},
			want:   Rollback{Action: "taint_node", Parameters: map[string]any{"node": node, "taint": maintenance}},
		},
		{
			name: "untaint of a taint without a value", action: "untaint_node",
			params: map[string]any{"node": node, "taint": maintenanceKey},
			before: map[string]string{"taint_present": "true", "taint_value": ""},
			want:   Rollback{Action: "taint_node", Parameters: map[string]any{"node": node, "taint": maintenanceKey}},
		},
		{
			name: "untaint of an absent taint", action: "untaint_node",
			params: map[string]any{"node": node, "taint": maintenanceKey}, before: map[string]string{"taint_present": "false"},
			want: Rollback{Action: "untaint_node", Parameters: map[string]any{"node": node, "taint": maintenanceKey}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := Lookup(c.action)
			got, err := a.Inverse(c.params, c.before)
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != c.want.Action || !equalJSON(got.Parameters, c.want.Parameters) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			inverse, ok := Lookup(got.Action)
			if !ok {
				t.Fatalf("no action %s", got.Action)
			}
			if errs := inverse.ValidateParameters(got.Parameters, field.NewPath("parameters")); len(errs) > 0 {
				t.Errorf("the inverse's parameters are invalid: %v", errs.ToAggregate())
			}
		})
	}
}

// An inverse without what the executor should have recorded fails: it does not guess.
func TestNodeInverseNeedsTheRecord(t *testing.T) {
	node := map[string]any{"name": "worker-1"}
	taint := map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}
	cases := []struct {
		name   string
		action string
		params map[string]any
		before map[string]string
		want   string // a substring of the error
	}{
		{"cordon without the record", "cordon_node", map[string]any{"node": node}, nil,
			`whether node worker-1 was cordoned before acting was not recorded: unschedulable is ""`},
		{"uncordon with a record that is no boolean", "uncordon_node", map[string]any{"node": node},
			map[string]string{"unschedulable": "yes"}, `unschedulable is "yes"`},
		{"drain without the record", "drain_node", map[string]any{"node": node}, map[string]string{}, "was not recorded"},
		{"drain without a node", "drain_node", map[string]any{}, map[string]string{"unschedulable": "false"}, "parameters.node.name is missing"},
		{"taint without the record", "taint_node", map[string]any{"node": node, "taint": taint}, map[string]string{},
			"whether node worker-1 carried taint example.com/maintenance:NoSchedule before acting was not recorded"},
		{"untaint without the previous value", "untaint_node", map[string]any{"node": node, "taint": taint},
			map[string]string{"taint_present": "true"}, "the previous value of taint example.com/maintenance:NoSchedule on node worker-1 was not recorded"},
		{"untaint without a taint", "untaint_node", map[string]any{"node": node},
			map[string]string{"taint_present": "false"}, "parameters.taint.key is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := Lookup(c.action)
			_, err := a.Inverse(c.params, c.before)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}
