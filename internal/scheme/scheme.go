// Package scheme builds the runtime.Scheme the manager and the tests share: the
// built-in kinds, the Metrics API's (metrics.k8s.io, read for the pods' usage) and
// both of the project's API groups.
package scheme

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// New returns a scheme with the built-in kinds and both of our API groups.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		metricsv1beta1.AddToScheme,
		workflowv1alpha1.AddToScheme,
		kubernetesexecutionv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("building the scheme: %v", err)) // only a programming error gets here
		}
	}
	return s
}
