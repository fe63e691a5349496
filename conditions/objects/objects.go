// Package objects reads the Kubernetes objects a condition declares
// (spec...conditions[].objects): custom resources that hold application state, such
// as a Certificate's readiness. Policies have no access to the API server; the
// manager reads each object for them, and only one the run's requester may get
// (SECURITY.md, invariant 3), asked with a SubjectAccessReview at admission and again
// at each read.
//
// A read goes to the API server, not to an informer: a condition names one object,
// of any kind, so a watch per kind would cost more than the one GET per evaluation.
// The object is bounded: metadata.managedFields and the last-applied annotation are
// dropped, and an object larger than MaxBytes is refused.
package objects

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
)

// DefaultMaxBytes bounds an object's JSON, managed fields dropped: enough for any
// status a policy decides on, small enough that a few per condition cost little.
const DefaultMaxBytes = 64 << 10

// ReaderRole is the label of the ClusterRoles that let the manager read objects
// for conditions: they are aggregated into the ClusterRole bound to the manager
// (config/rbac/condition_objects.yaml). Without one for a kind, reads are refused.
const ReaderRole = "kubernaut.io/aggregate-to-condition-objects"

// Ref is one object to read.
type Ref struct {
	schema.GroupVersionKind
	// Namespace is "" for a cluster-scoped kind.
	Namespace, Name string
}

func (r Ref) String() string {
	s := r.Kind + " " + r.Name
	if r.Namespace != "" {
		s = r.Kind + " " + r.Namespace + "/" + r.Name
	}
	return s
}

// RefOf is the object q names for a run in runNamespace whose action targets
// targetName in targetNamespace: {{name}} and {{namespace}} in q's name and
// namespace stand for the target's, and are errors for an action without a target
// ("" name) or, {{namespace}}, a cluster-scoped one. Errors name the field.
func RefOf(q commonv1alpha1.ObjectQuery, runNamespace, targetName, targetNamespace string) (Ref, error) {
	gv, err := schema.ParseGroupVersion(q.APIVersion)
	if err != nil || gv.Version == "" {
		return Ref{}, fmt.Errorf("apiVersion %q is not group/version or version", q.APIVersion)
	}
	name, err := expand("name", q.Name, targetName, targetNamespace)
	if err != nil {
		return Ref{}, err
	}
	namespace, err := expand("namespace", q.Namespace, targetName, targetNamespace)
	if err != nil {
		return Ref{}, err
	}
	if namespace == "" {
		namespace = runNamespace
	}
	if namespace != "" {
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			return Ref{}, fmt.Errorf("namespace %q: %s", namespace, strings.Join(errs, "; "))
		}
	}
	// Checked once expanded: what surrounds {{name}} can make it no name ("{{name}}/.."),
	// which would otherwise be asked about in a SubjectAccessReview.
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return Ref{}, fmt.Errorf("name %q: %s", name, strings.Join(errs, "; "))
	}
	return Ref{GroupVersionKind: gv.WithKind(q.Kind), Namespace: namespace, Name: name}, nil
}

// expand replaces {{name}} and {{namespace}} in a field; any other {{...}} is an
// error naming the field.
func expand(field, s, name, namespace string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("%s: %q opens {{ without closing it", field, s)
		}
		b.WriteString(s[:i])
		switch v := strings.TrimSpace(s[i+2 : i+j]); v {
		case "name", "namespace":
			// Empty, the variable would widen the review to every object
			// (name) or quietly mean the run's namespace (namespace).
			switch {
			case name == "":
				return "", fmt.Errorf("%s: {{%s}} stands for the action's target, and the action has none", field, v)
			case v == "namespace" && namespace == "":
				return "", fmt.Errorf("%s: {{namespace}} stands for the target's namespace, and the target is cluster-scoped", field)
			case v == "name":
				b.WriteString(name)
			default:
				b.WriteString(namespace)
			}
		default:
			return "", fmt.Errorf("%s: unknown variable {{%s}}: only {{name}} and {{namespace}} (the target's) exist", field, v)
		}
		s = s[i+j+2:]
	}
}

// Permission is what a requester needs to read ref: get on the object. A
// cluster-scoped kind is read cluster-wide, whatever namespace ref names.
func Permission(mapper meta.RESTMapper, ref Ref) (authority.Permission, Ref, error) {
	m, err := mapper.RESTMapping(ref.GroupKind(), ref.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return authority.Permission{}, ref, fmt.Errorf("the API server serves no kind %s in %s", ref.Kind, ref.GroupVersion())
		}
		return authority.Permission{}, ref, err
	}
	if m.Scope.Name() == meta.RESTScopeNameRoot {
		ref.Namespace = ""
	}
	return authority.Permission{Verb: "get", Group: m.Resource.Group, Resource: m.Resource.Resource,
		Namespace: ref.Namespace, Name: ref.Name}, ref, nil
}

// MissingError says the object does not exist (yet): a condition reading it is
// inconclusive, not failed.
type MissingError struct{ Ref Ref }

func (e *MissingError) Error() string { return e.Ref.String() + " does not exist" }

// Reader reads objects for conditions. It is safe for concurrent use.
type Reader struct {
	// Client reads from the API server (the manager's API reader, not its cache).
	Client client.Reader
	Mapper meta.RESTMapper
	// Reviewer asks whether the requester may get the object.
	Reviewer *authority.Reviewer
	// MaxBytes bounds an object's JSON; DefaultMaxBytes when zero.
	MaxBytes int
}

// Read returns ref's object as JSON values, if who may get it.
func (r *Reader) Read(ctx context.Context, who authority.Requester, ref Ref) (map[string]any, error) {
	perm, ref, err := Permission(r.Mapper, ref)
	if err != nil {
		return nil, err
	}
	missing, err := r.Reviewer.Missing(ctx, who, []authority.Permission{perm})
	if err != nil {
		return nil, fmt.Errorf("asking whether %s may read %s: %w", who, ref, err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("user %q cannot %s", who, missing[0])
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ref.GroupVersionKind)
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, &MissingError{Ref: ref}
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("the manager may not read %s: give it get on %s with a ClusterRole labelled %s=true",
			ref, perm.What(), ReaderRole)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return bound(u, r.maxBytes())
}

func (r *Reader) maxBytes() int {
	if r.MaxBytes > 0 {
		return r.MaxBytes
	}
	return DefaultMaxBytes
}

// bound drops what no policy needs and refuses an object larger than max.
func bound(u *unstructured.Unstructured, max int) (map[string]any, error) {
	u.SetManagedFields(nil)
	if a := u.GetAnnotations(); a != nil {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		if len(a) == 0 {
			a = nil
		}
		u.SetAnnotations(a)
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	if len(raw) > max {
		return nil, fmt.Errorf("%s %s is %d bytes, more than the %d a condition may read", u.GetKind(), u.GetName(), len(raw), max)
	}
	// Through JSON: OPA's input wants JSON numbers, not int64.
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}
