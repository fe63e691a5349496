package catalog

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts, []Fact{
		factContainerFound, factContainerImage, factContainerPodImages,
		factImagePullSecretsExist, factImagePullSecretsValid,
	}),
	Provide:  deploymentFacts(containerImageFacts, pullSecretFacts),
	Executor: Executor{Capture: updateImageCapture, Act: updateImageAct},
	Inverse:  updateImageInverse,
})

// Facts of update_image.
var (
	factContainerImage     = Fact{"container_image", `string: the image of that container in the pod template; "" when there is no such container`}
	factContainerPodImages = Fact{"container_pod_images", `array of strings: for each pod of the Deployment (terminating ones included), the image in its spec of the container named parameters.container; "" for a pod without it`}
)

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

// containerImageFacts adds container_found, container_image and
// container_pod_images: the image of the container in the template and in each pod
// of the Deployment (by pod name, pods being deleted included: an old pod still
// terminating runs the old image).
func containerImageFacts(_ context.Context, _ client.Reader, w *deploymentState, params, doc map[string]any) error {
	name, err := stringParam(params, "container", false)
	if err != nil {
		return err
	}
	c := workloadContainer(&w.deployment.Spec.Template.Spec, name)
	doc["container_found"] = c != nil
	doc["container_image"] = ""
	if c != nil {
		doc["container_image"] = c.Image
	}
	images := make([]any, 0, len(w.pods))
	for i := range w.pods {
		image := ""
		if pc := workloadContainer(&w.pods[i].Spec, name); pc != nil {
			image = pc.Image
		}
		images = append(images, image)
	}
	doc["container_pod_images"] = images
	return nil
}
