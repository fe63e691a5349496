package catalog

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SafetyTarget is what the safety policies are told about the object an action is
// about to change (conditions/facts.SafetyInput builds their input from it).
type SafetyTarget struct {
	ObjectRef
	// Replicas is the replica count the action sets, or the most it lets an
	// autoscaler set (the safety input's target_replicas); nil for an action that
	// sets none.
	Replicas *int64
	// OtherReadySchedulableNodes counts, for an action on a Node, the other nodes
	// that are Ready, not cordoned and carry no NoSchedule or NoExecute taint: the
	// nodes left to run pods that tolerate nothing. Nil for other actions.
	OtherReadySchedulableNodes *int
}

// SafetyFunc reads an action's SafetyTarget from its parameters and, where it needs
// to, the cluster through r.
type SafetyFunc func(ctx context.Context, r client.Reader, params map[string]any) (SafetyTarget, error)

// SafetyTarget returns what the safety policies are told the action changes when it
// runs with params: its Safety when it has one, else its Target as params name it.
// The error names the parameter that is missing.
func (a *Action) SafetyTarget(ctx context.Context, r client.Reader, params map[string]any) (SafetyTarget, error) {
	if a.Safety != nil {
		return a.Safety(ctx, r, params)
	}
	if a.Target == nil {
		return SafetyTarget{}, fmt.Errorf("action %s has neither a target nor a safety target", a.Name)
	}
	ref, err := a.Target.Ref(params)
	return SafetyTarget{ObjectRef: ref}, err
}

// safetyReplicas is the safety target of an action that sets a replica count: its
// target, and the count the parameter at path gives.
func safetyReplicas(t *Target, path string) SafetyFunc {
	return func(_ context.Context, _ client.Reader, params map[string]any) (SafetyTarget, error) {
		ref, err := t.Ref(params)
		if err != nil {
			return SafetyTarget{}, err
		}
		replicas, _, err := intParam(params, path, true)
		if err != nil {
			return SafetyTarget{}, err
		}
		return SafetyTarget{ObjectRef: ref, Replicas: &replicas}, nil
	}
}

// nodeSafety is the safety target of a node action: the Node, and how many other
// nodes could run pods that tolerate nothing.
func nodeSafety(ctx context.Context, r client.Reader, params map[string]any) (SafetyTarget, error) {
	ref, err := nodeTarget.Ref(params)
	if err != nil {
		return SafetyTarget{}, err
	}
	others, err := nodeFactsOthers(ctx, r, ref.Name, func(n *corev1.Node) bool {
		return !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		})
	})
	if err != nil {
		return SafetyTarget{}, err
	}
	return SafetyTarget{ObjectRef: ref, OtherReadySchedulableNodes: &others}, nil
}
