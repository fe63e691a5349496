package catalog

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// untaint_node removes the taint with a key and effect from a Node.
//
// Its executor records before["taint_present"] and, when the taint was present,
// before["taint_value"], as taint_node's does.
var _ = register(&Action{
	Name:        "untaint_node",
	Target:      nodeTarget,
	Description: "Removes the taint of a key and effect from a Node (kubectl taint ...-).",
	Parameters:  []Field{nodeParameter(), nodeTaintParameter(false)},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists},
	StepPostConditions: []Suggested{nodeCondTaintAbsent},
	// Removing a taint that is not there changes nothing: worth a warning, not a block.
	PreConditions:  []Suggested{{Type: nodeCondTaintPresent.Type, Description: nodeCondTaintPresent.Description, Required: false, Timeout: quickCheck}},
	PostConditions: []Suggested{nodeCondTaintAbsent},

	Facts:    []Fact{factNodeFound, factNodeTaints},
	Inverse:  nodeRestoreTaint,
	Provide:  untaintNodeFacts,
	Safety:   nodeSafety,
	Executor: Executor{Capture: untaintNodeCapture, Act: untaintNodeAct},
})

// untaintNodeCapture records whether the Node carries the taint of the parameters'
// key and effect, and its value.
func untaintNodeCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	return captureTaint(ctx, call, false)
}

// untaintNodeAct removes the taint of the parameters' key and effect.
func untaintNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	taint, err := taintParam(call.Params, false)
	if err != nil {
		return nil, err
	}
	t, err := nodeTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	err = updateTaints(ctx, call, t, func(taints []corev1.Taint) []corev1.Taint {
		return slices.DeleteFunc(taints, sameTaint(taint))
	})
	if err != nil {
		return nil, fmt.Errorf("removing taint %s:%s from %s: %w", taint.Key, taint.Effect, t, err)
	}
	return map[string]string{"taint_present": "false"}, nil
}

// untaintNodeFacts: node_found, node_taints.
func untaintNodeFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	_, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":  node != nil,
		"node_taints": nodeFactsTaints(node),
	}, nil
}
