package catalog

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
)

// uncordon_node marks a Node schedulable again.
//
// Its executor records before["unschedulable"].
var _ = register(&Action{
	Name:        "uncordon_node",
	Target:      nodeTarget,
	Description: "Marks a Node schedulable again (kubectl uncordon).",
	Parameters:  []Field{nodeParameter()},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists},
	StepPostConditions: []Suggested{nodeCondUncordoned},
	PreConditions:      []Suggested{nodeCondReady},
	PostConditions:     []Suggested{nodeCondUncordoned},

	Facts:    []string{"node_found", "node_ready", "node_unschedulable"},
	Inverse:  nodeRestoreSchedulability,
	Executor: Executor{Capture: captureSchedulability, Act: uncordonNodeAct},
})

// uncordonNodeAct marks the Node schedulable.
func uncordonNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	return setUnschedulable(ctx, call, false)
}
