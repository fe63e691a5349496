package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Executor performs an action through the API server, in two calls. Capture reads
// the target and returns what rollback and verification need, the before values
// documented beside each action (e.g. {"replicas": "3"}); it changes nothing, and
// chooses the values Act reuses to stay idempotent (restart_pod's recorded_at,
// notify_only's event, rollout_restart's restarted_at). The reconciler records them
// in the KubernetesExecution's status. Act then changes the target with those before
// values and returns the after values; given the same before values it is
// idempotent, so that a reconciler that restarts between recording and acting may
// call it again.
//
// There are no Jobs and no kubectl images: a Job would need an image, a pod and a
// wait for each step, and would hide the API's answers (a conflict, a
// PodDisruptionBudget's refusal) behind an exit code. Errors wrap the API server's
// with what was being done, so apierrors.IsNotFound and apierrors.IsForbidden see
// through them; errors.Is(err, ErrRetryLater) marks a refusal that may pass later.
type Executor struct {
	Capture func(ctx context.Context, call Call) (ObjectRef, map[string]string, error)
	Act     func(ctx context.Context, call Call, before map[string]string) (map[string]string, error)
}

// Call is what an executor is handed: a client that impersonates the action's
// ServiceAccount (ImpersonatingConfig), so the API server's RBAC and admission, not
// this package, decide what the action may do; the action's parameters, which the
// webhook has validated against its schema; and the KubernetesExecution's namespace
// (notify_only records its Event there).
type Call struct {
	Client    client.Client
	Params    map[string]any
	Namespace string
	// DryRun makes every write of Act a server-side dry run: nothing changes.
	DryRun bool
	// owner names the action in the managedFields of what it writes.
	owner client.FieldOwner
}

// call is a Call of a's executor.
func (a *Action) call(c client.Client, params map[string]any, namespace string, dryRun bool) Call {
	return Call{Client: c, Params: params, Namespace: namespace, DryRun: dryRun,
		owner: client.FieldOwner("kubernaut-" + strings.ReplaceAll(a.Name, "_", "-"))}
}

// Capture reads the target of the action with params, as c, and returns it with the
// before values rollback and verification need. It changes nothing.
func (a *Action) Capture(ctx context.Context, c client.Client, params map[string]any, namespace string) (ObjectRef, map[string]string, error) {
	if a.Executor.Capture == nil {
		return ObjectRef{}, nil, fmt.Errorf("action %s has no executor", a.Name)
	}
	return a.Executor.Capture(ctx, a.call(c, params, namespace, false))
}

// Act performs the action with params, as c, with the before values Capture
// returned, and returns the after values. With dryRun every write is a server-side
// dry run.
func (a *Action) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, namespace string, dryRun bool) (map[string]string, error) {
	if a.Executor.Act == nil {
		return nil, fmt.Errorf("action %s has no executor", a.Name)
	}
	return a.Executor.Act(ctx, a.call(c, params, namespace, dryRun), before)
}

// ObjectRef names the object an action acts on. Namespace is empty for a
// cluster-scoped object (a Node).
type ObjectRef struct{ Kind, Namespace, Name string }

// String reads "Deployment production/web-app" or "Node n1".
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// key is the client.ObjectKey of r.
func (r ObjectRef) key() client.ObjectKey {
	return client.ObjectKey{Namespace: r.Namespace, Name: r.Name}
}

// meta is the ObjectMeta that names r, for a patch or a delete.
func (r ObjectRef) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name}
}

// param is r as the parameter that names it, {name, namespace} or {name}, for the
// parameters of an inverse.
func (r ObjectRef) param() map[string]any {
	if r.Namespace == "" {
		return map[string]any{"name": r.Name}
	}
	return map[string]any{"name": r.Name, "namespace": r.Namespace}
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

// Helpers the executors share to write through the API server. Each write carries
// the action's field owner, so that kubectl get --show-managed-fields tells which
// action changed a field, and, in a dry run, DryRunAll.

// patchOptions are the options of a patch of the call.
func (c Call) patchOptions() []client.PatchOption {
	opts := []client.PatchOption{c.owner}
	if c.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	return opts
}

// subResourcePatchOptions are patchOptions for a subresource (scale), whose answer
// is decoded into body.
func (c Call) subResourcePatchOptions(body client.Object) []client.SubResourcePatchOption {
	opts := []client.SubResourcePatchOption{c.owner, client.WithSubResourceBody(body)}
	if c.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	return opts
}

// createOptions are the options of a create of the call.
func (c Call) createOptions() []client.CreateOption {
	opts := []client.CreateOption{c.owner}
	if c.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	return opts
}

// mergePatch is a JSON merge patch of v, marshalled.
func mergePatch(v any) (client.Patch, error) {
	return rawPatch(types.MergePatchType, v)
}

// strategicPatch is a strategic merge patch of v, marshalled.
func strategicPatch(v any) (client.Patch, error) {
	return rawPatch(types.StrategicMergePatchType, v)
}

func rawPatch(pt types.PatchType, v any) (client.Patch, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshalling the patch: %w", err)
	}
	return client.RawPatch(pt, data), nil
}

// obj is a shorthand for the nested maps of a patch.
type obj = map[string]any

// jsonString marshals a map of strings, sorted by key, for a before or after value.
func jsonString(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	data, _ := json.Marshal(m) // a map of strings always marshals
	return string(data)
}

// now is the time an action stamps or records, in RFC 3339 as kubectl writes it.
func now() string { return time.Now().UTC().Format(time.RFC3339) }
