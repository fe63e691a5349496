package webhook

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
)

// recordRequester writes who sent a CREATE into the requested-by annotation,
// replacing whatever the client wrote. Only the manager may name someone else: it
// creates a workflow's executions for the workflow's requester.
func (w *Webhooks) recordRequester(ctx context.Context, obj metav1.Object) error {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return fmt.Errorf("no admission request to record the requester of: %w", err)
	}
	annotations := obj.GetAnnotations()
	if _, passedOn := annotations[commonv1alpha1.RequestedByAnnotation]; passedOn && req.UserInfo.Username == w.ManagerUsername {
		return nil
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[commonv1alpha1.RequestedByAnnotation] = authority.FromUserInfo(req.UserInfo).Encode()
	obj.SetAnnotations(annotations)
	return nil
}

// subject checks the requested-by annotation and returns whose permissions bound
// what the object may make the manager do: on CREATE the requester the annotation
// records (the sender, or the one the manager passed on), on UPDATE the sender,
// who may not change the annotation.
func (w *Webhooks) subject(ctx context.Context, old, obj metav1.Object) (authority.Requester, field.ErrorList) {
	path := field.NewPath("metadata", "annotations").Key(commonv1alpha1.RequestedByAnnotation)
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return authority.Requester{}, field.ErrorList{field.InternalError(path, fmt.Errorf("no admission request: %w", err))}
	}
	sender := authority.FromUserInfo(req.UserInfo)
	value, recorded := obj.GetAnnotations()[commonv1alpha1.RequestedByAnnotation]
	if old != nil {
		if oldValue, had := old.GetAnnotations()[commonv1alpha1.RequestedByAnnotation]; value != oldValue || recorded != had {
			return sender, field.ErrorList{field.Forbidden(path, "the requester is recorded when the object is created and cannot change")}
		}
		return sender, nil
	}
	if !recorded {
		return sender, field.ErrorList{field.Required(path, "the mutating webhook records the requester; is the kubernaut mutating webhook configuration installed?")}
	}
	who, err := authority.Decode(value)
	if err != nil {
		return sender, field.ErrorList{field.Invalid(path, field.OmitValueType{}, err.Error())}
	}
	if sender.Username != w.ManagerUsername && !who.Equal(sender) {
		return sender, field.ErrorList{field.Forbidden(path, fmt.Sprintf(
			"records %q, but %q sent the request: only the kubernaut manager may create a run for someone else", who.Username, sender.Username))}
	}
	return who, nil
}

// demand is what an action at path needs its requester to be allowed.
type demand struct {
	// path is the parameter that names the target (spec.parameters.deployment).
	path   *field.Path
	action string
	perms  []authority.Permission
}

// demandOf returns what action with params needs, in namespace (the object's own),
// with the path of the parameter naming its target under params.
func demandOf(a *catalog.Action, params map[string]any, namespace string, paramsPath *field.Path) (demand, error) {
	perms, err := authority.Needed(a, params, namespace)
	if err != nil {
		return demand{}, err
	}
	path := paramsPath
	if a.Target != nil {
		path = paramsPath.Child(a.Target.Param)
	}
	return demand{path: path, action: a.Name, perms: perms}, nil
}

// authorize asks, in one round of SubjectAccessReviews, whether who holds every
// permission the demands list, and returns one error per missing permission, at
// the path of the parameter that names the target.
func (w *Webhooks) authorize(ctx context.Context, who authority.Requester, demands []demand) field.ErrorList {
	if len(demands) == 0 {
		return nil
	}
	n := 0
	for _, d := range demands {
		n += len(d.perms)
	}
	all := make([]authority.Permission, 0, n)
	for _, d := range demands {
		all = append(all, d.perms...)
	}
	missing, err := w.Authority.Missing(ctx, who, all)
	if err != nil {
		return field.ErrorList{field.InternalError(demands[0].path, err)}
	}
	if len(missing) == 0 {
		return nil
	}
	lacks := make(map[authority.Permission]bool, len(missing))
	for _, p := range missing {
		lacks[p] = true
	}
	var errs field.ErrorList
	for _, d := range demands {
		var dm []authority.Permission
		for _, p := range d.perms {
			if lacks[p] {
				dm = append(dm, p)
			}
		}
		for _, msg := range authority.Explain(who, d.action, dm) {
			errs = append(errs, field.Forbidden(d.path, msg))
		}
	}
	return errs
}

// checkOwners keeps anyone but the manager from making an execution a workflow's
// own: the workflow reconciler adopts as a step only what it created, and a
// reference it did not set must not even look like one.
func (w *Webhooks) checkOwners(ctx context.Context, old, obj metav1.Object) field.ErrorList {
	req, err := admission.RequestFromContext(ctx)
	if err != nil || req.UserInfo.Username == w.ManagerUsername {
		return nil
	}
	var before []metav1.OwnerReference
	if old != nil {
		before = old.GetOwnerReferences()
	}
	var errs field.ErrorList
	for i, ref := range obj.GetOwnerReferences() {
		if ref.Kind != "WorkflowExecution" || !isWorkflowGroup(ref.APIVersion) || hasOwner(before, ref) {
			continue
		}
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "ownerReferences").Index(i),
			fmt.Sprintf("only the kubernaut manager may make an execution a step of WorkflowExecution %q: create the workflow, not its steps", ref.Name)))
	}
	return errs
}

func isWorkflowGroup(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == workflowv1alpha1.GroupVersion.Group
}

func hasOwner(refs []metav1.OwnerReference, ref metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.UID == ref.UID && r.Kind == ref.Kind && r.Name == ref.Name && r.APIVersion == ref.APIVersion &&
			ptrEqual(r.Controller, ref.Controller) {
			return true
		}
	}
	return false
}

func ptrEqual(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// StatusWebhookPath serves the status guard of both kinds.
const StatusWebhookPath = "/validate-kubernaut-io-v1alpha1-status"

// statusGuard admits writes to the status of either kind only from the manager:
// status says what was checked and decided, and nothing reads it as anyone's
// word but the manager's.
type statusGuard struct{ manager string }

func (g *statusGuard) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.UserInfo.Username == g.manager {
		return admission.Allowed("")
	}
	return admission.Denied(fmt.Sprintf(
		"user %q may not write the status of %s %s/%s: status is written only by the kubernaut manager (%s)",
		req.UserInfo.Username, req.Kind.Kind, req.Namespace, req.Name, g.manager))
}

// +kubebuilder:webhook:path=/validate-kubernaut-io-v1alpha1-status,mutating=false,failurePolicy=fail,sideEffects=None,groups=workflow.kubernaut.io;kubernetesexecution.kubernaut.io,resources=workflowexecutions/status;kubernetesexecutions/status,verbs=update,versions=v1alpha1,name=vstatus.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
