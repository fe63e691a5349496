package catalog_test

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// observeDeployment renders the Deployment's generation and pod template: a change
// of its spec bumps the generation, while the controllers' status writes do not.
func observeDeployment(ctx context.Context, ns, name string) func() string {
	return func() string {
		var d appsv1.Deployment
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
		return jsonOf([]any{d.Generation, d.Spec.Replicas, d.Spec.Template})
	}
}

func getDeployment(ctx context.Context, ns, name string) *appsv1.Deployment {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	return &d
}

var _ = Describe("workload actions", func() {
	It("scale_deployment sets the replica count, and its inverse sets it back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		params := map[string]any{"deployment": target("web", ns, "replicas", float64(3))}

		r := exercise(ctx, "scale_deployment", params, ns, observeDeployment(ctx, ns, "web"))
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "Deployment", Namespace: ns, Name: "web"}))
		Expect(r.before).To(Equal(map[string]string{"replicas": "1"}))
		Expect(r.after).To(Equal(map[string]string{"replicas": "3"}))
		Expect(*getDeployment(ctx, ns, "web").Spec.Replicas).To(BeEquivalentTo(3))
		waitForReadyPods(ctx, ns, "web", 3)

		undo(ctx, r)
		Expect(*getDeployment(ctx, ns, "web").Spec.Replicas).To(BeEquivalentTo(1))

		expectMissing(ctx, "scale_deployment", map[string]any{"deployment": target("nope", ns, "replicas", float64(2))},
			"Deployment "+ns+"/nope")
	})

	It("scale_statefulset sets the replica count through the scale subresource, and its inverse sets it back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newStatefulSet(ctx, ns, "db", 1)
		observe := func() string {
			var s appsv1.StatefulSet
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, &s)).To(Succeed())
			return jsonOf([]any{s.Generation, s.Spec.Replicas})
		}
		r := exercise(ctx, "scale_statefulset", map[string]any{"statefulset": target("db", ns, "replicas", float64(2))}, ns, observe)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "StatefulSet", Namespace: ns, Name: "db"}))
		Expect(r.before).To(Equal(map[string]string{"replicas": "1"}))
		Expect(r.after).To(Equal(map[string]string{"replicas": "2"}))

		undo(ctx, r)
		Expect(observe()).To(ContainSubstring(",1]"))

		expectMissing(ctx, "scale_statefulset", map[string]any{"statefulset": target("nope", ns, "replicas", float64(2))},
			"StatefulSet "+ns+"/nope")
	})

	It("rollout_restart stamps the pod template once, and its inverse rolls back to the revision before", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		waitForRevision(ctx, ns, "web", "1")

		r := exercise(ctx, "rollout_restart", map[string]any{"deployment": target("web", ns)}, ns, observeDeployment(ctx, ns, "web"))
		Expect(r.before).To(HaveKeyWithValue("revision", "1"))
		Expect(r.before).To(HaveKey("restarted_at"))
		Expect(r.before).To(HaveLen(2))
		_, err := time.Parse(time.RFC3339, r.before["restarted_at"])
		Expect(err).NotTo(HaveOccurred())
		Expect(getDeployment(ctx, ns, "web").Spec.Template.Annotations).To(
			HaveKeyWithValue("kubectl.kubernetes.io/restartedAt", r.before["restarted_at"]))
		waitForRevision(ctx, ns, "web", "2")

		u := undo(ctx, r)
		Expect(u.action).To(Equal("rollback_deployment"))
		Expect(getDeployment(ctx, ns, "web").Spec.Template.Annotations).NotTo(HaveKey("kubectl.kubernetes.io/restartedAt"))

		expectMissing(ctx, "rollout_restart", map[string]any{"deployment": target("nope", ns)}, "Deployment "+ns+"/nope")
	})

	It("rollout_restart refuses a paused Deployment, which would not roll out", func(ctx context.Context) {
		ns := newNamespace(ctx)
		d := newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Paused = true
		Expect(admin.Patch(ctx, d, patch)).To(Succeed())
		r := capture(ctx, "rollout_restart", map[string]any{"deployment": target("web", ns)}, ns)
		_, err := r.act(ctx, false)
		Expect(err).To(MatchError(ContainSubstring("paused")))
	})

	It("restart_daemonset stamps the DaemonSet's pod template once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
				Template: podTemplate("agent", "registry.example/agent:1"),
			},
		}
		Expect(admin.Create(ctx, ds)).To(Succeed())
		observe := func() string {
			var now appsv1.DaemonSet
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(ds), &now)).To(Succeed())
			return jsonOf([]any{now.Generation, now.Spec.Template})
		}
		r := exercise(ctx, "restart_daemonset", map[string]any{"daemonset": target("agent", ns)}, ns, observe)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "DaemonSet", Namespace: ns, Name: "agent"}))
		Expect(r.before).To(HaveKey("restarted_at"))
		Expect(r.before).To(HaveLen(1))
		Expect(observe()).To(ContainSubstring(r.before["restarted_at"]))

		expectMissing(ctx, "restart_daemonset", map[string]any{"daemonset": target("nope", ns)}, "DaemonSet "+ns+"/nope")
	})

	It("restart_statefulset stamps the StatefulSet's pod template once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		s := newStatefulSet(ctx, ns, "db", 1)
		observe := func() string {
			var now appsv1.StatefulSet
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(s), &now)).To(Succeed())
			return jsonOf([]any{now.Generation, now.Spec.Template})
		}
		r := exercise(ctx, "restart_statefulset", map[string]any{"statefulset": target("db", ns)}, ns, observe)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "StatefulSet", Namespace: ns, Name: "db"}))
		Expect(r.before).To(HaveKey("restarted_at"))
		Expect(r.before).To(HaveLen(1))
		Expect(observe()).To(ContainSubstring(r.before["restarted_at"]))

		expectMissing(ctx, "restart_statefulset", map[string]any{"statefulset": target("nope", ns)}, "StatefulSet "+ns+"/nope")
	})

	It("increase_resources sets requests and limits of one container, and its inverse restores them, unset ones included", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		params := map[string]any{
			"deployment": target("web", ns), "container": "web",
			"requests": map[string]any{"cpu": "250m"}, "limits": map[string]any{"memory": "256Mi"},
		}
		r := exercise(ctx, "increase_resources", params, ns, observeDeployment(ctx, ns, "web"))
		Expect(r.before).To(Equal(map[string]string{"requests.cpu": "100m", "limits.memory": ""}))
		Expect(r.after).To(Equal(map[string]string{"requests.cpu": "250m", "limits.memory": "256Mi"}))
		resources := getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0].Resources
		Expect(resources.Requests.Cpu().String()).To(Equal("250m"))
		Expect(resources.Limits.Memory().String()).To(Equal("256Mi"))

		undo(ctx, r)
		resources = getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0].Resources
		Expect(resources.Requests.Cpu().String()).To(Equal("100m"))
		Expect(resources.Limits).NotTo(HaveKey(corev1.ResourceMemory))

		e, _ := catalog.Lookup("increase_resources")
		params["container"] = "sidecar"
		_, _, err := e.Capture(ctx, as("increase_resources"), params, ns)
		Expect(err).To(MatchError(ContainSubstring("no container named sidecar")))
	})

	It("update_image sets the image of one container, and its inverse sets it back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		params := map[string]any{"deployment": target("web", ns), "container": "web", "image": "registry.example/web:2"}
		r := exercise(ctx, "update_image", params, ns, observeDeployment(ctx, ns, "web"))
		Expect(r.before).To(Equal(map[string]string{"image": "registry.example/web:1"}))
		Expect(r.after).To(Equal(map[string]string{"image": "registry.example/web:2"}))
		Expect(getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example/web:2"))

		undo(ctx, r)
		Expect(getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example/web:1"))

		expectMissing(ctx, "update_image", map[string]any{"deployment": target("nope", ns), "container": "web", "image": "x:1"},
			"Deployment "+ns+"/nope")
	})

	It("patch_deployment applies a strategic merge patch, and its inverse rolls the template back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		waitForRevision(ctx, ns, "web", "1")
		params := map[string]any{"deployment": target("web", ns), "patch": map[string]any{
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "web", "env": []any{map[string]any{"name": "MODE", "value": "safe"}}},
			}}}},
		}}
		r := exercise(ctx, "patch_deployment", params, ns, observeDeployment(ctx, ns, "web"))
		Expect(r.before).To(Equal(map[string]string{"revision": "1"}))
		container := getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0]
		Expect(container.Env).To(ConsistOf(corev1.EnvVar{Name: "MODE", Value: "safe"}))
		Expect(container.Image).To(Equal("registry.example/web:1"), "the patch merges: the image stays")

		undo(ctx, r)
		Expect(getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0].Env).To(BeEmpty())
	})

	It("rollback_deployment puts back the previous revision's template, once, and its inverse rolls forward again", func(ctx context.Context) {
		ns := newNamespace(ctx)
		d := newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		waitForRevision(ctx, ns, "web", "1")
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:2"
		Expect(admin.Patch(ctx, d, patch)).To(Succeed())
		waitForRevision(ctx, ns, "web", "2")
		var first appsv1.ReplicaSet
		Eventually(func(g Gomega) {
			var list appsv1.ReplicaSetList
			g.Expect(admin.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(2))
			for _, rs := range list.Items {
				if rs.Annotations["deployment.kubernetes.io/revision"] == "1" {
					first = rs
				}
			}
			g.Expect(first.Name).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		r := exercise(ctx, "rollback_deployment", map[string]any{"deployment": target("web", ns)}, ns, observeDeployment(ctx, ns, "web"))
		Expect(r.before).To(Equal(map[string]string{"revision": "2", "to_revision": "1", "to_replicaset": first.Name}))
		Expect(r.after).To(Equal(map[string]string{"to_revision": "1"}))
		now := getDeployment(ctx, ns, "web")
		Expect(now.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example/web:1"))
		Expect(now.Spec.Template.Labels).NotTo(HaveKey("pod-template-hash"))

		// The controller renumbers the first ReplicaSet as revision 3; a retry finds
		// it by name and changes nothing.
		waitForRevision(ctx, ns, "web", "3")
		generation := getDeployment(ctx, ns, "web").Generation
		r.actOK(ctx, false)
		Expect(getDeployment(ctx, ns, "web").Generation).To(Equal(generation))

		undo(ctx, r)
		Expect(getDeployment(ctx, ns, "web").Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example/web:2"))

		e, _ := catalog.Lookup("rollback_deployment")
		_, _, err := e.Capture(ctx, as("rollback_deployment"), map[string]any{"deployment": target("web", ns), "revision": float64(9)}, ns)
		Expect(err).To(MatchError(ContainSubstring("no ReplicaSet of revision 9")))
		expectMissing(ctx, "rollback_deployment", map[string]any{"deployment": target("nope", ns)}, "Deployment "+ns+"/nope")
	})

	It("update_hpa sets the bounds, and its inverse sets back the previous ones, an unset minReplicas as 1", func(ctx context.Context) {
		ns := newNamespace(ctx)
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:    5,
			},
		}
		Expect(admin.Create(ctx, hpa)).To(Succeed())
		observe := func() string {
			var now autoscalingv2.HorizontalPodAutoscaler
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(hpa), &now)).To(Succeed())
			return jsonOf([]any{now.Generation, now.Spec.MinReplicas, now.Spec.MaxReplicas})
		}
		params := map[string]any{"hpa": target("web", ns), "minReplicas": float64(2), "maxReplicas": float64(10)}
		r := exercise(ctx, "update_hpa", params, ns, observe)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "HorizontalPodAutoscaler", Namespace: ns, Name: "web"}))
		Expect(r.before).To(Equal(map[string]string{"min_replicas": "1", "max_replicas": "5"}))
		Expect(r.after).To(Equal(map[string]string{"min_replicas": "2", "max_replicas": "10"}))

		undo(ctx, r)
		Expect(observe()).To(HaveSuffix(",1,5]"))

		expectMissing(ctx, "update_hpa", map[string]any{"hpa": target("nope", ns), "minReplicas": float64(1), "maxReplicas": float64(2)},
			"HorizontalPodAutoscaler "+ns+"/nope")
	})

	It("update_configmap records only the keys it changes, and its inverse restores them and removes those it added", func(ctx context.Context) {
		ns := newNamespace(ctx)
		original := map[string]string{"a": "1", "b": "2", "password": "hunter2"}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: original}
		Expect(admin.Create(ctx, cm)).To(Succeed())
		data := func() map[string]string {
			var now corev1.ConfigMap
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(cm), &now)).To(Succeed())
			return now.Data
		}
		observe := func() string {
			var now corev1.ConfigMap
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(cm), &now)).To(Succeed())
			return jsonOf([]any{now.ResourceVersion, now.Data})
		}
		// A key the action leaves alone is in no record, by name or by value: the
		// records reach status and the policies' input.
		untouched := func(r *run, keys ...string) {
			GinkgoHelper()
			for _, record := range []map[string]string{r.before, r.after} {
				for _, key := range keys {
					Expect(record["data"]).NotTo(ContainSubstring(key))
					Expect(record["data"]).NotTo(ContainSubstring(original[key]))
				}
			}
		}

		By("setting one key and adding another")
		params := map[string]any{"configmap": target("settings", ns), "data": map[string]any{"b": "3", "c": "4"}}
		r := exercise(ctx, "update_configmap", params, ns, observe)
		Expect(r.before).To(Equal(map[string]string{"data": `{"b":"2","c":null}`}))
		Expect(r.after).To(Equal(map[string]string{"data": `{"b":"3","c":"4"}`}))
		untouched(r, "a", "password")
		Expect(data()).To(Equal(map[string]string{"a": "1", "b": "3", "c": "4", "password": "hunter2"}))

		u := undoThroughStatus(ctx, r)
		Expect(u.params["data"]).To(Equal(map[string]any{"b": "2", "c": nil}))
		Expect(data()).To(Equal(original), "b is set back and c, which the action added, is removed")
		untouched(u, "a", "password")
		Expect(u.after).To(Equal(map[string]string{"data": `{"b":"2","c":null}`}))

		By("removing a key with null")
		remove := map[string]any{"configmap": target("settings", ns), "data": map[string]any{"b": nil, "gone": nil}}
		r = exercise(ctx, "update_configmap", remove, ns, observe)
		Expect(r.before).To(Equal(map[string]string{"data": `{"b":"2","gone":null}`}))
		Expect(r.after).To(Equal(map[string]string{"data": `{"b":null,"gone":null}`}))
		Expect(data()).To(Equal(map[string]string{"a": "1", "password": "hunter2"}))
		undoThroughStatus(ctx, r)
		Expect(data()).To(Equal(original))

		By("replacing the data: every key changes, and the removed ones are recorded to be restored")
		replace := map[string]any{"configmap": target("settings", ns), "data": map[string]any{"a": "9", "only": "this", "nothing": nil}, "replace": true}
		r = exercise(ctx, "update_configmap", replace, ns, observe)
		Expect(r.before).To(Equal(map[string]string{"data": `{"a":"1","b":"2","nothing":null,"only":null,"password":"hunter2"}`}))
		Expect(r.after).To(Equal(map[string]string{"data": `{"a":"9","b":null,"nothing":null,"only":"this","password":null}`}))
		Expect(data()).To(Equal(map[string]string{"a": "9", "only": "this"}))
		undoThroughStatus(ctx, r)
		Expect(data()).To(Equal(original))

		expectMissing(ctx, "update_configmap", map[string]any{"configmap": target("nope", ns), "data": map[string]any{}},
			"ConfigMap "+ns+"/nope")
	})
})

// undoThroughStatus is undo as the reconcilers run it: the inverse's parameters pass
// through JSON (status.rollbackInformation, then a KubernetesExecution's spec) and
// the catalog's parameter check before the executor acts on them.
func undoThroughStatus(ctx context.Context, r *run) *run {
	GinkgoHelper()
	a, _ := catalog.Lookup(r.action)
	rollback, err := a.Inverse(r.params, r.before)
	Expect(err).NotTo(HaveOccurred())
	raw, err := json.Marshal(rollback.Parameters)
	Expect(err).NotTo(HaveOccurred())
	params, err := catalog.DecodeParameters(raw)
	Expect(err).NotTo(HaveOccurred())
	inverse, ok := catalog.Lookup(rollback.Action)
	Expect(ok).To(BeTrue(), rollback.Action)
	Expect(inverse.ValidateParameters(params, field.NewPath("spec", "parameters"))).To(BeEmpty())
	u := capture(ctx, rollback.Action, params, r.namespace)
	u.after = u.actOK(ctx, false)
	return u
}

func newStatefulSet(ctx context.Context, ns, name string, replicas int32) *appsv1.StatefulSet {
	GinkgoHelper()
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:            podTemplate(name, "registry.example/db:1"),
		},
	}
	Expect(admin.Create(ctx, s)).To(Succeed())
	return s
}
