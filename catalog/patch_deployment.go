package catalog

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// patch_deployment applies a strategic merge patch to a Deployment.
//
// Its executor records before["revision"]. The inverse rolls back to that revision,
// which restores the pod template only: it is refused for a patch that changes
// anything outside spec.template (replicas, strategy, metadata...).
var _ = register(&Action{
	Name:        "patch_deployment",
	Target:      deploymentTarget,
	Description: "Applies a strategic merge patch to a Deployment (kubectl patch --type strategic).",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "patch", Type: AnyObject, Required: true,
			Description: "the strategic merge patch, e.g. {spec: {template: {spec: {containers: [{name: web, env: [...]}]}}}}"},
	},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.deploymentHealthy},
	PreConditions:      []Suggested{workloadChecks.mayBeRollingOut},
	PostConditions:     []Suggested{workloadChecks.replicasRunning, workloadChecks.noCrashloop},

	Facts:    slices.Concat(deploymentTargetFacts, deploymentRolloutFacts, []Fact{factConditions}),
	Provide:  deploymentFacts(deploymentConditionFacts),
	Executor: Executor{Capture: patchDeploymentCapture, Act: patchDeploymentAct},
	Inverse:  patchDeploymentInverse,
})

// patchDeploymentCapture records the revision before the patch. before: revision.
func patchDeploymentCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, err := objectParam(call.Params, "patch", true); err != nil {
		return ObjectRef{}, nil, err
	}
	t, d, err := getDeployment(ctx, call)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"revision": deploymentRevision(d)}, nil
}

// patchDeploymentAct applies the parameters' strategic merge patch.
func patchDeploymentAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	t, err := deploymentTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	fields, err := objectParam(call.Params, "patch", true)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("parameters.patch is empty: nothing to change")
	}
	patch, err := strategicPatch(fields)
	if err != nil {
		return nil, err
	}
	d := &appsv1.Deployment{ObjectMeta: t.meta()}
	if err := call.Client.Patch(ctx, d, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("patching %s: %w", t, err)
	}
	return map[string]string{"generation": strconv.FormatInt(d.Generation, 10)}, nil
}

// patchDeploymentInverse rolls back to the recorded revision, for a patch of the pod
// template only.
func patchDeploymentInverse(params map[string]any, before map[string]string) (Rollback, error) {
	patch, err := objectParam(params, "patch", false)
	if err != nil {
		return Rollback{}, err
	}
	if len(patch) == 0 {
		return Rollback{}, fmt.Errorf("the patch is empty: there is nothing to undo")
	}
	if outside := patchOutsideTemplate(patch); len(outside) > 0 {
		return Rollback{}, fmt.Errorf("the patch changes %v, outside spec.template: a rollback restores only the pod template", outside)
	}
	return rollbackToRecordedRevision(params, before)
}

// patchOutsideTemplate lists the fields of a Deployment patch outside spec.template.
func patchOutsideTemplate(patch map[string]any) []string {
	var outside []string
	for _, key := range sortedKeys(patch) {
		if key != "spec" {
			outside = append(outside, key)
			continue
		}
		spec, ok := patch[key].(map[string]any)
		if !ok {
			outside = append(outside, "spec")
			continue
		}
		for _, field := range sortedKeys(spec) {
			if field != "template" {
				outside = append(outside, "spec."+field)
			}
		}
	}
	return outside
}
