package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/internal/metricsapi"
)

// Node is a fake node kwok manages: pods scheduled to it turn Running and Ready
// without running anything.
type Node struct {
	// Name of the Node object.
	Name string
	// CPU and Memory are the allocatable resources, e.g. "4" and "8Gi".
	CPU, Memory string
	// Pods is the allocatable pod count; 110 when zero.
	Pods int
	// Labels are added to the node's own labels.
	Labels map[string]string
}

// nodeReadyTimeout bounds the wait for kwok and the node lifecycle controller to
// make new nodes Ready and schedulable.
const nodeReadyTimeout = time.Minute

// controllers are the kube-controller-manager controllers cluster mode runs: enough
// for Deployments to scale and roll, for nodes to become schedulable
// (node-lifecycle removes the not-ready taint) and for namespaces to be deleted.
var controllers = "deployment-controller,replicaset-controller,statefulset-controller," +
	"daemonset-controller,job-controller,disruption-controller,garbage-collector-controller," +
	"namespace-controller,node-lifecycle-controller"

func (h *Harness) startCluster(ctx context.Context, bin string, opts Options) error {
	kubeconfig := "--kubeconfig=" + h.KubeconfigPath
	stages := []string{filepath.Join(bin, "kwok-stages.yaml")}
	if opts.Chaos {
		stages = append(stages, filepath.Join(bin, "kwok-stages-chaos.yaml"))
	}
	for _, s := range stages {
		if _, err := os.Stat(s); err != nil {
			return missingBinary(s)
		}
	}
	starts := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{kubeconfig, "--leader-elect=false", "--secure-port=0", "--controllers=" + controllers,
			// kwok heartbeats a node 20-45 s after its last change, so a test that
			// cordons or labels a node often would see it marked unreachable after
			// the default 50 s, and its pods NotReady for good.
			"--node-monitor-grace-period=5m"}},
		{"kube-scheduler", []string{kubeconfig, "--leader-elect=false", "--secure-port=0"}},
		{"kwok", []string{
			kubeconfig, "--manage-all-nodes=true", "--cidr=10.0.0.1/24", "--config=" + stages[0],
		}},
	}
	if opts.Chaos {
		starts[2].args = append(starts[2].args, "--config="+stages[1])
	}
	if m := h.metricsAPI; m != nil {
		// kwok serves its nodes' resource metrics, and metrics-server scrapes them.
		metricsConfig := filepath.Join(h.dir, "kwok-metrics.yaml")
		if err := metricsapi.WriteKwokConfig(metricsConfig); err != nil {
			return err
		}
		starts[2].args = append(starts[2].args, m.KwokArgs(metricsConfig)...)
		starts = append(starts, struct {
			name string
			args []string
		}{"metrics-server", m.MetricsServerArgs(h.KubeconfigPath)})
	} else {
		starts[2].args = append(starts[2].args, "--node-ip=10.0.0.1", "--server-address=")
	}
	for _, s := range starts {
		c, err := startComponent(h.dir, s.name, filepath.Join(bin, s.name), s.args...)
		if err != nil {
			return err
		}
		h.components = append(h.components, c)
	}
	if err := h.createNodes(ctx, opts.Nodes); err != nil {
		return err
	}
	if h.metricsAPI != nil {
		return h.registerMetricsAPI(ctx)
	}
	return nil
}

// metricsAPITimeout bounds the wait for kube-apiserver to reach metrics-server.
const metricsAPITimeout = 30 * time.Second

// prepareMetricsAPI issues metrics-server's certificates and gives kube-apiserver,
// not started yet, the flags of its aggregation layer (Options.MetricsAPI).
func (h *Harness) prepareMetricsAPI() error {
	files, err := metricsapi.WriteFiles(filepath.Join(h.dir, "metrics-api"), 24*time.Hour)
	if err != nil {
		return fmt.Errorf("preparing metrics-server: %w", err)
	}
	for flag, value := range files.APIServerFlags() {
		h.env.ControlPlane.APIServer.Configure().Set(flag, value)
	}
	h.metricsAPI = &files
	return nil
}

// registerMetricsAPI routes metrics.k8s.io to metrics-server and waits until
// kube-apiserver reaches it; pods' metrics come 10 to 25 s after they run.
func (h *Harness) registerMetricsAPI(ctx context.Context) error {
	if err := h.metricsAPI.Register(ctx, h.Client); err != nil {
		return err
	}
	return metricsapi.WaitAvailable(ctx, h.Client, metricsAPITimeout, func() error {
		for _, c := range h.components {
			if err := c.Exited(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (h *Harness) createNodes(ctx context.Context, nodes []Node) error {
	for _, n := range nodes {
		node, err := n.object()
		if err == nil && h.metricsAPI != nil {
			for k, v := range metricsapi.NodeAnnotations(n.Name) {
				node.Annotations[k] = v
			}
		}
		if err != nil {
			return err
		}
		if err := h.Client.Create(ctx, node); err != nil {
			return fmt.Errorf("creating node %s: %w", n.Name, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, nodeReadyTimeout, true, func(ctx context.Context) (bool, error) {
		for _, c := range h.components {
			if err := c.Exited(); err != nil {
				return false, err
			}
		}
		for _, n := range nodes {
			var node corev1.Node
			if err := h.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &node); err != nil {
				return false, err
			}
			if !schedulable(&node) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d nodes to become Ready and untainted: %w", len(nodes), err)
	}
	return nil
}

// schedulable is true once kwok reports the node Ready and the node lifecycle
// controller has removed the not-ready taint.
func schedulable(node *corev1.Node) bool {
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return ready
}

func (n Node) object() (*corev1.Node, error) {
	if n.Name == "" {
		return nil, errors.New("harness: a Node needs a name")
	}
	cpu, err := resource.ParseQuantity(n.CPU)
	if err != nil {
		return nil, fmt.Errorf("harness: node %s: cpu %q: %w", n.Name, n.CPU, err)
	}
	memory, err := resource.ParseQuantity(n.Memory)
	if err != nil {
		return nil, fmt.Errorf("harness: node %s: memory %q: %w", n.Name, n.Memory, err)
	}
	pods := n.Pods
	if pods == 0 {
		pods = 110
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    cpu,
		corev1.ResourceMemory: memory,
		corev1.ResourcePods:   *resource.NewQuantity(int64(pods), resource.DecimalSI),
	}
	labels := map[string]string{
		corev1.LabelHostname:   n.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
		"type":                 "kwok",
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Labels:      labels,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		},
		Status: corev1.NodeStatus{Capacity: resources, Allocatable: resources},
	}, nil
}
