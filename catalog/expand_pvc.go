package catalog

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// expand_pvc raises the storage request of a PersistentVolumeClaim; the CSI driver
// grows its volume and, online, the kubelet its file system.
//
// Its executor records before["request"] (spec.resources.requests.storage) and
// before["capacity"] (status.capacity.storage), as quantities. Inverse: nil, a claim
// cannot shrink.
var _ = register(&Action{
	Name:        "expand_pvc",
	Target:      pvcTarget,
	Description: "Raises the storage request of a bound PersistentVolumeClaim whose StorageClass allows volume expansion.",
	Parameters: []Field{namespacedTarget("pvc", "PersistentVolumeClaim",
		Field{Name: "size", Type: String, Required: true, Format: Quantity,
			Description: "the new storage request, e.g. 20Gi; larger than the claim's capacity"},
	)},
	Permissions: []rbacv1.PolicyRule{pvcGetPatch},

	StepPreConditions:  []Suggested{pvcCondExists, pvcCondSizeIncrease},
	StepPostConditions: []Suggested{pvcCondCapacityReached},
	PreConditions:      []Suggested{pvcCondBound, pvcCondExpansionAllowed, pvcCondSizeIncrease},
	PostConditions:     []Suggested{pvcCondCapacityReached},

	Facts: []Fact{
		factPVCFound, factNamespace, factPVCPhase, factPVCStorageClass, factPVCStorageClassAllowsExpansion,
		factPVCCapacityBytes, factPVCRequestedBytes, factPVCConditions,
	},
	Provide:  expandPVCFacts,
	Executor: Executor{Capture: expandPVCCapture, Act: expandPVCAct},
})

// Facts of expand_pvc.
var (
	factPVCFound                       = Fact{"pvc_found", "boolean: the PersistentVolumeClaim named by parameters.pvc exists"}
	factPVCPhase                       = Fact{"pvc_phase", `string: status.phase of the claim (Pending, Bound, Lost); "" when it does not exist`}
	factPVCStorageClass                = Fact{"pvc_storage_class", `string: spec.storageClassName of the claim; "" for none`}
	factPVCStorageClassAllowsExpansion = Fact{"pvc_storage_class_allows_expansion", "boolean: the claim's StorageClass exists and sets allowVolumeExpansion: true"}
	factPVCCapacityBytes               = Fact{"pvc_capacity_bytes", "integer: status.capacity.storage of the claim in bytes, the size of its volume; 0 when it has none (unbound)"}
	factPVCRequestedBytes              = Fact{"pvc_requested_bytes", "integer: parameters.pvc.size in bytes, rounded up"}
	factPVCConditions                  = Fact{"pvc_conditions", "object: the claim's resize conditions as booleans: {Resizing, FileSystemResizePending, ControllerResizeError, NodeResizeError}; a condition that is absent is false"}
)

// expandPVCSize reads parameters.pvc.size.
func expandPVCSize(params map[string]any) (resource.Quantity, error) {
	s, err := stringParam(params, "pvc.size", true)
	if err != nil {
		return resource.Quantity{}, err
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("parameters.pvc.size: %q is not a quantity: %w", s, err)
	}
	return q, nil
}

// expandPVCCapture records the claim's request and capacity, as quantities ("0"
// when the claim has no capacity yet). before: request, capacity.
func expandPVCCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, err := expandPVCSize(call.Params); err != nil {
		return ObjectRef{}, nil, err
	}
	t, err := pvcTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var pvc corev1.PersistentVolumeClaim
	if err := call.Client.Get(ctx, t.key(), &pvc); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{
		"request":  quantityOr0(pvc.Spec.Resources.Requests, corev1.ResourceStorage),
		"capacity": quantityOr0(pvc.Status.Capacity, corev1.ResourceStorage),
	}, nil
}

// expandPVCAct raises the claim's storage request.
func expandPVCAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	size, err := expandPVCSize(call.Params)
	if err != nil {
		return nil, err
	}
	t, err := pvcTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	patch, err := mergePatch(obj{"spec": obj{"resources": obj{"requests": obj{"storage": size.String()}}}})
	if err != nil {
		return nil, err
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: t.meta()}
	if err := call.Client.Patch(ctx, pvc, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("expanding %s to %s: %w", t, size.String(), err)
	}
	return map[string]string{"request": quantityOr0(pvc.Spec.Resources.Requests, corev1.ResourceStorage)}, nil
}

func quantityOr0(list corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := list[name]; ok {
		return q.String()
	}
	return "0"
}

// expandPVCFacts reads the facts of expand_pvc: the claim, its StorageClass, its
// capacity and the requested size.
func expandPVCFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, namespace, err := pvcTarget.Name(params)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"namespace": namespace}
	size, err := stringParam(params, "pvc.size", false)
	if err != nil {
		return nil, err
	}
	// The webhook checked the size is a quantity; one that is not leaves the fact out.
	if q, err := resource.ParseQuantity(size); err == nil {
		doc["pvc_requested_bytes"] = q.Value() // rounded up
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
