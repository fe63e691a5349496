package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
)

// restartPodUser is the identity restart_pod acts as: the manager impersonates the
// action's ServiceAccount (config/rbac/actions.yaml).
const restartPodUser = "system:serviceaccount:" + managerNamespace + ":restart-pod-sa"

// The moments at which the admission tap holds a request of the manager's, kills the
// manager while the request waits, then refuses it: a crash at that exact point.
const (
	// crashAtDryRun: validating, at the server-side dry run of the DELETE.
	crashAtDryRun = "during the dry-run DELETE of validation"
	// crashAtIntent: validation passed; the status write that records the intent
	// (phase executing, before.uid) does not happen.
	crashAtIntent = "at the status write that records the intent"
	// crashAtDelete: the intent is recorded; the DELETE of the pod does not happen.
	crashAtDelete = "at the DELETE of the pod, the intent recorded"
	// crashAtVerifying: the pod is deleted; the status write that says so (phase
	// verifying) does not happen.
	crashAtVerifying = "at the status write after the DELETE"
)

// podDeletion is one DELETE of a pod as the API server's admission saw it: who asked,
// for which pod, with which UID precondition, and whether it was a dry run.
type podDeletion struct {
	User            string
	Name            string
	UID             types.UID // of the pod the request deletes (the admission oldObject)
	PreconditionUID types.UID // the request's preconditions.uid; "" for none
	DryRun          bool
	Allowed         bool // false for a request the tap held and refused
}

// heldRequest is a request of the manager's that the tap holds at moment until the
// test has killed the manager (release closed); the tap then refuses it.
type heldRequest struct {
	moment     string
	generation int // of the manager that sent it
	release    chan struct{}
}

// admissionTap is a validating admission webhook served by the test itself, for one
// namespace: the API server calls it for every DELETE of a pod and every write of a
// KubernetesExecution's status there. It records the pod deletions (the API server's
// own account, not our status) and holds the requests of armed crash moments.
type admissionTap struct {
	server *httptest.Server
	config *admissionregistrationv1.ValidatingWebhookConfiguration
	holds  chan heldRequest
	stop   chan struct{}

	mu         sync.Mutex
	deletions  []podDeletion
	armed      map[string]bool
	generation int // of the running manager: counts the kills
}

// startAdmissionTap serves the tap and registers it for namespace ns, and waits until
// the API server calls it. DeferCleanup removes it.
func startAdmissionTap(ctx context.Context, ns string, moments ...string) *admissionTap {
	GinkgoHelper()
	tap := &admissionTap{holds: make(chan heldRequest), stop: make(chan struct{}), armed: map[string]bool{}}
	for _, m := range moments {
		tap.armed[m] = true
	}
	tap.server = httptest.NewTLSServer(http.HandlerFunc(tap.serve))
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tap.server.Certificate().Raw})

	inNamespace := &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	webhook := func(name string, op admissionregistrationv1.OperationType, group, version, resource string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:         name,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(tap.server.URL + "/tap"), CABundle: caBundle},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{op},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: []string{resource}},
			}},
			NamespaceSelector: inNamespace,
			// Fail: a request the tap did not see is refused, so its record is complete.
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](20),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	tap.config = &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-admission-tap-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			webhook("pod-deletes.tap.e2e.kubernaut.io", admissionregistrationv1.Delete, "", "v1", "pods"),
			webhook("execution-status.tap.e2e.kubernaut.io", admissionregistrationv1.Update,
				kev1alpha1.GroupVersion.Group, kev1alpha1.GroupVersion.Version, "kubernetesexecutions/status"),
		},
	}
	Expect(k8s.Create(ctx, tap.config)).To(Succeed())
	DeferCleanup(func(ctx context.Context) {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, tap.config))).To(Succeed())
		close(tap.stop) // lets held requests go
		tap.server.Close()
	})

	// The API server picks the configuration up from its informer: wait until a
	// dry-run DELETE of a pod of ns reaches the tap.
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
	Expect(pods.Items).NotTo(BeEmpty())
	probe := pods.Items[0]
	Eventually(func(g Gomega) {
		g.Expect(k8s.Delete(ctx, &probe, client.DryRunAll)).To(Succeed())
		g.Expect(tap.Deletions()).To(ContainElement(And(HaveField("Name", probe.Name), HaveField("DryRun", true))))
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	tap.mu.Lock()
	tap.deletions = nil
	tap.mu.Unlock()
	return tap
}

// Deletions returns what the tap recorded so far.
func (t *admissionTap) Deletions() []podDeletion {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]podDeletion(nil), t.deletions...)
}

// Armed returns the crash moments that have not happened yet.
func (t *admissionTap) Armed() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var armed []string
	for m, on := range t.armed {
		if on {
			armed = append(armed, m)
		}
	}
	return armed
}

// killed tells the tap that the manager was killed, at moment when the kill was one
// of its crash moments: that moment is disarmed, and requests still held from the
// killed manager are refused without another kill.
func (t *admissionTap) killed(moment string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.generation++
	delete(t.armed, moment)
}

func (t *admissionTap) current(h heldRequest) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return h.generation == t.generation
}

func (t *admissionTap) serve(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("decoding the AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}
	req := review.Request
	allowed := true
	if moment, generation := t.moment(req); moment != "" {
		h := heldRequest{moment: moment, generation: generation, release: make(chan struct{})}
		select {
		case t.holds <- h:
			select {
			case <-h.release:
			case <-t.stop:
			}
		case <-t.stop:
		}
		allowed = false
	}
	if req.Kind.Kind == "Pod" || req.Resource.Resource == "pods" {
		t.record(req, allowed)
	}
	review.Response = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: allowed}
	if !allowed {
		review.Response.Result = &metav1.Status{Message: "e2e: the manager was killed while this request was in flight"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}

// moment returns the armed crash moment req is, if any, with the generation of the
// running manager.
func (t *admissionTap) moment(req *admissionv1.AdmissionRequest) (string, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := ""
	switch {
	case req.Resource.Resource == "pods" && req.UserInfo.Username == restartPodUser && ptr.Deref(req.DryRun, false):
		m = crashAtDryRun
	case req.Resource.Resource == "pods" && req.UserInfo.Username == restartPodUser:
		m = crashAtDelete
	case req.SubResource == "status":
		var old, cur kev1alpha1.KubernetesExecution
		if json.Unmarshal(req.OldObject.Raw, &old) != nil || json.Unmarshal(req.Object.Raw, &cur) != nil {
			return "", 0
		}
		switch {
		case old.Status.Phase != kev1alpha1.ExecutionExecuting && cur.Status.Phase == kev1alpha1.ExecutionExecuting:
			// From validating, or from no phase: a run starts and validates in
			// one reconcile.
			m = crashAtIntent
		case old.Status.Phase == kev1alpha1.ExecutionExecuting && cur.Status.Phase == kev1alpha1.ExecutionVerifying:
			m = crashAtVerifying
		}
	}
	if !t.armed[m] {
		return "", 0
	}
	return m, t.generation
}

func (t *admissionTap) record(req *admissionv1.AdmissionRequest, allowed bool) {
	d := podDeletion{User: req.UserInfo.Username, Name: req.Name, DryRun: ptr.Deref(req.DryRun, false), Allowed: allowed}
	var pod corev1.Pod
	if json.Unmarshal(req.OldObject.Raw, &pod) == nil {
		d.UID = pod.UID
	}
	var opts metav1.DeleteOptions
	if json.Unmarshal(req.Options.Raw, &opts) == nil && opts.Preconditions != nil && opts.Preconditions.UID != nil {
		d.PreconditionUID = *opts.Preconditions.UID
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deletions = append(t.deletions, d)
}

// podEvents records what a watch of the pods of a namespace saw: the pods created and
// deleted, and the fewest pods that were ready (and not being deleted) at once.
type podEvents struct {
	mu       sync.Mutex
	added    []types.UID
	deleted  []types.UID
	ready    map[types.UID]bool
	minReady int
	ended    bool // the watch closed before the spec stopped it
}

// watchPods watches the pods of ns from a list of them on, until the spec ends.
func watchPods(ctx context.Context, ns string) *podEvents {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
	events := &podEvents{ready: map[types.UID]bool{}}
	for i := range pods.Items {
		events.ready[pods.Items[i].UID] = podServing(&pods.Items[i])
	}
	events.minReady = events.readyNow()

	clientset, err := kubernetes.NewForConfig(cluster.Config)
	Expect(err).NotTo(HaveOccurred())
	// From the list's resourceVersion: every change after it.
	w, err := clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	Expect(err).NotTo(HaveOccurred())
	done := make(chan struct{})
	DeferCleanup(func() {
		w.Stop()
		<-done
	})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue // a watch error; ended below tells
			}
			events.mu.Lock()
			switch ev.Type {
			case watch.Added:
				events.added = append(events.added, pod.UID)
				events.ready[pod.UID] = podServing(pod)
			case watch.Modified:
				events.ready[pod.UID] = podServing(pod)
			case watch.Deleted:
				events.deleted = append(events.deleted, pod.UID)
				delete(events.ready, pod.UID)
			}
			events.minReady = min(events.minReady, events.readyNow())
			events.mu.Unlock()
		}
		events.mu.Lock()
		events.ended = ctx.Err() == nil
		events.mu.Unlock()
	}()
	return events
}

// podServing reports whether a pod is Ready and not being deleted.
func podServing(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (e *podEvents) readyNow() int {
	n := 0
	for _, ready := range e.ready {
		if ready {
			n++
		}
	}
	return n
}

// Added and Deleted return the UIDs of the pods created and deleted so far, in order.
func (e *podEvents) Added() []types.UID {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]types.UID(nil), e.added...)
}

func (e *podEvents) Deleted() []types.UID {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]types.UID(nil), e.deleted...)
}

// MinReady is the fewest pods that were ready and not being deleted at once.
func (e *podEvents) MinReady() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.minReady
}

func (e *podEvents) Ended() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ended
}

// podUIDs lists the UIDs of the pods of app in ns.
func podUIDs(ctx context.Context, ns, app string) []types.UID {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": app})).To(Succeed())
	uids := make([]types.UID, 0, len(pods.Items))
	for _, p := range pods.Items {
		uids = append(uids, p.UID)
	}
	return uids
}

// expectRunAt checks, while the tap holds the request of a crash moment, that the run
// and the pod are where that moment says: nothing acted before the intent is
// recorded, and the pod is gone or going when the manager records the deletion.
func expectRunAt(ctx context.Context, moment string, key client.ObjectKey, target *corev1.Pod) {
	GinkgoHelper()
	var ke kev1alpha1.KubernetesExecution
	Expect(k8s.Get(ctx, key, &ke)).To(Succeed())
	var live corev1.Pod
	err := k8s.Get(ctx, client.ObjectKeyFromObject(target), &live)
	expectPodUntouched := func() {
		GinkgoHelper()
		Expect(err).NotTo(HaveOccurred())
		Expect(live.UID).To(Equal(target.UID))
		Expect(live.DeletionTimestamp).To(BeNil())
	}
	switch moment {
	case crashAtDryRun, crashAtIntent:
		// A run starts and validates in one reconcile: before its first write, it
		// has no phase yet.
		Expect(ke.Status.Phase).To(BeElementOf(kev1alpha1.ExecutionPhase(""), kev1alpha1.ExecutionValidating))
		Expect(ke.Status.ExecutionResults).To(BeNil())
		expectPodUntouched()
	case crashAtDelete:
		Expect(ke.Status.Phase).To(Equal(kev1alpha1.ExecutionExecuting))
		Expect(ke.Status.ExecutionResults).NotTo(BeNil())
		Expect(ke.Status.ExecutionResults.ResourcesAffected).To(ConsistOf(
			HaveField("Before", HaveKeyWithValue("uid", string(target.UID)))))
		expectPodUntouched()
	case crashAtVerifying:
		Expect(ke.Status.Phase).To(Equal(kev1alpha1.ExecutionExecuting))
		if err == nil {
			Expect(live.UID == target.UID && live.DeletionTimestamp == nil).To(BeFalse(),
				"the manager records the deletion of a pod that is neither gone nor terminating")
		} else {
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "reading the pod: %v", err)
		}
	}
}

// schedulingGate holds the pods of createGatedDeployment's Deployments Pending until
// openGates lets them be scheduled.
const schedulingGate = "e2e.kubernaut.io/hold"

// createGatedDeployment creates a Deployment like createDeployment's whose pods each
// wait for openGates before they are scheduled, opens the gates of its first pods and
// waits until they are ready.
func createGatedDeployment(ctx context.Context, ns, name string, replicas int32) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SchedulingGates: []corev1.PodSchedulingGate{{Name: schedulingGate}},
					Containers: []corev1.Container{{
						Name: "web", Image: "registry.example/web:1.0",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
						}},
					}},
				},
			},
		},
	}
	Expect(k8s.Create(ctx, d)).To(Succeed())
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": name})).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(int(replicas)))
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	openGates(ctx, ns)
	waitReady(ctx, ns, name, replicas)
}

// openGates lets the gated pods of ns be scheduled.
func openGates(ctx context.Context, ns string) {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
	for i := range pods.Items {
		pod := &pods.Items[i]
		if len(pod.Spec.SchedulingGates) == 0 {
			continue
		}
		open := pod.DeepCopy()
		open.Spec.SchedulingGates = nil
		Expect(k8s.Patch(ctx, open, client.StrategicMergeFrom(pod))).To(Succeed())
	}
}

// restartPodExecution is a KubernetesExecution of restart_pod on pod ns/pod.
func restartPodExecution(ns, name, pod string) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action:     "restart_pod",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil, `{"pod":{"name":%q,"namespace":%q}}`, pod, ns)},
			// Polled every second rather than every five, to keep the spec short.
			PostConditions: []commonv1alpha1.ValidationCondition{{
				Type: "pod_replacement_ready", Timeout: &metav1.Duration{Duration: 2 * time.Minute},
				Interval: &metav1.Duration{Duration: time.Second},
			}},
		},
	}
}

var _ = Describe("A restart_pod execution whose manager is killed again and again", func() {
	It("deletes the pod exactly once, as the API server tells, and completes", func(ctx context.Context) {
		// The manager runs when the spec ends, whatever happened: later specs need it.
		DeferCleanup(func(ctx context.Context) {
			if manager.Exited() != nil {
				startManager(ctx)
			}
		})

		ns := newNamespace(ctx)
		reportOnFailure(ns)
		// The pods of web wait for the spec to let them be scheduled, so that the
		// replacement waits, Pending, and the run stays in verifying until then.
		createGatedDeployment(ctx, ns, "web", 3)
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "web"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(3))
		target := pods.Items[0]
		originals := podUIDs(ctx, ns, "web")

		tap := startAdmissionTap(ctx, ns, crashAtDryRun, crashAtIntent, crashAtDelete, crashAtVerifying)
		events := watchPods(ctx, ns)

		ke := restartPodExecution(ns, "restart-web", target.Name)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		key := client.ObjectKeyFromObject(ke)
		get := func() *kev1alpha1.KubernetesExecution {
			GinkgoHelper()
			got := &kev1alpha1.KubernetesExecution{}
			Expect(k8s.Get(ctx, key, got)).To(Succeed())
			return got
		}

		// Kills at arbitrary moments: right after the create, and at these delays
		// after each restart's readiness, until the run verifies; then at the
		// verifying ones while the replacement waits for its scheduling gate.
		timed := []time.Duration{0, 0, 20 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond,
			300 * time.Millisecond, 0, 500 * time.Millisecond, 40 * time.Millisecond, time.Second}
		timedVerifying := []time.Duration{0, 300 * time.Millisecond, time.Second, 100 * time.Millisecond}
		gateOpen := false
		var kills []string
		kill := func(moment string) {
			GinkgoHelper()
			manager.Kill()
			tap.killed(moment)
			kills = append(kills, fmt.Sprintf("%2d. %s (phase then: %q)", len(kills)+1, moment, get().Status.Phase))
		}

		deadline := time.Now().Add(2 * time.Minute) // a guard against a hang, not a measure
		for {
			cur := get()
			if cur.Status.Phase == kev1alpha1.ExecutionCompleted && len(tap.Armed()) == 0 {
				break
			}
			Expect(cur.Status.Phase).NotTo(BeElementOf(kev1alpha1.ExecutionFailed, kev1alpha1.ExecutionDenied,
				kev1alpha1.ExecutionBlocked, kev1alpha1.ExecutionRollbackReady), "status: %+v", cur.Status)
			if time.Now().After(deadline) {
				Fail(fmt.Sprintf("the run did not complete; crash moments not reached: %v; kills so far:\n%s",
					tap.Armed(), strings.Join(kills, "\n")))
			}
			wait, list := 200*time.Millisecond, (*[]time.Duration)(nil) // without a kill due: look again
			switch {
			case cur.Status.Phase == kev1alpha1.ExecutionVerifying && !gateOpen:
				// Verification goes on across the restarts: the replacement cannot
				// be ready yet.
				Expect(cur.Status.ValidationResults.PostConditionResults).NotTo(ContainElement(And(
					HaveField("ConditionType", "pod_replacement_ready"), HaveField("Passed", true))))
				if len(timedVerifying) == 0 {
					Eventually(func(g Gomega) {
						var pods corev1.PodList
						g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
						g.Expect(pods.Items).To(ContainElement(HaveField("Spec.SchedulingGates", Not(BeEmpty()))))
					}).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(),
						"the ReplicaSet creates a replacement")
					openGates(ctx, ns)
					gateOpen = true
					continue
				}
				wait, list = timedVerifying[0], &timedVerifying
			case len(timed) > 0 && cur.Status.Phase != kev1alpha1.ExecutionVerifying &&
				cur.Status.Phase != kev1alpha1.ExecutionCompleted:
				wait, list = timed[0], &timed
			}
			select {
			case h := <-tap.holds:
				if !tap.current(h) {
					close(h.release) // sent by a manager already killed
					continue
				}
				expectRunAt(ctx, h.moment, key, &target)
				kill(h.moment)
				close(h.release)
				startManager(ctx)
			case <-time.After(wait):
				if list != nil {
					*list = (*list)[1:]
					kill("at an arbitrary moment")
					startManager(ctx)
				}
			}
		}
		Expect(len(kills)).To(BeNumerically(">=", 10), "kills before the run completed:\n%s", strings.Join(kills, "\n"))
		Expect(timedVerifying).To(BeEmpty(), "every kill while verifying happened")
		if len(timed) > 0 {
			GinkgoWriter.Printf("the run reached verifying before %d of the arbitrary kills\n", len(timed))
		}

		// A manager that starts on a completed run does nothing more.
		for range 2 {
			kill("after completion")
			startManager(ctx)
		}
		AddReportEntry("manager kills", strings.Join(kills, "\n"))

		// The replacement is ready and the Deployment whole again.
		waitReady(ctx, ns, "web", 3)
		Consistently(func(g Gomega) {
			g.Expect(get().Status.Phase).To(Equal(kev1alpha1.ExecutionCompleted))
			g.Expect(events.Deleted()).To(HaveLen(1))
		}).WithContext(ctx).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		// The API server's account. Admission sees each DELETE that starts a pod's
		// deletion (not one that finds the pod gone, or already terminating): it saw
		// the action start the target's deletion once, and every DELETE the action
		// sent named the target's UID as its precondition, so none could hit another
		// pod.
		deletions := tap.Deletions()
		var seen []string
		for _, d := range deletions {
			seen = append(seen, fmt.Sprintf("%s: pod %s (UID %s, precondition UID %q) dryRun=%v allowed=%v",
				d.User, d.Name, d.UID, d.PreconditionUID, d.DryRun, d.Allowed))
		}
		AddReportEntry("pod DELETEs admission saw", strings.Join(seen, "\n"))
		var byAction []podDeletion
		for _, d := range deletions {
			if d.User == restartPodUser {
				byAction = append(byAction, d)
			}
		}
		Expect(byAction).To(HaveEach(And(HaveField("UID", target.UID), HaveField("PreconditionUID", target.UID))))
		Expect(byAction).To(ContainElement(HaveField("DryRun", true)), "validation dry-runs the DELETE")
		refused, passed := 0, 0
		for _, d := range byAction {
			switch {
			case d.DryRun:
			case d.Allowed:
				passed++
			default:
				refused++
			}
		}
		Expect(refused).To(Equal(1), "the crash at the DELETE refused one")
		Expect(passed).To(Equal(1), "exactly one DELETE of the pod went through")
		// Nobody else removed a pod of the namespace but the node agent finishing the
		// graceful deletion of the target (kwok, with the admin's identity).
		Expect(deletions).To(HaveEach(Or(HaveField("User", restartPodUser), HaveField("UID", target.UID))))

		// The watch: the target is the one pod deleted, once; the ReplicaSet created one
		// pod, its replacement, which runs beside the two pods left untouched.
		Expect(events.Ended()).To(BeFalse(), "the pod watch ended early; its record is incomplete")
		Expect(events.Deleted()).To(Equal([]types.UID{target.UID}))
		Expect(events.Added()).To(HaveLen(1))
		replacement := events.Added()[0]
		var others []types.UID
		for _, uid := range originals {
			if uid != target.UID {
				others = append(others, uid)
			}
		}
		Expect(podUIDs(ctx, ns, "web")).To(ConsistOf(append(others, replacement)))
		Expect(events.MinReady()).To(Equal(2), "restart_pod takes one pod away, no more")

		done := get()
		Expect(done.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionTrue))))
		Expect(done.Status.ExecutionResults.ResourcesAffected).To(ConsistOf(And(
			HaveField("Kind", "Pod"), HaveField("Name", target.Name),
			HaveField("Before", HaveKeyWithValue("uid", string(target.UID))),
			HaveField("After", HaveKeyWithValue("deleted_uid", string(target.UID))))))
		Expect(done.Status.ValidationResults.PostConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "pod_replacement_ready"), HaveField("Passed", true))))
	})
})
