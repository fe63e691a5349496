package catalog

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// restart_daemonset restarts the pods of a DaemonSet, node by node, the way
// rollout_restart does for a Deployment.
//
// It has no inverse: the old pods are gone, and putting back the old template would
// only restart them once more.
var _ = register(&Action{
	Name:        "restart_daemonset",
	Target:      daemonSetTarget,
	Description: "Restarts every pod of a DaemonSet by a rolling update of its pod template (kubectl rollout restart).",
	Parameters:  []Field{namespacedTarget("daemonset", "DaemonSet")},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.daemonSetExists},
	StepPostConditions: []Suggested{workloadChecks.daemonSetRolledOut},
	PreConditions:      []Suggested{workloadChecks.daemonSetRestartable},
	PostConditions:     []Suggested{workloadChecks.daemonSetRolledOut, workloadChecks.noCrashloop},

	Facts: []Fact{
		factDaemonSetFound, factDaemonSetName, factNamespace, factDaemonSetUpdateStrategy, factDaemonSetGenerationObserved,
		factDaemonSetDesiredNumberScheduled, factDaemonSetUpdatedNumberScheduled, factDaemonSetNumberAvailable,
		factPods, factRunningPods, factReadyPods,
	},
	Provide:  restartDaemonSetFacts,
	Executor: restartExecutor(daemonSetTarget, func() client.Object { return &appsv1.DaemonSet{} }),
})

// Facts of restart_daemonset.
var (
	factDaemonSetFound                  = Fact{"daemonset_found", "boolean: the DaemonSet exists"}
	factDaemonSetName                   = Fact{"daemonset_name", "string: the DaemonSet's name"}
	factDaemonSetUpdateStrategy         = Fact{"daemonset_update_strategy", "string: spec.updateStrategy.type of the DaemonSet: RollingUpdate or OnDelete"}
	factDaemonSetGenerationObserved     = Fact{"daemonset_generation_observed", "boolean: status.observedGeneration of the DaemonSet is at least its metadata.generation"}
	factDaemonSetDesiredNumberScheduled = Fact{"daemonset_desired_number_scheduled", "integer: status.desiredNumberScheduled of the DaemonSet: nodes that should run its pod"}
	factDaemonSetUpdatedNumberScheduled = Fact{"daemonset_updated_number_scheduled", "integer: status.updatedNumberScheduled of the DaemonSet: nodes that run a pod of its current template"}
	factDaemonSetNumberAvailable        = Fact{"daemonset_number_available", "integer: status.numberAvailable of the DaemonSet: nodes that run an available pod of it"}
)

// restartDaemonSetFacts reads the facts of restart_daemonset.
func restartDaemonSetFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, namespace, err := daemonSetTarget.Name(params)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"daemonset_name": name, "namespace": namespace}

	var ds appsv1.DaemonSet
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &ds); err != nil {
		if apierrors.IsNotFound(err) {
			doc["daemonset_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading DaemonSet %s/%s: %w", namespace, name, err)
	}
	doc["daemonset_found"] = true
	strategy := ds.Spec.UpdateStrategy.Type
	if strategy == "" {
		strategy = appsv1.RollingUpdateDaemonSetStrategyType // the API server's default
	}
	doc["daemonset_update_strategy"] = string(strategy)
	doc["daemonset_generation_observed"] = ds.Status.ObservedGeneration >= ds.Generation
	doc["daemonset_desired_number_scheduled"] = int64(ds.Status.DesiredNumberScheduled)
	doc["daemonset_updated_number_scheduled"] = int64(ds.Status.UpdatedNumberScheduled)
	doc["daemonset_number_available"] = int64(ds.Status.NumberAvailable)

	pods, err := workloadPods(ctx, r, namespace, ds.Spec.Selector, map[types.UID]bool{ds.UID: true})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of DaemonSet %s/%s: %w", namespace, name, err)
	}
	doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(pods, readWorkloadPodUsage(ctx, r, want, namespace, ds.Spec.Selector, pods))
	return doc, nil
}
