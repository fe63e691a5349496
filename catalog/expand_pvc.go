package catalog

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

	Facts: []string{
		"pvc_found", "namespace", "pvc_phase", "pvc_storage_class", "pvc_storage_class_allows_expansion",
		"pvc_capacity_bytes", "pvc_requested_bytes", "pvc_conditions",
	},
	Executor: Executor{Capture: expandPVCCapture, Act: expandPVCAct},
})

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
