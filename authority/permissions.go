package authority

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"kubernaut.io/stepvalidation/catalog"
)

// Permission is one thing a requester must be allowed to do: a verb on a resource,
// in a namespace or cluster-wide, on one named object or on all of them.
type Permission struct {
	Verb, Group, Resource, Subresource string
	// Namespace is "" for cluster scope.
	Namespace string
	// Name is "" for every object of the resource.
	Name string
}

// String reads as kubectl auth can-i would be asked: `update
// deployments.apps/scale "web-app" in namespace "payments"`, `create pods/eviction
// cluster-wide`.
func (p Permission) String() string {
	var b strings.Builder
	b.WriteString(p.What())
	if p.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %q", p.Namespace)
	} else {
		b.WriteString(" cluster-wide")
	}
	return b.String()
}

// What is the permission without its scope: `update deployments.apps/scale "web-app"`.
func (p Permission) What() string {
	var b strings.Builder
	b.WriteString(p.Verb + " " + p.Resource)
	if p.Group != "" {
		b.WriteString("." + p.Group)
	}
	if p.Subresource != "" {
		b.WriteString("/" + p.Subresource)
	}
	if p.Name != "" {
		fmt.Fprintf(&b, " %q", p.Name)
	}
	return b.String()
}

// Granted returns the permissions rules grant in namespace ("" cluster-wide):
// each verb on each resource of each group, on every object, in the order of the
// rules.
func Granted(rules []rbacv1.PolicyRule, namespace string) []Permission {
	n := 0
	for _, rule := range rules {
		n += len(rule.APIGroups) * len(rule.Resources) * len(rule.Verbs)
	}
	perms := make([]Permission, 0, n)
	for _, rule := range rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				r, sub, _ := strings.Cut(res, "/")
				for _, verb := range rule.Verbs {
					perms = append(perms, Permission{Verb: verb, Group: g, Resource: r, Subresource: sub, Namespace: namespace})
				}
			}
		}
	}
	return perms
}

// Needed returns the permissions the requester of action needs for the manager to
// run it with params: every rule the catalog lists for the action, in the target's
// namespace (cluster-wide for a cluster-scoped target such as a Node), plus get on
// the target. Rules on the target's own resource and its subresources are asked
// for the target by name, so a Role limited to that object by resourceNames
// suffices; other rules (a drain's pods/eviction, a rollback's replicasets) are
// asked for every object of their resource. namespace is the run's own namespace,
// where an action without a target (notify_only) records its Event. The error
// names a parameter that does not name a target.
func Needed(a *catalog.Action, params map[string]any, namespace string) ([]Permission, error) {
	var name string
	var group, resource string
	if t := a.Target; t != nil {
		var err error
		if name, namespace, err = t.Name(params); err != nil {
			return nil, err
		}
		group, resource = t.Group, t.Resource
	}
	granted := Granted(a.Permissions, namespace)
	perms := make([]Permission, 0, len(granted)+1)
	add := func(p Permission) {
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	for _, p := range granted {
		if a.Target != nil && p.Group == group && p.Resource == resource {
			p.Name = name
		}
		add(p)
	}
	if a.Target != nil {
		add(Permission{Verb: "get", Group: group, Resource: resource, Namespace: namespace, Name: name})
	}
	return perms, nil
}
