package facts

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scaleDeployment reads the facts of the seed's scale_deployment conditions (the
// catalog's scaleDeploymentFacts).
func scaleDeployment(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, namespace, err := target(params, "deployment")
	if err != nil {
		return nil, err
	}
	deployment, _ := params["deployment"].(map[string]any)
	targetReplicas, _ := intParam(deployment, "replicas")
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
	if baseline, ok := intParam(deployment, "baselineReplicas"); ok {
		doc["expected_baseline"] = baseline
	}
	doc["additional_replicas"] = max(targetReplicas-current, 0)
	doc["conditions"] = deploymentConditions(&d)

	template := &d.Spec.Template.Spec
	cpu, memory := podRequests(template)
	doc["required_cpu_per_pod"] = cpuFact(cpu)
	doc["required_memory_per_pod"] = memoryFact(memory)

	if wants(ctx, "available_cpu", "available_memory", "matching_nodes", "ready_nodes") {
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
	doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(pods.Items)

	exist, valid, err := pullSecrets(ctx, r, namespace, template.ImagePullSecrets)
	if err != nil {
		return nil, err
	}
	doc["image_pull_secrets_exist"], doc["image_pull_secrets_valid"] = exist, valid
	return doc, nil
}

// deploymentConditions maps the Deployment's conditions to booleans; the seed's
// policies read Available, Progressing and ReplicaFailure, and an absent condition
// is false.
func deploymentConditions(d *appsv1.Deployment) map[string]any {
	conditions := map[string]any{
		string(appsv1.DeploymentAvailable):      false,
		string(appsv1.DeploymentProgressing):    false,
		string(appsv1.DeploymentReplicaFailure): false,
	}
	for _, c := range d.Status.Conditions {
		conditions[string(c.Type)] = c.Status == corev1.ConditionTrue
	}
	return conditions
}
