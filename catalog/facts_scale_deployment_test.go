package catalog_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/test/harness"
)

// Each group of actions tests its providers in an Ordered container with a cluster
// of its own (startCluster in BeforeAll), so that one group's nodes and pods never
// change another's capacity facts.

var (
	k8s    client.Client
	cached client.Reader // an informer cache, as the manager's
	engine = conditions.NewEngine(conditions.Options{})
)

// startCluster starts a cluster-mode harness with nodes and an informer cache over
// it, both stopped when the calling container ends.
func startCluster(ctx context.Context, nodes []harness.Node) (client.Client, client.Reader) {
	GinkgoHelper()
	cluster, err := harness.Start(ctx, harness.Options{Nodes: nodes})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)

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
	return cluster.Client, informers
}

// newNamespace creates a namespace with c.
func factsNamespace(ctx context.Context, c client.Client) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "facts-"}}
	Expect(c.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// runDeployment creates a Deployment on the nodes of pool and waits until its
// replicas are ready.
func runDeployment(ctx context.Context, ns, name, pool string, replicas int32, cpu, memory string, pullSecrets ...string) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	var refs []corev1.LocalObjectReference
	for _, s := range pullSecrets {
		refs = append(refs, corev1.LocalObjectReference{Name: s})
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:     map[string]string{"pool": pool},
					ImagePullSecrets: refs,
					Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
					}}},
				},
			},
		},
	}
	Expect(k8s.Create(ctx, d)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(cached.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		g.Expect(d.Status.ReadyReplicas).To(Equal(replicas))
		g.Expect(d.Status.Conditions).To(ContainElement(HaveField("Type", appsv1.DeploymentAvailable)))
		var pods corev1.PodList
		g.Expect(cached.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(int(replicas)))
	}).WithTimeout(time.Minute).Should(Succeed())
}

func scaleParams(ns, name string, replicas int) map[string]any {
	return map[string]any{"deployment": map[string]any{"name": name, "namespace": ns, "replicas": float64(replicas)}}
}

// evaluateAll evaluates every condition the catalog suggests for scale_deployment
// (the seed's nine) on doc.
func evaluateAll(ctx context.Context, doc map[string]any) map[string]conditions.Result {
	GinkgoHelper()
	action, _ := catalog.Lookup("scale_deployment")
	policies := conditions.EmbeddedPolicies()
	results := map[string]conditions.Result{}
	for _, s := range action.SuggestedConditions() {
		p, err := engine.Compile(ctx, s.Type, policies[s.Type])
		Expect(err).NotTo(HaveOccurred())
		results[s.Type] = engine.Evaluate(ctx, p, doc)
	}
	Expect(results).To(HaveLen(9))
	return results
}

var _ = Describe("scale_deployment facts", Ordered, func() {
	BeforeAll(func(ctx context.Context) {
		k8s, cached = startCluster(ctx, []harness.Node{
			{Name: "pool-a-1", CPU: "2", Memory: "4Gi", Labels: map[string]string{"pool": "a"}},
			{Name: "pool-a-2", CPU: "2", Memory: "4Gi", Labels: map[string]string{"pool": "a"}},
			{Name: "pool-b-1", CPU: "1", Memory: "2Gi", Labels: map[string]string{"pool": "b"}},
		})
	}, NodeTimeout(3*time.Minute))

	It("describe a running Deployment, its pods and the room left on its nodes", func(ctx context.Context) {
		ns := factsNamespace(ctx, k8s)
		Expect(k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)},
		})).To(Succeed())
		runDeployment(ctx, ns, "web", "a", 3, "100m", "128Mi", "regcred")

		doc, err := facts.Gather(ctx, cached, "scale_deployment", scaleParams(ns, "web", 5), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("deployment_found", true))
		Expect(doc).To(HaveKeyWithValue("current_replicas", BeEquivalentTo(3)))
		Expect(doc).To(HaveKeyWithValue("expected_baseline", BeEquivalentTo(3)))
		Expect(doc).To(HaveKeyWithValue("target_replicas", BeEquivalentTo(5)))
		Expect(doc).To(HaveKeyWithValue("additional_replicas", BeEquivalentTo(2)))
		Expect(doc).To(HaveKeyWithValue("required_cpu_per_pod", "100m"))
		Expect(doc).To(HaveKeyWithValue("required_memory_per_pod", "128Mi"))
		// Pool a: 2 nodes of 2 CPU and 4Gi, less the 3 pods' requests.
		Expect(doc).To(HaveKeyWithValue("available_cpu", "3700m"))
		Expect(doc).To(HaveKeyWithValue("available_memory", "7808Mi"))
		Expect(doc).To(HaveKeyWithValue("matching_nodes", 2))
		Expect(doc).To(HaveKeyWithValue("ready_nodes", 2))
		Expect(doc).To(HaveKeyWithValue("running_pods", 3))
		Expect(doc).To(HaveKeyWithValue("ready_pods", 3))
		Expect(doc["pods"]).To(HaveLen(3))
		Expect(doc["pods"]).To(HaveEach(And(HaveKeyWithValue("status", "Running"), HaveKeyWithValue("ready", true))))
		Expect(doc).To(HaveKeyWithValue("conditions", map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false}))
		Expect(doc).To(HaveKeyWithValue("image_pull_secrets_exist", true))
		Expect(doc).To(HaveKeyWithValue("image_pull_secrets_valid", true))
		Expect(doc).To(HaveKeyWithValue("phase", "pre"))

		// Before scaling, every seed policy passes but the postcondition that 5
		// replicas run.
		results := evaluateAll(ctx, doc)
		for name, r := range results {
			if name == "desired_replicas_running" {
				Expect(r.Outcome).To(Equal(conditions.Failed), name)
				continue
			}
			Expect(r.Outcome).To(Equal(conditions.Passed), "%s: %s", name, r.Message)
		}

		// A round whose policies do not read the nodes' free capacity does not sum
		// the requests of every pod in the cluster for it.
		lean, err := facts.Gather(ctx, cached, "scale_deployment", scaleParams(ns, "web", 5), facts.Post,
			catalog.Wanted{"ready_pods": true, "target_replicas": true})
		Expect(err).NotTo(HaveOccurred())
		Expect(lean).To(HaveKeyWithValue("ready_pods", 3))
		for _, key := range []string{"available_cpu", "available_memory", "matching_nodes", "ready_nodes"} {
			Expect(lean).NotTo(HaveKey(key))
		}
		withCapacity, err := facts.Gather(ctx, cached, "scale_deployment", scaleParams(ns, "web", 5), facts.Pre,
			catalog.Wanted{"ready_nodes": true})
		Expect(err).NotTo(HaveOccurred())
		Expect(withCapacity).To(HaveKeyWithValue("available_cpu", "3700m"))
	})

	It("say a missing Deployment is missing, and leave out what cannot be known", func(ctx context.Context) {
		ns := factsNamespace(ctx, k8s)
		doc, err := facts.Gather(ctx, cached, "scale_deployment", scaleParams(ns, "ghost", 2), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("deployment_found", false))
		Expect(doc).NotTo(HaveKey("running_pods"))

		results := evaluateAll(ctx, doc)
		Expect(results["deployment_exists"].Outcome).To(Equal(conditions.Failed))
		Expect(results["deployment_exists"].Message).To(Equal("Deployment ghost not found in namespace " + ns))
		Expect(results["desired_replicas_running"].Outcome).To(Equal(conditions.Errored))
		Expect(results["desired_replicas_running"].Reason).To(Equal(conditions.ReasonMissingFacts))
	})

	It("count the requests of every pod on the nodes, whatever its namespace", func(ctx context.Context) {
		other := factsNamespace(ctx, k8s)
		runDeployment(ctx, other, "neighbour", "b", 1, "600m", "1Gi")
		ns := factsNamespace(ctx, k8s)
		runDeployment(ctx, ns, "small", "b", 1, "100m", "64Mi")

		doc, err := facts.Gather(ctx, cached, "scale_deployment", scaleParams(ns, "small", 5), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("matching_nodes", 1))
		Expect(doc).To(HaveKeyWithValue("available_cpu", "300m"))     // 1000m - 600m - 100m
		Expect(doc).To(HaveKeyWithValue("available_memory", "960Mi")) // 2048Mi - 1024Mi - 64Mi
		// Four more pods of 100m do not fit in 300m.
		Expect(evaluateAll(ctx, doc)["cluster_capacity_available"].Outcome).To(Equal(conditions.Failed))
	})

	It("report an image pull secret that does not exist", func(ctx context.Context) {
		ns := factsNamespace(ctx, k8s)
		runDeployment(ctx, ns, "private", "a", 1, "10m", "16Mi", "missing-secret")
		doc, err := facts.Gather(ctx, cached, "scale_deployment", scaleParams(ns, "private", 2), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("image_pull_secrets_exist", false))
		Expect(evaluateAll(ctx, doc)["image_pull_secrets_valid"].Outcome).To(Equal(conditions.Failed))
	})
})
