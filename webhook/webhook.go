// Package webhook admits WorkflowExecutions and KubernetesExecutions. The mutating
// webhook fills in defaults and injects the conditions the action catalog suggests;
// the validating webhook checks everything the schema cannot (catalog actions and
// their parameters, step dependencies, every condition's Rego, compiled), authorizes
// the override annotation, and on a dry run tells which preconditions would fail
// now. Errors carry field paths and come all at once.
package webhook

import (
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/conditions/check"
)

// Annotations users write on both kinds.
const (
	// OverrideAnnotation lists condition types to skip, comma-separated. Only users
	// allowed verb override on conditions.kubernaut.io may add or change it.
	OverrideAnnotation = commonv1alpha1.OverrideConditionAnnotation
	// InjectAnnotation set to "false" keeps the catalog's conditions out.
	InjectAnnotation = commonv1alpha1.InjectConditionsAnnotation
)

// DefaultPreflightBudget bounds the dry-run preflight of one request.
const DefaultPreflightBudget = time.Second

// Webhooks holds what both kinds' webhooks need.
type Webhooks struct {
	// Conditions resolves and compiles conditions, and evaluates preconditions for
	// the dry-run preflight.
	Conditions *check.Service
	// Client creates SubjectAccessReviews for the override annotation.
	Client client.Client
	// PreflightBudget bounds the preflight of one dry-run request;
	// DefaultPreflightBudget when zero.
	PreflightBudget time.Duration
}

// SetupWithManager registers the webhooks of both kinds with mgr's webhook server.
func (w *Webhooks) SetupWithManager(mgr ctrl.Manager) error {
	if w.Conditions == nil || w.Client == nil {
		return fmt.Errorf("webhooks: Conditions and Client must be set")
	}
	if err := builder.WebhookManagedBy(mgr, &workflowv1alpha1.WorkflowExecution{}).
		WithDefaulter(&workflowDefaulter{}).
		WithValidator(&workflowValidator{w}).
		Complete(); err != nil {
		return fmt.Errorf("registering the WorkflowExecution webhooks: %w", err)
	}
	if err := builder.WebhookManagedBy(mgr, &kubernetesexecutionv1alpha1.KubernetesExecution{}).
		WithDefaulter(&executionDefaulter{}).
		WithValidator(&executionValidator{w}).
		Complete(); err != nil {
		return fmt.Errorf("registering the KubernetesExecution webhooks: %w", err)
	}
	return nil
}

func (w *Webhooks) preflightBudget() time.Duration {
	if w.PreflightBudget > 0 {
		return w.PreflightBudget
	}
	return DefaultPreflightBudget
}

// The webhook configurations (config/webhook) are generated from these markers.
//
// +kubebuilder:webhook:path=/mutate-workflow-kubernaut-io-v1alpha1-workflowexecution,mutating=true,failurePolicy=fail,sideEffects=None,groups=workflow.kubernaut.io,resources=workflowexecutions,verbs=create,versions=v1alpha1,name=mworkflowexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-workflow-kubernaut-io-v1alpha1-workflowexecution,mutating=false,failurePolicy=fail,sideEffects=None,groups=workflow.kubernaut.io,resources=workflowexecutions,verbs=create;update,versions=v1alpha1,name=vworkflowexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/mutate-kubernetesexecution-kubernaut-io-v1alpha1-kubernetesexecution,mutating=true,failurePolicy=fail,sideEffects=None,groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions,verbs=create,versions=v1alpha1,name=mkubernetesexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-kubernetesexecution-kubernaut-io-v1alpha1-kubernetesexecution,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions,verbs=create;update,versions=v1alpha1,name=vkubernetesexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
