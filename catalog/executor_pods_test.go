package catalog_test

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

func newBarePod(ctx context.Context, ns, name, node string, volumes ...corev1.Volume) *corev1.Pod {
	GinkgoHelper()
	template := podTemplate(name, "registry.example/tool:1")
	template.Spec.NodeName = node
	template.Spec.Volumes = volumes
	if node != "" {
		template.Spec.Tolerations = []corev1.Toleration{{Key: testTaint.Key, Operator: corev1.TolerationOpExists}}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: template.Labels}, Spec: template.Spec}
	Expect(admin.Create(ctx, pod)).To(Succeed())
	return pod
}

// deleteAnswers records the API server's answer to each Delete of its client.
type deleteAnswers struct {
	client.Client
	errs []error
}

func (d *deleteAnswers) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	err := d.Client.Delete(ctx, obj, opts...)
	d.errs = append(d.errs, err)
	return err
}

// actAgain runs r's Act once more, as a reconciler that restarted does, expects it
// to report what it first did, and returns the API server's answers to the DELETEs
// it sent. Whether a pod created since under the same name survives says nothing
// here: kwok finishes a pod's deletion by deleting its name, twice, with no UID
// precondition (the API server's audit log shows it), and may take the new pod.
func (r *run) actAgain(ctx context.Context, first map[string]string) []error {
	GinkgoHelper()
	answers := &deleteAnswers{Client: as(r.action)}
	e, _ := catalog.Lookup(r.action)
	after, err := e.Act(ctx, answers, r.params, r.before, r.namespace, false)
	Expect(err).NotTo(HaveOccurred())
	Expect(after).To(Equal(first))
	return answers.errs
}

// deletedNothing matches the answers to one or more DELETEs that removed nothing:
// the UID precondition failed (Conflict), or no pod had the name (NotFound).
var deletedNothing = HaveEach(Satisfy(func(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsNotFound(err)
}))

func getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	var pod corev1.Pod
	err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pod)
	return &pod, err
}

var _ = Describe("pod actions", func() {
	It("restart_pod deletes the pod it recorded once, never the replacement that took its name", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newStatefulSet(ctx, ns, "db", 1)
		original := waitForReadyPods(ctx, ns, "db", 1)[0]
		params := map[string]any{"pod": target("db-0", ns)}

		r := capture(ctx, "restart_pod", params, ns)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "Pod", Namespace: ns, Name: "db-0"}))
		Expect(r.before).To(HaveKeyWithValue("uid", string(original.UID)))
		Expect(r.before).To(HaveKeyWithValue("owner_kind", "StatefulSet"))
		Expect(r.before).To(HaveKeyWithValue("owner_name", "db"))
		Expect(r.before).To(HaveKey("recorded_at"))
		Expect(r.before).To(HaveLen(4))
		_, err := time.Parse(time.RFC3339, r.before["recorded_at"])
		Expect(err).NotTo(HaveOccurred())

		r.actOK(ctx, true)
		Expect(gone(ctx, original)).To(BeFalse(), "the dry run deleted the pod")

		first := r.actOK(ctx, false)
		Expect(first).To(Equal(map[string]string{"deleted_uid": string(original.UID)}))
		Eventually(func(g Gomega) {
			replacement, err := getPod(ctx, ns, "db-0")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(replacement.UID).NotTo(Equal(original.UID))
			g.Expect(replacement.DeletionTimestamp).To(BeNil())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		// The reconciler restarts and acts again with the same before values.
		Expect(r.actAgain(ctx, first)).To(deletedNothing, "the second Act deleted a pod: the replacement")
	})

	It("restart_pod refuses a bare pod, which nothing would recreate", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newBarePod(ctx, ns, "lonely", "")
		e, _ := catalog.Lookup("restart_pod")
		_, _, err := e.Capture(ctx, as("restart_pod"), map[string]any{"pod": target("lonely", ns)}, ns)
		Expect(err).To(MatchError(ContainSubstring("has no controller")))
		expectMissing(ctx, "restart_pod", map[string]any{"pod": target("nope", ns)}, "Pod "+ns+"/nope")
	})

	It("delete_pod deletes a bare pod with the grace period given, once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		pod := newBarePod(ctx, ns, "lonely", "")
		r := capture(ctx, "delete_pod", map[string]any{"pod": target("lonely", ns), "gracePeriodSeconds": float64(0)}, ns)
		Expect(r.before).To(Equal(map[string]string{"uid": string(pod.UID)}))

		r.actOK(ctx, true)
		Expect(gone(ctx, *pod)).To(BeFalse(), "the dry run deleted the pod")
		first := r.actOK(ctx, false)
		_, err := getPod(ctx, ns, "lonely")
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a grace period of 0 removes the pod at once")

		// A pod of the same name created since is another pod: a retry leaves it.
		newBarePod(ctx, ns, "lonely", "")
		Expect(r.actAgain(ctx, first)).To(deletedNothing, "the retry deleted the pod created since")

		expectMissing(ctx, "delete_pod", map[string]any{"pod": target("nope", ns)}, "Pod "+ns+"/nope")
	})

	It("quarantine_pod replaces the pod's labels, keeps them in an annotation, and its controller replaces the pod", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 2, "registry.example/web:1")
		pod := waitForReadyPods(ctx, ns, "web", 2)[0]
		observe := func() string {
			now, err := getPod(ctx, ns, pod.Name)
			Expect(err).NotTo(HaveOccurred())
			return jsonOf([]any{now.UID, now.Labels, now.Annotations[catalog.QuarantinedLabelsAnnotation]})
		}
		r := exercise(ctx, "quarantine_pod", map[string]any{"pod": target(pod.Name, ns)}, ns, observe)
		Expect(r.before).To(HaveKeyWithValue("uid", string(pod.UID)))
		Expect(r.before).To(HaveKeyWithValue("owner_kind", "ReplicaSet"))
		Expect(r.before).To(HaveKeyWithValue("owner_name", metav1.GetControllerOf(&pod).Name))
		Expect(r.before).To(HaveKey("recorded_at"))
		Expect(r.before).To(HaveLen(5))
		var labels map[string]string
		Expect(json.Unmarshal([]byte(r.before["labels"]), &labels)).To(Succeed())
		Expect(labels).To(Equal(pod.Labels))

		now, err := getPod(ctx, ns, pod.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(now.Labels).To(Equal(map[string]string{catalog.QuarantineLabel: "true"}))
		Expect(now.Annotations).To(HaveKeyWithValue(catalog.QuarantinedLabelsAnnotation, r.before["labels"]))
		Eventually(func(g Gomega) {
			now, err := getPod(ctx, ns, pod.Name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(metav1.GetControllerOf(now)).To(BeNil(), "the ReplicaSet releases the pod")
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		waitForReadyPods(ctx, ns, "web", 2)
	})

	It("quarantine_pod refuses a StatefulSet pod, whose replacement would need its name", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newStatefulSet(ctx, ns, "db", 1)
		waitForReadyPods(ctx, ns, "db", 1)
		e, _ := catalog.Lookup("quarantine_pod")
		_, _, err := e.Capture(ctx, as("quarantine_pod"), map[string]any{"pod": target("db-0", ns)}, ns)
		Expect(err).To(MatchError(ContainSubstring("StatefulSet")))
		expectMissing(ctx, "quarantine_pod", map[string]any{"pod": target("nope", ns)}, "Pod "+ns+"/nope")
	})

	It("expand_pvc raises the storage request of a bound claim", func(ctx context.Context) {
		ns := newNamespace(ctx)
		class := &storagev1.StorageClass{
			ObjectMeta:           metav1.ObjectMeta{Name: "expandable-" + ns},
			Provisioner:          "csi.example.com",
			AllowVolumeExpansion: ptr.To(true),
		}
		Expect(admin.Create(ctx, class)).To(Succeed())
		size := resource.MustParse("1Gi")
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv-" + ns},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:         corev1.ResourceList{corev1.ResourceStorage: size},
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: class.Name,
				PersistentVolumeSource: corev1.PersistentVolumeSource{
					CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: ns},
				},
				ClaimRef: &corev1.ObjectReference{Namespace: ns, Name: "data"},
			},
		}
		Expect(admin.Create(ctx, pv)).To(Succeed())
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: &class.Name,
				VolumeName:       pv.Name,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		}
		Expect(admin.Create(ctx, pvc)).To(Succeed())
		// No volume controller runs: bind the claim as it would.
		pvc.Status = corev1.PersistentVolumeClaimStatus{
			Phase:       corev1.ClaimBound,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
		}
		Expect(admin.Status().Update(ctx, pvc)).To(Succeed())

		observe := func() string {
			var now corev1.PersistentVolumeClaim
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(pvc), &now)).To(Succeed())
			return jsonOf([]any{now.ResourceVersion, now.Spec.Resources.Requests})
		}
		r := exercise(ctx, "expand_pvc", map[string]any{"pvc": target("data", ns, "size", "2Gi")}, ns, observe)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data"}))
		Expect(r.before).To(Equal(map[string]string{"request": "1Gi", "capacity": "1Gi"}))
		Expect(r.after).To(Equal(map[string]string{"request": "2Gi"}))

		expectMissing(ctx, "expand_pvc", map[string]any{"pvc": target("nope", ns, "size", "2Gi")}, "PersistentVolumeClaim "+ns+"/nope")
	})

	It("notify_only records one Event regarding the KubernetesExecution, even when it acts twice", func(ctx context.Context) {
		ns := newNamespace(ctx)
		params := catalog.WithExecution(map[string]any{"message": "the disk is almost full", "severity": "critical"},
			"cleanup-step-1", "3f1d0a0e-0000-4000-8000-000000000001")
		observe := func() string {
			var list corev1.EventList
			Expect(admin.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var names []string
			for _, e := range list.Items {
				names = append(names, e.Name)
			}
			return jsonOf(names)
		}
		r := exercise(ctx, "notify_only", params, ns, observe)
		Expect(r.before).To(HaveKeyWithValue("event", HavePrefix("cleanup-step-1.")))
		Expect(r.before).To(HaveLen(1))
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "Event", Namespace: ns, Name: r.before["event"]}))
		Expect(r.after).To(Equal(r.before))

		var event corev1.Event
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.before["event"]}, &event)).To(Succeed())
		Expect(event.Type).To(Equal(corev1.EventTypeWarning))
		Expect(event.Reason).To(Equal("NotifyCritical"))
		Expect(event.Message).To(Equal("the disk is almost full"))
		Expect(event.InvolvedObject).To(Equal(corev1.ObjectReference{
			APIVersion: "kubernetesexecution.kubernaut.io/v1alpha1", Kind: "KubernetesExecution",
			Namespace: ns, Name: "cleanup-step-1", UID: "3f1d0a0e-0000-4000-8000-000000000001",
		}))
	})
})
