package facts_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/internal/metricsapi"
	"kubernaut.io/stepvalidation/reconcilers/wake"
	"kubernaut.io/stepvalidation/test/harness"
)

// The pods' usage from the Metrics API, on a cluster with metrics-server
// scraping what kwok simulates (harness.Options.MetricsAPI), read as the manager
// reads facts: through a client whose reads come from an informer cache, but
// PodMetrics' from the API server (Cache.DisableFor), wrapped by the reader that
// notes what a verification waits on (package wake).
var _ = Describe("Pods' usage from the Metrics API", Ordered, func() {
	var (
		cluster *harness.Harness
		reader  client.Reader
		ns      string
	)
	BeforeAll(func(ctx context.Context) {
		var err error
		cluster, err = harness.Start(ctx, harness.Options{MetricsAPI: true,
			Nodes: []harness.Node{{Name: "usage-1", CPU: "4", Memory: "8Gi"}}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Stop)
		reader = managerReader(ctx, cluster)

		namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "usage-"}}
		Expect(cluster.Client.Create(ctx, namespace)).To(Succeed())
		ns = namespace.Name
	}, NodeTimeout(2*time.Minute))

	It("gives each pod of a Deployment its CPU and memory usage, against requests and limits", func(ctx context.Context) {
		labels := map[string]string{"app": "web"}
		replicas := int32(2)
		Expect(cluster.Client.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					// kwok reports this usage for each container of the pod.
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
						"kwok.x-k8s.io/usage-cpu": "250m", "kwok.x-k8s.io/usage-memory": "64Mi"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:1",
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
						}}}},
				},
			},
		})).To(Succeed())
		params := map[string]any{"deployment": map[string]any{"name": "web", "namespace": ns, "replicas": 2}}

		// metrics-server reports a pod 20 to 30 s after it runs: kwok knows of its
		// pods from its first scrape of them, and metrics-server needs two points.
		By("waiting for the pods' metrics")
		Eventually(func(g Gomega) {
			doc, err := facts.Gather(ctx, reader, "scale_deployment", params, facts.Post, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(doc["pods"]).To(HaveLen(2))
			for _, p := range doc["pods"].([]any) {
				pod := p.(map[string]any)
				g.Expect(pod).To(HaveKey("cpu_usage_millicores"), "pod %s has no usage yet", pod["name"])
				g.Expect(pod["cpu_usage_millicores"]).To(BeNumerically("~", 250, 5))
				g.Expect(pod).To(HaveKeyWithValue("memory_usage_bytes", BeEquivalentTo(64<<20)))
				g.Expect(pod["cpu_request_ratio"]).To(BeNumerically("~", 0.5, 0.01))
				g.Expect(pod["cpu_limit_ratio"]).To(BeNumerically("~", 0.25, 0.005))
				g.Expect(pod).To(HaveKeyWithValue("memory_request_ratio", 0.5))
				g.Expect(pod).To(HaveKeyWithValue("memory_limit_ratio", 0.25))
				app := pod["containers"].([]any)[0].(map[string]any)
				g.Expect(app).To(HaveKeyWithValue("name", "app"))
				g.Expect(app).To(HaveKeyWithValue("memory_usage_bytes", BeEquivalentTo(64<<20)))
				g.Expect(app).To(HaveKeyWithValue("cpu_limit_millicores", BeEquivalentTo(1000)))
				// The container has a CPU limit and nobody measured its throttling.
				g.Expect(pod).NotTo(HaveKey("throttled"))
			}
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())

		// As kubectl top reads them, through the API server.
		By("kubectl top pods")
		out, err := exec.CommandContext(ctx, filepath.Join(binDir(), "kubectl"), "--kubeconfig", cluster.KubeconfigPath,
			"top", "pods", "-n", ns, "--no-headers").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(strings.Split(strings.TrimSpace(string(out)), "\n")).To(HaveLen(2))
		Expect(string(out)).To(ContainSubstring("64Mi"))
	})

	It("leaves the usage out when metrics-server does not answer, or the Metrics API is gone", func(ctx context.Context) {
		params := map[string]any{"deployment": map[string]any{"name": "web", "namespace": ns, "replicas": 2}}
		expectNoUsage := func(r client.Reader) {
			GinkgoHelper()
			doc, err := facts.Gather(ctx, r, "scale_deployment", params, facts.Post, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(doc["pods"]).To(HaveLen(2))
			for _, p := range doc["pods"].([]any) {
				for _, key := range []string{"cpu_usage_millicores", "memory_usage_bytes", "cpu_request_ratio", "memory_limit_ratio"} {
					Expect(p).NotTo(HaveKey(key))
				}
				Expect(p.(map[string]any)["containers"]).To(HaveEach(Not(HaveKey("cpu_usage_millicores"))))
			}
		}

		// The APIService points at a port nobody serves: the aggregator answers 503.
		api := &unstructured.Unstructured{}
		api.SetAPIVersion("apiregistration.k8s.io/v1")
		api.SetKind("APIService")
		Expect(cluster.Client.Get(ctx, client.ObjectKey{Name: metricsapi.APIService}, api)).To(Succeed())
		Expect(unstructured.SetNestedField(api.Object, int64(1), "spec", "service", "port")).To(Succeed())
		Expect(cluster.Client.Update(ctx, api)).To(Succeed())
		Eventually(func(g Gomega) {
			err := cluster.Client.List(ctx, &metricsv1beta1.PodMetricsList{}, client.InNamespace(ns))
			g.Expect(err).To(HaveOccurred())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		expectNoUsage(reader)

		// No APIService at all: the API server does not know the kind.
		Expect(cluster.Client.Delete(ctx, api)).To(Succeed())
		Eventually(func(g Gomega) {
			fresh, err := client.New(cluster.Config, client.Options{Scheme: cluster.Scheme})
			g.Expect(err).NotTo(HaveOccurred())
			err = fresh.List(ctx, &metricsv1beta1.PodMetricsList{}, client.InNamespace(ns))
			g.Expect(meta.IsNoMatchError(err)).To(BeTrue(), "%v", err)
		}).WithTimeout(20 * time.Second).Should(Succeed())
		expectNoUsage(reader)
		expectNoUsage(managerReader(ctx, cluster))
	})
})

// managerReader returns a reader as the manager's: reads from an informer cache,
// PodMetrics' from the API server, noted by a wake.Waker as a verification's are.
func managerReader(ctx context.Context, cluster *harness.Harness) client.Reader {
	GinkgoHelper()
	// The manager's cache trims pods and nodes to what the facts read: so does this one.
	informers, err := cache.New(cluster.Config, cache.Options{Scheme: cluster.Scheme, DefaultTransform: catalog.TrimTransform})
	Expect(err).NotTo(HaveOccurred())
	cacheCtx, stop := context.WithCancel(context.Background())
	DeferCleanup(stop)
	go func() {
		defer GinkgoRecover()
		Expect(informers.Start(cacheCtx)).To(Succeed())
	}()
	Expect(informers.WaitForCacheSync(ctx)).To(BeTrue())
	uncached := []client.Object{&metricsv1beta1.PodMetrics{}}
	c, err := client.New(cluster.Config, client.Options{Scheme: cluster.Scheme,
		Cache: &client.CacheOptions{Reader: informers, DisableFor: uncached}})
	Expect(err).NotTo(HaveOccurred())
	waker := wake.New(informers, cluster.Scheme, uncached...)
	return waker.Reader(wake.Key{Controller: "test", Request: reconcile.Request{NamespacedName: types.NamespacedName{Name: "run"}}}, c)
}

// binDir is where the harness's tools are.
func binDir() string {
	GinkgoHelper()
	dir, err := harness.BinDir()
	Expect(err).NotTo(HaveOccurred())
	return dir
}
