package install_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// notInstalledHere are the kinds of the install this test leaves out: the
// Deployment, which it runs as a process instead; cert-manager's and the
// Prometheus Operator's, which this cluster lacks (their CRDs are checked by
// TestServerSideDryRun); the webhook configurations, which the harness installs
// pointing at the process (with its own serving certificate, in place of
// cert-manager's); the NetworkPolicy, which nothing enforces here.
var notInstalledHere = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "Deployment": true,
	"Issuer": true, "Certificate": true, "ServiceMonitor": true, "PrometheusRule": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true, "NetworkPolicy": true,
}

// TestInstalledManagerRunsAsRendered runs the manager binary with exactly the
// args and env of the rendered Deployment, as the install's ServiceAccount with
// the install's RBAC, against a local cluster with kwok nodes; the seed's sample
// workflow (config/samples/scale-web-app.yaml) completes through it. A flag the
// manifests name but the binary lacks, a permission the install forgot, or a
// port the probes do not find fails it.
func TestInstalledManagerRunsAsRendered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	objs := parse(t, render(t))
	deployment := objs.get(t, "Deployment", managerName)
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(deployment.Object, &d); err != nil {
		t.Fatal(err)
	}
	container := d.Spec.Template.Spec.Containers[0]
	flags := map[string]string{}
	for _, a := range container.Args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[name] = value
	}
	webhookPort, err := strconv.Atoi(flags["webhook-port"])
	if err != nil {
		t.Fatalf("--webhook-port=%q: %v", flags["webhook-port"], err)
	}
	healthPort := strconv.FormatInt(port(t, flags["health-probe-bind-address"]), 10)
	metricsPort := strconv.FormatInt(port(t, flags["metrics-bind-address"]), 10)
	for _, port := range []string{flags["webhook-port"], healthPort, metricsPort} {
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			t.Fatalf("port %s, which the install's manager listens on, is taken on this machine: %v", port, err)
		}
		_ = l.Close()
	}

	cluster, err := harness.Start(ctx, harness.Options{Webhooks: true, WebhookPort: webhookPort,
		Nodes: []harness.Node{{Name: "worker-1", CPU: "16", Memory: "64Gi", Pods: 110}, {Name: "worker-2", CPU: "16", Memory: "64Gi", Pods: 110}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	c := cluster.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, u := range objs.list {
		if notInstalledHere[u.GetKind()] {
			continue
		}
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	installed := kubectl(ctx, t, cluster, []byte(strings.Join(stringsOf(docs), "---\n")),
		"apply", "--server-side", "--field-manager=kubernaut-install", "-f", "-")
	t.Logf("installed %d objects", strings.Count(installed, "serverside-applied"))

	// The serving certificate where the args say cert-manager's Secret is mounted.
	_, harnessCerts := cluster.WebhookServing()
	certDir := flags["webhook-cert-dir"]
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		b, err := os.ReadFile(filepath.Join(harnessCerts, f))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(certDir, f)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(path) })
	}

	env := []string{"KUBECONFIG=" + serviceAccountKubeconfig(t, cluster, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)}
	for _, e := range container.Env {
		env = append(env, e.Name+"="+envValue(t, d, container, e))
	}
	manager := filepath.Join(t.TempDir(), "manager")
	if out, err := exec.CommandContext(ctx, goBinary(t), "build", "-o", manager, filepath.Join(repoRoot(t), "cmd", "manager")).CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	process, err := cluster.StartProcessEnv("manager", manager, env, container.Args...)
	if err != nil {
		t.Fatal(err)
	}
	ready := "http://127.0.0.1:" + healthPort + "/readyz"
	waitFor(ctx, t, "the manager ready at "+ready, process, func() (bool, error) {
		res, err := http.Get(ready)
		if err != nil {
			return false, nil
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK, nil
	})

	// The metrics endpoint, served over HTTPS as the args say: only a token the
	// API server authenticates, of a user bound to kubernaut-metrics-reader, reads
	// it; the manager asks with the install's own RBAC.
	metricsURL := "https://127.0.0.1:" + metricsPort + "/metrics"
	// Ready does not wait for the metrics server, which listens once it has made
	// its certificate.
	code := 0
	waitFor(ctx, t, "the metrics endpoint listening at "+metricsURL, process, func() (bool, error) {
		code = scrape(ctx, t, metricsURL, "")
		return code != 0, nil
	})
	if code != http.StatusUnauthorized {
		t.Errorf("metrics without a token: status %d, want 401", code)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}); err != nil {
		t.Fatal(err)
	}
	reader, stranger := saToken(ctx, t, c, "monitoring", "prometheus"), saToken(ctx, t, c, "monitoring", "stranger")
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-kubernaut-metrics"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubernaut-metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: "monitoring"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the metrics-reader's scrape of "+metricsURL, process, func() (bool, error) {
		return scrape(ctx, t, metricsURL, reader) == http.StatusOK, nil
	})
	if code := scrape(ctx, t, metricsURL, stranger); code != http.StatusForbidden {
		t.Errorf("metrics with the token of a ServiceAccount not bound to kubernaut-metrics-reader: status %d, want 403", code)
	}

	// The seed's sample, on its Deployment.
	sample, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "samples", "scale-web-app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "production"}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web-app"}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-app", Namespace: "production"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
			},
		},
	}
	if err := c.Create(ctx, web); err != nil {
		t.Fatal(err)
	}
	var wfe workflowv1alpha1.WorkflowExecution
	if err := yaml.UnmarshalStrict(sample, &wfe); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &wfe); err != nil {
		t.Fatalf("creating the sample through the manager's webhooks: %v", err)
	}
	waitFor(ctx, t, "the sample workflow to succeed", process, func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "production", Name: "scale-web-app-sample"}, &wfe); err != nil {
			return false, err
		}
		switch wfe.Status.Phase {
		case workflowv1alpha1.WorkflowCompleted:
			return true, nil
		case workflowv1alpha1.WorkflowFailed, workflowv1alpha1.WorkflowBlocked:
			return false, fmt.Errorf("the workflow is %s: %s", wfe.Status.Phase, wfe.Status.Message)
		}
		return false, nil
	})
	if cond := meta.FindStatusCondition(wfe.Status.Conditions, "Succeeded"); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("completed without Succeeded=True: %+v", wfe.Status.Conditions)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(web), web); err != nil || *web.Spec.Replicas != 6 {
		t.Errorf("web-app has %d replicas (%v), want the sample's 6", *web.Spec.Replicas, err)
	}

	// What an operator sees of it: kubectl kubernaut get wfe, the CLI as a kubectl plugin.
	plugins := t.TempDir()
	cli := filepath.Join(plugins, "kubectl-kubernaut")
	if out, err := exec.CommandContext(ctx, goBinary(t), "build", "-o", cli, filepath.Join(repoRoot(t), "cmd", "kubernaut")).CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kubernaut: %v\n%s", err, out)
	}
	get := exec.CommandContext(ctx, kubectlPath(t), "kubernaut", "get", "wfe", "scale-web-app-sample", "-n", "production", "--kubeconfig", cluster.KubeconfigPath)
	get.Env = append(os.Environ(), "PATH="+plugins+string(os.PathListSeparator)+os.Getenv("PATH"))
	tree, err := get.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kubernaut get wfe: %v\n%s", err, tree)
	}
	for _, want := range []string{`WorkflowExecution production/scale-web-app-sample completed \(Succeeded\)`,
		`step 1 scale \(scale_deployment\) completed`, `post desired_replicas_running +passed`,
		`execution scale-web-app-sample-step-1 completed`, `changed Deployment production/web-app: replicas 3 → 6`} {
		if !regexp.MustCompile(want).Match(tree) {
			t.Errorf("kubectl kubernaut get wfe does not say %s:\n%s", want, tree)
		}
	}
}

// scrape GETs url with the bearer token (none when empty), trusting any server
// certificate (the manager's metrics server makes its own), and returns the
// status code.
func scrape(ctx context.Context, t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The manager's metrics server makes its own certificate.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := insecure.Do(req)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return 0
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// saToken creates ServiceAccount namespace/name and returns a token the API
// server issued for it.
func saToken(ctx context.Context, t *testing.T, c client.Client, namespace, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	req := &authenticationv1.TokenRequest{}
	if err := c.SubResource("token").Create(ctx, sa, req); err != nil {
		t.Fatal(err)
	}
	return req.Status.Token
}

// serviceAccountKubeconfig writes a kubeconfig that acts as ServiceAccount
// namespace/name, as the pod's mounted token would, through the admin's
// impersonation: the install's RBAC is all it may use.
func serviceAccountKubeconfig(t *testing.T, cluster *harness.Harness, namespace, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range cfg.AuthInfos {
		user.Impersonate = "system:serviceaccount:" + namespace + ":" + name
		user.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// envValue resolves e as the kubelet would for a pod of d.
func envValue(t *testing.T, d appsv1.Deployment, c corev1.Container, e corev1.EnvVar) string {
	t.Helper()
	switch {
	case e.ValueFrom == nil:
		return e.Value
	case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
		return d.Namespace
	case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
		limit := c.Resources.Limits[corev1.ResourceMemory]
		return strconv.FormatInt(limit.Value(), 10)
	}
	t.Fatalf("env %s: this test does not know how the kubelet resolves %+v; teach envValue", e.Name, e.ValueFrom)
	return ""
}

// waitFor polls done every 200ms until it is true; an error from done, the
// process exiting or ctx ending fails the test.
func waitFor(ctx context.Context, t *testing.T, what string, p *harness.Process, done func() (bool, error)) {
	t.Helper()
	for {
		if err := p.Exited(); err != nil {
			t.Fatalf("waiting for %s: the manager exited: %v", what, err)
		}
		ok, err := done()
		if err != nil {
			t.Fatalf("waiting for %s: %v\nmanager log:\n%s", what, err, p.LogTail())
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v\nmanager log:\n%s", what, ctx.Err(), p.LogTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func stringsOf(docs [][]byte) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = string(d)
	}
	return out
}
