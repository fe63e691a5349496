package webhook

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

// The permission that lets a user add or change the override annotation.
const (
	overrideVerb     = "override"
	overrideGroup    = "kubernaut.io"
	overrideResource = "conditions"
)

var conditionTypeList = regexp.MustCompile(`^[a-z][a-z0-9_]*(\s*,\s*[a-z][a-z0-9_]*)*$`)

// authorizeOverride lets the override annotation be added or changed only by a user
// allowed verb override on conditions.kubernaut.io in the namespace, asked of the
// API server with a SubjectAccessReview for the requesting user. Removing it needs
// no permission: that makes the checks stricter.
func (w *Webhooks) authorizeOverride(ctx context.Context, old, current map[string]string, namespace string) field.ErrorList {
	value, ok := current[OverrideAnnotation]
	if !ok || value == old[OverrideAnnotation] {
		return nil
	}
	path := field.NewPath("metadata", "annotations").Key(OverrideAnnotation)
	if !conditionTypeList.MatchString(strings.TrimSpace(value)) {
		return field.ErrorList{field.Invalid(path, value, "must list condition types in snake_case, separated by commas")}
	}
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("no admission request to authorize: %w", err))}
	}
	user := req.UserInfo
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: overrideVerb, Group: overrideGroup, Resource: overrideResource,
		},
	}}
	if err := w.Client.Create(ctx, review); err != nil {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("asking whether %s may override conditions: %w", user.Username, err))}
	}
	if !review.Status.Allowed {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf(
			"user %q may not override conditions in namespace %q: that needs verb %q on resource %q in API group %q",
			user.Username, namespace, overrideVerb, overrideResource, overrideGroup))}
	}
	return nil
}

// overridden returns the condition types the annotation lists.
func overridden(annotations map[string]string) map[string]bool {
	return commonv1alpha1.OverriddenConditions(annotations)
}
