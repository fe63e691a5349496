package catalog_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/test/harness"
)

// The pod actions' facts, on real pods that kwok runs and controllers that
// kube-controller-manager runs. The tests act as the executors would (delete the
// pod, replace its labels, record an Event) and hand the providers what the
// executor recorded before acting under parameters._before.

var (
	podK8s    client.Client
	podCached client.Reader
	podEngine = conditions.NewEngine(conditions.Options{})
)

const podSettle = time.Minute

var _ = Describe("pod facts", Ordered, func() {
	BeforeAll(func(ctx context.Context) {
		podK8s, podCached = startCluster(ctx, []harness.Node{
			{Name: "pods-1", CPU: "4", Memory: "8Gi"},
			{Name: "pods-2", CPU: "4", Memory: "8Gi"},
		})
	}, NodeTimeout(3*time.Minute))

	Describe("restart_pod", func() {
		It("lets a Deployment's pod be restarted, then counts its ready replacement", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			podRunDeployment(ctx, ns, "web", 3)
			pod := podOf(ctx, ns, "app", "web")
			owner := metav1.GetControllerOf(&pod)
			Expect(owner).NotTo(BeNil())

			doc := podGather(ctx, "restart_pod", podParams(ns, pod.Name), facts.Pre)
			podExpectAllFacts("restart_pod", doc)
			Expect(doc).To(HaveKeyWithValue("namespace", ns))
			Expect(doc).To(HaveKeyWithValue("pod_found", true))
			Expect(doc).To(HaveKeyWithValue("pod_ready", true))
			Expect(doc).To(HaveKeyWithValue("pod_owner_kind", "ReplicaSet"))
			Expect(doc).To(HaveKeyWithValue("pod_owner_name", owner.Name))
			Expect(doc).To(HaveKeyWithValue("pod_owner_found", true))
			Expect(doc).To(HaveKeyWithValue("ready_pods", 3))
			Expect(doc["pods"]).To(HaveLen(3))
			Expect(doc["pods"]).To(HaveEach(And(HaveKeyWithValue("status", "Running"), HaveKeyWithValue("ready", true))))
			Expect(doc).To(HaveKeyWithValue("pod_ready_replacements", BeEquivalentTo(0)))

			results := podEvaluate(ctx, "restart_pod", doc)
			Expect(results).To(HaveKey("pod_exists"))
			for name, r := range results {
				if name == "pod_replacement_ready" {
					Expect(r.Outcome).To(Equal(conditions.Failed), "nothing is replaced before acting")
					continue
				}
				Expect(r.Outcome).To(Equal(conditions.Passed), "%s: %s", name, r.Message)
			}

			// Act as the executor: record, then delete with a UID precondition.
			before := podRecord(&pod)
			Expect(podK8s.Delete(ctx, &pod, client.Preconditions{UID: &pod.UID})).To(Succeed())

			Eventually(func(g Gomega) {
				doc := podGather(ctx, "restart_pod", podAfterParams(ns, pod.Name, before), facts.Post)
				podExpectAllFacts("restart_pod", doc)
				g.Expect(doc).To(HaveKeyWithValue("pod_found", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_ready", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_owner_kind", "ReplicaSet"))
				g.Expect(doc).To(HaveKeyWithValue("pod_owner_name", owner.Name))
				g.Expect(doc).To(HaveKeyWithValue("pod_owner_found", true))
				g.Expect(doc).To(HaveKeyWithValue("ready_pods", 3))
				g.Expect(doc).To(HaveKeyWithValue("pod_ready_replacements", BeEquivalentTo(1)))
				results := podEvaluate(ctx, "restart_pod", doc)
				g.Expect(results["pod_replacement_ready"].Outcome).To(Equal(conditions.Passed), results["pod_replacement_ready"].Message)
				g.Expect(results["no_crashloop_pods"].Outcome).To(Equal(conditions.Passed))
			}).WithTimeout(podSettle).Should(Succeed())
		})

		It("refuses a bare pod, which nothing would recreate", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			pod := podRunBare(ctx, ns, "lonely")

			doc := podGather(ctx, "restart_pod", podParams(ns, pod.Name), facts.Pre)
			podExpectAllFacts("restart_pod", doc)
			Expect(doc).To(HaveKeyWithValue("pod_found", true))
			Expect(doc).To(HaveKeyWithValue("pod_owner_kind", ""))
			Expect(doc).To(HaveKeyWithValue("pod_owner_name", ""))
			Expect(doc).To(HaveKeyWithValue("pod_owner_found", false))
			// A bare pod is a workload of its own.
			Expect(doc).To(HaveKeyWithValue("ready_pods", 1))
			Expect(doc["pods"]).To(ConsistOf(HaveKeyWithValue("name", "lonely")))

			results := podEvaluate(ctx, "restart_pod", doc)
			Expect(results["pod_exists"].Outcome).To(Equal(conditions.Passed))
			Expect(results["pod_has_controller"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pod_has_controller"].Message).To(Equal("Pod lonely in namespace " + ns + " has no controller: deleted, it would not be recreated"))
			Expect(results["pod_owner_has_other_ready_pods"].Outcome).To(Equal(conditions.Failed))
		})

		It("counts a StatefulSet pod recreated under the same name as a replacement, not as the pod", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			podRunStatefulSet(ctx, ns, "db", 2)
			var pod corev1.Pod
			Expect(podK8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-0"}, &pod)).To(Succeed())

			doc := podGather(ctx, "restart_pod", podParams(ns, "db-0"), facts.Pre)
			Expect(doc).To(HaveKeyWithValue("pod_owner_kind", "StatefulSet"))
			Expect(doc).To(HaveKeyWithValue("pod_owner_name", "db"))
			Expect(doc).To(HaveKeyWithValue("pod_owner_found", true))
			Expect(doc).To(HaveKeyWithValue("ready_pods", 2))
			Expect(podEvaluate(ctx, "restart_pod", doc)["pod_has_controller"].Outcome).To(Equal(conditions.Passed))

			// quarantine_pod refuses it: the replacement would need its name.
			qdoc := podGather(ctx, "quarantine_pod", podParams(ns, "db-0"), facts.Pre)
			supported := podEvaluate(ctx, "quarantine_pod", qdoc)["pod_quarantine_supported"]
			Expect(supported.Outcome).To(Equal(conditions.Failed))
			Expect(supported.Message).To(ContainSubstring("belongs to StatefulSet db"))

			before := podRecord(&pod)
			Expect(podK8s.Delete(ctx, &pod, client.Preconditions{UID: &pod.UID})).To(Succeed())
			Eventually(func(g Gomega) {
				doc := podGather(ctx, "restart_pod", podAfterParams(ns, "db-0", before), facts.Post)
				podExpectAllFacts("restart_pod", doc)
				// A pod named db-0 exists again, but it is another pod.
				g.Expect(doc).To(HaveKeyWithValue("pod_found", true))
				g.Expect(doc).To(HaveKeyWithValue("pod_gone", true))
				g.Expect(doc).To(HaveKeyWithValue("pod_ready", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_ready_replacements", BeEquivalentTo(1)))
				g.Expect(doc).To(HaveKeyWithValue("ready_pods", 2))
				g.Expect(podEvaluate(ctx, "restart_pod", doc)["pod_replacement_ready"].Outcome).To(Equal(conditions.Passed))
			}).WithTimeout(podSettle).Should(Succeed())
		})

		It("says a missing pod is missing, and leaves out its controller", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			doc := podGather(ctx, "restart_pod", podParams(ns, "ghost"), facts.Pre)
			Expect(doc).To(HaveKeyWithValue("pod_found", false))
			Expect(doc).To(HaveKeyWithValue("pod_ready", false))
			Expect(doc).To(HaveKeyWithValue("pod_ready_replacements", BeEquivalentTo(0)))
			for _, unknown := range []string{"pod_owner_kind", "pod_owner_name", "pod_owner_found", "ready_pods", "pods"} {
				Expect(doc).NotTo(HaveKey(unknown))
			}

			results := podEvaluate(ctx, "restart_pod", doc)
			Expect(results["pod_exists"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pod_exists"].Message).To(Equal("Pod ghost not found in namespace " + ns))
			Expect(results["pod_has_controller"].Outcome).To(Equal(conditions.Errored))
			Expect(results["pod_has_controller"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("quarantine_pod", func() {
		It("takes a Deployment's pod out of its Services and its ReplicaSet, which replaces it", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			podRunDeployment(ctx, ns, "api", 2)
			for name, selector := range map[string]map[string]string{
				"api":     {"app": "api"},
				"api-all": {"app": "api"},
				"other":   {"app": "other"},
				"manual":  nil, // endpoints by hand: selects no pod
			} {
				Expect(podK8s.Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
					Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Port: 80}}},
				})).To(Succeed())
			}
			pod := podOf(ctx, ns, "app", "api")
			owner := metav1.GetControllerOf(&pod)

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = podGather(ctx, "quarantine_pod", podParams(ns, pod.Name), facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("pod_matching_services", []string{"api", "api-all"}))
			}).WithTimeout(podSettle).Should(Succeed())
			podExpectAllFacts("quarantine_pod", doc)
			Expect(doc).To(HaveKeyWithValue("pod_found", true))
			Expect(doc).To(HaveKeyWithValue("pod_gone", false))
			Expect(doc).To(HaveKeyWithValue("pod_ready", true))
			Expect(doc).To(HaveKeyWithValue("pod_owner_kind", "ReplicaSet"))
			Expect(doc).To(HaveKeyWithValue("pod_owner_name", owner.Name))
			Expect(doc).To(HaveKeyWithValue("pod_owner_found", true))
			Expect(doc).To(HaveKeyWithValue("pod_selected_by_owner", true))
			Expect(doc).To(HaveKeyWithValue("ready_pods", 2))
			Expect(doc).To(HaveKeyWithValue("pod_ready_replacements", BeEquivalentTo(0)))

			results := podEvaluate(ctx, "quarantine_pod", doc)
			for _, passes := range []string{"pod_exists", "pod_quarantine_supported", "pod_owner_has_other_ready_pods"} {
				Expect(results[passes].Outcome).To(Equal(conditions.Passed), "%s: %s", passes, results[passes].Message)
			}
			Expect(results["pod_isolated"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pod_isolated"].Message).To(ContainSubstring("Services still select it: api, api-all"))
			Expect(results["pod_replacement_ready"].Outcome).To(Equal(conditions.Failed))

			// Act as the executor: record, then replace the pod's labels.
			before := podRecord(&pod)
			pod.Labels = map[string]string{"kubernaut.io/quarantined": "true"}
			Expect(podK8s.Update(ctx, &pod)).To(Succeed())

			Eventually(func(g Gomega) {
				doc := podGather(ctx, "quarantine_pod", podAfterParams(ns, pod.Name, before), facts.Post)
				podExpectAllFacts("quarantine_pod", doc)
				g.Expect(doc).To(HaveKeyWithValue("pod_found", true))
				g.Expect(doc).To(HaveKeyWithValue("pod_gone", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_matching_services", BeEmpty()))
				g.Expect(doc).To(HaveKeyWithValue("pod_selected_by_owner", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_owner_name", owner.Name))
				g.Expect(doc).To(HaveKeyWithValue("pod_owner_found", true))
				// The ReplicaSet released the pod and made another.
				g.Expect(doc).To(HaveKeyWithValue("ready_pods", 2))
				g.Expect(doc).To(HaveKeyWithValue("pod_ready_replacements", BeEquivalentTo(1)))
				results := podEvaluate(ctx, "quarantine_pod", doc)
				g.Expect(results["pod_isolated"].Outcome).To(Equal(conditions.Passed), results["pod_isolated"].Message)
				g.Expect(results["pod_replacement_ready"].Outcome).To(Equal(conditions.Passed), results["pod_replacement_ready"].Message)
			}).WithTimeout(podSettle).Should(Succeed())
		})
	})

	Describe("delete_pod", func() {
		It("says the pod is terminating while a finalizer holds it, then gone", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			pod := podRunBare(ctx, ns, "held", "kubernaut.io/test-hold")

			doc := podGather(ctx, "delete_pod", podParams(ns, "held"), facts.Pre)
			podExpectAllFacts("delete_pod", doc)
			Expect(doc).To(HaveKeyWithValue("pod_found", true))
			Expect(doc).To(HaveKeyWithValue("pod_gone", false))
			Expect(doc).To(HaveKeyWithValue("pod_terminating", false))
			results := podEvaluate(ctx, "delete_pod", doc)
			Expect(results["pod_exists"].Outcome).To(Equal(conditions.Passed))
			Expect(results["pod_deleted"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pod_deleted"].Message).To(ContainSubstring("still exists and is not terminating"))

			before := map[string]string{"uid": string(pod.UID)}
			Expect(podK8s.Delete(ctx, &pod, client.Preconditions{UID: &pod.UID})).To(Succeed())
			Eventually(func(g Gomega) {
				doc := podGather(ctx, "delete_pod", podAfterParams(ns, "held", before), facts.Post)
				podExpectAllFacts("delete_pod", doc)
				g.Expect(doc).To(HaveKeyWithValue("pod_found", true))
				g.Expect(doc).To(HaveKeyWithValue("pod_gone", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_terminating", true))
				deleted := podEvaluate(ctx, "delete_pod", doc)["pod_deleted"]
				g.Expect(deleted.Outcome).To(Equal(conditions.Failed))
				g.Expect(deleted.Message).To(ContainSubstring("is still terminating"))
			}).WithTimeout(podSettle).Should(Succeed())

			Expect(podK8s.Get(ctx, client.ObjectKeyFromObject(&pod), &pod)).To(Succeed())
			release := client.MergeFrom(pod.DeepCopy())
			pod.Finalizers = nil
			Expect(podK8s.Patch(ctx, &pod, release)).To(Succeed())
			Eventually(func(g Gomega) {
				doc := podGather(ctx, "delete_pod", podAfterParams(ns, "held", before), facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("pod_found", false))
				g.Expect(doc).To(HaveKeyWithValue("pod_gone", true))
				g.Expect(doc).To(HaveKeyWithValue("pod_terminating", false))
				g.Expect(podEvaluate(ctx, "delete_pod", doc)["pod_deleted"].Outcome).To(Equal(conditions.Passed))
			}).WithTimeout(podSettle).Should(Succeed())
		})

		It("says a pod recorded but no longer there is gone", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			before := map[string]string{"uid": "0f8b6a4e-0000-4000-8000-000000000000"}
			doc := podGather(ctx, "delete_pod", podAfterParams(ns, "vanished", before), facts.Post)
			podExpectAllFacts("delete_pod", doc)
			Expect(doc).To(HaveKeyWithValue("pod_found", false))
			Expect(doc).To(HaveKeyWithValue("pod_gone", true))
			Expect(doc).To(HaveKeyWithValue("pod_terminating", false))
			Expect(podEvaluate(ctx, "delete_pod", doc)["pod_deleted"].Outcome).To(Equal(conditions.Passed))
		})
	})

	Describe("expand_pvc", func() {
		It("describes a bound claim, its StorageClass and its capacity as it grows", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			podStorageClass(ctx, "pods-expandable", true)
			podClaim(ctx, ns, "data", "pods-expandable", "1Gi", &corev1.PersistentVolumeClaimStatus{
				Phase:    corev1.ClaimBound,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			})
			params := map[string]any{"pvc": map[string]any{"name": "data", "namespace": ns, "size": "2Gi"}}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = podGather(ctx, "expand_pvc", params, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("pvc_phase", "Bound"))
			}).WithTimeout(podSettle).Should(Succeed())
			podExpectAllFacts("expand_pvc", doc)
			Expect(doc).To(HaveKeyWithValue("namespace", ns))
			Expect(doc).To(HaveKeyWithValue("pvc_found", true))
			Expect(doc).To(HaveKeyWithValue("pvc_storage_class", "pods-expandable"))
			Expect(doc).To(HaveKeyWithValue("pvc_storage_class_allows_expansion", true))
			Expect(doc).To(HaveKeyWithValue("pvc_capacity_bytes", int64(1<<30)))
			Expect(doc).To(HaveKeyWithValue("pvc_requested_bytes", int64(2<<30)))
			Expect(doc).To(HaveKeyWithValue("pvc_conditions", map[string]any{
				"Resizing": false, "FileSystemResizePending": false, "ControllerResizeError": false, "NodeResizeError": false,
			}))
			results := podEvaluate(ctx, "expand_pvc", doc)
			for _, passes := range []string{"pvc_exists", "pvc_bound", "pvc_expansion_allowed", "pvc_size_increase"} {
				Expect(results[passes].Outcome).To(Equal(conditions.Passed), "%s: %s", passes, results[passes].Message)
			}
			Expect(results["pvc_capacity_reached"].Outcome).To(Equal(conditions.Failed))

			// The volume grew; its file system waits for a pod to mount it.
			podSetClaimStatus(ctx, ns, "data", corev1.PersistentVolumeClaimStatus{
				Phase:    corev1.ClaimBound,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				Conditions: []corev1.PersistentVolumeClaimCondition{{
					Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue,
				}},
			})
			Eventually(func(g Gomega) {
				doc := podGather(ctx, "expand_pvc", params, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("pvc_conditions", HaveKeyWithValue("FileSystemResizePending", true)))
				reached := podEvaluate(ctx, "expand_pvc", doc)["pvc_capacity_reached"]
				g.Expect(reached.Outcome).To(Equal(conditions.Failed))
				g.Expect(reached.Message).To(ContainSubstring("(FileSystemResizePending)"))
			}).WithTimeout(podSettle).Should(Succeed())

			podSetClaimStatus(ctx, ns, "data", corev1.PersistentVolumeClaimStatus{
				Phase:    corev1.ClaimBound,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
			})
			Eventually(func(g Gomega) {
				doc := podGather(ctx, "expand_pvc", params, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("pvc_capacity_bytes", int64(2<<30)))
				g.Expect(podEvaluate(ctx, "expand_pvc", doc)["pvc_capacity_reached"].Outcome).To(Equal(conditions.Passed))
			}).WithTimeout(podSettle).Should(Succeed())
		})

		It("refuses a pending claim whose StorageClass does not allow expansion", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			podStorageClass(ctx, "pods-fixed", false)
			podClaim(ctx, ns, "scratch", "pods-fixed", "1Gi", nil)
			// A size that is not a whole number of bytes is rounded up.
			params := map[string]any{"pvc": map[string]any{"name": "scratch", "namespace": ns, "size": "1500m"}}

			var doc map[string]any
			Eventually(func(g Gomega) {
				doc = podGather(ctx, "expand_pvc", params, facts.Pre)
				g.Expect(doc).To(HaveKeyWithValue("pvc_found", true))
			}).WithTimeout(podSettle).Should(Succeed())
			podExpectAllFacts("expand_pvc", doc)
			Expect(doc).To(HaveKeyWithValue("pvc_phase", "Pending"))
			Expect(doc).To(HaveKeyWithValue("pvc_storage_class_allows_expansion", false))
			Expect(doc).To(HaveKeyWithValue("pvc_capacity_bytes", int64(0)))
			Expect(doc).To(HaveKeyWithValue("pvc_requested_bytes", int64(2)))
			results := podEvaluate(ctx, "expand_pvc", doc)
			Expect(results["pvc_bound"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pvc_bound"].Message).To(ContainSubstring("is Pending, not Bound"))
			Expect(results["pvc_expansion_allowed"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pvc_expansion_allowed"].Message).To(ContainSubstring("StorageClass pods-fixed"))
		})

		It("says a missing claim is missing, and leaves out what cannot be known", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			params := map[string]any{"pvc": map[string]any{"name": "ghost", "namespace": ns, "size": "2Gi"}}
			doc := podGather(ctx, "expand_pvc", params, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("pvc_found", false))
			Expect(doc).To(HaveKeyWithValue("pvc_phase", ""))
			Expect(doc).To(HaveKeyWithValue("pvc_requested_bytes", int64(2<<30)))
			for _, unknown := range []string{"pvc_storage_class", "pvc_storage_class_allows_expansion", "pvc_capacity_bytes", "pvc_conditions"} {
				Expect(doc).NotTo(HaveKey(unknown))
			}
			results := podEvaluate(ctx, "expand_pvc", doc)
			Expect(results["pvc_exists"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pvc_exists"].Message).To(Equal("PersistentVolumeClaim ghost not found in namespace " + ns))
			Expect(results["pvc_bound"].Outcome).To(Equal(conditions.Failed))
			Expect(results["pvc_size_increase"].Outcome).To(Equal(conditions.Errored))
			Expect(results["pvc_size_increase"].Reason).To(Equal(conditions.ReasonMissingFacts))
		})
	})

	Describe("notify_only", func() {
		It("finds the Event the executor named, in the namespace of its KubernetesExecution", func(ctx context.Context) {
			ns := factsNamespace(ctx, podK8s)
			params := map[string]any{"message": "Disk of db-0 is 95% full; no safe action", "severity": "warning"}

			// Before acting no Event is named yet.
			doc := podGather(ctx, "notify_only", params, facts.Pre)
			Expect(doc).To(HaveKeyWithValue("notify_event_found", false))
			Expect(doc).NotTo(HaveKey("notify_event_name"))
			Expect(podEvaluate(ctx, "notify_only", doc)["notify_message_valid"].Outcome).To(Equal(conditions.Passed))

			after := map[string]any{
				"message": params["message"], "severity": "warning",
				"_before": map[string]any{"event": "wf-step-2-notify"}, "_namespace": ns,
			}
			doc = podGather(ctx, "notify_only", after, facts.Post)
			podExpectAllFacts("notify_only", doc)
			Expect(doc).To(HaveKeyWithValue("notify_event_name", "wf-step-2-notify"))
			Expect(doc).To(HaveKeyWithValue("notify_event_found", false))
			recorded := podEvaluate(ctx, "notify_only", doc)["notify_event_recorded"]
			Expect(recorded.Outcome).To(Equal(conditions.Failed))
			Expect(recorded.Message).To(Equal("the Event wf-step-2-notify with the warning notification was not found"))

			Expect(podK8s.Create(ctx, &corev1.Event{
				ObjectMeta: metav1.ObjectMeta{Name: "wf-step-2-notify", Namespace: ns},
				InvolvedObject: corev1.ObjectReference{
					APIVersion: "kubernetesexecution.kubernaut.io/v1alpha1", Kind: "KubernetesExecution",
					Namespace: ns, Name: "wf-step-2",
				},
				Type: corev1.EventTypeWarning, Reason: "NotifyWarning", Message: params["message"].(string),
				Source: corev1.EventSource{Component: "kubernaut"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
			})).To(Succeed())
			Eventually(func(g Gomega) {
				doc := podGather(ctx, "notify_only", after, facts.Post)
				g.Expect(doc).To(HaveKeyWithValue("notify_event_found", true))
				g.Expect(podEvaluate(ctx, "notify_only", doc)["notify_event_recorded"].Outcome).To(Equal(conditions.Passed))
			}).WithTimeout(podSettle).Should(Succeed())
		})
	})
})

// podParams are the parameters of a pod action on pod name of ns.
func podParams(ns, name string) map[string]any {
	return map[string]any{"pod": map[string]any{"name": name, "namespace": ns}}
}

// podAfterParams are podParams with what the executor recorded before acting.
func podAfterParams(ns, name string, before map[string]string) map[string]any {
	params := podParams(ns, name)
	params["_before"] = before
	return params
}

// podRecord is what the executors of restart_pod and quarantine_pod record just
// before acting. It waits for the next second first: recorded_at is compared with
// creation timestamps truncated to the second, and the workload's pods, created
// moments ago, must not count as replacements.
func podRecord(pod *corev1.Pod) map[string]string {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	before := map[string]string{"uid": string(pod.UID), "recorded_at": time.Now().UTC().Format(time.RFC3339)}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		before["owner_kind"], before["owner_name"] = ref.Kind, ref.Name
	} else {
		before["owner_kind"], before["owner_name"] = "", ""
	}
	return before
}

func podGather(ctx context.Context, action string, params map[string]any, phase facts.Phase) map[string]any {
	GinkgoHelper()
	doc, err := facts.Gather(ctx, podCached, action, params, phase, nil)
	Expect(err).NotTo(HaveOccurred())
	return doc
}

// podExpectAllFacts checks doc has every fact the catalog lists for action.
func podExpectAllFacts(action string, doc map[string]any) {
	GinkgoHelper()
	a, ok := catalog.Lookup(action)
	Expect(ok).To(BeTrue())
	for _, key := range a.FactKeys() {
		Expect(doc).To(HaveKey(key), "%s: fact %s", action, key)
	}
}

// podEvaluate evaluates every condition the catalog suggests for action on doc, by
// type.
func podEvaluate(ctx context.Context, action string, doc map[string]any) map[string]conditions.Result {
	GinkgoHelper()
	a, ok := catalog.Lookup(action)
	Expect(ok).To(BeTrue())
	policies := conditions.EmbeddedPolicies()
	results := map[string]conditions.Result{}
	for _, s := range a.SuggestedConditions() {
		if _, done := results[s.Type]; done {
			continue
		}
		p, err := podEngine.Compile(ctx, s.Type, policies[s.Type])
		Expect(err).NotTo(HaveOccurred())
		results[s.Type] = podEngine.Evaluate(ctx, p, doc)
	}
	return results
}

var podContainers = []corev1.Container{{Name: "app", Image: "registry.example/app:1", Resources: corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
}}}

// podRunDeployment creates a Deployment and waits until its replicas are ready.
func podRunDeployment(ctx context.Context, ns, name string, replicas int32) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	Expect(podK8s.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: podContainers},
			},
		},
	})).To(Succeed())
	podWaitReady(ctx, ns, labels, int(replicas))
}

// podRunStatefulSet creates a StatefulSet and waits until its replicas are ready.
func podRunStatefulSet(ctx context.Context, ns, name string, replicas int32) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	Expect(podK8s.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: podContainers},
			},
		},
	})).To(Succeed())
	podWaitReady(ctx, ns, labels, int(replicas))
}

// podRunBare creates a pod without a controller and waits until it is ready.
func podRunBare(ctx context.Context, ns, name string, finalizers ...string) corev1.Pod {
	GinkgoHelper()
	labels := map[string]string{"bare": name}
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Finalizers: finalizers},
		Spec:       corev1.PodSpec{Containers: podContainers},
	}
	Expect(podK8s.Create(ctx, &pod)).To(Succeed())
	podWaitReady(ctx, ns, labels, 1)
	Expect(podK8s.Get(ctx, client.ObjectKeyFromObject(&pod), &pod)).To(Succeed())
	return pod
}

// podWaitReady waits until the cache holds n ready pods with labels, none of them
// terminating.
func podWaitReady(ctx context.Context, ns string, labels map[string]string, n int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(podCached.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(n))
		for _, p := range pods.Items {
			g.Expect(p.DeletionTimestamp).To(BeNil())
			g.Expect(p.Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		}
	}).WithTimeout(podSettle).Should(Succeed())
}

// podOf returns one of the pods of ns with label key=value.
func podOf(ctx context.Context, ns, key, value string) corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(podK8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{key: value})).To(Succeed())
	Expect(pods.Items).NotTo(BeEmpty())
	return pods.Items[0]
}

// podStorageClass creates a StorageClass whose provisioner nothing runs.
func podStorageClass(ctx context.Context, name string, allowExpansion bool) {
	GinkgoHelper()
	Expect(podK8s.Create(ctx, &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: name},
		Provisioner:          "example.com/none",
		AllowVolumeExpansion: &allowExpansion,
	})).To(Succeed())
}

// podClaim creates a PersistentVolumeClaim and, when status is given, sets its
// status: no provisioner runs to bind it.
func podClaim(ctx context.Context, ns, name, class, size string, status *corev1.PersistentVolumeClaimStatus) {
	GinkgoHelper()
	Expect(podK8s.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			},
		},
	})).To(Succeed())
	if status != nil {
		podSetClaimStatus(ctx, ns, name, *status)
	}
}

func podSetClaimStatus(ctx context.Context, ns, name string, status corev1.PersistentVolumeClaimStatus) {
	GinkgoHelper()
	var claim corev1.PersistentVolumeClaim
	Expect(podK8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &claim)).To(Succeed())
	claim.Status = status
	Expect(podK8s.Status().Update(ctx, &claim)).To(Succeed())
}
