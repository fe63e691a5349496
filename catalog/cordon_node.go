package catalog

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
)

// cordon_node marks a Node unschedulable.
//
// Its executor records before["unschedulable"] ("true" or "false": spec.unschedulable
// before the patch).
var _ = register(&Action{
	Name:        "cordon_node",
	Target:      nodeTarget,
	Description: "Marks a Node unschedulable (kubectl cordon): its pods keep running, new pods go elsewhere.",
	Parameters:  []Field{nodeParameter()},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists, nodeCondNotLastSchedulable},
	StepPostConditions: []Suggested{nodeCondCordoned},
	PreConditions:      []Suggested{nodeRecheck(nodeCondNotLastSchedulable)},
	PostConditions:     []Suggested{nodeCondCordoned},

	Facts:    []string{"node_found", "node_unschedulable", "other_schedulable_nodes"},
	Inverse:  nodeRestoreSchedulability,
	Executor: Executor{Capture: captureSchedulability, Act: cordonNodeAct},
})

// cordonNodeAct marks the Node unschedulable.
func cordonNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	return setUnschedulable(ctx, call, true)
}
