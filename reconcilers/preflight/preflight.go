// Package preflight checks, without acting, that an action may run now and that
// the API server would accept it: its requester's rights, its ServiceAccount's,
// the safety policies, and a server-side dry run as that ServiceAccount. The
// execution reconciler runs these checks before each action acts; the workflow
// reconciler runs them over every step before the first acts, when the workflow
// asks for executionStrategy.dryRunFirst.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
)

// Checker runs the checks. Set its exported fields before the first call.
type Checker struct {
	// Authority answers for requesters and for the actions' ServiceAccounts.
	Authority *authority.Reviewer
	// Conditions evaluates the safety policies; its Reader reads the safety input.
	Conditions *check.Service
	// Config is the manager's; the dry run and the actions impersonate the
	// action's ServiceAccount with it.
	Config *rest.Config
	// Scheme and Mapper serve the impersonating clients.
	Scheme *runtime.Scheme
	Mapper meta.RESTMapper
	// Namespace holds the actions' ServiceAccounts: the manager's. The
	// protected_namespaces safety policy protects it.
	Namespace string
	// ReplicaCeiling is the safety input's replica_ceiling.
	ReplicaCeiling int
	// ProtectedNamespaces are protected beside the system namespaces and
	// Namespace (the safety input's protected_namespaces).
	ProtectedNamespaces []string

	mu            sync.Mutex
	impersonating map[string]client.Client
}

// Refusal is a check that did not pass: Reason is the status condition reason
// (InvalidParameters, Forbidden, SafetyPolicyDenied, DryRunFailed) and Message
// says what is wrong.
type Refusal struct{ Reason, Message string }

// Capture is what an action's executor read of its target before acting.
type Capture struct {
	Target catalog.ObjectRef
	Before map[string]string
}

// ServiceAccountUsername is the user an action acts as.
func (c *Checker) ServiceAccountUsername(action *catalog.Action) string {
	return action.Username(c.Namespace)
}

// ServiceAccount asks the API server whether the action's ServiceAccount holds
// every permission the catalog says the action needs, in the target's namespace
// ("" for a cluster-scoped target). It returns what is missing, or "". Allowed
// answers are reused as the requester's are (authority.Reviewer); a revoked one is
// still refused by the API server when the executor acts, since it acts as that
// ServiceAccount.
func (c *Checker) ServiceAccount(ctx context.Context, action *catalog.Action, namespace string) (string, error) {
	rules := action.Permissions
	sa := authority.Requester{
		Username: c.ServiceAccountUsername(action),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + c.Namespace, "system:authenticated"},
	}
	missing, err := c.Authority.Missing(ctx, sa, authority.Granted(rules, namespace))
	if err != nil || len(missing) == 0 {
		return "", err
	}
	what := make([]string, len(missing))
	for i, p := range missing {
		what[i] = p.What()
	}
	where := "cluster-wide"
	if namespace != "" {
		where = "in namespace " + namespace
	}
	return fmt.Sprintf("ServiceAccount %s may not %s %s; bind it ClusterRole %s (config/rbac/actions.yaml)",
		sa.Username, strings.Join(what, ", "), where, action.ClusterRoleName()), nil
}

// SafetyInput is the document the safety policies decide on (facts.SafetyInput).
func (c *Checker) SafetyInput(ctx context.Context, action string, params map[string]any) (map[string]any, error) {
	doc, err := facts.SafetyInput(ctx, c.Conditions.Reader, action, params,
		facts.SafetyOptions{ManagerNamespace: c.Namespace, ReplicaCeiling: c.ReplicaCeiling, ProtectedNamespaces: c.ProtectedNamespaces})
	if err != nil {
		return nil, fmt.Errorf("reading the safety input: %w", err)
	}
	return doc, nil
}

// Safety evaluates every safety policy on doc and returns the reasons of those
// that deny. A policy that cannot decide denies: a guard rail fails closed.
func (c *Checker) Safety(ctx context.Context, doc map[string]any) []string {
	var refusals []string
	for _, e := range c.Conditions.Library.SafetyPolicies() {
		res := c.Conditions.Engine.Evaluate(ctx, e.Policy, doc)
		if !res.Passed() {
			refusals = append(refusals, e.Name+": "+res.Message)
		}
	}
	return refusals
}

// SafetyRefusal says that the safety policies denied the action.
func SafetyRefusal(refusals []string) string {
	return "safety policy denied the action: " + strings.Join(refusals, "; ")
}

// DryRun captures the target and runs the action as a server-side dry run, as
// the action's ServiceAccount; namespace is the run's. An executor asking to wait
// (a PodDisruptionBudget refusing evictions now) passes, with the reason: acting
// will wait the same way. message says what happened either way.
func (c *Checker) DryRun(ctx context.Context, action *catalog.Action, params map[string]any, namespace string) (_ *Capture, message string, ok bool) {
	cl, err := c.ClientFor(action)
	if err != nil {
		return nil, err.Error(), false
	}
	target, before, err := action.Capture(ctx, cl, params, namespace)
	if err != nil {
		return nil, err.Error(), false
	}
	captured := &Capture{Target: target, Before: before}
	if _, err := action.Act(ctx, cl, params, before, namespace, true); err != nil {
		if errors.Is(err, catalog.ErrRetryLater) {
			return captured, "the dry run passed, but acting will wait: " + err.Error(), true
		}
		return nil, err.Error(), false
	}
	return captured, "the API server accepted the change to " + target.String() + " as a dry run", true
}

// Check runs every check in order and returns the first refusal, or nil: the
// requester's rights (annotations record who asked), the action's
// ServiceAccount's, the safety policies and the dry run. params are the
// action's, validated; namespace is the run's.
func (c *Checker) Check(ctx context.Context, annotations map[string]string, action *catalog.Action, params map[string]any, namespace string) (*Refusal, error) {
	if refused, err := c.Authority.Check(ctx, annotations, action, params, namespace); err != nil || refused != "" {
		return refusal(commonv1alpha1.ForbiddenReason, refused), err
	}
	doc, err := c.SafetyInput(ctx, action.Name, params)
	if err != nil {
		return nil, err
	}
	target, _ := doc["target_namespace"].(string)
	if missing, err := c.ServiceAccount(ctx, action, target); err != nil || missing != "" {
		return refusal(commonv1alpha1.ForbiddenReason, missing), err
	}
	if refusals := c.Safety(ctx, doc); len(refusals) > 0 {
		return refusal(commonv1alpha1.SafetyPolicyDeniedReason, SafetyRefusal(refusals)), nil
	}
	if _, msg, ok := c.DryRun(ctx, action, params, namespace); !ok {
		return refusal(commonv1alpha1.DryRunFailedReason, msg), nil
	}
	return nil, nil
}

func refusal(reason, message string) *Refusal {
	if message == "" {
		return nil
	}
	return &Refusal{Reason: reason, Message: message}
}

// ClientFor returns a client that impersonates the action's ServiceAccount, one
// per action, built on first use.
func (c *Checker) ClientFor(action *catalog.Action) (client.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.impersonating[action.Name]; ok {
		return cl, nil
	}
	cfg := action.ImpersonatingConfig(c.Config, c.Namespace)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building a client for %s: %w", c.ServiceAccountUsername(action), err)
	}
	cl, err := client.New(cfg, client.Options{Scheme: c.Scheme, Mapper: c.Mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("building a client for %s: %w", c.ServiceAccountUsername(action), err)
	}
	if c.impersonating == nil {
		c.impersonating = map[string]client.Client{}
	}
	c.impersonating[action.Name] = cl
	return cl, nil
}
