package catalog

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

	Facts:    []Fact{factNodeFound, factNodeReady, factNodeUnschedulable},
	Inverse:  nodeRestoreSchedulability,
	Provide:  uncordonNodeFacts,
	Safety:   nodeSafety,
	Executor: Executor{Capture: captureSchedulability, Act: uncordonNodeAct},
})

// uncordonNodeAct marks the Node schedulable.
func uncordonNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	return setUnschedulable(ctx, call, false)
}

// uncordonNodeFacts: node_found, node_ready, node_unschedulable.
func uncordonNodeFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	_, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":         node != nil,
		"node_ready":         node != nil && nodeReady(node),
		"node_unschedulable": node != nil && node.Spec.Unschedulable,
	}, nil
}
