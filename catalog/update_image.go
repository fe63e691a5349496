package catalog

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
)

// update_image sets the image of one container of a Deployment's pod template.
//
// Its executor records before["image"] (the container's image before the patch).
var _ = register(&Action{
	Name:        "update_image",
	Target:      deploymentTarget,
	Description: "Sets the image of one container of a Deployment (kubectl set image), a rolling update.",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "container", Type: String, Required: true, Format: DNSLabel, Description: "the name of the container in the pod template"},
		{Name: "image", Type: String, Required: true, Format: Image, Description: "the image to run, e.g. registry.example/web:1.2"},
	},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists, workloadChecks.containerExists},
	StepPostConditions: []Suggested{workloadChecks.imageRolledOut, workloadChecks.replicasRunning},
	PreConditions:      []Suggested{workloadChecks.pullSecretsValid, workloadChecks.mayBeRollingOut},
	PostConditions:     []Suggested{workloadChecks.rolloutComplete, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts, []string{
		"container_found", "container_image", "container_pod_images",
		"image_pull_secrets_exist", "image_pull_secrets_valid",
	}),
	Executor: Executor{Capture: updateImageCapture, Act: updateImageAct},
	Inverse:  updateImageInverse,
})

// updateImageCapture records the container's image before the patch. before: image.
func updateImageCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, err := stringParam(call.Params, "image", true); err != nil {
		return ObjectRef{}, nil, err
	}
	t, _, container, err := getContainer(ctx, call)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"image": container.Image}, nil
}

// updateImageAct sets the container's image.
func updateImageAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	image, err := stringParam(call.Params, "image", true)
	if err != nil {
		return nil, err
	}
	t, d, container, err := getContainer(ctx, call)
	if err != nil {
		return nil, err
	}
	patch, err := strategicPatch(containerPatch(container.Name, obj{"image": image}))
	if err != nil {
		return nil, err
	}
	if err := call.Client.Patch(ctx, d, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("setting the image of container %s of %s to %s: %w", container.Name, t, image, err)
	}
	return map[string]string{"image": image}, nil
}

// updateImageInverse sets the recorded image back.
func updateImageInverse(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := deploymentTarget.param(params)
	if err != nil {
		return Rollback{}, err
	}
	container, err := stringParam(params, "container", true)
	if err != nil {
		return Rollback{}, err
	}
	image, ok := before["image"]
	if !ok || image == "" {
		return Rollback{}, fmt.Errorf("the image of container %q before the update was not recorded", container)
	}
	return Rollback{Action: "update_image", Parameters: map[string]any{
		"deployment": target, "container": container, "image": image,
	}}, nil
}
