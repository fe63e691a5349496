// Package executors performs the catalog's actions. Each action is a small Go
// function that acts through the Kubernetes API server, with a client that
// impersonates the action's own ServiceAccount (ServiceAccountName, Username), so
// the API server's RBAC and admission, not this package, decide what an action may
// do. There are no Jobs and no kubectl images: a Job would need an image, a pod
// and a wait for each step, and would hide the API's answers (a conflict, a
// PodDisruptionBudget's refusal) behind an exit code.
//
// An action runs in two calls (Executor). Capture reads the target and returns what
// rollback and verification need, the before values documented beside each action
// in the catalog; the reconciler records them in the KubernetesExecution's status.
// Act then changes the target, and is idempotent given the same before values, so
// that a reconciler that restarts between recording and acting may call it again.
//
// Errors wrap the API server's with what was being done, so apierrors.IsNotFound
// and apierrors.IsForbidden see through them; errors.Is(err, ErrRetryLater) marks a
// refusal that may pass later (an eviction a PodDisruptionBudget refuses).
package executors
