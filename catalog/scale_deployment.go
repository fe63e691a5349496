package catalog

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scale_deployment is the seed's representative action, with its nine policies at the
// levels and with the required flags and timeouts of seed 001, section 5.2.
// desired_replicas_running and deployment_health_check are verified at both levels.
var _ = register(&Action{
	Name:        "scale_deployment",
	Target:      deploymentTarget,
	Description: "Sets the replica count of a Deployment.",
	Parameters: []Field{namespacedTarget("deployment", "Deployment",
		Field{Name: "replicas", Type: Integer, Required: true, Min: ptr(int64(0)), Max: ptr(int64(1000)),
			Description: "the replica count to set"},
		Field{Name: "baselineReplicas", Type: Integer, Min: ptr(int64(0)), Max: ptr(int64(1000)),
			Description: "the replica count the workflow expects to find before scaling (current_replicas_match)"},
	)},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update", "patch"}},
	},
	StepPreConditions: []Suggested{
		{Type: "deployment_exists", Description: "The Deployment exists", Required: true, Timeout: normalCheck},
		{Type: "cluster_capacity_available", Description: "The nodes have room for the added replicas", Required: true, Timeout: normalCheck},
		{Type: "current_replicas_match", Description: "The replica count is the one the workflow expects", Required: false, Timeout: quickCheck},
	},
	StepPostConditions: []Suggested{
		{Type: "desired_replicas_running", Description: "The target replica count is running and ready", Required: true, Timeout: settleWithin},
		{Type: "deployment_health_check", Description: "The Deployment is Available and Progressing, without ReplicaFailure", Required: true, Timeout: settleWithin},
	},
	PreConditions: []Suggested{
		{Type: "image_pull_secrets_valid", Description: "The pod template's image pull secrets exist and are valid", Required: true, Timeout: normalCheck},
		{Type: "node_selector_matches", Description: "Ready nodes match the pod template's node selector", Required: false, Timeout: normalCheck},
	},
	PostConditions: []Suggested{
		{Type: "no_crashloop_pods", Description: "No pod of the Deployment is in CrashLoopBackOff", Required: true, Timeout: settleWithin},
		{Type: "resource_usage_acceptable", Description: "No pod of the Deployment is throttled or OOMKilled", Required: true, Timeout: settleWithin,
			Needs: SourceThrottling},
		{Type: "desired_replicas_running", Description: "The target replica count is running and ready", Required: true, Timeout: settleWithin},
		{Type: "deployment_health_check", Description: "The Deployment is Available and Progressing, without ReplicaFailure", Required: true, Timeout: settleWithin},
	},
	Facts: []Fact{
		factDeploymentFound, factDeploymentName, factNamespace,
		factCurrentReplicas, factExpectedBaseline, factTargetReplicas, factAdditionalReplicas,
		factAvailableCPU, factAvailableMemory, factRequiredCPUPerPod, factRequiredMemoryPerPod,
		factRunningPods, factReadyPods, factConditions, factPods,
		factImagePullSecretsExist, factImagePullSecretsValid, factMatchingNodes, factReadyNodes,
	},
	Provide:  scaleDeploymentFacts,
	Safety:   safetyReplicas(deploymentTarget, "deployment.replicas"),
	Executor: Executor{Capture: scaleDeploymentCapture, Act: scaleDeploymentAct},
	Inverse:  scaleDeploymentInverse,
})

// Facts of scale_deployment.
var (
	factExpectedBaseline     = Fact{"expected_baseline", "integer: the replica count the workflow expects before acting (parameter baselineReplicas, else current_replicas)"}
	factAdditionalReplicas   = Fact{"additional_replicas", "integer: target_replicas minus current_replicas, at least 0"}
	factAvailableCPU         = Fact{"available_cpu", `string, "NNNm": allocatable CPU of the schedulable nodes minus the requests of the pods bound to them`}
	factAvailableMemory      = Fact{"available_memory", `string, "NNNMi": allocatable memory of the schedulable nodes minus the requests of the pods bound to them`}
	factRequiredCPUPerPod    = Fact{"required_cpu_per_pod", `string, "NNNm": the CPU requests of one pod of the template`}
	factRequiredMemoryPerPod = Fact{"required_memory_per_pod", `string, "NNNMi": the memory requests of one pod of the template`}
	factMatchingNodes        = Fact{"matching_nodes", "integer: nodes that match the pod template's nodeSelector"}
	factReadyNodes           = Fact{"ready_nodes", "integer: matching nodes that are Ready and schedulable"}
)

// scaleDeploymentCapture records spec.replicas before scaling. before: replicas.
func scaleDeploymentCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, err := deploymentTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	if _, _, err := int32Param(call.Params, "deployment.replicas", true, 0); err != nil {
		return t, nil, err
	}
	var d appsv1.Deployment
	if err := call.Client.Get(ctx, t.key(), &d); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{"replicas": strconv.Itoa(int(replicasOf(d.Spec.Replicas)))}, nil
}

// scaleDeploymentAct sets spec.replicas through the Deployment's scale subresource.
func scaleDeploymentAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	t, err := deploymentTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	replicas, _, err := int32Param(call.Params, "deployment.replicas", true, 0)
	if err != nil {
		return nil, err
	}
	return patchScale(ctx, call, &appsv1.Deployment{ObjectMeta: t.meta()}, t, replicas)
}

// scaleDeploymentInverse scales back to the replica count recorded before scaling.
func scaleDeploymentInverse(params map[string]any, before map[string]string) (Rollback, error) {
	t, err := deploymentTarget.Ref(params)
	if err != nil {
		return Rollback{}, err
	}
	replicas, err := strconv.Atoi(before["replicas"])
	if err != nil {
		return Rollback{}, fmt.Errorf("the replica count before scaling was not recorded: %q", before["replicas"])
	}
	deployment := t.param()
	deployment["replicas"] = int64(replicas)
	return Rollback{Action: "scale_deployment", Parameters: map[string]any{"deployment": deployment}}, nil
}

// scaleDeploymentFacts reads the facts of the seed's scale_deployment conditions. The
// nodes' free capacity is summed only when a policy of the round reads it.
func scaleDeploymentFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, namespace, err := deploymentTarget.Name(params)
	if err != nil {
		return nil, err
	}
	targetReplicas, _, err := intParam(params, "deployment.replicas", false)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{
		"deployment_name": name,
		"namespace":       namespace,
		"target_replicas": targetReplicas,
	}

	var d appsv1.Deployment
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		if apierrors.IsNotFound(err) {
			doc["deployment_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", namespace, name, err)
	}
	doc["deployment_found"] = true

	current := int64(1)
	if d.Spec.Replicas != nil {
		current = int64(*d.Spec.Replicas)
	}
	doc["current_replicas"] = current
	doc["expected_baseline"] = current
	if baseline, ok, err := intParam(params, "deployment.baselineReplicas", false); err != nil {
		return nil, err
	} else if ok {
		doc["expected_baseline"] = baseline
	}
	doc["additional_replicas"] = max(targetReplicas-current, 0)
	doc["conditions"] = deploymentConditions(&d)

	template := &d.Spec.Template.Spec
	cpu, memory := podRequests(template)
	doc["required_cpu_per_pod"] = cpuFact(cpu)
	doc["required_memory_per_pod"] = memoryFact(memory)

	if want.Any("available_cpu", "available_memory", "matching_nodes", "ready_nodes") {
		nodes, err := nodesFor(ctx, r, template.NodeSelector)
		if err != nil {
			return nil, err
		}
		doc["available_cpu"] = cpuFact(nodes.freeCPU)
		doc["available_memory"] = memoryFact(nodes.freeMemory)
		doc["matching_nodes"] = nodes.matching
		doc["ready_nodes"] = nodes.ready
	}

	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("the selector of Deployment %s/%s is invalid: %w", namespace, name, err)
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("listing the pods of Deployment %s/%s: %w", namespace, name, err)
	}
	doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(pods.Items, readPodUsage(ctx, r, want, namespace, selector, pods.Items))

	exist, valid, err := pullSecrets(ctx, r, namespace, template.ImagePullSecrets)
	if err != nil {
		return nil, err
	}
	doc["image_pull_secrets_exist"], doc["image_pull_secrets_valid"] = exist, valid
	return doc, nil
}

// nodeSummary is what capacity facts need of the nodes a pod template may use.
type nodeSummary struct {
	matching, ready int
	// freeCPU (millicores) and freeMemory (bytes) are what the ready, schedulable
	// matching nodes have left: allocatable minus the requests of the pods bound to
	// them.
	freeCPU, freeMemory int64
}

// nodesFor summarises the nodes that nodeSelector matches.
func nodesFor(ctx context.Context, r client.Reader, nodeSelector map[string]string) (nodeSummary, error) {
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingLabels(nodeSelector)); err != nil {
		return nodeSummary{}, fmt.Errorf("listing nodes: %w", err)
	}
	var s nodeSummary
	usable := map[string]bool{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		s.matching++
		if !nodeReady(n) || n.Spec.Unschedulable {
			continue
		}
		s.ready++
		usable[n.Name] = true
		s.freeCPU += n.Status.Allocatable.Cpu().MilliValue()
		s.freeMemory += n.Status.Allocatable.Memory().Value()
	}
	if len(usable) == 0 {
		return s, nil
	}
	// Every pod of the cluster, read-only: from the cache without deep copies, which
	// on a large cluster were most of what a scale_deployment round cost.
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.UnsafeDisableDeepCopy); err != nil {
		return nodeSummary{}, fmt.Errorf("listing pods: %w", err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !usable[p.Spec.NodeName] || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		cpu, memory := podRequests(&p.Spec)
		s.freeCPU -= cpu
		s.freeMemory -= memory
	}
	s.freeCPU, s.freeMemory = max(s.freeCPU, 0), max(s.freeMemory, 0)
	return s, nil
}

// podRequests is what the scheduler reserves for a pod: the larger of its
// containers' summed requests and its largest init container's, plus overhead.
func podRequests(spec *corev1.PodSpec) (cpuMilli, memoryBytes int64) {
	for _, c := range spec.Containers {
		cpuMilli += c.Resources.Requests.Cpu().MilliValue()
		memoryBytes += c.Resources.Requests.Memory().Value()
	}
	for _, c := range spec.InitContainers {
		cpuMilli = max(cpuMilli, c.Resources.Requests.Cpu().MilliValue())
		memoryBytes = max(memoryBytes, c.Resources.Requests.Memory().Value())
	}
	cpuMilli += spec.Overhead.Cpu().MilliValue()
	memoryBytes += spec.Overhead.Memory().Value()
	return cpuMilli, memoryBytes
}

// cpuFact and memoryFact format quantities as the seed's policies parse them:
// "NNNm" and "NNNMi".
func cpuFact(milli int64) string { return fmt.Sprintf("%dm", milli) }

func memoryFact(bytes int64) string { return fmt.Sprintf("%dMi", bytes/(1<<20)) }
