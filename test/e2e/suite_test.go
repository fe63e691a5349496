// Package e2e runs the manager binary, as built from cmd/manager, against a local
// cluster (kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes) with
// its webhooks installed, and checks remediation workflows end to end: the
// Deployments really scale, pods really turn Ready or crash, and the manager
// really restarts.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/test/promtest"
)

const managerNamespace = "kubernaut-system"

var (
	cluster *harness.Harness
	k8s     client.Client
	// managerBinary is cmd/manager built for this run.
	managerBinary string
	manager       *harness.Process
)

func TestEndToEnd(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End to end")
}

var _ = BeforeSuite(func(ctx context.Context) {
	var err error
	cluster, err = harness.Start(ctx, harness.Options{
		Webhooks: true,
		Chaos:    true,
		// A real Prometheus scraping an exporter the metrics specs set at will.
		Prometheus: &promtest.Options{},
		Nodes: []harness.Node{
			{Name: "worker-1", CPU: "16", Memory: "64Gi", Pods: 110},
			{Name: "worker-2", CPU: "16", Memory: "64Gi", Pods: 110},
			{Name: "worker-3", CPU: "16", Memory: "64Gi", Pods: 110},
		},
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	k8s = cluster.Client

	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}})).To(Succeed())
	kubectl("apply", "-f", "../../config/rbac/actions.yaml")
	kubectl("apply", "-f", "../../config/rbac/condition-override-clusterrole.yaml")
	kubectl("apply", "-f", "../../config/rbac/approver-clusterrole.yaml")

	managerBinary = filepath.Join(GinkgoT().TempDir(), "manager")
	build := exec.Command("go", "build", "-o", managerBinary, "../../cmd/manager")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/manager:\n%s", out)
	startManager(ctx)
}, NodeTimeout(10*time.Minute))

// startManager runs the manager binary, with the suite's flags and extra, and
// waits until it is ready.
func startManager(ctx context.Context, extra ...string) {
	GinkgoHelper()
	port, certDir := cluster.WebhookServing()
	probe := freePort()
	var err error
	manager, err = cluster.StartProcess("manager", managerBinary, append([]string{
		"--webhook-port=" + strconv.Itoa(port), "--webhook-cert-dir=" + certDir,
		"--webhook-client-ca=" + cluster.WebhookClientCA(), "--webhook-client-cn=" + harness.WebhookClientCN,
		"--validating-webhook-configuration=" + harness.ValidatingWebhookConfiguration,
		"--namespace=" + managerNamespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probe),
		"--concurrency=4",
		// The security specs revoke a Role and wait this long for it to count.
		"--authorization-cache-ttl=1s",
		// Pods' CPU throttling from the exporter's CFS counters (only pods with a
		// CPU limit are asked about), over a window the specs can wait for.
		"--throttling-from-prometheus", "--throttling-window=10s"}, append(cluster.PrometheusFlags(), extra...)...)...)
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() error {
		if err := manager.Exited(); err != nil {
			return StopTrying(err.Error())
		}
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probe))
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", res.Status)
		}
		return nil
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
}

var _ = ReportAfterEach(func(report SpecReport) {
	if report.Failed() && manager != nil {
		AddReportEntry("manager log", manager.LogTail())
	}
})

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// kubectl runs bin/kubectl against the cluster and returns its output.
func kubectl(args ...string) string {
	GinkgoHelper()
	bin, err := harness.BinDir()
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", cluster.KubeconfigPath}, args...)...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl %v:\n%s", args, out)
	return string(out)
}

func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// createDeployment creates a Deployment of replicas pods and waits until they are
// ready.
func createDeployment(ctx context.Context, ns, name string, replicas int32, podLabels map[string]string) *appsv1.Deployment {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	template := map[string]string{"app": name}
	for k, v := range podLabels {
		template[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: template},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.example/web:1.0",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
					}},
				}}},
			},
		},
	}
	Expect(k8s.Create(ctx, d)).To(Succeed())
	waitReady(ctx, ns, name, replicas)
	return d
}

// waitReady waits until the Deployment has replicas ready pods and no others.
func waitReady(ctx context.Context, ns, name string, replicas int32) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
		g.Expect(d.Status.ReadyReplicas).To(Equal(replicas))
		g.Expect(d.Status.Replicas).To(Equal(replicas))
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
}
