package main

import (
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"

	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
)

// lastApplied is kubectl apply's copy of the whole object, as large as the
// object itself.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// leanCache drops from every cached object what no fact, reconciler or webhook
// reads: managedFields, and kubectl's last-applied annotation. The manager
// caches every pod, node and workload it reads facts from, and these two are
// often half of such an object. The runs themselves keep the annotation: the
// reconcilers update them from the cache, and an update without it would remove
// it from the object. Pods and nodes also lose what the catalog's facts never
// read (catalog.TrimForFacts).
func leanCache() toolscache.TransformFunc {
	return func(in any) (any, error) {
		obj, err := meta.Accessor(in)
		if err != nil {
			return in, nil
		}
		if obj.GetManagedFields() != nil {
			obj.SetManagedFields(nil)
		}
		switch in.(type) {
		case *workflowv1alpha1.WorkflowExecution, *kev1alpha1.KubernetesExecution:
			return in, nil
		}
		catalog.TrimForFacts(in)
		if a := obj.GetAnnotations(); a[lastApplied] != "" {
			trimmed := make(map[string]string, len(a)-1)
			for k, v := range a {
				if k != lastApplied {
					trimmed[k] = v
				}
			}
			obj.SetAnnotations(trimmed)
		}
		return in, nil
	}
}
