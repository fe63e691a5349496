package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// increase_resources sets requests and limits of one container of a Deployment's pod
// template. The schema cannot say that requests or limits must be given: the
// required precondition container_resources_valid does.
//
// Its executor records, for each value the parameters set, its value before the
// patch under "requests.cpu", "requests.memory", "limits.cpu" or "limits.memory"; ""
// when the container had none.
var _ = register(&Action{
	Name:        "increase_resources",
	Target:      deploymentTarget,
	Description: "Sets the CPU and memory requests and limits of one container of a Deployment (a rolling update); at least one of requests and limits is given.",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "container", Type: String, Required: true, Format: DNSLabel, Description: "the name of the container in the pod template"},
		containerResourceList("requests"),
		containerResourceList("limits"),
	},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists, workloadChecks.containerExists, workloadChecks.resourcesValid},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.replicasRunning},
	PreConditions:      []Suggested{workloadChecks.resourcesIncrease, workloadChecks.mayBeRollingOut},
	PostConditions:     []Suggested{workloadChecks.resourcesApplied, workloadChecks.resourceUsage, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts,
		[]Fact{factContainerFound, factContainerRequests, factContainerLimits}),
	Provide:  deploymentFacts(containerResourceFacts),
	Executor: Executor{Capture: increaseResourcesCapture, Act: increaseResourcesAct},
	Inverse:  increaseResourcesInverse,
})

// Facts of increase_resources.
var (
	factContainerRequests = Fact{"container_requests", `object {cpu, memory}: the resource requests of that container in the pod template, as quantity strings; "" for a resource without request`}
	factContainerLimits   = Fact{"container_limits", `object {cpu, memory}: the resource limits of that container in the pod template, as quantity strings; "" for a resource without limit`}
)

// containerResourceList is the requests or limits parameter of increase_resources.
func containerResourceList(name string) Field {
	return Field{Name: name, Type: Object, Description: "the " + name + " to set; a resource not given keeps its value",
		Fields: []Field{
			{Name: "cpu", Type: String, Format: Quantity, Description: "CPU " + name + ", e.g. 500m or 2"},
			{Name: "memory", Type: String, Format: Quantity, Description: "memory " + name + ", e.g. 512Mi or 2Gi"},
		}}
}

// increaseResourcesInverse is increase_resources with the recorded values, or, when
// one of them was unset (or is not a positive quantity, which increase_resources
// does not take), a strategic merge patch of the container's resources that sets
// the recorded values and removes the unset ones.
func increaseResourcesInverse(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := deploymentTarget.param(params)
	if err != nil {
		return Rollback{}, err
	}
	container, err := stringParam(params, "container", true)
	if err != nil {
		return Rollback{}, err
	}
	previous := map[string]any{}
	settable := true
	for _, kind := range resourceKinds {
		set, err := objectParam(params, kind, false)
		if err != nil {
			return Rollback{}, err
		}
		values := map[string]any{}
		for _, resource := range sortedKeys(set) {
			key := kind + "." + resource
			value, ok := before[key]
			if !ok {
				return Rollback{}, fmt.Errorf("the value of %s of container %s before the update was not recorded", key, container)
			}
			if value == "" || len(validateFormat(Quantity, value, field.NewPath(key))) > 0 {
				settable = false
				values[resource] = nil // removed by the strategic merge patch
				continue
			}
			values[resource] = value
		}
		if len(values) > 0 {
			previous[kind] = values
		}
	}
	if len(previous) == 0 {
		return Rollback{}, fmt.Errorf("the parameters set no request or limit: there is nothing to undo")
	}
	if settable {
		parameters := map[string]any{"deployment": target, "container": container}
		for kind, values := range previous {
			parameters[kind] = values
		}
		return Rollback{Action: "increase_resources", Parameters: parameters}, nil
	}
	return Rollback{Action: "patch_deployment", Parameters: map[string]any{"deployment": target, "patch": map[string]any{
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": container, "resources": previous},
		}}}},
	}}}, nil
}

// resourceKinds and resourceNames are the values increase_resources sets.
var (
	resourceKinds = []string{"requests", "limits"}
	resourceNames = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
)

// resourcesParam reads requests and limits: {"requests.cpu": 500m, ...}.
func resourcesParam(params map[string]any) (map[string]resource.Quantity, error) {
	values := map[string]resource.Quantity{}
	for _, kind := range resourceKinds {
		for _, name := range resourceNames {
			path := kind + "." + string(name)
			s, err := stringParam(params, path, false)
			if err != nil {
				return nil, err
			}
			if s == "" {
				continue
			}
			q, err := resource.ParseQuantity(s)
			if err != nil {
				return nil, fmt.Errorf("parameters.%s: %q is not a quantity: %w", path, s, err)
			}
			values[path] = q
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("parameters.requests and parameters.limits set no cpu or memory: nothing to change")
	}
	return values, nil
}

// increaseResourcesCapture records, for each value the parameters set, its value
// before the patch: requests.cpu, requests.memory, limits.cpu or limits.memory ("" when
// unset).
func increaseResourcesCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	values, err := resourcesParam(call.Params)
	if err != nil {
		return ObjectRef{}, nil, err
	}
	t, _, container, err := getContainer(ctx, call)
	if err != nil {
		return t, nil, err
	}
	before := map[string]string{}
	for path := range values {
		kind, name, _ := strings.Cut(path, ".")
		list := container.Resources.Requests
		if kind == "limits" {
			list = container.Resources.Limits
		}
		before[path] = ""
		if q, ok := list[corev1.ResourceName(name)]; ok {
			before[path] = q.String()
		}
	}
	return t, before, nil
}

// increaseResourcesAct sets the container's requests and limits the parameters give.
func increaseResourcesAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	values, err := resourcesParam(call.Params)
	if err != nil {
		return nil, err
	}
	t, d, container, err := getContainer(ctx, call)
	if err != nil {
		return nil, err
	}
	resources := obj{}
	after := map[string]string{}
	for _, kind := range resourceKinds {
		list := obj{}
		for _, name := range resourceNames {
			path := kind + "." + string(name)
			if q, set := values[path]; set {
				list[string(name)] = q.String()
				after[path] = q.String()
			}
		}
		if len(list) > 0 {
			resources[kind] = list
		}
	}
	patch, err := strategicPatch(containerPatch(container.Name, obj{"resources": resources}))
	if err != nil {
		return nil, err
	}
	if err := call.Client.Patch(ctx, d, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("setting the resources of container %s of %s: %w", container.Name, t, err)
	}
	return after, nil
}

// containerResourceFacts adds container_found, container_requests and
// container_limits. For a container the template lacks, requests and limits are
// {cpu: "", memory: ""}, as for a container without any: there is nothing to
// increase, and container_exists says why.
func containerResourceFacts(_ context.Context, _ client.Reader, w *deploymentState, params, doc map[string]any) error {
	name, err := stringParam(params, "container", false)
	if err != nil {
		return err
	}
	c := workloadContainer(&w.deployment.Spec.Template.Spec, name)
	doc["container_found"] = c != nil
	var requests, limits corev1.ResourceList
	if c != nil {
		requests, limits = c.Resources.Requests, c.Resources.Limits
	}
	doc["container_requests"] = workloadResources(requests)
	doc["container_limits"] = workloadResources(limits)
	return nil
}

// workloadResources formats the CPU and memory of a resource list as quantity
// strings, "" for one that is not set.
func workloadResources(list corev1.ResourceList) map[string]any {
	out := map[string]any{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		out[string(name)] = ""
		if q, ok := list[name]; ok {
			out[string(name)] = q.String()
		}
	}
	return out
}
