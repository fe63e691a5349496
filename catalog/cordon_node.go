package catalog

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

	Facts:    []Fact{factNodeFound, factNodeUnschedulable, factOtherSchedulableNodes},
	Inverse:  nodeRestoreSchedulability,
	Provide:  cordonNodeFacts,
	Safety:   nodeSafety,
	Executor: Executor{Capture: captureSchedulability, Act: cordonNodeAct},
})

// cordonNodeAct marks the Node unschedulable.
func cordonNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	return setUnschedulable(ctx, call, true)
}

// cordonNodeFacts: node_found, node_unschedulable, other_schedulable_nodes.
func cordonNodeFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	others, err := nodeFactsOthers(ctx, r, name, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":              node != nil,
		"node_unschedulable":      node != nil && node.Spec.Unschedulable,
		"other_schedulable_nodes": others,
	}, nil
}
