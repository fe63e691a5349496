package catalog

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rollback_deployment puts back the pod template of an earlier revision (kubectl
// rollout undo): it reads the template from the ReplicaSet of that revision and
// patches the Deployment with it (there is no rollback API).
//
// Its executor records
// before["revision"] (the current revision before the rollback), before["to_revision"]
// and before["to_replicaset"] (the revision chosen and its ReplicaSet). Once the
// template is back, the deployment controller renumbers that ReplicaSet as the
// newest revision, so Act finds it again by name, not by number, and a second call
// changes nothing. The inverse rolls back to that revision: its ReplicaSet is kept unless
// revisionHistoryLimit is 0 (deployment_revision_available then fails the inverse).
var _ = register(&Action{
	Name:        "rollback_deployment",
	Target:      deploymentTarget,
	Description: "Rolls a Deployment back to the pod template of an earlier revision (kubectl rollout undo).",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "revision", Type: Integer, Min: ptr(int64(0)),
			Description: "the revision to roll back to; 0 or absent means the previous one"},
	},
	Permissions: []rbacv1.PolicyRule{
		deploymentGetPatch,
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"list"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists, workloadChecks.revisionAvailable},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.replicasRunning},
	PostConditions:     []Suggested{workloadChecks.deploymentHealthy, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts,
		[]Fact{factConditions, factDeploymentRevision, factDeploymentRevisions}),
	Provide:  deploymentFacts(deploymentConditionFacts, deploymentRevisionFacts),
	Executor: Executor{Capture: rollbackDeploymentCapture, Act: rollbackDeploymentAct},
	Inverse:  rollbackToRecordedRevision,
})

// Facts of rollback_deployment.
var (
	factDeploymentRevision  = Fact{"deployment_revision", "integer: the Deployment's current revision (annotation deployment.kubernetes.io/revision)"}
	factDeploymentRevisions = Fact{"deployment_revisions", "array of integers: the revisions of the Deployment's ReplicaSets still kept (revisionHistoryLimit), the current one included"}
)

// rollbackDeploymentCapture chooses the revision to roll back to and its ReplicaSet.
// before: revision, to_revision, to_replicaset.
func rollbackDeploymentCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	toRevision, _, err := intParam(call.Params, "revision", false)
	if err != nil {
		return ObjectRef{}, nil, err
	}
	if toRevision < 0 {
		return ObjectRef{}, nil, fmt.Errorf("parameters.revision must be at least 0, not %d", toRevision)
	}
	t, d, err := getDeployment(ctx, call)
	if err != nil {
		return t, nil, err
	}
	replicaSets, err := ownedReplicaSets(ctx, call.Client, d)
	if err != nil {
		return t, nil, fmt.Errorf("rolling back %s: %w", t, err)
	}
	rs, revision, latest, err := replicaSetOfRevision(replicaSets, toRevision)
	if err != nil {
		return t, nil, fmt.Errorf("rolling back %s: %w", t, err)
	}
	current := deploymentRevision(d)
	if current == "0" && latest > 0 {
		current = strconv.FormatInt(latest, 10)
	}
	return t, map[string]string{
		"revision":      current,
		"to_revision":   strconv.FormatInt(revision, 10),
		"to_replicaset": rs.Name,
	}, nil
}

// rollbackDeploymentAct puts the template of the recorded ReplicaSet back.
func rollbackDeploymentAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	name, err := recorded(before, "to_replicaset")
	if err != nil {
		return nil, err
	}
	toRevision, err := recorded(before, "to_revision")
	if err != nil {
		return nil, err
	}
	t, d, err := getDeployment(ctx, call)
	if err != nil {
		return nil, err
	}
	if d.Spec.Paused {
		return nil, fmt.Errorf("rolling back %s: it is paused (resume it first)", t)
	}
	replicaSets, err := ownedReplicaSets(ctx, call.Client, d)
	if err != nil {
		return nil, fmt.Errorf("rolling back %s: %w", t, err)
	}
	var rs *appsv1.ReplicaSet
	for i := range replicaSets {
		if replicaSets[i].Name == name {
			rs = &replicaSets[i]
		}
	}
	if rs == nil {
		return nil, fmt.Errorf("rolling back %s to revision %s: its ReplicaSet %s is gone", t, toRevision, name)
	}
	template := rs.Spec.Template.DeepCopy()
	delete(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	after := map[string]string{"to_revision": toRevision}
	if equality.Semantic.DeepEqual(*template, d.Spec.Template) {
		return after, nil // already rolled back
	}
	patch, err := rawPatch(types.JSONPatchType, []any{
		obj{"op": "test", "path": "/metadata/uid", "value": d.UID},
		obj{"op": "replace", "path": "/spec/template", "value": template},
	})
	if err != nil {
		return nil, err
	}
	if err := call.Client.Patch(ctx, d, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("rolling back %s to revision %s (ReplicaSet %s): %w", t, toRevision, name, err)
	}
	return after, nil
}

// ownedReplicaSets lists the ReplicaSets d controls.
func ownedReplicaSets(ctx context.Context, c client.Client, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("reading the selector: %w", err)
	}
	var list appsv1.ReplicaSetList
	if err := c.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("listing its ReplicaSets: %w", err)
	}
	var owned []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) && rs.DeletionTimestamp == nil {
			owned = append(owned, rs)
		}
	}
	return owned, nil
}

// replicaSetOfRevision finds the ReplicaSet of revision, or, for 0, of the previous
// revision (the second highest), as kubectl rollout undo does. latest is the highest
// revision kept.
func replicaSetOfRevision(replicaSets []appsv1.ReplicaSet, revision int64) (rs *appsv1.ReplicaSet, found, latest int64, err error) {
	var latestRS, previousRS *appsv1.ReplicaSet
	previous := int64(-1)
	for i := range replicaSets {
		v, err := strconv.ParseInt(replicaSets[i].Annotations[revisionAnnotation], 10, 64)
		if err != nil || v < 1 {
			continue
		}
		if revision > 0 && v == revision {
			rs = &replicaSets[i]
		}
		switch {
		case v > latest:
			previous, previousRS = latest, latestRS
			latest, latestRS = v, &replicaSets[i]
		case v > previous:
			previous, previousRS = v, &replicaSets[i]
		}
	}
	if revision > 0 {
		if rs == nil {
			return nil, 0, latest, fmt.Errorf("no ReplicaSet of revision %d is kept", revision)
		}
		return rs, revision, latest, nil
	}
	if previousRS == nil {
		return nil, 0, latest, fmt.Errorf("no previous revision is kept (latest: %d)", latest)
	}
	return previousRS, previous, latest, nil
}

// deploymentRevisionFacts adds deployment_revision and deployment_revisions, read from
// the ReplicaSets the Deployment controls (annotation
// deployment.kubernetes.io/revision), leaving out those being deleted.
//
// The current revision is the highest kept one: the deployment controller gives the
// ReplicaSet of the current pod template the highest revision (a rollback renumbers
// the old ReplicaSet it reuses), and copies it to the Deployment's own annotation.
// A Deployment without any ReplicaSet yet (just created, or created paused) has
// revision 0, as kubectl counts an absent annotation, and no revision kept.
func deploymentRevisionFacts(_ context.Context, _ client.Reader, w *deploymentState, _, doc map[string]any) error {
	var revisions []int64
	for i := range w.replicaSets {
		rs := &w.replicaSets[i]
		if rs.DeletionTimestamp != nil {
			continue
		}
		// A ReplicaSet whose annotation is absent or malformed carries no revision
		// to roll back to; the controller's own MaxRevision skips it too.
		revision, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		if err != nil || revision < 1 {
			continue
		}
		revisions = append(revisions, revision)
	}
	slices.Sort(revisions)
	revisions = slices.Compact(revisions)
	kept := make([]any, len(revisions))
	current := int64(0)
	for i, revision := range revisions {
		kept[i] = revision
		current = revision
	}
	doc["deployment_revision"] = current
	doc["deployment_revisions"] = kept
	return nil
}
