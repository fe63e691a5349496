package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// The commands of the gates, where a run waits for a person: approve, reject,
// override, and the pause switches.
func init() {
	extraCommands = append(extraCommands,
		func() *cobra.Command { return newDecisionCommand(commonv1alpha1.Approve) },
		func() *cobra.Command { return newDecisionCommand(commonv1alpha1.Reject) },
		newOverrideCommand, newPauseCommand, newResumeCommand)
}

const gatesExitHelp = `Exit codes:
  0  done
  1  the API server refused (RBAC, an admission webhook, the schema), the object
     does not exist, or the API server could not be reached
  2  usage error, or a kubeconfig that cannot be loaded`

// defaultManagerNamespace is where the install puts the manager, and so the
// cluster-wide pause switch.
const defaultManagerNamespace = "kubernaut-system"

// maxOverride is the longest an override may last; the admission webhook refuses
// a later kubernaut.io/override-expires, so the CLI says so before asking.
const maxOverride = 7 * 24 * time.Hour

// runKind is one of the two kinds that wait for people.
type runKind struct {
	name, resource, short string // workflowexecution, workflowexecutions, wfe
	gvk                   schema.GroupVersionKind
}

var (
	workflowRun = &runKind{name: "workflowexecution", resource: "workflowexecutions", short: "wfe",
		gvk: workflowv1alpha1.GroupVersion.WithKind("WorkflowExecution")}
	executionRun = &runKind{name: "kubernetesexecution", resource: "kubernetesexecutions", short: "ke",
		gvk: kubernetesexecutionv1alpha1.GroupVersion.WithKind("KubernetesExecution")}
	// runKinds maps every type name the commands accept to its kind.
	runKinds = map[string]*runKind{
		"wfe": workflowRun, "workflowexecution": workflowRun, "workflowexecutions": workflowRun,
		"ke": executionRun, "kubernetesexecution": executionRun, "kubernetesexecutions": executionRun,
	}
)

// rbacName is how RBAC names the kind's resource, e.g. workflowexecutions.workflow.kubernaut.io.
func (k *runKind) rbacName() string { return k.resource + "." + k.gvk.Group }

// runRef is the run a command names, as TYPE/NAME in a namespace.
type runRef struct {
	kind            *runKind
	namespace, name string
}

// parseRun reads TYPE/NAME, before the namespace is known: a usage error is
// reported without loading the kubeconfig. Errors have exit code 2.
func parseRun(arg string) (runRef, error) {
	typ, name, ok := strings.Cut(arg, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return runRef{}, usageErrorf("%q is not TYPE/NAME; give wfe/NAME or ke/NAME", arg)
	}
	kind, ok := runKinds[strings.ToLower(typ)]
	if !ok {
		return runRef{}, usageErrorf("unknown type %q in %s; use wfe (workflowexecution) or ke (kubernetesexecution)", typ, arg)
	}
	return runRef{kind: kind, name: name}, nil
}

func (r runRef) String() string { return r.kind.name + " " + r.namespace + "/" + r.name }

// object is an empty unstructured object of the run, to read or patch. Runs are
// handled unstructured so that a field this CLI's types do not know (a newer CRD)
// is written back as it was.
func (r runRef) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.kind.gvk)
	u.SetNamespace(r.namespace)
	u.SetName(r.name)
	return u
}

// failure is the error of a request the API server refused or could not answer:
// exit code 1, saying what to do about it. A missing run names the command that
// lists them; RBAC's Forbidden gets hint, the permission to ask for. A refusal by
// an admission webhook or the schema is the API server's message as it is: it
// already names the field and the permission missing.
func (r runRef) failure(err error, hint string) error {
	if apierrors.IsNotFound(err) {
		err = fmt.Errorf("%s not found (kubectl get %s -n %s lists them)", r, r.kind.short, r.namespace)
	}
	return refusal(err, hint)
}

// refusal is failure for any object: exit code 1, with hint after RBAC's Forbidden.
func refusal(err error, hint string) error {
	// A webhook's plain denial is a 403 too; it explains itself.
	if apierrors.IsForbidden(err) && !strings.Contains(err.Error(), "admission webhook") {
		err = fmt.Errorf("%w\n%s", err, hint)
	}
	return &exitError{code: exitFailed, err: err}
}

// requireReason returns a usage error when reason is blank: every gate is
// audited with why.
func requireReason(reason, what string) error {
	if strings.TrimSpace(reason) == "" {
		return usageErrorf("--reason is required: say why you %s, for the audit trail", what)
	}
	return nil
}

func newDecisionCommand(decision commonv1alpha1.ApprovalDecision) *cobra.Command {
	var (
		kf     kubeFlags
		reason string
	)
	verb, done := "approve", "approved"
	short := "Approve a run that waits for approval, under your own name"
	effect := `The run goes on once spec.executionStrategy.approvalsRequired distinct people have
approved it.`
	example := `  kubernaut approve wfe/scale-web-app -n production --reason "checked the dashboards"
  kubernaut approve ke/scale-web-app-step-1 --reason "CHG-1234" --context prod`
	if decision == commonv1alpha1.Reject {
		verb, done = "reject", "rejected"
		short = "Reject a run that waits for approval, under your own name"
		effect = `One rejection fails the run.`
		example = `  kubernaut reject wfe/scale-web-app -n production --reason "50 replicas, not 5: typo in the request"
  kubernaut reject ke/scale-web-app-step-1 --reason "not during the sale" --context prod`
	}
	cmd := &cobra.Command{
		Use:   verb + " TYPE/NAME --reason TEXT",
		Short: short,
		Long: verb + ` appends {approver: you, decision: ` + string(decision) + `, reason} to the spec.approvals
of a WorkflowExecution or KubernetesExecution, keeping the entries already there.
` + effect + `

You are the user the API server authenticates from your kubeconfig (asked with a
SelfSubjectReview). The admission webhook admits the entry only under that name,
only from someone with verb approve on the run's resource in its namespace (the
ClusterRole kubernaut-approver grants it, with get and update), and not from the
run's requester.

TYPE is wfe, workflowexecution, ke or kubernetesexecution.

` + gatesExitHelp,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ref, err := parseRun(args[0])
			if err != nil {
				return err
			}
			if err := requireReason(reason, verb); err != nil {
				return err
			}
			k, err := kf.connect(c.ErrOrStderr())
			if err != nil {
				return err
			}
			ref.namespace = k.namespace
			ctx := c.Context()
			user, err := k.whoAmI(ctx)
			if err != nil {
				return refusal(err, "Every authenticated user may create a SelfSubjectReview; check the kubeconfig's credentials.")
			}
			spec, err := appendApproval(ctx, k, ref, commonv1alpha1.Approval{Approver: user, Decision: decision, Reason: reason})
			if err != nil {
				return ref.failure(err, fmt.Sprintf(
					"To %s, you need verbs get, update and approve on %s in namespace %s: ask for a RoleBinding there to the ClusterRole kubernaut-approver.",
					verb, ref.kind.rbacName(), ref.namespace))
			}
			line := fmt.Sprintf("%s: %s by %s", ref, done, user)
			if decision == commonv1alpha1.Approve {
				if spec.ExecutionStrategy.ApprovalRequired {
					line += fmt.Sprintf(" (%d of %d approvals)", spec.approvers(), spec.ExecutionStrategy.Approvals())
				} else {
					line += " (it does not wait for approval)"
				}
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), line)
			return err
		},
	}
	kf.bind(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "why you "+verb+", for the audit trail (required)")
	return cmd
}

// gateSpec is what the decision commands report from either kind's spec.
type gateSpec struct {
	ExecutionStrategy commonv1alpha1.Gates      `json:"executionStrategy"`
	Approvals         []commonv1alpha1.Approval `json:"approvals"`
}

// approvers counts the distinct people who approved.
func (s *gateSpec) approvers() int {
	seen := map[string]bool{}
	for _, a := range s.Approvals {
		if a.Decision == commonv1alpha1.Approve {
			seen[a.Approver] = true
		}
	}
	return len(seen)
}

// appendApproval appends a to the run's spec.approvals and updates the run at the
// resourceVersion it read, reading again on a conflict: an entry someone else
// appended meanwhile is kept, and no entry is rewritten.
func appendApproval(ctx context.Context, k *kube, ref runRef, a commonv1alpha1.Approval) (*gateSpec, error) {
	obj := ref.object()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj = ref.object()
		if err := k.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		approvals, _, err := unstructured.NestedSlice(obj.Object, "spec", "approvals")
		if err != nil {
			return err
		}
		approvals = append(approvals, map[string]any{"approver": a.Approver, "decision": string(a.Decision), "reason": a.Reason})
		if err := unstructured.SetNestedSlice(obj.Object, approvals, "spec", "approvals"); err != nil {
			return err
		}
		return k.Update(ctx, obj)
	})
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(obj.Object["spec"])
	if err != nil {
		return nil, err
	}
	var spec gateSpec
	return &spec, json.Unmarshal(data, &spec)
}

func newOverrideCommand() *cobra.Command {
	var (
		kf             kubeFlags
		conditionTypes []string
		reason         string
		expires        time.Duration
		clearOverride  bool
	)
	cmd := &cobra.Command{
		Use:   "override TYPE/NAME --condition TYPE[,TYPE...] --reason TEXT [--expires DURATION] | --clear",
		Short: "Skip conditions of a run (a blocked run goes on), or clear the override",
		Long: `override sets the override annotations of a WorkflowExecution or KubernetesExecution:
kubernaut.io/override-condition (the condition types to skip), override-reason and,
with --expires, override-expires (now + DURATION, in UTC, at most 168h: 7 days).
Without --expires an earlier expiry is removed. A run blocked by one of those
conditions goes on. The admission webhook records who set it and when
(override-by, override-at), and admits it only from someone with verb override on
conditions.kubernaut.io (the ClusterRole kubernaut-condition-override) in the run's
namespace and in every namespace its actions target.

--clear removes override-condition, override-reason and override-expires, and
nothing else.

TYPE is wfe, workflowexecution, ke or kubernetesexecution.

` + gatesExitHelp,
		Example: `  kubernaut override wfe/scale-web-app -n production --condition deployment_exists --reason "INC-4711: created by the rollout" --expires 2h
  kubernaut override ke/drain-node-7 --condition no_pdb_violation,node_ready --reason "maintenance window"
  kubernaut override wfe/scale-web-app -n production --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ref, err := parseRun(args[0])
			if err != nil {
				return err
			}
			var annotations map[string]any
			if clearOverride {
				if c.Flags().Changed("condition") || c.Flags().Changed("reason") || c.Flags().Changed("expires") {
					return usageErrorf("--clear removes the override; give it without --condition, --reason or --expires")
				}
				annotations = map[string]any{
					commonv1alpha1.OverrideConditionAnnotation: nil,
					commonv1alpha1.OverrideReasonAnnotation:    nil,
					commonv1alpha1.OverrideExpiresAnnotation:   nil,
				}
			} else {
				var err error
				if annotations, err = overrideAnnotations(conditionTypes, reason, expires, time.Now()); err != nil {
					return err
				}
			}
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
			if err != nil {
				return err
			}
			k, err := kf.connect(c.ErrOrStderr())
			if err != nil {
				return err
			}
			ref.namespace = k.namespace
			obj := ref.object()
			if err := k.Patch(c.Context(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return ref.failure(err, fmt.Sprintf(
					"To override, you need verb patch on %s and verb override on conditions.kubernaut.io in namespace %s (and in every namespace the run acts on): ask for a RoleBinding there to the ClusterRole kubernaut-condition-override, which grants both.",
					ref.kind.rbacName(), ref.namespace))
			}
			line := ref.String() + ": override cleared"
			if !clearOverride {
				set := obj.GetAnnotations()
				line = fmt.Sprintf("%s: conditions %s overridden", ref, set[commonv1alpha1.OverrideConditionAnnotation])
				if by := set[commonv1alpha1.OverrideByAnnotation]; by != "" {
					line += " by " + by
				}
				if until := set[commonv1alpha1.OverrideExpiresAnnotation]; until != "" {
					line += " until " + until
				}
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), line)
			return err
		},
	}
	kf.bind(cmd, true)
	cmd.Flags().StringSliceVar(&conditionTypes, "condition", nil, "condition types to skip, comma-separated or repeated")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail (required unless --clear)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "how long the override applies, e.g. 2h; at most 168h (default: until cleared)")
	cmd.Flags().BoolVar(&clearOverride, "clear", false, "remove the override annotations instead")
	return cmd
}

// overrideAnnotations returns the annotations of an override, as a merge patch:
// a nil value removes an earlier expiry. Errors have exit code 2.
func overrideAnnotations(conditionTypes []string, reason string, expires time.Duration, now time.Time) (map[string]any, error) {
	var kept []string
	for _, t := range conditionTypes {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(kept, t) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return nil, usageErrorf("--condition is required: the condition types to skip, e.g. --condition deployment_exists (or --clear to remove the override)")
	}
	if err := requireReason(reason, "override"); err != nil {
		return nil, err
	}
	annotations := map[string]any{
		commonv1alpha1.OverrideConditionAnnotation: strings.Join(kept, ","),
		commonv1alpha1.OverrideReasonAnnotation:    reason,
		commonv1alpha1.OverrideExpiresAnnotation:   nil,
	}
	switch {
	case expires < 0:
		return nil, usageErrorf("--expires %s is negative; give how long the override applies, e.g. --expires 2h", expires)
	case expires > maxOverride:
		return nil, usageErrorf("--expires %gh is more than 168h: an override may last at most 7 days", expires.Hours())
	case expires > 0:
		annotations[commonv1alpha1.OverrideExpiresAnnotation] = now.Add(expires).UTC().Format(time.RFC3339)
	}
	return annotations, nil
}

// pauseFlags are the flags of pause and resume. --namespace names the namespace
// to pause, not the namespace of an object, so these commands have no -n.
type pauseFlags struct {
	kube             kubeFlags
	namespace        string
	managerNamespace string
}

func (f *pauseFlags) bind(cmd *cobra.Command, verb string) {
	f.kube.bind(cmd, false)
	cmd.Flags().StringVar(&f.namespace, "namespace", "", verb+" only this namespace (annotation "+commonv1alpha1.PauseAnnotation+" on the Namespace) rather than the whole cluster")
	cmd.Flags().StringVar(&f.managerNamespace, "manager-namespace", defaultManagerNamespace, "the manager's namespace, where the cluster-wide switch (ConfigMap "+commonv1alpha1.PauseConfigMap+") lives")
}

// switchKey is the cluster-wide pause switch.
func (f *pauseFlags) switchKey() client.ObjectKey {
	return client.ObjectKey{Namespace: f.managerNamespace, Name: commonv1alpha1.PauseConfigMap}
}

func (f *pauseFlags) clusterHint() string {
	return fmt.Sprintf("Pausing cluster-wide needs verbs get, create and update (resuming: delete) on the ConfigMap %s in namespace %s: ask for a RoleBinding there to the Role kubernaut-pauser.",
		commonv1alpha1.PauseConfigMap, f.managerNamespace)
}

func (f *pauseFlags) namespaceHint() string {
	return fmt.Sprintf("Pausing a namespace needs verbs get and update on the Namespace %s: ask an administrator for a RoleBinding in that namespace to a ClusterRole with them (see the operator guide, Gates).",
		f.namespace)
}

const pauseHelp = `Pause switches stop new actions: runs wait in phase paused until the pause ends,
and actions already taken go on being verified. Without --namespace the switch is
cluster-wide: the ConfigMap kubernaut-pause in the manager's namespace, its data key
reason saying why. With --namespace it is the annotation kubernaut.io/paused on that
Namespace, its value saying why.`

func newPauseCommand() *cobra.Command {
	var (
		f      pauseFlags
		reason string
	)
	cmd := &cobra.Command{
		Use:   "pause --reason TEXT [--namespace NAMESPACE]",
		Short: "Stop new actions, cluster-wide or in one namespace",
		Long: pauseHelp + `

pause creates or updates the switch. kubernaut resume ends the pause.

` + gatesExitHelp,
		Example: `  kubernaut pause --reason "INC-4711: database failover in progress"
  kubernaut pause --namespace production --reason "release freeze until Monday"
  kubernaut pause --manager-namespace kubernaut --reason "upgrading the manager"`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireReason(reason, "pause"); err != nil {
				return err
			}
			k, err := f.kube.connect(c.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := c.Context()
			var line string
			if f.namespace == "" {
				if err := pauseCluster(ctx, k, f.switchKey(), reason); err != nil {
					return refusal(f.managerNamespaceMissing(err), f.clusterHint())
				}
				line = fmt.Sprintf("paused cluster-wide (ConfigMap %s): %s", f.switchKey(), reason)
			} else {
				if err := annotateNamespace(ctx, k, f.namespace, &reason); err != nil {
					return refusal(namespaceMissing(err, f.namespace), f.namespaceHint())
				}
				line = fmt.Sprintf("namespace %s paused: %s", f.namespace, reason)
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), line)
			return err
		},
	}
	f.bind(cmd, "pause")
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown in the status of every paused run (required)")
	return cmd
}

func newResumeCommand() *cobra.Command {
	var f pauseFlags
	cmd := &cobra.Command{
		Use:   "resume [--namespace NAMESPACE]",
		Short: "End a pause, cluster-wide or in one namespace",
		Long: pauseHelp + `

resume deletes the ConfigMap, or removes the annotation from the Namespace. A switch
that is not there is not an error: resume says it was not paused. Resuming
cluster-wide leaves namespaces paused by their annotation paused.

` + gatesExitHelp,
		Example: `  kubernaut resume
  kubernaut resume --namespace production`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			k, err := f.kube.connect(c.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := c.Context()
			var line string
			if f.namespace == "" {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.managerNamespace, Name: commonv1alpha1.PauseConfigMap}}
				switch err := k.Delete(ctx, cm); {
				case apierrors.IsNotFound(err):
					line = fmt.Sprintf("not paused cluster-wide: there is no ConfigMap %s", f.switchKey())
				case err != nil:
					return refusal(err, f.clusterHint())
				default:
					line = fmt.Sprintf("resumed cluster-wide: deleted ConfigMap %s", f.switchKey())
				}
			} else {
				switch err := annotateNamespace(ctx, k, f.namespace, nil); {
				case errors.Is(err, errNotPaused):
					line = fmt.Sprintf("namespace %s was not paused", f.namespace)
				case err != nil:
					return refusal(namespaceMissing(err, f.namespace), f.namespaceHint())
				default:
					line = fmt.Sprintf("namespace %s resumed", f.namespace)
				}
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), line)
			return err
		},
	}
	f.bind(cmd, "resume")
	return cmd
}

// pauseCluster creates the switch, or updates its reason (keeping whatever else
// it holds), trying again when someone else wrote it meanwhile.
func pauseCluster(ctx context.Context, k *kube, key client.ObjectKey, reason string) error {
	raced := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	return retry.OnError(retry.DefaultRetry, raced, func() error {
		cm := &corev1.ConfigMap{}
		err := k.Get(ctx, key, cm)
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Data:       map[string]string{commonv1alpha1.PauseReasonKey: reason},
			}
			return k.Create(ctx, cm)
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[commonv1alpha1.PauseReasonKey] = reason
		return k.Update(ctx, cm)
	})
}

// errNotPaused is annotateNamespace's answer when there is no pause to remove.
var errNotPaused = errors.New("not paused")

// annotateNamespace sets the pause annotation of a Namespace to *reason, or
// removes it when reason is nil (notPaused when it is not there), updating the
// Namespace at the resourceVersion it read and reading again on a conflict.
func annotateNamespace(ctx context.Context, k *kube, namespace string, reason *string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ns := &corev1.Namespace{}
		if err := k.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
			return err
		}
		annotations := ns.GetAnnotations()
		if reason == nil {
			if _, ok := annotations[commonv1alpha1.PauseAnnotation]; !ok {
				return errNotPaused
			}
			delete(annotations, commonv1alpha1.PauseAnnotation)
		} else {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[commonv1alpha1.PauseAnnotation] = *reason
		}
		ns.SetAnnotations(annotations)
		return k.Update(ctx, ns)
	})
}

// namespaceMissing words a NotFound of the Namespace to pause.
func namespaceMissing(err error, namespace string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %s not found", namespace)
	}
	return err
}

// managerNamespaceMissing words the NotFound of creating the switch in a
// namespace that does not exist: most likely the manager runs elsewhere.
func (f *pauseFlags) managerNamespaceMissing(err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %s not found: is the manager installed there? Give its namespace with --manager-namespace", f.managerNamespace)
	}
	return err
}
