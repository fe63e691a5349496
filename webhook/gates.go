package webhook

// The rules for the points where a run waits for a person (SECURITY.md,
// invariants 6 and 7): who may approve a run, and who may make its validation
// weaker than the catalog's and the library's defaults.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
)

// The permissions the gates ask for, and the ClusterRoles that grant them
// (config/rbac).
const (
	overrideVerb     = "override"
	overrideGroup    = "kubernaut.io"
	overrideResource = "conditions"
	overrideRole     = "kubernaut-condition-override"
	approveVerb      = "approve"
	approverRole     = "kubernaut-approver"
)

const (
	maxOverrideReason = 1024
	// maxOverrideExpiry bounds how long an override may stay in force: it is a
	// decision about the cluster as it is now.
	maxOverrideExpiry = 7 * 24 * time.Hour
	// stampSkew is how far override-at may be from the validator's clock: the
	// mutating webhook stamped it moments before, perhaps in another replica.
	stampSkew = time.Minute
)

var conditionTypeList = regexp.MustCompile(`^[a-z][a-z0-9_]*(\s*,\s*[a-z][a-z0-9_]*)*$`)

// overrideKeys are the annotations an overrider writes; the mutating webhook
// stamps override-by and override-at whenever one of them is added or changed.
var overrideKeys = []string{commonv1alpha1.OverrideConditionAnnotation, commonv1alpha1.OverrideReasonAnnotation, commonv1alpha1.OverrideExpiresAnnotation}

// gates is what the approval and override rules read of either kind.
type gates struct {
	// resource is the kind's resource, on which an approver needs verb approve.
	resource schema.GroupResource
	strategy commonv1alpha1.Gates
	// approvals are the new spec's, oldApprovals the old object's (UPDATE).
	approvals, oldApprovals []commonv1alpha1.Approval
	// over says why the old run takes no more approvals; "" while it runs.
	over string
	// actions are the actions the spec runs, to find the namespaces they act in.
	actions []call
	// weakenings lists the spec's fields that weaken validation.
	weakenings func(spec *field.Path) []weakening
}

// call is an action with its parameters, as the spec writes them.
type call struct {
	action string
	params *runtime.RawExtension
}

// weakening is a field that makes validation weaker than the catalog's and the
// library's defaults; what says how, "" for the override annotation itself.
type weakening struct {
	path *field.Path
	what string
}

func workflowGates(old, wfe *workflowv1alpha1.WorkflowExecution, w *Webhooks) gates {
	g := gates{
		resource:  workflowv1alpha1.GroupVersion.WithResource("workflowexecutions").GroupResource(),
		strategy:  wfe.Spec.ExecutionStrategy.Gates,
		approvals: wfe.Spec.Approvals,
		weakenings: func(spec *field.Path) []weakening {
			return w.workflowWeakenings(wfe, spec)
		},
	}
	for _, s := range wfe.Spec.WorkflowDefinition.Steps {
		g.actions = append(g.actions, call{s.Action, s.Parameters})
		if r := s.RollbackSpec; r != nil {
			g.actions = append(g.actions, call{r.Action, r.Parameters})
		}
	}
	if old != nil {
		g.oldApprovals = old.Spec.Approvals
		g.over = runOver(string(old.Status.Phase), old.Status.Conditions,
			workflowv1alpha1.WorkflowCompleted, workflowv1alpha1.WorkflowFailed)
	}
	return g
}

func executionGates(old, ke *kubernetesexecutionv1alpha1.KubernetesExecution, w *Webhooks) gates {
	g := gates{
		resource:  kubernetesexecutionv1alpha1.GroupVersion.WithResource("kubernetesexecutions").GroupResource(),
		strategy:  ke.Spec.ExecutionStrategy,
		approvals: ke.Spec.Approvals,
		actions:   []call{{ke.Spec.Action, ke.Spec.Parameters}},
		weakenings: func(spec *field.Path) []weakening {
			var pre, post []catalog.Suggested
			if a, ok := catalog.Lookup(ke.Spec.Action); ok {
				pre, post = w.measured(a.PreConditions), w.measured(a.PostConditions)
			}
			return append(w.weakerConditions(ke.Spec.PreConditions, pre, spec.Child("preConditions")),
				w.weakerConditions(ke.Spec.PostConditions, post, spec.Child("postConditions"))...)
		},
	}
	if old != nil {
		g.oldApprovals = old.Spec.Approvals
		g.over = runOver(string(old.Status.Phase), old.Status.Conditions,
			kubernetesexecutionv1alpha1.ExecutionCompleted, kubernetesexecutionv1alpha1.ExecutionFailed,
			kubernetesexecutionv1alpha1.ExecutionDenied, kubernetesexecutionv1alpha1.ExecutionRollbackReady)
	}
	return g
}

// runOver says why a run is over, "" while it runs: a terminal phase, or a
// decided Succeeded condition.
func runOver[P ~string](phase string, conditions []metav1.Condition, terminal ...P) string {
	if slices.Contains(terminal, P(phase)) {
		return "phase " + phase
	}
	if c := meta.FindStatusCondition(conditions, commonv1alpha1.SucceededCondition); c != nil && c.Status != metav1.ConditionUnknown {
		return fmt.Sprintf("condition %s is %s", c.Type, c.Status)
	}
	return ""
}

// workflowWeakenings lists the workflow's conditionOverrides that relax a
// condition and its steps' weakened conditions.
func (w *Webhooks) workflowWeakenings(wfe *workflowv1alpha1.WorkflowExecution, spec *field.Path) []weakening {
	var out []weakening
	for i, o := range wfe.Spec.ConditionOverrides {
		if !o.Required {
			out = append(out, weakening{spec.Child("conditionOverrides").Index(i).Child("required"),
				fmt.Sprintf("required: false relaxes condition %s", o.Type)})
		}
	}
	stepsPath := spec.Child("workflowDefinition", "steps")
	for i, s := range wfe.Spec.WorkflowDefinition.Steps {
		var pre, post []catalog.Suggested
		if a, ok := catalog.Lookup(s.Action); ok {
			pre, post = w.measured(a.StepPreConditions), w.measured(a.StepPostConditions)
		}
		out = append(out, w.weakerConditions(s.PreConditions, pre, stepsPath.Index(i).Child("preConditions"))...)
		out = append(out, w.weakerConditions(s.PostConditions, post, stepsPath.Index(i).Child("postConditions"))...)
	}
	return out
}

// weakerConditions lists the conditions that replace the library's policy with
// inline rego, or relax a condition the catalog suggests as required at this
// level. The injected flag is not trusted: anyone can set it.
func (w *Webhooks) weakerConditions(conds []commonv1alpha1.ValidationCondition, suggested []catalog.Suggested, path *field.Path) []weakening {
	var out []weakening
	for i := range conds {
		c := &conds[i]
		switch {
		case c.Rego != "":
			if w.Conditions.Library.Has(c.Type) {
				out = append(out, weakening{path.Index(i).Child("rego"),
					fmt.Sprintf("inline rego replaces the policy library's %s", c.Type)})
			}
		case !c.IsRequired() && slices.ContainsFunc(suggested, func(s catalog.Suggested) bool { return s.Type == c.Type && s.Required }):
			out = append(out, weakening{path.Index(i).Child("required"),
				fmt.Sprintf("required: false relaxes %s, a condition the catalog requires", c.Type)})
		}
	}
	return out
}

// checkGates applies the approval and override rules. specChecked says the
// spec was checked (CREATE, or a spec UPDATE of a run that has not started):
// only then do its fields count as weakening validation. ask says whether to ask
// the API server for the sender's permissions: not for a request already refused
// for its recorded requester, as decide does not for the requester's.
func (w *Webhooks) checkGates(ctx context.Context, r review, specChecked, ask bool) field.ErrorList {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), fmt.Errorf("no admission request: %w", err))}
	}
	sender := authority.FromUserInfo(req.UserInfo)
	now := time.Now()
	old, current := r.oldAnnotations, r.obj.GetAnnotations()
	errs := w.checkApprovals(ctx, r, sender, ask)
	errs = append(errs, checkOverride(old, current, now)...)
	errs = append(errs, checkStamps(old, current, sender.Username, now)...)
	switch {
	case !ask:
		return errs
	case sender.Username == w.ManagerUsername:
		// The manager only passes on to a workflow's executions what was
		// authorized on the workflow, and sets no override of its own.
		return errs
	}
	var weak []weakening
	annotations := field.NewPath("metadata", "annotations")
	if overrideSet(old, current) {
		weak = append(weak, weakening{path: annotations.Key(commonv1alpha1.OverrideConditionAnnotation)})
	}
	if key := commonv1alpha1.InjectConditionsAnnotation; current[key] == "false" && old[key] != "false" {
		weak = append(weak, weakening{annotations.Key(key), `"false" leaves out the conditions the catalog suggests`})
	}
	if specChecked && r.gates.weakenings != nil {
		weak = append(weak, r.gates.weakenings(field.NewPath("spec"))...)
	}
	if len(weak) == 0 {
		return errs // nothing to authorize: where the actions act is not read
	}
	return append(errs, w.authorizeWeakenings(ctx, sender, actionNamespaces(r.obj.GetNamespace(), r.gates.actions), weak)...)
}

// checkApprovals keeps spec.approvals append-only and admits a new entry only
// from the approver it names, who may approve, is not the requester, and has
// not decided before, while the run waits for approval and is not over.
func (w *Webhooks) checkApprovals(ctx context.Context, r review, sender authority.Requester, ask bool) field.ErrorList {
	g := r.gates
	path := field.NewPath("spec", "approvals")
	var errs field.ErrorList
	if r.old == nil {
		for i := range g.approvals {
			errs = append(errs, field.Forbidden(path.Index(i), "approvals are added to an existing run, never at creation"))
		}
		return errs
	}
	if len(g.approvals) < len(g.oldApprovals) {
		// The removed entries have no path in the new object: the list has.
		errs = append(errs, field.Forbidden(path, fmt.Sprintf(
			"approvals are append-only: entries cannot be removed (%d before, %d now)", len(g.oldApprovals), len(g.approvals))))
	}
	for i, a := range g.oldApprovals {
		if i < len(g.approvals) && g.approvals[i] != a {
			errs = append(errs, field.Forbidden(path.Index(i), "approvals are append-only: an entry cannot be edited"))
		}
	}
	if len(g.approvals) <= len(g.oldApprovals) {
		return errs
	}
	requester, recordErr := authority.Recorded(r.oldAnnotations)
	for i := len(g.oldApprovals); i < len(g.approvals); i++ {
		a, p := g.approvals[i], path.Index(i)
		if g.over != "" {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("the run is over (%s): an approval can no longer change it", g.over)))
		}
		if !g.strategy.ApprovalRequired {
			errs = append(errs, field.Forbidden(p, "the run does not wait for approval: spec.executionStrategy.approvalRequired is false"))
		}
		if a.Approver != sender.Username {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"approver %q is not the user sending the request (%q): each approver adds their own decision", a.Approver, sender.Username)))
		}
		if j := slices.IndexFunc(g.approvals[:i], func(b commonv1alpha1.Approval) bool { return b.Approver == a.Approver }); j >= 0 {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("user %q already decided on this run in %s: an approver decides once", a.Approver, path.Index(j))))
		}
		switch {
		case recordErr != nil:
			errs = append(errs, field.Forbidden(p, recordErr.Error()))
		case requester.Username == sender.Username && !w.AllowSelfApproval:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"user %q requested this run and may not %s it (separation of duties; the manager's --allow-self-approval turns this off)",
				sender.Username, a.Decision)))
		}
	}
	if !ask {
		return errs
	}
	perm := authority.Permission{Verb: approveVerb, Group: g.resource.Group, Resource: g.resource.Resource,
		Namespace: r.obj.GetNamespace(), Name: r.obj.GetName()}
	at := path.Index(len(g.oldApprovals))
	missing, err := w.Authority.Missing(ctx, sender, []authority.Permission{perm})
	switch {
	case err != nil:
		errs = append(errs, field.InternalError(at, err))
	case len(missing) > 0:
		errs = append(errs, field.Forbidden(at, fmt.Sprintf("user %q may not approve %s in namespace %q: that needs verb %q; bind ClusterRole %s",
			sender.Username, g.resource, perm.Namespace, approveVerb, approverRole)))
	}
	return errs
}

// changed reports whether key differs between two sets of annotations, in value
// or presence.
func changed(old, current map[string]string, key string) bool {
	v, ok := current[key]
	w, had := old[key]
	return v != w || ok != had
}

func overrideChanged(old, current map[string]string) bool {
	return slices.ContainsFunc(overrideKeys, func(k string) bool { return changed(old, current, k) })
}

// overrideSet reports whether the request sets an override: the override
// annotation is there and it, its reason or its expiry changed. Removing it
// makes validation stricter and needs nothing.
func overrideSet(old, current map[string]string) bool {
	_, ok := current[commonv1alpha1.OverrideConditionAnnotation]
	return ok && overrideChanged(old, current)
}

// checkOverride checks the annotations of an override being set: the types it
// lists, a reason, and an expiry, if any, at most a week ahead.
func checkOverride(old, current map[string]string, now time.Time) field.ErrorList {
	if !overrideSet(old, current) {
		return nil
	}
	var errs field.ErrorList
	annotations := field.NewPath("metadata", "annotations")
	if v := current[commonv1alpha1.OverrideConditionAnnotation]; !conditionTypeList.MatchString(strings.TrimSpace(v)) {
		errs = append(errs, field.Invalid(annotations.Key(commonv1alpha1.OverrideConditionAnnotation), v,
			"must list condition types in snake_case, separated by commas"))
	}
	reasonPath := annotations.Key(commonv1alpha1.OverrideReasonAnnotation)
	switch reason := current[commonv1alpha1.OverrideReasonAnnotation]; {
	case strings.TrimSpace(reason) == "":
		errs = append(errs, field.Required(reasonPath, "an override says why: set it with "+commonv1alpha1.OverrideConditionAnnotation))
	case len(reason) > maxOverrideReason:
		errs = append(errs, field.TooLong(reasonPath, "", maxOverrideReason))
	}
	if v, ok := current[commonv1alpha1.OverrideExpiresAnnotation]; ok {
		p := annotations.Key(commonv1alpha1.OverrideExpiresAnnotation)
		expires, err := time.Parse(time.RFC3339, v)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(p, v, "must be an RFC 3339 time, e.g. 2006-01-02T15:04:05Z"))
		case !expires.After(now):
			errs = append(errs, field.Invalid(p, v, "must be in the future"))
		case expires.Sub(now) > maxOverrideExpiry:
			errs = append(errs, field.Invalid(p, v, "must be at most 7 days from now: an override is a decision about the cluster as it is now"))
		}
	}
	return errs
}

// stampOverride records who set the override annotations and when, whenever a
// request adds, changes or removes one of them, replacing what the client wrote:
// the record is the webhook's word, not the client's.
func stampOverride(ctx context.Context, old map[string]string, obj metav1.Object) error {
	annotations := obj.GetAnnotations()
	if !overrideChanged(old, annotations) {
		return nil
	}
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return fmt.Errorf("no admission request to stamp the override of: %w", err)
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[commonv1alpha1.OverrideByAnnotation] = req.UserInfo.Username
	annotations[commonv1alpha1.OverrideAtAnnotation] = time.Now().UTC().Format(time.RFC3339)
	obj.SetAnnotations(annotations)
	return nil
}

// checkStamps refuses override-by and override-at that are not what
// stampOverride writes, so that they cannot be forged by a client that the
// mutating webhook did not see: the sender and now when the override changed,
// else what they were.
func checkStamps(old, current map[string]string, sender string, now time.Time) field.ErrorList {
	annotations := field.NewPath("metadata", "annotations")
	byPath := annotations.Key(commonv1alpha1.OverrideByAnnotation)
	atPath := annotations.Key(commonv1alpha1.OverrideAtAnnotation)
	if !overrideChanged(old, current) {
		var errs field.ErrorList
		for _, p := range []struct {
			key  string
			path *field.Path
		}{{commonv1alpha1.OverrideByAnnotation, byPath}, {commonv1alpha1.OverrideAtAnnotation, atPath}} {
			if changed(old, current, p.key) {
				errs = append(errs, field.Forbidden(p.path,
					"is stamped by the mutating webhook when the override annotations change, and cannot be set otherwise"))
			}
		}
		return errs
	}
	var errs field.ErrorList
	if by := current[commonv1alpha1.OverrideByAnnotation]; by != sender {
		errs = append(errs, field.Forbidden(byPath, fmt.Sprintf(
			"is %q, but %q changed the override: the mutating webhook stamps the user who does", by, sender)))
	}
	at, err := time.Parse(time.RFC3339, current[commonv1alpha1.OverrideAtAnnotation])
	if err != nil || at.Before(now.Add(-stampSkew)) || at.After(now.Add(stampSkew)) {
		errs = append(errs, field.Forbidden(atPath, "must be the time the override changed: the mutating webhook stamps it"))
	}
	return errs
}

// actionNamespaces returns the run's own namespace and each namespace its
// actions act in: the target's, as authority.Needed reads it (catalog
// Target.Name), "" (cluster scope) for a cluster-scoped one. Where an action
// would act cannot be read, it is taken to be anywhere: cluster scope.
func actionNamespaces(own string, calls []call) []string {
	out := []string{own}
	for _, c := range calls {
		a, ok := catalog.Lookup(c.action)
		if ok && a.Target == nil {
			continue // it acts in the run's own namespace
		}
		ns := ""
		if ok {
			if params, err := catalog.DecodeParameters(rawOf(c.params)); err == nil {
				if _, n, err := a.Target.Name(params); err == nil {
					ns = n
				}
			}
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// authorizeWeakenings asks, in one round, whether sender may override
// conditions in each namespace, and returns for each weakening one error per
// namespace where they may not.
func (w *Webhooks) authorizeWeakenings(ctx context.Context, sender authority.Requester, namespaces []string, weak []weakening) field.ErrorList {
	if len(weak) == 0 {
		return nil
	}
	perms := make([]authority.Permission, len(namespaces))
	for i, ns := range namespaces {
		perms[i] = authority.Permission{Verb: overrideVerb, Group: overrideGroup, Resource: overrideResource, Namespace: ns}
	}
	missing, err := w.Authority.Missing(ctx, sender, perms)
	if err != nil {
		return field.ErrorList{field.InternalError(weak[0].path, err)}
	}
	var errs field.ErrorList
	for _, wk := range weak {
		for _, p := range missing {
			scope := "cluster-wide"
			if p.Namespace != "" {
				scope = fmt.Sprintf("in namespace %q", p.Namespace)
			}
			msg := fmt.Sprintf("user %q may not override conditions %s: that needs verb %q on resource %q in API group %q; bind ClusterRole %s",
				sender.Username, scope, overrideVerb, overrideResource, overrideGroup, overrideRole)
			if wk.what != "" {
				msg = wk.what + ", which weakens validation, and " + msg
			}
			errs = append(errs, field.Forbidden(wk.path, msg))
		}
	}
	return errs
}
