package harness_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/test/promtest"
)

var cluster *harness.Harness

func TestHarness(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Harness")
}

var nodes = []harness.Node{
	{Name: "kwok-node-1", CPU: "2", Memory: "4Gi"},
	{Name: "kwok-node-2", CPU: "2", Memory: "4Gi"},
	{Name: "kwok-node-3", CPU: "2", Memory: "4Gi", Labels: map[string]string{"pool": "large"}},
}

var _ = BeforeSuite(func(ctx context.Context) {
	var err error
	cluster, err = harness.Start(ctx, harness.Options{Nodes: nodes, Prometheus: &promtest.Options{TLS: true, BearerToken: prometheusToken}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
}, NodeTimeout(3*time.Minute))

func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "harness-test-"}}
	Expect(cluster.Client.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func deployment(ns, name string, replicas int32, cpu string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: "registry.example/web:1.0",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse(cpu),
					}},
				}}},
			},
		},
	}
}

var _ = Describe("Cluster mode", func() {
	It("makes every node Ready with the allocatable resources it was given", func(ctx context.Context) {
		var list corev1.NodeList
		Expect(cluster.Client.List(ctx, &list)).To(Succeed())
		Expect(list.Items).To(HaveLen(len(nodes)))
		for _, n := range list.Items {
			Expect(n.Status.Allocatable.Cpu().String()).To(Equal("2"), n.Name)
			Expect(n.Status.Allocatable.Memory().String()).To(Equal("4Gi"), n.Name)
			Expect(n.Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))), n.Name)
		}
	})

	It("brings a 3-replica Deployment to 3 ready replicas on kwok nodes, and scales it", func(ctx context.Context) {
		ns := newNamespace(ctx)
		d := deployment(ns, "web", 3, "100m")
		Expect(cluster.Client.Create(ctx, d)).To(Succeed())

		readyReplicas := func(g Gomega) int32 {
			g.Expect(cluster.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			return d.Status.ReadyReplicas
		}
		Eventually(readyReplicas).WithContext(ctx).WithTimeout(time.Minute).Should(BeEquivalentTo(3))

		var pods corev1.PodList
		Expect(cluster.Client.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		Expect(pods.Items).To(HaveLen(3))
		for _, p := range pods.Items {
			Expect(p.Spec.NodeName).To(HavePrefix("kwok-node-"), p.Name)
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning), p.Name)
		}

		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = new(int32(5))
		Expect(cluster.Client.Patch(ctx, d, patch)).To(Succeed())
		Eventually(readyReplicas).WithContext(ctx).WithTimeout(time.Minute).Should(BeEquivalentTo(5))
	})

	It("leaves a pod that fits no node's allocatable cpu unscheduled", func(ctx context.Context) {
		ns := newNamespace(ctx)
		Expect(cluster.Client.Create(ctx, deployment(ns, "too-big", 1, "3"))).To(Succeed())

		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(cluster.Client.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(1))
			g.Expect(pods.Items[0].Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.PodScheduled),
				HaveField("Status", corev1.ConditionFalse),
				HaveField("Reason", corev1.PodReasonUnschedulable),
			)))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	})
})

var _ = Describe("RestartAPIServer", Serial, func() {
	It("brings the API server back with its data, and clients and controllers carry on", func(ctx context.Context) {
		ns := newNamespace(ctx)
		d := deployment(ns, "web", 2, "100m")
		Expect(cluster.Client.Create(ctx, d)).To(Succeed())
		readyReplicas := func(g Gomega) int32 {
			g.Expect(cluster.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			return d.Status.ReadyReplicas
		}
		Eventually(readyReplicas).WithContext(ctx).WithTimeout(time.Minute).Should(BeEquivalentTo(2))

		Expect(cluster.RestartAPIServer(time.Second)).To(Succeed())

		// The same client, unchanged, reads what was there and writes again; the
		// controller-manager and kwok, which lost their watches, act on the write.
		Eventually(readyReplicas).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeEquivalentTo(2))
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = new(int32(3))
		Expect(cluster.Client.Patch(ctx, d, patch)).To(Succeed())
		Eventually(readyReplicas).WithContext(ctx).WithTimeout(time.Minute).Should(BeEquivalentTo(3))
	})
})
