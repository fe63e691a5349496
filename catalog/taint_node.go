package catalog

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// taint_node adds a taint to a Node, or sets the value of the taint with the same key
// and effect.
//
// Its executor records before["taint_present"] ("true" or "false": the Node carried
// a taint with the parameters' key and effect) and, when it did,
// before["taint_value"] (that taint's value, "" for none).
var _ = register(&Action{
	Name:        "taint_node",
	Target:      nodeTarget,
	Description: "Adds a taint to a Node (kubectl taint), or sets the value of its taint of the same key and effect.",
	Parameters:  []Field{nodeParameter(), nodeTaintParameter(true)},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists, nodeCondNotLastUntainted},
	StepPostConditions: []Suggested{nodeCondTaintPresent},
	PreConditions:      []Suggested{nodeRecheck(nodeCondNotLastUntainted)},
	PostConditions:     []Suggested{nodeCondTaintPresent},

	Facts:    []Fact{factNodeFound, factNodeTaints, factOtherUntaintedNodes},
	Inverse:  nodeRestoreTaint,
	Provide:  taintNodeFacts,
	Safety:   nodeSafety,
	Executor: Executor{Capture: taintNodeCapture, Act: taintNodeAct},
})

// Facts of taint_node.
var (
	factOtherUntaintedNodes = Fact{"other_untainted_nodes", "integer: nodes other than the target that are Ready, not cordoned, and carry no taint with the key and effect of parameters.taint"}
)

// taintNodeCapture records whether the Node carries the taint of the parameters' key
// and effect, and its value.
func taintNodeCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	return captureTaint(ctx, call, true)
}

// taintNodeAct adds the taint, or sets the value of the taint of the same key and
// effect.
func taintNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	taint, err := taintParam(call.Params, true)
	if err != nil {
		return nil, err
	}
	t, err := nodeTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	err = updateTaints(ctx, call, t, func(taints []corev1.Taint) []corev1.Taint {
		if i := slices.IndexFunc(taints, sameTaint(taint)); i >= 0 {
			taints[i].Value = taint.Value
			return taints
		}
		return append(taints, taint)
	})
	if err != nil {
		return nil, fmt.Errorf("tainting %s with %s: %w", t, taint.ToString(), err)
	}
	return map[string]string{"taint_present": "true", "taint_value": taint.Value}, nil
}

// taintNodeFacts: node_found, node_taints, other_untainted_nodes.
func taintNodeFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	taint, err := taintParam(params, false)
	if err != nil {
		return nil, err
	}
	name, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	others, err := nodeFactsOthers(ctx, r, name, func(n *corev1.Node) bool {
		for _, t := range n.Spec.Taints {
			if sameTaint(taint)(t) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":            node != nil,
		"node_taints":           nodeFactsTaints(node),
		"other_untainted_nodes": others,
	}, nil
}
