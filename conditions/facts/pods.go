package facts

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podProviders read the facts of the pod actions of the catalog.
var podProviders = map[string]Provider{
	// restart_pod: the pod, its controller and the controller's pods, among them
	// the replacements created since the action acted.
	"restart_pod": podProvider((*podState).addController, (*podState).addWorkload),
	// delete_pod: whether the pod (by UID) is gone or still terminating.
	"delete_pod": podProvider(),
	// quarantine_pod: those of restart_pod, and what still selects the pod
	// (Services, its controller).
	"quarantine_pod": podProvider((*podState).addController, (*podState).addWorkload, (*podState).addServices),
	"expand_pvc":     podExpandPVC,
	"notify_only":    podNotify,
}

// podProvider reads the pod an action names, then what each step adds.
func podProvider(steps ...func(*podState, context.Context, client.Reader) error) Provider {
	return func(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
		s, err := podLookup(ctx, r, params)
		if err != nil {
			return nil, err
		}
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
	name, namespace, err := target(params, "pod")
	if err != nil {
		return nil, err
	}
	s := &podState{namespace: namespace, doc: map[string]any{"namespace": namespace}}
	s.before, err = podBeforeValues(params)
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

// podBeforeValues reads params["_before"].
func podBeforeValues(params map[string]any) (map[string]string, error) {
	switch b := params[BeforeParam].(type) {
	case nil:
		return nil, nil
	case map[string]string:
		return b, nil
	case map[string]any:
		before := make(map[string]string, len(b))
		for k, v := range b {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("parameters.%s.%s is %T, want a string", BeforeParam, k, v)
			}
			before[k] = s
		}
		return before, nil
	default:
		return nil, fmt.Errorf("parameters.%s is %T, want an object of strings", BeforeParam, b)
	}
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
	if s.ownerKind == "" {
		if s.pod != nil {
			pods = []corev1.Pod{*s.pod}
		}
	} else {
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
	s.doc["pods"], _, s.doc["ready_pods"] = podsFacts(pods)

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

// podExpandPVC reads the facts of expand_pvc: the claim, its StorageClass, its
// capacity and the requested size.
func podExpandPVC(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, namespace, err := target(params, "pvc")
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"namespace": namespace}
	pvc, _ := params["pvc"].(map[string]any)
	// The webhook checked the size is a quantity; one that is not leaves the fact out.
	if size, ok := pvc["size"].(string); ok {
		if q, err := resource.ParseQuantity(size); err == nil {
			doc["pvc_requested_bytes"] = q.Value() // rounded up
		}
	}

	var claim corev1.PersistentVolumeClaim
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &claim); err != nil {
		if apierrors.IsNotFound(err) {
			doc["pvc_found"] = false
			doc["pvc_phase"] = ""
			return doc, nil
		}
		return nil, fmt.Errorf("reading PersistentVolumeClaim %s/%s: %w", namespace, name, err)
	}
	doc["pvc_found"] = true
	doc["pvc_phase"] = string(claim.Status.Phase)

	class := ""
	if claim.Spec.StorageClassName != nil {
		class = *claim.Spec.StorageClassName
	}
	doc["pvc_storage_class"] = class
	allows := false
	if class != "" {
		var sc storagev1.StorageClass
		if err := r.Get(ctx, client.ObjectKey{Name: class}, &sc); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading StorageClass %s: %w", class, err)
			}
		} else {
			allows = sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		}
	}
	doc["pvc_storage_class_allows_expansion"] = allows

	capacity := int64(0)
	if q, ok := claim.Status.Capacity[corev1.ResourceStorage]; ok {
		capacity = q.Value()
	}
	doc["pvc_capacity_bytes"] = capacity

	conditions := map[string]any{
		string(corev1.PersistentVolumeClaimResizing):                false,
		string(corev1.PersistentVolumeClaimFileSystemResizePending): false,
		string(corev1.PersistentVolumeClaimControllerResizeError):   false,
		string(corev1.PersistentVolumeClaimNodeResizeError):         false,
	}
	for _, c := range claim.Status.Conditions {
		conditions[string(c.Type)] = c.Status == corev1.ConditionTrue
	}
	doc["pvc_conditions"] = conditions
	return doc, nil
}

// podNotify reads the facts of notify_only: whether the core/v1 Event the executor
// named (before["event"]) exists in the namespace of the KubernetesExecution
// (params["_namespace"]). Before acting no name is chosen yet: notify_event_name is
// left out and notify_event_found is false.
func podNotify(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	before, err := podBeforeValues(params)
	if err != nil {
		return nil, err
	}
	event := before["event"]
	if event == "" {
		return map[string]any{"notify_event_found": false}, nil
	}
	namespace, _ := params[NamespaceParam].(string)
	if namespace == "" {
		return nil, fmt.Errorf("parameters.%s, the namespace of the KubernetesExecution where Event %s is recorded, is missing", NamespaceParam, event)
	}
	doc := map[string]any{"notify_event_name": event}
	var e corev1.Event
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: event}, &e); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading Event %s/%s: %w", namespace, event, err)
		}
		doc["notify_event_found"] = false
		return doc, nil
	}
	doc["notify_event_found"] = true
	return doc, nil
}
