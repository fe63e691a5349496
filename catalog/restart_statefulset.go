package catalog

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// restart_statefulset restarts the pods of a StatefulSet (kubectl rollout restart):
// it stamps the pod template with the annotation kubectl.kubernetes.io/restartedAt,
// as rollout_restart and restart_daemonset do, and the StatefulSet controller
// replaces the pods one ordinal at a time, from the highest, each once the one
// before is Ready and under the name it had.
//
// Its executor records before["restarted_at"], the stamp Act sets. It has no
// inverse, as restart_daemonset: the old pods are gone, and putting back the old
// template would only restart them once more.
var _ = register(&Action{
	Name:        "restart_statefulset",
	Target:      statefulSetTarget,
	Description: "Restarts every pod of a StatefulSet, one ordinal at a time, by a rolling update of its pod template (kubectl rollout restart).",
	Parameters:  []Field{namespacedTarget("statefulset", "StatefulSet")},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.statefulSetExists},
	StepPostConditions: []Suggested{statefulSetRolledOut},
	PreConditions:      []Suggested{statefulSetRestartable},
	PostConditions:     []Suggested{statefulSetRolledOut, workloadChecks.noCrashloop},

	Facts: []Fact{
		factStatefulSetFound, factStatefulSetName, factNamespace,
		factStatefulSetUpdateStrategy, factStatefulSetPartition, factStatefulSetGenerationObserved,
		factTargetReplicas, factStatefulSetStatusReplicas, factStatefulSetReadyReplicas, factStatefulSetUpdatedReplicas,
		factStatefulSetCurrentRevision, factStatefulSetUpdateRevision,
		factPods, factRunningPods, factReadyPods,
	},
	Provide:  restartStatefulSetFacts,
	Executor: restartExecutor(statefulSetTarget, func() client.Object { return &appsv1.StatefulSet{} }),
})

// statefulSetRolloutWithin is how long a restart is given to roll out: the pods are
// replaced one at a time, each once the one before is Ready, so it takes longer than
// a Deployment's or a DaemonSet's. A step that restarts more or slower pods sets its
// own timeout.
const statefulSetRolloutWithin = 5 * time.Minute

// The conditions of restart_statefulset, beside statefulset_exists and
// no_crashloop_pods.
var (
	statefulSetRestartable = Suggested{Type: "statefulset_restartable",
		Description: "The StatefulSet updates by RollingUpdate without a partition, and no rollout is in progress",
		Required:    true, Timeout: normalCheck}
	statefulSetRolledOut = Suggested{Type: "statefulset_rollout_complete",
		Description: "Every pod of the StatefulSet runs its newest revision, and is ready",
		Required:    true, Timeout: statefulSetRolloutWithin}
)

// Facts of restart_statefulset, beside those the StatefulSet actions share.
var (
	factStatefulSetUpdateStrategy  = Fact{"statefulset_update_strategy", "string: spec.updateStrategy.type of the StatefulSet: RollingUpdate or OnDelete"}
	factStatefulSetPartition       = Fact{"statefulset_partition", "integer: spec.updateStrategy.rollingUpdate.partition of the StatefulSet: its pods of a lower ordinal keep their revision in a rolling update; 0 when unset"}
	factStatefulSetUpdatedReplicas = Fact{"statefulset_updated_replicas", "integer: status.updatedReplicas of the StatefulSet: its pods of the newest revision"}
	factStatefulSetCurrentRevision = Fact{"statefulset_current_revision", "string: status.currentRevision of the StatefulSet: the revision of its pods until a rolling update completes"}
	factStatefulSetUpdateRevision  = Fact{"statefulset_update_revision", "string: status.updateRevision of the StatefulSet: the revision of its newest pod template; the controller makes statefulset_current_revision equal to it once every replica runs it, ready"}
)

// restartStatefulSetFacts reads the facts of restart_statefulset. target_replicas is
// spec.replicas: a restart keeps the replica count.
func restartStatefulSetFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	doc := map[string]any{}
	s, err := readStatefulSetFacts(ctx, r, params, doc, want)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return doc, nil
	}
	strategy := s.Spec.UpdateStrategy.Type
	if strategy == "" {
		strategy = appsv1.RollingUpdateStatefulSetStrategyType // the API server's default
	}
	partition := int64(0)
	if u := s.Spec.UpdateStrategy.RollingUpdate; u != nil && u.Partition != nil {
		partition = int64(*u.Partition)
	}
	doc["statefulset_update_strategy"] = string(strategy)
	doc["statefulset_partition"] = partition
	doc["target_replicas"] = int64(replicasOf(s.Spec.Replicas))
	doc["statefulset_updated_replicas"] = int64(s.Status.UpdatedReplicas)
	doc["statefulset_current_revision"] = s.Status.CurrentRevision
	doc["statefulset_update_revision"] = s.Status.UpdateRevision
	return doc, nil
}
