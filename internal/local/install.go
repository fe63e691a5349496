package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/internal/metricsapi"
)

// nodes are the kwok nodes of the local cluster.
var nodes = []string{"kwok-node-1", "kwok-node-2", "kwok-node-3"}

func (c *Cluster) createNodes(ctx context.Context) error {
	for _, name := range nodes {
		res := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("16"),
			corev1.ResourceMemory: resource.MustParse("64Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux",
					corev1.LabelArchStable: "amd64", "type": "kwok"},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
		}
		// Where metrics-server finds the node's resource metrics, which kwok serves.
		for k, v := range metricsapi.NodeAnnotations(name) {
			node.Annotations[k] = v
		}
		if err := c.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	return c.poll(ctx, time.Minute, "the nodes to become Ready and schedulable", func() (bool, error) {
		for _, name := range nodes {
			var node corev1.Node
			if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, &node); err != nil {
				return false, err
			}
			if !schedulable(&node) {
				return false, nil
			}
		}
		return true, nil
	})
}

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

// poll calls done every 200ms until it is true, fails, or timeout passes; it
// also fails as soon as a process of the cluster has exited.
func (c *Cluster) poll(ctx context.Context, timeout time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		for _, p := range c.state.Processes {
			if !p.alive() {
				return fmt.Errorf("waiting for %s: %s exited; end of its log (%s):\n%s", what, p.Name, p.Log, tail(p.Log))
			}
		}
		ok, err := done()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("waiting for %s: %w", what, last)
			}
			return fmt.Errorf("waiting for %s: timed out after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// install creates the manager's namespace, the RBAC of config/rbac, the policy
// library's ConfigMaps and the Service the webhook configurations name.
func (c *Cluster) install(ctx context.Context) error {
	for _, ns := range []string{managerNamespace, "production"} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	for _, f := range []string{"role.yaml", "actions.yaml", "condition-override-clusterrole.yaml", "approver-clusterrole.yaml",
		"workflow-author-clusterrole.yaml", "viewer-clusterrole.yaml", "metrics-query-clusterrole.yaml"} {
		if _, err := c.kubectl(ctx, "apply", "-f", filepath.Join(c.opts.Root, "config", "rbac", f)); err != nil {
			return err
		}
	}
	// The defaults are embedded in the manager: the ConfigMaps hold no overrides
	// yet, only a version, and show where custom policies go. The install's own
	// files (config/policies) when the checkout has them, else the same in code.
	for name, file := range map[string]string{
		"kubernaut-workflow-conditions": "workflow-conditions.yaml",
		"kubernaut-safety-policies":     "safety-policies.yaml",
	} {
		if path := filepath.Join(c.opts.Root, "config", "policies", file); fileExists(path) {
			if _, err := c.kubectl(ctx, "apply", "-f", path); err != nil {
				return err
			}
			continue
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: managerNamespace,
			Labels: map[string]string{"version": "local-1", "app.kubernetes.io/part-of": "kubernaut"},
			Annotations: map[string]string{"kubernaut.io/description": "Add <condition_type>.rego keys to override or extend " +
				"the policies embedded in the manager; a change is picked up without a restart."},
		}}
		if err := c.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ConfigMap %s: %w", name, err)
		}
	}
	// The manager runs on this machine, not in a pod: the Service points the API
	// server at 127.0.0.1 (an ExternalName Service resolves to its name), and the
	// API server still checks the serving certificate against the Service's DNS
	// name, which the manager's self-signed certificate carries.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: webhookService, Namespace: managerNamespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
	}
	if err := c.Client.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Service %s: %w", webhookService, err)
	}
	return nil
}

// installWebhooks installs config/webhook's configurations under the names the
// manager keeps the caBundle of, pointed at the manager's port.
func (c *Cluster) installWebhooks(ctx context.Context, port int) error {
	data, err := os.ReadFile(filepath.Join(c.opts.Root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		return err
	}
	ref := func(cc *admissionregistrationv1.WebhookClientConfig) {
		if cc.Service == nil {
			cc.Service = &admissionregistrationv1.ServiceReference{}
		}
		cc.Service.Name, cc.Service.Namespace, cc.Service.Port = webhookService, managerNamespace, ptr.To(int32(port))
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var meta metav1.TypeMeta
		var raw runtime.RawExtension // one document, as JSON
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading config/webhook/manifests.yaml: %w", err)
		}
		if len(raw.Raw) == 0 {
			continue
		}
		if err := json.Unmarshal(raw.Raw, &meta); err != nil {
			return err
		}
		var obj client.Object
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := json.Unmarshal(raw.Raw, m); err != nil {
				return err
			}
			m.Name = mutatingWebhook
			for i := range m.Webhooks {
				ref(&m.Webhooks[i].ClientConfig)
			}
			obj = m
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := json.Unmarshal(raw.Raw, v); err != nil {
				return err
			}
			v.Name = validatingWebhook
			for i := range v.Webhooks {
				ref(&v.Webhooks[i].ClientConfig)
			}
			obj = v
		default:
			continue
		}
		if err := c.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s: %w", meta.Kind, obj.GetName(), err)
		}
	}
}

// waitWebhooks waits until the API server reaches the webhooks and trusts their
// certificate: until a server-side dry run of a WorkflowExecution gets past them.
func (c *Cluster) waitWebhooks(ctx context.Context) error {
	return c.poll(ctx, time.Minute, "the API server to reach the webhooks", func() (bool, error) {
		wfe := scaleWorkflow(managerNamespace, "webhook-probe", "webhook-probe", 1)
		err := c.Client.Create(ctx, wfe, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
			return false, err
		}
		return true, nil
	})
}

// sampleWorkload creates (or resets) Deployment production/web-app with replicas
// pods and waits until they are ready.
func (c *Cluster) sampleWorkload(ctx context.Context, replicas int32) error {
	return c.sampleDeployment(ctx, "web-app", replicas)
}

// sampleDeployment creates (or resets) Deployment production/name with replicas
// ready pods of 100m CPU and 128Mi, and waits for them.
func (c *Cluster) sampleDeployment(ctx context.Context, name string, replicas int32) error {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "production", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.example/" + name + ":1.0",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
					}},
				}}},
			},
		},
	}
	err := c.Client.Create(ctx, d)
	if apierrors.IsAlreadyExists(err) {
		var cur appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
			return err
		}
		if cur.Spec.Replicas == nil || *cur.Spec.Replicas != replicas {
			base := cur.DeepCopy()
			cur.Spec.Replicas = ptr.To(replicas)
			err = c.Client.Patch(ctx, &cur, client.MergeFrom(base))
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("creating Deployment production/%s: %w", name, err)
	}
	return c.poll(ctx, time.Minute, fmt.Sprintf("production/%s to have %d ready replicas", name, replicas), func() (bool, error) {
		var cur appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
			return false, err
		}
		return cur.Status.ObservedGeneration == cur.Generation && cur.Status.ReadyReplicas == replicas &&
			cur.Status.Replicas == replicas, nil
	})
}

// kubectl runs kubectl (bin/kubectl, else the one on PATH) against the cluster.
func (c *Cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	kubectl := filepath.Join(c.opts.bin(), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		kubectl = "kubectl"
	}
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
