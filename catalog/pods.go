package catalog

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The pod actions of the catalog, with the PersistentVolumeClaim and notification
// actions that go with them: restart_pod, delete_pod, quarantine_pod, expand_pvc and
// notify_only. Those that remove or change a pod act on the pod whose UID Capture
// recorded, never on another pod that took its name since (a StatefulSet's
// replacement).
//
// None of them has an inverse (Inverse is nil):
//   - restart_pod and delete_pod remove a pod; nothing brings the same pod back (a
//     controller makes a new one; a bare pod is gone).
//   - quarantine_pod cannot be undone by a catalog action. Undoing it means putting the
//     pod's labels back, so that its Services and its controller select it again; the
//     catalog has no action that sets a pod's labels, and delete_pod is no undo (it
//     destroys what the quarantine keeps for debugging, and the state before had the pod
//     serving). The executor keeps the labels in before["labels"] and on the pod, in the
//     annotation kubernaut.io/quarantined-labels, for a person to restore or for a future
//     unquarantine_pod action to read.
//   - expand_pvc cannot be reversed: a claim never shrinks.
//   - notify_only records an Event, which is not taken back.

// The facts of the pod actions. "The pod" is the
// one parameters.pod names, identified by its UID: before acting, the pod of that name
// now; after acting, the pod whose UID the executor recorded (before["uid"]), so that a
// pod a StatefulSet recreates under the same name is another pod. "Its controller" is
// the pod's ownerReference with controller: true; after acting, the one recorded before
// acting (before["owner_kind"], before["owner_name"]), since a controller releases a pod
// it no longer selects. These actions also read namespace (the target's namespace),
// and ready_pods and pods, whose workload is the pod's controller.
var (
	factPodFound             = Fact{"pod_found", "boolean: a pod named parameters.pod.name exists in the namespace (after a restart of a StatefulSet pod: the one recreated under that name)"}
	factPodReady             = Fact{"pod_ready", "boolean: the pod's condition Ready is True; false when the pod does not exist"}
	factPodOwnerKind         = Fact{"pod_owner_kind", `string: kind of the pod's controller, e.g. ReplicaSet, StatefulSet, DaemonSet; "" for a pod without one (a bare pod)`}
	factPodOwnerName         = Fact{"pod_owner_name", `string: name of the pod's controller; "" for a pod without one`}
	factPodOwnerFound        = Fact{"pod_owner_found", "boolean: the pod's controller exists and is not being deleted"}
	factPodGone              = Fact{"pod_gone", "boolean: the pod (by UID) no longer exists; false before acting while it exists"}
	factPodTerminating       = Fact{"pod_terminating", "boolean: the pod (by UID) still exists with a deletionTimestamp: its grace period runs, a finalizer holds it, or its node does not answer"}
	factPodReadyReplacements = Fact{"pod_ready_replacements", `integer: Ready pods of the pod's controller created since the action acted (creationTimestamp not before before["recorded_at"], truncated to the second) with a UID other than the pod's; 0 before acting`}
	factPodMatchingServices  = Fact{"pod_matching_services", "array of strings: names of the Services of the namespace whose selector matches the pod's labels now, sorted; empty when the pod is gone"}
	factPodSelectedByOwner   = Fact{"pod_selected_by_owner", "boolean: the selector of the pod's controller matches the pod's labels now; false when the pod or the controller is gone"}
)

// pvcResizeWithin is how long an expansion is given: the CSI driver grows the volume,
// then (online) the kubelet grows the file system; some cloud disks take minutes.
const pvcResizeWithin = 10 * time.Minute

// podParameter names the pod an action acts on: pod: {name, namespace}.
var podParameter = namespacedTarget("pod", "Pod")

// Permissions of the pod actions, in the namespace of the target. The executors only
// act on the pod they name: no list, no watch; the facts provider reads controllers
// and Services with the manager's own identity.
var (
	podGetDelete = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "delete"}}
	podGetPatch  = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "patch"}}
	pvcGetPatch  = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "patch"}}
	// notify_only writes a core/v1 Event (events.k8s.io/v1 lists it too).
	notifyCreateEvent = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}}
)

// The conditions of the pod actions, as they suggest them.
var (
	podCondExists = Suggested{Type: "pod_exists", Description: "The pod exists",
		Required: true, Timeout: normalCheck}
	podCondHasController = Suggested{Type: "pod_has_controller",
		Description: "An existing ReplicaSet, ReplicationController, StatefulSet or DaemonSet controls the pod and recreates it",
		Required:    true, Timeout: normalCheck}
	podCondQuarantineSupported = Suggested{Type: "pod_quarantine_supported",
		Description: "An existing ReplicaSet, ReplicationController or DaemonSet controls the pod and replaces it under another name",
		Required:    true, Timeout: normalCheck}
	// Optional: taking away the last ready pod of a workload may still be the right
	// remedy (it is not serving anyway); the failure is recorded as a warning.
	podCondOtherReady = Suggested{Type: "pod_owner_has_other_ready_pods",
		Description: "Another pod of the controller is ready, so the workload keeps serving meanwhile",
		Required:    false, Timeout: normalCheck}
	podCondReplacementReady = Suggested{Type: "pod_replacement_ready",
		Description: "A pod the controller created since the action acted is ready",
		Required:    true, Timeout: settleWithin}
	// The pod may take its whole grace period (up to an hour with gracePeriodSeconds):
	// a step that gives more sets its own timeout.
	podCondDeleted = Suggested{Type: "pod_deleted", Description: "The pod is gone",
		Required: true, Timeout: settleWithin}
	podCondIsolated = Suggested{Type: "pod_isolated",
		Description: "The pod still exists, and neither a Service nor its controller selects it",
		Required:    true, Timeout: normalCheck}
	// Optional: the other pods of the workload are not the action's doing.
	podCondNoCrashloop = Suggested{Type: "no_crashloop_pods",
		Description: "No pod of the controller is in CrashLoopBackOff",
		Required:    false, Timeout: settleWithin}

	pvcCondExists = Suggested{Type: "pvc_exists", Description: "The PersistentVolumeClaim exists",
		Required: true, Timeout: normalCheck}
	pvcCondBound = Suggested{Type: "pvc_bound", Description: "The PersistentVolumeClaim is Bound to a volume",
		Required: true, Timeout: normalCheck}
	pvcCondExpansionAllowed = Suggested{Type: "pvc_expansion_allowed",
		Description: "The claim's StorageClass allows volume expansion", Required: true, Timeout: normalCheck}
	pvcCondSizeIncrease = Suggested{Type: "pvc_size_increase",
		Description: "The requested size is larger than the claim's capacity", Required: true, Timeout: quickCheck}
	pvcCondCapacityReached = Suggested{Type: "pvc_capacity_reached",
		Description: "The claim's capacity is at least the requested size", Required: true, Timeout: pvcResizeWithin}

	notifyCondMessageValid = Suggested{Type: "notify_message_valid",
		Description: "The message is not blank and fits in an Event", Required: true, Timeout: quickCheck}
	notifyCondEventRecorded = Suggested{Type: "notify_event_recorded",
		Description: "The Event is recorded", Required: true, Timeout: normalCheck}
)

// podRecheck returns s with the timeout of a check repeated just before acting: the
// action level checks again what the step checked, and covers a KubernetesExecution
// created without a workflow.
func podRecheck(s Suggested) Suggested {
	s.Timeout = quickCheck
	return s
}

// getPod reads the pod parameters.pod names.
func getPod(ctx context.Context, call Call) (ObjectRef, *corev1.Pod, error) {
	t, err := podTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var pod corev1.Pod
	if err := call.Client.Get(ctx, t.key(), &pod); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &pod, nil
}

// deletePodOnce deletes the pod whose UID before records. A pod that is gone, or
// whose name another pod has taken, was deleted already: not an error.
func deletePodOnce(ctx context.Context, call Call, before map[string]string, gracePeriod *int64, doing string) (map[string]string, error) {
	t, err := podTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	uid, err := recorded(before, "uid")
	if err != nil {
		return nil, err
	}
	if uid == "" {
		return nil, fmt.Errorf("before[\"uid\"] is empty: Act deletes only the pod Capture read")
	}
	precondition := types.UID(uid)
	opts := &client.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &precondition}, GracePeriodSeconds: gracePeriod}
	if call.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	after := map[string]string{"deleted_uid": uid}
	err = call.Client.Delete(ctx, &corev1.Pod{ObjectMeta: t.meta()}, opts)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return after, nil
	case apierrors.IsConflict(err):
		// The UID precondition failed: the pod of that name now is another one, and
		// the one recorded is gone.
		return after, nil
	}
	return nil, fmt.Errorf("%s %s (UID %s): %w", doing, t, uid, err)
}

// podsFacts summarises the pods of a workload, leaving out those being deleted,
// with their usage where usage has it (readPodUsage). throttled is not set here:
// the CPU throttling counters are not in the API server; package conditions/facts
// adds it from Prometheus, when the manager has one.
func podsFacts(pods []corev1.Pod, usage podUsage) (summaries []any, running, ready int) {
	summaries = []any{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
		isReady := podReady(p)
		if isReady {
			ready++
		}
		summary := map[string]any{
			"name":       p.Name,
			"status":     podStatus(p),
			"phase":      string(p.Status.Phase),
			"ready":      isReady,
			"node":       p.Spec.NodeName,
			"restarts":   restarts(p),
			"oom_killed": oomKilled(p),
		}
		addUsage(summary, p, usage)
		summaries = append(summaries, summary)
	}
	return summaries, running, ready
}

// podReady reports whether p's condition Ready is True (what the eviction API calls
// healthy).
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podStatus is the waiting reason of a container (CrashLoopBackOff,
// ImagePullBackOff, ...) if one is waiting, else the pod's phase.
func podStatus(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			return cs.State.Waiting.Reason
		}
	}
	return string(p.Status.Phase)
}

func restarts(p *corev1.Pod) int64 {
	var n int64
	for _, cs := range p.Status.ContainerStatuses {
		n += int64(cs.RestartCount)
	}
	return n
}

func oomKilled(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if t != nil && t.Reason == "OOMKilled" {
				return true
			}
		}
	}
	return false
}

// podFacts reads the pod an action names, then what each step adds.
func podFacts(steps ...func(*podState, context.Context, client.Reader) error) Provider {
	return func(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
		s, err := podLookup(ctx, r, params)
		if err != nil {
			return nil, err
		}
		s.want = want
		for _, step := range steps {
			if err := step(s, ctx, r); err != nil {
				return nil, err
			}
		}
		return s.doc, nil
	}
}

// podState is what the pod providers know of the pod an action names.
type podState struct {
	namespace string
	doc       map[string]any
	// want names the keys the round's policies read.
	want Wanted
	// before holds the executor's records; nil before acting.
	before map[string]string
	// pod is "the pod": before acting the pod of that name, after acting the pod of
	// that name if it still has the recorded UID. Nil when it does not exist.
	pod *corev1.Pod

	// The pod's controller, once addController knows it: ownerKnown is false when
	// neither the pod nor the records say who it is; ownerKind is "" for a bare pod.
	ownerKnown           bool
	ownerKind, ownerName string
	ownerAPIVersion      string    // "" when only the records name it
	ownerUID             types.UID // "" when only the records name it
	controller           podController
}

// podLookup finds the pod parameters.pod names and fills pod_found, namespace,
// pod_ready, pod_gone and pod_terminating.
func podLookup(ctx context.Context, r client.Reader, params map[string]any) (*podState, error) {
	name, namespace, err := podTarget.Name(params)
	if err != nil {
		return nil, err
	}
	s := &podState{namespace: namespace, doc: map[string]any{"namespace": namespace}}
	s.before, err = beforeValues(params)
	if err != nil {
		return nil, err
	}

	var named corev1.Pod
	found := true
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &named); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading Pod %s/%s: %w", namespace, name, err)
		}
		found = false
	}
	s.doc["pod_found"] = found
	if found {
		s.pod = &named
		// After acting, the pod is the one the executor acted on: a pod recreated under
		// the same name (a StatefulSet's) is another one.
		if uid := s.before["uid"]; uid != "" && types.UID(uid) != named.UID {
			s.pod = nil
		}
	}

	s.doc["pod_ready"] = s.pod != nil && podReady(s.pod)
	s.doc["pod_gone"] = s.pod == nil
	s.doc["pod_terminating"] = s.pod != nil && s.pod.DeletionTimestamp != nil
	return s, nil
}

// addController fills pod_owner_kind, pod_owner_name and pod_owner_found: after
// acting from the records (a controller releases a pod it no longer selects), before
// acting, or when nothing was recorded, from the pod's ownerReferences. They are left
// out when neither knows the pod.
func (s *podState) addController(ctx context.Context, r client.Reader) (err error) {
	var ref *metav1.OwnerReference
	if s.pod != nil {
		ref = metav1.GetControllerOf(s.pod)
	}
	if kind, recorded := s.before["owner_kind"]; recorded {
		s.ownerKnown, s.ownerKind, s.ownerName = true, kind, s.before["owner_name"]
		if ref != nil && ref.Kind == s.ownerKind && ref.Name == s.ownerName {
			// Not released yet: its reference says more than the records.
			s.ownerAPIVersion, s.ownerUID = ref.APIVersion, ref.UID
		}
	} else if s.pod != nil {
		s.ownerKnown = true
		if ref != nil {
			s.ownerKind, s.ownerName, s.ownerAPIVersion, s.ownerUID = ref.Kind, ref.Name, ref.APIVersion, ref.UID
		}
	}
	if !s.ownerKnown {
		return nil
	}
	s.doc["pod_owner_kind"] = s.ownerKind
	s.doc["pod_owner_name"] = s.ownerName
	if s.ownerKind == "" {
		s.doc["pod_owner_found"] = false
		return nil
	}

	s.controller, err = podReadController(ctx, r, s.namespace, s.ownerAPIVersion, s.ownerKind, s.ownerName, s.ownerUID)
	if err != nil {
		return err
	}
	if s.controller.known {
		s.doc["pod_owner_found"] = s.controller.exists && !s.controller.deleting
	}
	return nil
}

// podControllerKinds are the kinds whose objects podReadController reads typed, with
// their API group: those that control pods in a stock cluster.
var podControllerKinds = map[string]string{
	"ReplicaSet":            appsv1.GroupName,
	"StatefulSet":           appsv1.GroupName,
	"DaemonSet":             appsv1.GroupName,
	"ReplicationController": corev1.GroupName,
	"Job":                   batchv1.GroupName,
	"Node":                  corev1.GroupName,
}

// podController is what podReadController found of a pod's controller.
type podController struct {
	// known: whether it exists could be read; false for a kind outside
	// podControllerKinds that only the records name (they do not say its API group).
	known bool
	// exists: it exists, with the UID the pod's ownerReference gives when known;
	// deleting: it has a deletionTimestamp.
	exists, deleting bool
	// selector is what it selects pods by: labels.Nothing() for one that selects none
	// (a Node) or does not exist; nil when it cannot be read (a custom resource).
	selector labels.Selector
}

// podReadController reads the controller kind/name of a pod in namespace.
// apiVersion and uid come from the pod's ownerReference; they are "" when only the
// executor's records name the controller.
func podReadController(ctx context.Context, r client.Reader, namespace, apiVersion, kind, name string, uid types.UID) (podController, error) {
	group, known := podControllerKinds[kind]
	if known && apiVersion != "" {
		gv, err := schema.ParseGroupVersion(apiVersion)
		known = err == nil && gv.Group == group
	}

	var obj client.Object
	var selectorOf func() (labels.Selector, error)
	key := client.ObjectKey{Namespace: namespace, Name: name}
	switch {
	case known && kind == "ReplicaSet":
		o := &appsv1.ReplicaSet{}
		obj, selectorOf = o, func() (labels.Selector, error) { return podLabelSelector(o.Spec.Selector) }
	case known && kind == "StatefulSet":
		o := &appsv1.StatefulSet{}
		obj, selectorOf = o, func() (labels.Selector, error) { return podLabelSelector(o.Spec.Selector) }
	case known && kind == "DaemonSet":
		o := &appsv1.DaemonSet{}
		obj, selectorOf = o, func() (labels.Selector, error) { return podLabelSelector(o.Spec.Selector) }
	case known && kind == "Job":
		o := &batchv1.Job{}
		obj, selectorOf = o, func() (labels.Selector, error) { return podLabelSelector(o.Spec.Selector) }
	case known && kind == "ReplicationController":
		o := &corev1.ReplicationController{}
		obj, selectorOf = o, func() (labels.Selector, error) {
			if len(o.Spec.Selector) == 0 {
				return labels.Nothing(), nil
			}
			return labels.SelectorFromSet(o.Spec.Selector), nil
		}
	case known && kind == "Node":
		// A static pod's mirror: its Node selects no pod by labels.
		obj, key = &corev1.Node{}, client.ObjectKey{Name: name}
		selectorOf = func() (labels.Selector, error) { return labels.Nothing(), nil }
	case apiVersion != "":
		// Another controller (a custom resource): its metadata tells whether it exists;
		// its selector, if it has one, is not read.
		o := &metav1.PartialObjectMetadata{}
		o.SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
		obj = o
	default:
		return podController{}, nil
	}

	if err := r.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return podController{known: true, selector: labels.Nothing()}, nil
		}
		return podController{}, fmt.Errorf("reading %s %s/%s, the controller of the pod: %w", kind, namespace, name, err)
	}
	if uid != "" && obj.GetUID() != uid {
		// Another object of the same name replaced the pod's controller.
		return podController{known: true, selector: labels.Nothing()}, nil
	}
	c := podController{known: true, exists: true, deleting: obj.GetDeletionTimestamp() != nil}
	if selectorOf != nil {
		var err error
		if c.selector, err = selectorOf(); err != nil {
			return podController{}, fmt.Errorf("the selector of %s %s/%s is invalid: %w", kind, namespace, name, err)
		}
	}
	return c, nil
}

// podLabelSelector converts a workload's selector; a nil one selects nothing.
func podLabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Nothing(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

// addWorkload fills ready_pods, pods and pod_ready_replacements; it needs
// addController first. The workload is the pod's controller: its pods are those
// whose controller ownerReference names it. A bare pod is a workload of its own.
// Left out: all three when the controller is unknown (the pod does not exist and
// nothing was recorded); pod_ready_replacements after acting when recorded_at was not
// recorded.
func (s *podState) addWorkload(ctx context.Context, r client.Reader) error {
	acted := s.before != nil
	if !s.ownerKnown {
		if !acted {
			s.doc["pod_ready_replacements"] = int64(0)
		}
		return nil
	}

	var pods []corev1.Pod
	var selector labels.Selector // of the pods' PodMetrics; nil: the namespace's
	if s.ownerKind == "" {
		if s.pod != nil {
			pods = []corev1.Pod{*s.pod}
		}
	} else {
		selector = s.controller.selector
		var list corev1.PodList
		if err := r.List(ctx, &list, client.InNamespace(s.namespace)); err != nil {
			return fmt.Errorf("listing the pods of %s %s/%s: %w", s.ownerKind, s.namespace, s.ownerName, err)
		}
		for i := range list.Items {
			ref := metav1.GetControllerOf(&list.Items[i])
			if ref == nil || ref.Kind != s.ownerKind || ref.Name != s.ownerName || (s.ownerUID != "" && ref.UID != s.ownerUID) {
				continue
			}
			pods = append(pods, list.Items[i])
		}
	}
	s.doc["pods"], _, s.doc["ready_pods"] = podsFacts(pods, readPodUsage(ctx, r, s.want, s.namespace, selector, pods))

	if !acted {
		s.doc["pod_ready_replacements"] = int64(0)
		return nil
	}
	recordedAt, ok := s.before["recorded_at"]
	if !ok {
		return nil
	}
	since, err := time.Parse(time.RFC3339, recordedAt)
	if err != nil {
		return fmt.Errorf("parameters.%s.recorded_at %q is not an RFC 3339 time: %w", BeforeParam, recordedAt, err)
	}
	// Creation timestamps have whole seconds.
	since = since.Truncate(time.Second)
	replacements := int64(0)
	if s.ownerKind != "" {
		for i := range pods {
			p := &pods[i]
			if p.DeletionTimestamp == nil && string(p.UID) != s.before["uid"] && !p.CreationTimestamp.Time.Before(since) && podReady(p) {
				replacements++
			}
		}
	}
	s.doc["pod_ready_replacements"] = replacements
	return nil
}

// addServices fills pod_matching_services and pod_selected_by_owner; it needs
// addController first.
func (s *podState) addServices(ctx context.Context, r client.Reader) error {
	matching := []string{}
	if s.pod != nil {
		var services corev1.ServiceList
		if err := r.List(ctx, &services, client.InNamespace(s.namespace)); err != nil {
			return fmt.Errorf("listing the Services of namespace %s: %w", s.namespace, err)
		}
		podLabels := labels.Set(s.pod.Labels)
		for _, svc := range services.Items {
			// A Service without a selector (its endpoints managed by hand) selects no pod.
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
				matching = append(matching, svc.Name)
			}
		}
		slices.Sort(matching)
	}
	s.doc["pod_matching_services"] = matching

	switch {
	case s.pod == nil, s.ownerKnown && s.ownerKind == "", s.controller.known && !s.controller.exists:
		// The pod or its controller is gone, or it never had one.
		s.doc["pod_selected_by_owner"] = false
	case s.ownerKnown && s.controller.selector != nil:
		s.doc["pod_selected_by_owner"] = s.controller.selector.Matches(labels.Set(s.pod.Labels))
	default:
		// The controller's selector cannot be read (a custom resource): left out.
	}
	return nil
}
