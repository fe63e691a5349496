package catalog_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/test/harness"
)

// workloadEngine evaluates the policies the workload actions suggest.
var workloadEngine = conditions.NewEngine(conditions.Options{})

// workloadTarget is the {name, namespace} parameter of a workload action.
func workloadTarget(ns, name string) map[string]any {
	return map[string]any{"name": name, "namespace": ns}
}

// workloadGather gathers the facts of action and, when its target exists, checks
// that every fact the catalog lists for the action is there.
func workloadGather(ctx context.Context, g Gomega, r client.Reader, action string, params map[string]any, phase facts.Phase) map[string]any {
	doc, err := facts.Gather(ctx, r, action, params, phase, nil)
	g.Expect(err).NotTo(HaveOccurred())
	a, ok := catalog.Lookup(action)
	g.Expect(ok).To(BeTrue())
	// The first *_found fact says whether the target exists (container_found
	// comes after deployment_found).
	found := false
	if i := slices.IndexFunc(a.FactKeys(), func(key string) bool { return strings.HasSuffix(key, "_found") }); i >= 0 {
		found, _ = doc[a.Facts[i].Key].(bool)
	}
	if found {
		for _, key := range a.FactKeys() {
			g.Expect(doc).To(HaveKey(key), "%s lacks fact %s", action, key)
		}
	}
	return doc
}

// workloadEvaluate evaluates every condition the catalog suggests for action on
// doc, by condition type.
func workloadEvaluate(ctx context.Context, g Gomega, action string, doc map[string]any) map[string]conditions.Result {
	a, ok := catalog.Lookup(action)
	g.Expect(ok).To(BeTrue())
	policies := conditions.EmbeddedPolicies()
	results := map[string]conditions.Result{}
	for _, s := range a.SuggestedConditions() {
		p, err := workloadEngine.Compile(ctx, s.Type, policies[s.Type])
		g.Expect(err).NotTo(HaveOccurred(), s.Type)
		results[s.Type] = workloadEngine.Evaluate(ctx, p, doc)
	}
	return results
}

// workloadOutcomes reduces results to their outcomes, for one comparison.
func workloadOutcomes(results map[string]conditions.Result) map[string]conditions.Outcome {
	outcomes := map[string]conditions.Outcome{}
	for t, r := range results {
		outcomes[t] = r.Outcome
	}
	return outcomes
}

// workloadAll says every condition of action has outcome.
func workloadAll(action string, outcome conditions.Outcome) map[string]conditions.Outcome {
	a, _ := catalog.Lookup(action)
	outcomes := map[string]conditions.Outcome{}
	for _, s := range a.SuggestedConditions() {
		outcomes[s.Type] = outcome
	}
	return outcomes
}

// workloadExcept is outcomes with changes.
func workloadExcept(outcomes map[string]conditions.Outcome, changes map[string]conditions.Outcome) map[string]conditions.Outcome {
	for t, o := range changes {
		outcomes[t] = o
	}
	return outcomes
}

// workloadNewDeployment is a Deployment whose container app runs image with small
// requests.
func workloadNewDeployment(ns, name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
					}},
				}}},
			},
		},
	}
}

// workloadWaitDeployment waits until the cache shows the Deployment, as last written, rolled
// out: its controller has observed it, every replica is updated and available, and
// its pods are exactly the ready replicas (no old pod left terminating).
func workloadWaitDeployment(ctx context.Context, r client.Reader, written *appsv1.Deployment) {
	GinkgoHelper()
	var d appsv1.Deployment
	Eventually(func(g Gomega) {
		g.Expect(r.Get(ctx, client.ObjectKeyFromObject(written), &d)).To(Succeed())
		g.Expect(d.Generation).To(BeNumerically(">=", written.Generation), "the cache has seen the last write")
		replicas := *d.Spec.Replicas
		g.Expect(d.Status.ObservedGeneration).To(BeNumerically(">=", d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(replicas))
		g.Expect(d.Status.Replicas).To(Equal(replicas))
		g.Expect(d.Status.AvailableReplicas).To(Equal(replicas))
		var pods corev1.PodList
		g.Expect(r.List(ctx, &pods, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels))).To(Succeed())
		owned := 0
		for _, p := range pods.Items {
			if metav1.GetControllerOf(&p) == nil {
				continue // a stray pod some tests add
			}
			owned++
			g.Expect(p.DeletionTimestamp).To(BeNil())
			g.Expect(p.Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		}
		g.Expect(owned).To(BeEquivalentTo(replicas))
	}).WithTimeout(time.Minute).Should(Succeed())
}

// workloadPatch changes obj with change through c, as a merge patch.
func workloadPatch[T client.Object](ctx context.Context, c client.Client, obj T, change func(T)) {
	GinkgoHelper()
	Expect(c.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	base := obj.DeepCopyObject().(T)
	change(obj)
	Expect(c.Patch(ctx, obj, client.MergeFrom(base))).To(Succeed())
}

// workloadJSON renders a facts document, to check that no part of it holds a string.
func workloadJSON(g Gomega, doc map[string]any) string {
	data, err := json.Marshal(doc)
	g.Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// workloadPodNames lists the names in the pods fact.
func workloadPodNames(doc map[string]any) []string {
	var names []string
	for _, p := range doc["pods"].([]any) {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	return names
}

var _ = Describe("workload facts", Ordered, ContinueOnFailure, func() {
	var (
		wk client.Client // writes, as the executors and controllers do
		wr client.Reader // an informer cache, which the providers read
	)

	BeforeAll(func(ctx context.Context) {
		wk, wr = startCluster(ctx, []harness.Node{
			{Name: "workload-1", CPU: "4", Memory: "8Gi", Labels: map[string]string{"pool": "workload"}},
			{Name: "workload-2", CPU: "4", Memory: "8Gi", Labels: map[string]string{"pool": "workload"}},
		})
	}, NodeTimeout(3*time.Minute))

	Describe("rollout_restart", func() {
		It("describe a settled Deployment, then its restart paused mid-rollout, then rolled out", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			d := workloadNewDeployment(ns, "web", 2, "registry.example/web:1")
			Expect(wk.Create(ctx, d)).To(Succeed())
			// A pod with the Deployment's labels that no ReplicaSet controls is not
			// one of its pods.
			Expect(wk.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: ns, Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:0"}}},
			})).To(Succeed())
			workloadWaitDeployment(ctx, wr, d)
			params := map[string]any{"deployment": workloadTarget(ns, "web")}

			doc := workloadGather(ctx, Default, wr, "rollout_restart", params, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("deployment_found", true))
			Expect(doc).To(HaveKeyWithValue("deployment_name", "web"))
			Expect(doc).To(HaveKeyWithValue("namespace", ns))
			Expect(doc).To(HaveKeyWithValue("current_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("target_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("deployment_generation_observed", true))
			Expect(doc).To(HaveKeyWithValue("deployment_updated_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("deployment_status_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("deployment_available_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("running_pods", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("ready_pods", BeEquivalentTo(2)))
			before := workloadPodNames(doc)
			Expect(before).To(HaveLen(2))
			Expect(before).NotTo(ContainElement("stray"))
			Expect(doc["pods"]).To(HaveEach(And(HaveKeyWithValue("status", "Running"), HaveKeyWithValue("ready", true))))
			Expect(workloadOutcomes(workloadEvaluate(ctx, Default, "rollout_restart", doc))).To(Equal(workloadAll("rollout_restart", conditions.Passed)))

			// The restart stamps the template of a paused Deployment: its controller
			// observes the change but starts no new ReplicaSet.
			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) {
				d.Spec.Paused = true
				d.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339)}
			})
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "rollout_restart", params, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("deployment_generation_observed", true))
				g.Expect(doc).To(HaveKeyWithValue("deployment_updated_replicas", BeEquivalentTo(0)))
				g.Expect(doc).To(HaveKeyWithValue("deployment_status_replicas", BeEquivalentTo(2)))
				results := workloadEvaluate(ctx, g, "rollout_restart", doc)
				g.Expect(workloadOutcomes(results)).To(Equal(workloadExcept(workloadAll("rollout_restart", conditions.Passed), map[string]conditions.Outcome{
					"deployment_not_rolling_out": conditions.Failed, "deployment_rollout_complete": conditions.Failed,
				})))
				g.Expect(results["deployment_not_rolling_out"].Message).To(Equal("Deployment web in namespace " + ns +
					" is mid-rollout; 0 of 2 replicas run the newest pod template; 2 pods of older ReplicaSets remain"))
			}).WithTimeout(30 * time.Second).Should(Succeed())

			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) { d.Spec.Paused = false })
			workloadWaitDeployment(ctx, wr, d)
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "rollout_restart", params, facts.Post)
				after := workloadPodNames(doc)
				g.Expect(after).To(HaveLen(2))
				for _, name := range after {
					g.Expect(before).NotTo(ContainElement(name), "every pod was replaced")
				}
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "rollout_restart", doc))).To(Equal(workloadAll("rollout_restart", conditions.Passed)))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})

		It("say a missing Deployment is missing, and leave out what cannot be known", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			doc := workloadGather(ctx, Default, wr, "rollout_restart", map[string]any{"deployment": workloadTarget(ns, "ghost")}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("deployment_found", false))
			Expect(doc).To(HaveKeyWithValue("deployment_name", "ghost"))
			Expect(doc).To(HaveKeyWithValue("namespace", ns))
			for _, key := range []string{"current_replicas", "target_replicas", "pods", "deployment_updated_replicas"} {
				Expect(doc).NotTo(HaveKey(key))
			}
			results := workloadEvaluate(ctx, Default, "rollout_restart", doc)
			Expect(results["deployment_exists"].Outcome).To(Equal(conditions.Failed))
			Expect(results["deployment_exists"].Message).To(Equal("Deployment ghost not found in namespace " + ns))
			Expect(results["deployment_not_rolling_out"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("rollback_deployment", func() {
		It("list the revisions the ReplicaSets keep, and follow a rollback that renumbers one", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			d := workloadNewDeployment(ns, "web", 2, "registry.example/web:1")
			Expect(wk.Create(ctx, d)).To(Succeed())
			workloadWaitDeployment(ctx, wr, d)
			for _, image := range []string{"registry.example/web:2", "registry.example/web:3"} {
				workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
				workloadWaitDeployment(ctx, wr, d)
			}
			params := func(revision int) map[string]any {
				p := map[string]any{"deployment": workloadTarget(ns, "web")}
				if revision >= 0 {
					p["revision"] = float64(revision)
				}
				return p
			}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = workloadGather(ctx, g, wr, "rollback_deployment", params(-1), facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("deployment_revisions", []any{int64(1), int64(2), int64(3)}))
			}).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(doc).To(HaveKeyWithValue("deployment_revision", int64(3)))
			Expect(doc).To(HaveKeyWithValue("conditions", map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false}))
			Expect(doc).To(HaveKeyWithValue("deployment_status_replicas", BeEquivalentTo(2)))
			// Before the rollback every condition passes: the previous revision (2)
			// is kept, and the Deployment is settled.
			Expect(workloadOutcomes(workloadEvaluate(ctx, Default, "rollback_deployment", doc))).To(Equal(workloadAll("rollback_deployment", conditions.Passed)))

			for revision, message := range map[int]string{
				0: "",
				1: "",
				3: "revision 3 is already the current revision of Deployment web",
				7: "revision 7 of Deployment web is not kept (kept: [1, 2, 3])",
			} {
				doc := workloadGather(ctx, Default, wr, "rollback_deployment", params(revision), facts.Pre)
				r := workloadEvaluate(ctx, Default, "rollback_deployment", doc)["deployment_revision_available"]
				if message == "" {
					Expect(r.Outcome).To(Equal(conditions.Passed), "revision %d: %s", revision, r.Message)
				} else {
					Expect(r.Outcome).To(Equal(conditions.Failed), "revision %d", revision)
					Expect(r.Message).To(Equal(message))
				}
			}

			// What the executor does: put back the template of revision 1's
			// ReplicaSet. The controller reuses that ReplicaSet as revision 4.
			var sets appsv1.ReplicaSetList
			Expect(wk.List(ctx, &sets, client.InNamespace(ns))).To(Succeed())
			i := slices.IndexFunc(sets.Items, func(rs appsv1.ReplicaSet) bool {
				return rs.Annotations["deployment.kubernetes.io/revision"] == "1"
			})
			Expect(i).To(BeNumerically(">=", 0))
			template := sets.Items[i].Spec.Template.DeepCopy()
			delete(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) { d.Spec.Template = *template })
			workloadWaitDeployment(ctx, wr, d)

			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "rollback_deployment", params(1), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("deployment_revision", int64(4)))
				g.Expect(doc).To(HaveKeyWithValue("deployment_revisions", []any{int64(2), int64(3), int64(4)}))
				results := workloadEvaluate(ctx, g, "rollback_deployment", doc)
				// The postconditions pass; revision 1 is gone (it became 4), so the
				// precondition would now fail.
				g.Expect(workloadOutcomes(results)).To(Equal(workloadExcept(workloadAll("rollback_deployment", conditions.Passed),
					map[string]conditions.Outcome{"deployment_revision_available": conditions.Failed})))
				g.Expect(results["deployment_revision_available"].Message).To(Equal("revision 1 of Deployment web is not kept (kept: [2, 3, 4])"))
			}).WithTimeout(30 * time.Second).Should(Succeed())

			// The inverse: back to revision 3, which is kept.
			doc = workloadGather(ctx, Default, wr, "rollback_deployment", params(3), facts.Pre)
			Expect(workloadEvaluate(ctx, Default, "rollback_deployment", doc)["deployment_revision_available"].Outcome).To(Equal(conditions.Passed))
		})

		It("find no revision to roll back to when revisionHistoryLimit is 0", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			d := workloadNewDeployment(ns, "lean", 1, "registry.example/lean:1")
			d.Spec.RevisionHistoryLimit = ptr.To(int32(0))
			Expect(wk.Create(ctx, d)).To(Succeed())
			workloadWaitDeployment(ctx, wr, d)
			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "registry.example/lean:2" })
			workloadWaitDeployment(ctx, wr, d)

			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "rollback_deployment", map[string]any{"deployment": workloadTarget(ns, "lean")}, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("deployment_revision", int64(2)))
				g.Expect(doc).To(HaveKeyWithValue("deployment_revisions", []any{int64(2)}))
				r := workloadEvaluate(ctx, g, "rollback_deployment", doc)["deployment_revision_available"]
				g.Expect(r.Outcome).To(Equal(conditions.Failed))
				g.Expect(r.Message).To(Equal("Deployment lean has no revision before its current revision 2 to roll back to (kept: [2])"))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})
	})

	Describe("update_image", func() {
		It("compare the image of the template and of every pod with the new one", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			Expect(wk.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
				Type:       corev1.SecretTypeDockerConfigJson,
				Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)},
			})).To(Succeed())
			d := workloadNewDeployment(ns, "web", 2, "registry.example/web:1.2")
			d.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
			Expect(wk.Create(ctx, d)).To(Succeed())
			workloadWaitDeployment(ctx, wr, d)
			params := func(container string) map[string]any {
				return map[string]any{"deployment": workloadTarget(ns, "web"), "container": container, "image": "registry.example/web:1.3"}
			}

			doc := workloadGather(ctx, Default, wr, "update_image", params("app"), facts.Pre)
			Expect(doc).To(HaveKeyWithValue("container_found", true))
			Expect(doc).To(HaveKeyWithValue("container_image", "registry.example/web:1.2"))
			Expect(doc).To(HaveKeyWithValue("container_pod_images", []any{"registry.example/web:1.2", "registry.example/web:1.2"}))
			Expect(doc).To(HaveKeyWithValue("image_pull_secrets_exist", true))
			Expect(doc).To(HaveKeyWithValue("image_pull_secrets_valid", true))
			// Before acting, every precondition passes and the image is not rolled out.
			results := workloadEvaluate(ctx, Default, "update_image", doc)
			Expect(workloadOutcomes(results)).To(Equal(workloadExcept(workloadAll("update_image", conditions.Passed),
				map[string]conditions.Outcome{"container_image_rolled_out": conditions.Failed})))
			Expect(results["container_image_rolled_out"].Message).To(Equal("the pod template of Deployment web runs registry.example/web:1.2 in container app, want registry.example/web:1.3"))

			// A container the template does not have.
			doc = workloadGather(ctx, Default, wr, "update_image", params("sidecar"), facts.Pre)
			Expect(doc).To(HaveKeyWithValue("container_found", false))
			Expect(doc).To(HaveKeyWithValue("container_image", ""))
			Expect(doc).To(HaveKeyWithValue("container_pod_images", []any{"", ""}))
			r := workloadEvaluate(ctx, Default, "update_image", doc)["container_exists"]
			Expect(r.Outcome).To(Equal(conditions.Failed))
			Expect(r.Message).To(Equal("the pod template of Deployment web in namespace " + ns + " has no container named sidecar"))

			// The new image in the template of a paused Deployment: no pod runs it.
			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) {
				d.Spec.Paused = true
				d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:1.3"
			})
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "update_image", params("app"), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("container_image", "registry.example/web:1.3"))
				g.Expect(doc).To(HaveKeyWithValue("deployment_generation_observed", true))
				r := workloadEvaluate(ctx, g, "update_image", doc)["container_image_rolled_out"]
				g.Expect(r.Outcome).To(Equal(conditions.Failed))
				g.Expect(r.Message).To(Equal(`2 of 2 pods of Deployment web still run another image in container app (["registry.example/web:1.2", "registry.example/web:1.2"])`))
			}).WithTimeout(30 * time.Second).Should(Succeed())

			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) { d.Spec.Paused = false })
			workloadWaitDeployment(ctx, wr, d)
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "update_image", params("app"), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("container_pod_images", []any{"registry.example/web:1.3", "registry.example/web:1.3"}))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "update_image", doc))).To(Equal(workloadAll("update_image", conditions.Passed)))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})

		It("say a missing Deployment is missing, and leave out its container", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			doc := workloadGather(ctx, Default, wr, "update_image", map[string]any{
				"deployment": workloadTarget(ns, "ghost"), "container": "app", "image": "registry.example/web:2",
			}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("deployment_found", false))
			for _, key := range []string{"container_found", "container_image", "container_pod_images", "image_pull_secrets_exist"} {
				Expect(doc).NotTo(HaveKey(key))
			}
			results := workloadEvaluate(ctx, Default, "update_image", doc)
			Expect(results["deployment_exists"].Outcome).To(Equal(conditions.Failed))
			Expect(results["container_exists"].Outcome).To(Equal(conditions.Errored))
			Expect(results["container_exists"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("increase_resources", func() {
		It("read the container's requests and limits as quantities, before and after", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			d := workloadNewDeployment(ns, "api", 1, "registry.example/api:1")
			d.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5")},
			}
			Expect(wk.Create(ctx, d)).To(Succeed())
			workloadWaitDeployment(ctx, wr, d)
			params := map[string]any{
				"deployment": workloadTarget(ns, "api"), "container": "app",
				"requests": map[string]any{"cpu": "200m"},
				"limits":   map[string]any{"memory": "512Mi"},
			}

			doc := workloadGather(ctx, Default, wr, "increase_resources", params, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("container_found", true))
			Expect(doc).To(HaveKeyWithValue("container_requests", map[string]any{"cpu": "100m", "memory": "128Mi"}))
			Expect(doc).To(HaveKeyWithValue("container_limits", map[string]any{"cpu": "500m", "memory": ""}))
			results := workloadEvaluate(ctx, Default, "increase_resources", doc)
			// The container has a CPU limit, and nothing measures its throttling here.
			Expect(workloadOutcomes(results)).To(Equal(workloadExcept(workloadAll("increase_resources", conditions.Passed),
				map[string]conditions.Outcome{"container_resources_applied": conditions.Failed, "resource_usage_acceptable": conditions.Failed})))
			Expect(results["resource_usage_acceptable"].Message).To(MatchRegexp(
				`^throttling of pods api-\S+ is not known: the manager reads no throttling \(--throttling-from-prometheus, with --prometheus-url\)$`))
			Expect(results["container_resources_applied"].Message).To(Equal(`limits.memory of container app is "", want 512Mi; requests.cpu of container app is "100m", want 200m`))

			// A CPU request above the CPU limit, and a memory request that goes down.
			bad := map[string]any{"deployment": workloadTarget(ns, "api"), "container": "app",
				"requests": map[string]any{"cpu": "1", "memory": "64Mi"}}
			results = workloadEvaluate(ctx, Default, "increase_resources", workloadGather(ctx, Default, wr, "increase_resources", bad, facts.Pre))
			Expect(results["container_resources_valid"].Outcome).To(Equal(conditions.Failed))
			Expect(results["container_resources_valid"].Message).To(ContainSubstring("the cpu request 1 would exceed the cpu limit 500m of container app"))
			Expect(results["container_resources_increase"].Outcome).To(Equal(conditions.Failed))
			Expect(results["container_resources_increase"].Message).To(Equal("requests.memory of container app would go down from 128Mi to 64Mi"))

			// A container the template does not have has no resources.
			missing := map[string]any{"deployment": workloadTarget(ns, "api"), "container": "sidecar", "requests": map[string]any{"cpu": "1"}}
			doc = workloadGather(ctx, Default, wr, "increase_resources", missing, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("container_found", false))
			Expect(doc).To(HaveKeyWithValue("container_requests", map[string]any{"cpu": "", "memory": ""}))
			Expect(workloadEvaluate(ctx, Default, "increase_resources", doc)["container_exists"].Outcome).To(Equal(conditions.Failed))

			// What the executor does.
			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) {
				res := &d.Spec.Template.Spec.Containers[0].Resources
				res.Requests[corev1.ResourceCPU] = resource.MustParse("200m")
				res.Limits[corev1.ResourceMemory] = resource.MustParse("512Mi")
			})
			workloadWaitDeployment(ctx, wr, d)
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "increase_resources", params, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("container_requests", map[string]any{"cpu": "200m", "memory": "128Mi"}))
				g.Expect(doc).To(HaveKeyWithValue("container_limits", map[string]any{"cpu": "500m", "memory": "512Mi"}))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "increase_resources", doc))).To(Equal(workloadExcept(
					workloadAll("increase_resources", conditions.Passed), map[string]conditions.Outcome{"resource_usage_acceptable": conditions.Failed})))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})
	})

	Describe("patch_deployment", func() {
		It("describe the Deployment before and after a patch of its template", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			d := workloadNewDeployment(ns, "web", 3, "registry.example/web:1")
			Expect(wk.Create(ctx, d)).To(Succeed())
			workloadWaitDeployment(ctx, wr, d)
			params := map[string]any{"deployment": workloadTarget(ns, "web"), "patch": map[string]any{"spec": map[string]any{"template": map[string]any{
				"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "env": []any{map[string]any{"name": "MODE", "value": "safe"}}}}},
			}}}}

			doc := workloadGather(ctx, Default, wr, "patch_deployment", params, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("conditions", map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false}))
			Expect(doc).To(HaveKeyWithValue("target_replicas", BeEquivalentTo(3)))
			Expect(doc["pods"]).To(HaveLen(3))
			Expect(workloadOutcomes(workloadEvaluate(ctx, Default, "patch_deployment", doc))).To(Equal(workloadAll("patch_deployment", conditions.Passed)))

			workloadPatch(ctx, wk, d, func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "safe"}}
			})
			workloadWaitDeployment(ctx, wr, d)
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "patch_deployment", params, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("deployment_updated_replicas", BeEquivalentTo(3)))
				g.Expect(doc).To(HaveKeyWithValue("ready_pods", BeEquivalentTo(3)))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "patch_deployment", doc))).To(Equal(workloadAll("patch_deployment", conditions.Passed)))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})
	})

	Describe("scale_statefulset", func() {
		It("count the StatefulSet's pods against the replica count to set", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			labels := map[string]string{"app": "db"}
			s := &appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
				Spec: appsv1.StatefulSetSpec{
					Replicas: ptr.To(int32(2)), ServiceName: "db",
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "registry.example/db:1"}}},
					},
				},
			}
			Expect(wk.Create(ctx, s)).To(Succeed())
			params := func(replicas int) map[string]any {
				target := workloadTarget(ns, "db")
				target["replicas"] = float64(replicas)
				return map[string]any{"statefulset": target}
			}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = workloadGather(ctx, g, wr, "scale_statefulset", params(3), facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("statefulset_ready_replicas", BeEquivalentTo(2)))
				g.Expect(doc).To(HaveKeyWithValue("ready_pods", BeEquivalentTo(2)))
			}).WithTimeout(time.Minute).Should(Succeed())
			Expect(doc).To(HaveKeyWithValue("statefulset_found", true))
			Expect(doc).To(HaveKeyWithValue("statefulset_name", "db"))
			Expect(doc).To(HaveKeyWithValue("namespace", ns))
			Expect(doc).To(HaveKeyWithValue("target_replicas", BeEquivalentTo(3)))
			Expect(doc).To(HaveKeyWithValue("statefulset_generation_observed", true))
			Expect(doc).To(HaveKeyWithValue("statefulset_status_replicas", BeEquivalentTo(2)))
			Expect(workloadPodNames(doc)).To(Equal([]string{"db-0", "db-1"}))
			// Before scaling, the postcondition that 3 replicas run fails.
			results := workloadEvaluate(ctx, Default, "scale_statefulset", doc)
			Expect(workloadOutcomes(results)).To(Equal(workloadExcept(workloadAll("scale_statefulset", conditions.Passed),
				map[string]conditions.Outcome{"statefulset_replicas_ready": conditions.Failed})))
			Expect(results["statefulset_replicas_ready"].Message).To(Equal("StatefulSet db has 2 pods, 2 ready, want 3"))

			workloadPatch(ctx, wk, s, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To(int32(3)) })
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "scale_statefulset", params(3), facts.Post)
				g.Expect(workloadPodNames(doc)).To(Equal([]string{"db-0", "db-1", "db-2"}))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "scale_statefulset", doc))).To(Equal(workloadAll("scale_statefulset", conditions.Passed)))
			}).WithTimeout(time.Minute).Should(Succeed())

			// A scale-down is verified once the pods above the target are gone.
			workloadPatch(ctx, wk, s, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To(int32(1)) })
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "scale_statefulset", params(1), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("statefulset_status_replicas", BeEquivalentTo(1)))
				g.Expect(workloadPodNames(doc)).To(Equal([]string{"db-0"}))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "scale_statefulset", doc))).To(Equal(workloadAll("scale_statefulset", conditions.Passed)))
			}).WithTimeout(time.Minute).Should(Succeed())
		})

		It("say a missing StatefulSet is missing, and keep the target count of the parameters", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			target := workloadTarget(ns, "ghost")
			target["replicas"] = float64(3)
			doc := workloadGather(ctx, Default, wr, "scale_statefulset", map[string]any{"statefulset": target}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("statefulset_found", false))
			Expect(doc).To(HaveKeyWithValue("target_replicas", BeEquivalentTo(3)))
			Expect(doc).NotTo(HaveKey("statefulset_status_replicas"))
			Expect(doc).NotTo(HaveKey("pods"))
			results := workloadEvaluate(ctx, Default, "scale_statefulset", doc)
			Expect(results["statefulset_exists"].Outcome).To(Equal(conditions.Failed))
			Expect(results["statefulset_exists"].Message).To(Equal("StatefulSet ghost not found in namespace " + ns))
			Expect(results["statefulset_replicas_ready"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("restart_statefulset", func() {
		It("describe a settled StatefulSet, then its restart rolled out", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			labels := map[string]string{"app": "db"}
			s := &appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
				Spec: appsv1.StatefulSetSpec{
					Replicas: ptr.To(int32(2)), ServiceName: "db",
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "registry.example/db:1"}}},
					},
				},
			}
			Expect(wk.Create(ctx, s)).To(Succeed())
			params := map[string]any{"statefulset": workloadTarget(ns, "db")}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = workloadGather(ctx, g, wr, "restart_statefulset", params, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("statefulset_ready_replicas", BeEquivalentTo(2)))
				g.Expect(doc).To(HaveKeyWithValue("statefulset_current_revision", doc["statefulset_update_revision"]))
			}).WithTimeout(time.Minute).Should(Succeed())
			Expect(doc).To(HaveKeyWithValue("statefulset_update_strategy", "RollingUpdate"))
			Expect(doc).To(HaveKeyWithValue("statefulset_partition", BeEquivalentTo(0)))
			Expect(doc).To(HaveKeyWithValue("target_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("statefulset_updated_replicas", BeEquivalentTo(2)))
			Expect(workloadPodNames(doc)).To(Equal([]string{"db-0", "db-1"}))
			Expect(workloadOutcomes(workloadEvaluate(ctx, Default, "restart_statefulset", doc))).
				To(Equal(workloadAll("restart_statefulset", conditions.Passed)))
			revision := doc["statefulset_update_revision"]

			// The restart, as its executor stamps it: a new revision, rolled out pod by pod.
			workloadPatch(ctx, wk, s, func(s *appsv1.StatefulSet) {
				s.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}
			})
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "restart_statefulset", params, facts.Post)
				g.Expect(doc["statefulset_update_revision"]).NotTo(Equal(revision))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "restart_statefulset", doc))).
					To(Equal(workloadAll("restart_statefulset", conditions.Passed)))
			}).WithTimeout(2 * time.Minute).Should(Succeed())
		})

		It("say a missing StatefulSet is missing", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			doc := workloadGather(ctx, Default, wr, "restart_statefulset", map[string]any{"statefulset": workloadTarget(ns, "ghost")}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("statefulset_found", false))
			Expect(doc).NotTo(HaveKey("statefulset_update_revision"))
			results := workloadEvaluate(ctx, Default, "restart_statefulset", doc)
			Expect(results["statefulset_exists"].Message).To(Equal("StatefulSet ghost not found in namespace " + ns))
			Expect(results["statefulset_restartable"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("restart_daemonset", func() {
		newDaemonSet := func(ns, name string, strategy appsv1.DaemonSetUpdateStrategyType) *appsv1.DaemonSet {
			labels := map[string]string{"app": name}
			return &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: appsv1.DaemonSetSpec{
					Selector:       &metav1.LabelSelector{MatchLabels: labels},
					UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}}},
					},
				},
			}
		}

		It("describe a DaemonSet on every node, and its restart rolled out", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			ds := newDaemonSet(ns, "agent", appsv1.RollingUpdateDaemonSetStrategyType)
			Expect(wk.Create(ctx, ds)).To(Succeed())
			params := map[string]any{"daemonset": workloadTarget(ns, "agent")}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = workloadGather(ctx, g, wr, "restart_daemonset", params, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("daemonset_number_available", BeEquivalentTo(2)))
				g.Expect(doc["pods"]).To(HaveLen(2))
			}).WithTimeout(time.Minute).Should(Succeed())
			Expect(doc).To(HaveKeyWithValue("daemonset_found", true))
			Expect(doc).To(HaveKeyWithValue("daemonset_name", "agent"))
			Expect(doc).To(HaveKeyWithValue("daemonset_update_strategy", "RollingUpdate"))
			Expect(doc).To(HaveKeyWithValue("daemonset_generation_observed", true))
			Expect(doc).To(HaveKeyWithValue("daemonset_desired_number_scheduled", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("daemonset_updated_number_scheduled", BeEquivalentTo(2)))
			Expect(doc["pods"]).To(ConsistOf(HaveKeyWithValue("node", "workload-1"), HaveKeyWithValue("node", "workload-2")))
			Expect(workloadOutcomes(workloadEvaluate(ctx, Default, "restart_daemonset", doc))).To(Equal(workloadAll("restart_daemonset", conditions.Passed)))
			before := workloadPodNames(doc)

			workloadPatch(ctx, wk, ds, func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339)}
			})
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "restart_daemonset", params, facts.Post)
				after := workloadPodNames(doc)
				g.Expect(after).To(HaveLen(2))
				for _, name := range after {
					g.Expect(before).NotTo(ContainElement(name), "every pod was replaced")
				}
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "restart_daemonset", doc))).To(Equal(workloadAll("restart_daemonset", conditions.Passed)))
			}).WithTimeout(time.Minute).Should(Succeed())
		})

		It("refuse to restart a DaemonSet that updates OnDelete", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			Expect(wk.Create(ctx, newDaemonSet(ns, "legacy", appsv1.OnDeleteDaemonSetStrategyType))).To(Succeed())
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "restart_daemonset", map[string]any{"daemonset": workloadTarget(ns, "legacy")}, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("daemonset_update_strategy", "OnDelete"))
				g.Expect(doc).To(HaveKeyWithValue("daemonset_desired_number_scheduled", BeEquivalentTo(2)))
				r := workloadEvaluate(ctx, g, "restart_daemonset", doc)["daemonset_restartable"]
				g.Expect(r.Outcome).To(Equal(conditions.Failed))
				g.Expect(r.Message).To(ContainSubstring("its update strategy is OnDelete: a new pod template replaces no pod"))
			}).WithTimeout(time.Minute).Should(Succeed())
		})

		It("say a missing DaemonSet is missing", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			doc := workloadGather(ctx, Default, wr, "restart_daemonset", map[string]any{"daemonset": workloadTarget(ns, "ghost")}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("daemonset_found", false))
			Expect(doc).NotTo(HaveKey("daemonset_update_strategy"))
			results := workloadEvaluate(ctx, Default, "restart_daemonset", doc)
			Expect(results["daemonset_exists"].Message).To(Equal("DaemonSet ghost not found in namespace " + ns))
			Expect(results["daemonset_restartable"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("update_hpa", func() {
		It("read the bounds from the spec and the replica count and conditions from the status", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			hpa := &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
					MinReplicas:    ptr.To(int32(2)),
					MaxReplicas:    5,
				},
			}
			Expect(wk.Create(ctx, hpa)).To(Succeed())
			params := func(minReplicas, maxReplicas int) map[string]any {
				return map[string]any{"hpa": workloadTarget(ns, "web"), "minReplicas": float64(minReplicas), "maxReplicas": float64(maxReplicas)}
			}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = workloadGather(ctx, g, wr, "update_hpa", params(3, 6), facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("hpa_found", true))
			}).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(doc).To(HaveKeyWithValue("hpa_name", "web"))
			Expect(doc).To(HaveKeyWithValue("hpa_min_replicas", BeEquivalentTo(2)))
			Expect(doc).To(HaveKeyWithValue("hpa_max_replicas", BeEquivalentTo(5)))
			// No HPA controller has written a status.
			Expect(doc).To(HaveKeyWithValue("hpa_current_replicas", BeEquivalentTo(0)))
			Expect(doc).To(HaveKeyWithValue("hpa_conditions", map[string]any{"AbleToScale": false, "ScalingActive": false, "ScalingLimited": false}))
			results := workloadEvaluate(ctx, Default, "update_hpa", doc)
			Expect(workloadOutcomes(results)).To(Equal(map[string]conditions.Outcome{
				"hpa_exists": conditions.Passed, "hpa_bounds_valid": conditions.Passed,
				"hpa_bounds_applied": conditions.Failed, "hpa_scaling_within_bounds": conditions.Failed,
			}))
			Expect(results["hpa_bounds_applied"].Message).To(Equal("HorizontalPodAutoscaler web has minReplicas 2 and maxReplicas 5, want 3 and 6"))

			invalid := workloadEvaluate(ctx, Default, "update_hpa", workloadGather(ctx, Default, wr, "update_hpa", params(7, 6), facts.Pre))
			Expect(invalid["hpa_bounds_valid"].Outcome).To(Equal(conditions.Failed))
			Expect(invalid["hpa_bounds_valid"].Message).To(Equal("minReplicas 7 is above maxReplicas 6"))

			// What the executor does, then what an HPA controller would report.
			workloadPatch(ctx, wk, hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) {
				h.Spec.MinReplicas, h.Spec.MaxReplicas = ptr.To(int32(3)), 6
			})
			Expect(wk.Get(ctx, client.ObjectKeyFromObject(hpa), hpa)).To(Succeed())
			hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
				CurrentReplicas: 4, DesiredReplicas: 4,
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale", LastTransitionTime: metav1.Now()},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound", LastTransitionTime: metav1.Now()},
					{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionFalse, Reason: "DesiredWithinRange", LastTransitionTime: metav1.Now()},
				},
			}
			Expect(wk.Status().Update(ctx, hpa)).To(Succeed())
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "update_hpa", params(3, 6), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("hpa_min_replicas", BeEquivalentTo(3)))
				g.Expect(doc).To(HaveKeyWithValue("hpa_max_replicas", BeEquivalentTo(6)))
				g.Expect(doc).To(HaveKeyWithValue("hpa_current_replicas", BeEquivalentTo(4)))
				g.Expect(doc).To(HaveKeyWithValue("hpa_conditions", map[string]any{"AbleToScale": true, "ScalingActive": true, "ScalingLimited": false}))
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "update_hpa", doc))).To(Equal(workloadAll("update_hpa", conditions.Passed)))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})

		It("count an unset minReplicas as 1", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			Expect(wk.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: ns},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "bare"},
					MaxReplicas:    4,
				},
			})).To(Succeed())
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "update_hpa", map[string]any{"hpa": workloadTarget(ns, "bare"), "minReplicas": float64(1), "maxReplicas": float64(4)}, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("hpa_min_replicas", BeEquivalentTo(1)))
				g.Expect(workloadEvaluate(ctx, g, "update_hpa", doc)["hpa_bounds_applied"].Outcome).To(Equal(conditions.Passed))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		})

		It("say a missing HorizontalPodAutoscaler is missing", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			doc := workloadGather(ctx, Default, wr, "update_hpa", map[string]any{"hpa": workloadTarget(ns, "ghost"), "minReplicas": float64(1), "maxReplicas": float64(3)}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("hpa_found", false))
			Expect(doc).NotTo(HaveKey("hpa_min_replicas"))
			results := workloadEvaluate(ctx, Default, "update_hpa", doc)
			Expect(results["hpa_exists"].Message).To(Equal("HorizontalPodAutoscaler ghost not found in namespace " + ns))
			Expect(results["hpa_bounds_valid"].Outcome).To(Equal(conditions.Passed)) // it reads only the parameters
			Expect(results["hpa_bounds_applied"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("update_configmap", func() {
		It("read only the keys the action changes, before and after the update", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "web-config", Namespace: ns},
				Data:       map[string]string{"LOG_LEVEL": "info", "MODE": "prod", "DB_PASSWORD": "hunter2"},
				BinaryData: map[string][]byte{"blob": {0, 1}},
			}
			Expect(wk.Create(ctx, cm)).To(Succeed())
			params := func(replace bool) map[string]any {
				return map[string]any{"configmap": workloadTarget(ns, "web-config"),
					"data": map[string]any{"LOG_LEVEL": "debug", "TRACE": "1", "MODE": nil}, "replace": replace}
			}
			// No key the action leaves alone reaches the facts, by value or by name.
			secretFree := func(g Gomega, doc map[string]any) {
				g.Expect(doc["configmap_data"]).NotTo(HaveKey("DB_PASSWORD"))
				g.Expect(doc["configmap_data"]).NotTo(HaveKey("blob"))
				g.Expect(workloadJSON(g, doc)).NotTo(ContainSubstring("hunter2"))
				g.Expect(workloadJSON(g, doc)).NotTo(ContainSubstring("DB_PASSWORD"))
			}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = workloadGather(ctx, g, wr, "update_configmap", params(false), facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("configmap_found", true))
			}).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(doc).To(HaveKeyWithValue("configmap_name", "web-config"))
			Expect(doc).To(HaveKeyWithValue("configmap_immutable", false))
			// LOG_LEVEL and MODE exist; TRACE does not yet, so it is absent.
			Expect(doc).To(HaveKeyWithValue("configmap_data", map[string]any{"LOG_LEVEL": "info", "MODE": "prod"}))
			secretFree(Default, doc)
			results := workloadEvaluate(ctx, Default, "update_configmap", doc)
			Expect(workloadOutcomes(results)).To(Equal(workloadExcept(workloadAll("update_configmap", conditions.Passed),
				map[string]conditions.Outcome{"configmap_data_applied": conditions.Failed})))
			Expect(results["configmap_data_applied"].Message).To(And(
				ContainSubstring("key LOG_LEVEL of ConfigMap web-config does not have the value set"),
				ContainSubstring("key TRACE is missing from ConfigMap web-config"),
				ContainSubstring("key MODE of ConfigMap web-config remains although it was to be removed")))

			workloadPatch(ctx, wk, cm, func(cm *corev1.ConfigMap) {
				cm.Data["LOG_LEVEL"] = "debug"
				cm.Data["TRACE"] = "1"
				delete(cm.Data, "MODE")
			})
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "update_configmap", params(false), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("configmap_data", map[string]any{"LOG_LEVEL": "debug", "TRACE": "1"}))
				secretFree(g, doc)
				g.Expect(workloadOutcomes(workloadEvaluate(ctx, g, "update_configmap", doc))).To(Equal(workloadAll("update_configmap", conditions.Passed)))
			}).WithTimeout(30 * time.Second).Should(Succeed())

			// With replace every key is one the action changes: the facts hold them all, and
			// a key replace should have removed fails the check.
			replaced := workloadGather(ctx, Default, wr, "update_configmap", params(true), facts.Post)
			Expect(replaced).To(HaveKeyWithValue("configmap_data",
				map[string]any{"LOG_LEVEL": "debug", "TRACE": "1", "DB_PASSWORD": "hunter2"}))
			r := workloadEvaluate(ctx, Default, "update_configmap", replaced)["configmap_data_applied"]
			Expect(r.Outcome).To(Equal(conditions.Failed))
			Expect(r.Message).To(ContainSubstring("key DB_PASSWORD of ConfigMap web-config remains although the data was to be replaced"))
		})

		It("report an immutable ConfigMap, and a missing one", func(ctx context.Context) {
			ns := factsNamespace(ctx, wk)
			Expect(wk.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "frozen", Namespace: ns},
				Immutable:  ptr.To(true),
			})).To(Succeed())
			Eventually(func(g Gomega) {
				doc := workloadGather(ctx, g, wr, "update_configmap", map[string]any{"configmap": workloadTarget(ns, "frozen"), "data": map[string]any{"A": "1"}}, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("configmap_immutable", true))
				g.Expect(doc).To(HaveKeyWithValue("configmap_data", map[string]any{}))
				r := workloadEvaluate(ctx, g, "update_configmap", doc)["configmap_mutable"]
				g.Expect(r.Outcome).To(Equal(conditions.Failed))
				g.Expect(r.Message).To(Equal("ConfigMap frozen in namespace " + ns + " is immutable"))
			}).WithTimeout(30 * time.Second).Should(Succeed())

			doc := workloadGather(ctx, Default, wr, "update_configmap", map[string]any{"configmap": workloadTarget(ns, "ghost"), "data": map[string]any{"A": "1"}}, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("configmap_found", false))
			Expect(doc).NotTo(HaveKey("configmap_data"))
			results := workloadEvaluate(ctx, Default, "update_configmap", doc)
			Expect(results["configmap_exists"].Message).To(Equal("ConfigMap ghost not found in namespace " + ns))
			Expect(results["configmap_data_applied"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})
})
