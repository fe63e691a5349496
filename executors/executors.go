package executors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// Target is the object an action acts on. Namespace is empty for a cluster-scoped
// object (a Node).
type Target struct{ Kind, Namespace, Name string }

// String reads "Deployment production/web-app" or "Node n1".
func (t Target) String() string {
	if t.Namespace == "" {
		return t.Kind + " " + t.Name
	}
	return t.Kind + " " + t.Namespace + "/" + t.Name
}

// Executor performs one catalog action. params are the action's parameters, which
// the webhook has validated against the catalog's schema; a wrong shape still gives
// an error naming the field, never a panic. namespace is the KubernetesExecution's
// namespace (notify_only records its Event there).
type Executor interface {
	// Capture reads the target and returns it and the before values that rollback
	// and verification need (documented beside each action in catalog/*.go, e.g.
	// {"replicas": "3"}). It changes nothing. It also chooses the values Act reuses
	// to stay idempotent (restart_pod's recorded_at, notify_only's event,
	// rollout_restart's restarted_at, rollback_deployment's to_replicaset).
	Capture(ctx context.Context, c client.Client, params map[string]any, namespace string) (Target, map[string]string, error)

	// Act performs the action with the before values Capture returned and returns the
	// after values (e.g. {"replicas": "5"}). Given the same before it is idempotent:
	// the reconciler records before in status first and, after a crash, calls Act
	// again, which then does not act twice. With dryRun the API server runs every
	// write as a server-side dry run and nothing changes.
	Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, namespace string, dryRun bool) (map[string]string, error)
}

// registry holds the executor of every catalog action.
var registry = map[string]Executor{
	"scale_deployment":    scaleDeployment{},
	"scale_statefulset":   scaleStatefulSet{},
	"rollout_restart":     rolloutRestart{},
	"restart_daemonset":   restartDaemonSet{},
	"increase_resources":  increaseResources{},
	"rollback_deployment": rollbackDeployment{},
	"update_image":        updateImage{},
	"patch_deployment":    patchDeployment{},
	"update_hpa":          updateHPA{},
	"update_configmap":    updateConfigMap{},
	"restart_pod":         restartPod{},
	"delete_pod":          deletePod{},
	"quarantine_pod":      quarantinePod{},
	"expand_pvc":          expandPVC{},
	"notify_only":         notifyOnly{},
	"cordon_node":         cordonNode{},
	"uncordon_node":       uncordonNode{},
	"drain_node":          drainNode{},
	"taint_node":          taintNode{},
	"untaint_node":        untaintNode{},
}

// For returns the executor of the catalog action named action.
func For(action string) (Executor, bool) {
	e, ok := registry[action]
	return e, ok
}

// ErrRetryLater marks a refusal that may pass later without anyone changing the
// request: the reconciler retries after a delay instead of failing the step. Test
// for it with errors.Is; the error itself is a *RetryLaterError.
var ErrRetryLater = errors.New("refused for now, retry later")

// RetryLaterError is a transient refusal, e.g. evictions that PodDisruptionBudgets
// refuse. errors.Is(err, ErrRetryLater) holds for it.
type RetryLaterError struct {
	// Doing says what was refused, e.g. "draining Node n1".
	Doing string
	// Reason says why, e.g. "their PodDisruptionBudgets allow no disruption now".
	Reason string
	// Waiting lists what still waits, e.g. the pods not evicted as namespace/name.
	Waiting []string
	// After is how long to wait before retrying.
	After time.Duration
}

func (e *RetryLaterError) Error() string {
	msg := e.Doing + ": " + e.Reason
	if len(e.Waiting) > 0 {
		msg += " (" + strings.Join(e.Waiting, ", ") + ")"
	}
	return msg + "; retry later"
}

// Is makes errors.Is(err, ErrRetryLater) true.
func (e *RetryLaterError) Is(target error) bool { return target == ErrRetryLater }

// ServiceAccountNamespace is the namespace of the actions' ServiceAccounts: the
// manager's default namespace.
const ServiceAccountNamespace = "kubernaut-system"

// ServiceAccountName is the ServiceAccount an action acts as:
// scale_deployment acts as scale-deployment-sa.
func ServiceAccountName(action string) string {
	return strings.ReplaceAll(action, "_", "-") + "-sa"
}

// Username is the user name of an action's ServiceAccount in namespace, as the API
// server authenticates it and as rest.ImpersonationConfig takes it:
// system:serviceaccount:<namespace>:<action-with-hyphens>-sa.
func Username(namespace, action string) string {
	return "system:serviceaccount:" + namespace + ":" + ServiceAccountName(action)
}

// ClusterRoleName is the ClusterRole that grants an action its Permissions:
// kubernaut-action-<action-with-hyphens>.
func ClusterRoleName(action string) string {
	return "kubernaut-action-" + strings.ReplaceAll(action, "_", "-")
}

// Permissions are the RBAC rules an action's ServiceAccount needs: the catalog's,
// plus extraPermissions.
func Permissions(action string) ([]rbacv1.PolicyRule, error) {
	a, ok := catalog.Lookup(action)
	if !ok {
		return nil, fmt.Errorf("no catalog action named %q", action)
	}
	rules := slices.Clone(a.Permissions)
	for _, rule := range extraPermissions[action] {
		rules = append(rules, *rule.DeepCopy())
	}
	return rules, nil
}

// extraPermissions are rules an executor needs beyond the catalog's Permissions of
// its action. Each belongs in the catalog: it is here only until the catalog's owner
// moves it there, and the generated RBAC (config/rbac/actions.yaml) includes it
// meanwhile. Empty: the catalog's Permissions cover every call the executors make.
var extraPermissions = map[string][]rbacv1.PolicyRule{}

// ImpersonatorRoleName is the Role, in ServiceAccountNamespace, that grants the verb
// impersonate on the actions' ServiceAccounts and nothing else
// (config/rbac/actions.yaml): bind it to the manager's ServiceAccount.
const ImpersonatorRoleName = "kubernaut-action-impersonator"

// ImpersonatingConfig returns a copy of cfg that acts as action's ServiceAccount in
// namespace (normally ServiceAccountNamespace). The identity behind cfg needs the
// verb impersonate on that ServiceAccount (ImpersonatorRoleName).
func ImpersonatingConfig(cfg *rest.Config, namespace, action string) *rest.Config {
	impersonating := rest.CopyConfig(cfg)
	impersonating.Impersonate = rest.ImpersonationConfig{UserName: Username(namespace, action)}
	return impersonating
}
