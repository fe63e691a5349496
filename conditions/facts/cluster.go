package facts

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

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

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
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
func cpuFact(milli int64) string    { return fmt.Sprintf("%dm", milli) }
func memoryFact(bytes int64) string { return fmt.Sprintf("%dMi", bytes/(1<<20)) }

// podsFacts summarises the pods of a workload, leaving out those being deleted.
func podsFacts(pods []corev1.Pod) (summaries []any, running, ready int) {
	summaries = []any{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
		isReady := podReady(p)
		if isReady {
			ready++
		}
		summaries = append(summaries, map[string]any{
			"name":       p.Name,
			"status":     podStatus(p),
			"ready":      isReady,
			"node":       p.Spec.NodeName,
			"restarts":   restarts(p),
			"oom_killed": oomKilled(p),
			// The API server does not know CPU throttling; it needs a metrics source
			// the project does not read yet, so no pod is reported throttled.
			"throttled": false,
		})
	}
	return summaries, running, ready
}

// podReady reports whether p's condition Ready is True (what the eviction API calls
// healthy).
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podStatus is the waiting reason of a container (CrashLoopBackOff,
// ImagePullBackOff, ...) if one is waiting, else the pod's phase.
func podStatus(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			return cs.State.Waiting.Reason
		}
	}
	return string(p.Status.Phase)
}

func restarts(p *corev1.Pod) int64 {
	var n int64
	for _, cs := range p.Status.ContainerStatuses {
		n += int64(cs.RestartCount)
	}
	return n
}

func oomKilled(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if t != nil && t.Reason == "OOMKilled" {
				return true
			}
		}
	}
	return false
}

// pullSecrets reports whether every named image pull secret exists in namespace,
// and whether each holds docker registry credentials.
func pullSecrets(ctx context.Context, r client.Reader, namespace string, refs []corev1.LocalObjectReference) (exist, valid bool, err error) {
	exist, valid = true, true
	for _, ref := range refs {
		var s corev1.Secret
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &s); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return false, false, fmt.Errorf("reading image pull secret %s: %w", ref.Name, err)
			}
			exist, valid = false, false
			continue
		}
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			valid = valid && len(s.Data[corev1.DockerConfigJsonKey]) > 0
		case corev1.SecretTypeDockercfg:
			valid = valid && len(s.Data[corev1.DockerConfigKey]) > 0
		default:
			valid = false
		}
	}
	return exist, valid, nil
}
