package runview

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// Results of a condition as the tree shows them. The API records a result as the
// booleans evaluated, passed and overridden; these words name their combinations.
const (
	// ResultPassed: the policy allowed.
	ResultPassed = "passed"
	// ResultFailed: the policy denied, and no more evaluations will change that.
	ResultFailed = "failed"
	// ResultWaiting: a postcondition denied so far and is still being polled.
	ResultWaiting = "waiting"
	// ResultInconclusive: there was no data to decide on (a metrics query
	// without a result, a missing object); the policy did not run.
	ResultInconclusive = "inconclusive"
	// ResultError: the policy could not decide (a compile error, a timeout,
	// missing cluster state).
	ResultError = "error"
	// ResultOverridden: an override skipped the condition.
	ResultOverridden = "overridden"
	// ResultPending: the condition has not been evaluated yet.
	ResultPending = "pending"
)

// ANSI colours.
const (
	reset   = "\x1b[0m"
	bold    = "\x1b[1m"
	dim     = "\x1b[2m"
	red     = "\x1b[31m"
	green   = "\x1b[32m"
	yellow  = "\x1b[33m"
	magenta = "\x1b[35m"
	cyan    = "\x1b[36m"
)

// colourOf maps the words of phases, step states and results to a colour.
var colourOf = map[string]string{
	ResultPassed: green, "completed": green, "approve": green, "True": green,
	ResultFailed: red, "denied": red, "reject": red, "rolled_back": red, "rollback_ready": red, "False": red,
	ResultWaiting: yellow, ResultPending: dim, "blocked": yellow, "waiting_approval": yellow, "paused": yellow,
	"executing": cyan, "verifying": cyan, "monitoring": cyan, "validating": cyan, "rolling_back": magenta,
	ResultInconclusive: magenta, ResultError: red, ResultOverridden: magenta, "skipped": dim, "Unknown": yellow,
}

// node is one line of the tree and the lines under it.
type node struct {
	text     string
	children []*node
}

func (n *node) add(text string) *node {
	c := &node{text: text}
	n.children = append(n.children, c)
	return c
}

// view builds the tree, colouring words when color is set.
type view struct {
	now   time.Time
	color bool
}

func (v view) paint(code, s string) string {
	if !v.color || code == "" || s == "" {
		return s
	}
	return code + s + reset
}

// state colours a phase, state or result word by what it means; unknown words
// (a newer API's) are shown as they are.
func (v view) state(s string) string {
	if s == "" {
		s = "-"
	}
	return v.paint(colourOf[s], s)
}

func (v view) dim(s string) string { return v.paint(dim, s) }

// Render writes the run as a tree: wfe and, under each step, the executions of
// executions that belong to it (by the names the manager gives them:
// <workflow>-step-<n>[-retry-<k>] and <workflow>-rollback-<n>). Durations and ages
// are relative to now; ANSI colour only when color is set.
func Render(w io.Writer, wfe *workflowv1alpha1.WorkflowExecution, executions []kev1alpha1.KubernetesExecution, now time.Time, color bool) error {
	v := view{now: now, color: color}
	root := v.workflow(wfe, executions)
	var b strings.Builder
	b.WriteString(root.text + "\n")
	writeChildren(&b, root.children, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeChildren(b *strings.Builder, children []*node, prefix string) {
	for i, c := range children {
		glyph, more := "├─ ", "│  "
		if i == len(children)-1 {
			glyph, more = "└─ ", "   "
		}
		// A multi-line text continues under its own line.
		lines := strings.Split(c.text, "\n")
		b.WriteString(prefix + glyph + lines[0] + "\n")
		for _, l := range lines[1:] {
			cont := more
			if len(c.children) > 0 {
				cont = more + "│  "
			}
			b.WriteString(strings.TrimRight(prefix+cont+l, " ") + "\n")
		}
		writeChildren(b, c.children, prefix+more)
	}
}

func (v view) workflow(wfe *workflowv1alpha1.WorkflowExecution, executions []kev1alpha1.KubernetesExecution) *node {
	st := &wfe.Status
	header := fmt.Sprintf("%s %s", v.paint(bold, "WorkflowExecution "+wfe.Namespace+"/"+wfe.Name), v.state(string(st.Phase)))
	if c := meta(st.Conditions, commonv1alpha1.SucceededCondition); c != nil && c.Reason != "" {
		header += " " + v.dim("("+c.Reason+")")
	}
	root := &node{text: header}
	if msg := phaseMessage(st.Message, st.Conditions); msg != "" {
		root.add("message: " + msg)
	}
	var facts []string
	if st.Progress != "" {
		facts = append(facts, "steps "+st.Progress)
	}
	if st.RequestedBy != "" {
		facts = append(facts, "requested by "+st.RequestedBy)
	}
	facts = append(facts, v.timing(st.StartTime, st.CompletionTime)...)
	if len(facts) > 0 {
		root.add(strings.Join(facts, " · "))
	}
	if c := meta(st.Conditions, commonv1alpha1.StatusTruncatedCondition); c != nil && c.Status == metav1.ConditionTrue {
		root.add(v.paint(yellow, "status truncated: ") + c.Message)
	}
	v.gates(root, wfe.Spec.ExecutionStrategy.Gates, wfe.Spec.Approvals, st.Approvals, st.Overrides, wfe.Annotations, "WorkflowExecution/"+wfe.Name)

	byStep, rollbacks, others := assign(wfe.Name, executions)
	steps := slices.Clone(wfe.Spec.WorkflowDefinition.Steps)
	slices.SortFunc(steps, func(a, b workflowv1alpha1.WorkflowStep) int { return int(a.StepNumber - b.StepNumber) })
	for i := range steps {
		step := &steps[i]
		var ss *workflowv1alpha1.StepStatus
		for j := range st.StepStatuses {
			if st.StepStatuses[j].StepNumber == step.StepNumber {
				ss = &st.StepStatuses[j]
			}
		}
		v.step(root, wfe, step, ss, byStep[step.StepNumber], rollbacks[step.StepNumber])
	}
	for i := range others {
		v.execution(root, "execution", &others[i], wfe.Spec.ConditionOverrides)
	}
	return root
}

// phaseMessage is the message of the phase: status.message, else the message of
// the Succeeded condition.
func phaseMessage(message string, conds []metav1.Condition) string {
	if message != "" {
		return message
	}
	if c := meta(conds, commonv1alpha1.SucceededCondition); c != nil {
		return c.Message
	}
	return ""
}

func meta(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// timing says when something started and how long it took, or has taken so far.
func (v view) timing(start, end *metav1.Time) []string {
	if start == nil {
		return nil
	}
	out := []string{"started " + v.ago(start.Time)}
	if end != nil {
		out = append(out, "took "+human(end.Sub(start.Time)))
	} else {
		out = append(out, "running for "+human(v.now.Sub(start.Time)))
	}
	return out
}

func (v view) ago(t time.Time) string {
	d := v.now.Sub(t)
	if d < 0 {
		return "in " + human(-d)
	}
	return human(d) + " ago"
}

func human(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return duration.HumanDuration(d)
}

// gates adds the approvals and overrides of a run. Approvals the manager has
// recorded come with when it saw them; those in spec it has not seen yet are
// marked so. Overrides come from status, else from the annotations of the object
// itself (not yet seen by the manager).
func (v view) gates(parent *node, gates commonv1alpha1.Gates, spec []commonv1alpha1.Approval, seen []commonv1alpha1.ApprovalRecord, overrides []commonv1alpha1.OverrideRecord, annotations map[string]string, self string) {
	if gates.ApprovalRequired || len(spec) > 0 || len(seen) > 0 {
		approved := 0
		for _, a := range seen {
			if a.Decision == commonv1alpha1.Approve {
				approved++
			}
		}
		title := "approvals"
		if gates.ApprovalRequired {
			title = fmt.Sprintf("approvals: %d of %d required", approved, gates.Approvals())
		}
		n := parent.add(title)
		for i, a := range spec {
			line := fmt.Sprintf("%s by %s", v.state(string(a.Decision)), a.Approver)
			if i < len(seen) && seen[i].Approval == a {
				line += " " + v.dim(v.ago(seen[i].ObservedTime.Time))
			} else {
				line += " " + v.dim("(not yet seen by the manager)")
			}
			n.add(line + ": " + quote(a.Reason))
		}
		// Status keeps what it saw even if spec no longer shows it.
		for i := len(spec); i < len(seen); i++ {
			a := seen[i]
			n.add(fmt.Sprintf("%s by %s %s: %s", v.state(string(a.Decision)), a.Approver, v.dim(v.ago(a.ObservedTime.Time)), quote(a.Reason)))
		}
		if len(spec) == 0 && len(seen) == 0 {
			n.add(v.dim("none yet"))
		}
	}
	records := overrides
	if o, ok := commonv1alpha1.OverrideOf(annotations); ok && !slices.ContainsFunc(records, func(r commonv1alpha1.OverrideRecord) bool { return r.Source == self }) {
		r := commonv1alpha1.OverrideRecord{Source: self + " (annotations, not yet seen by the manager)", By: o.By, Reason: o.Reason}
		for c := range o.Conditions {
			r.Conditions = append(r.Conditions, c)
		}
		slices.Sort(r.Conditions)
		if !o.At.IsZero() {
			r.At = &metav1.Time{Time: o.At}
		}
		if !o.Expires.IsZero() {
			r.Expires = &metav1.Time{Time: o.Expires}
			r.Expired = o.ExpiredAt(v.now)
		}
		records = append(slices.Clone(records), r)
	}
	if len(records) == 0 {
		return
	}
	n := parent.add("overrides")
	for _, r := range records {
		line := v.paint(magenta, "override") + " of " + strings.Join(r.Conditions, ", ")
		by := r.By
		if by == "" {
			by = "unknown"
		}
		line += " by " + by
		if r.At != nil {
			line += " " + v.dim(v.ago(r.At.Time))
		}
		line += ": " + quote(r.Reason)
		var notes []string
		if r.Expired {
			notes = append(notes, v.paint(yellow, "expired"))
		} else if r.Expires != nil {
			notes = append(notes, "expires "+v.ago(r.Expires.Time))
		}
		notes = append(notes, "on "+r.Source)
		n.add(line + " " + v.dim("("+strings.Join(notes, ", ")+")"))
	}
}

func quote(s string) string {
	if s == "" {
		return "(no reason given)"
	}
	return strconv.Quote(s)
}

var (
	stepName     = regexp.MustCompile(`-step-([0-9]+)(-retry-([0-9]+))?$`)
	rollbackName = regexp.MustCompile(`-rollback-([0-9]+)$`)
)

// assign sorts a workflow's executions by step: its tries (oldest first) and its
// rollback; the rest are others. The manager names them <workflow>-step-<n>,
// <workflow>-step-<n>-retry-<k> and <workflow>-rollback-<n> (a long workflow name
// is cut short, the suffix kept).
func assign(workflow string, executions []kev1alpha1.KubernetesExecution) (byStep map[int32][]kev1alpha1.KubernetesExecution, rollbacks map[int32]*kev1alpha1.KubernetesExecution, others []kev1alpha1.KubernetesExecution) {
	byStep = map[int32][]kev1alpha1.KubernetesExecution{}
	rollbacks = map[int32]*kev1alpha1.KubernetesExecution{}
	retry := map[string]int{}
	for i := range executions {
		ke := executions[i]
		if m := stepName.FindStringSubmatch(ke.Name); m != nil {
			n, _ := strconv.Atoi(m[1])
			k, _ := strconv.Atoi(m[3])
			retry[ke.Name] = k
			byStep[int32(n)] = append(byStep[int32(n)], ke)
			continue
		}
		if m := rollbackName.FindStringSubmatch(ke.Name); m != nil {
			n, _ := strconv.Atoi(m[1])
			rollbacks[int32(n)] = &ke
			continue
		}
		others = append(others, ke)
	}
	for n := range byStep {
		slices.SortFunc(byStep[n], func(a, b kev1alpha1.KubernetesExecution) int { return retry[a.Name] - retry[b.Name] })
	}
	slices.SortFunc(others, func(a, b kev1alpha1.KubernetesExecution) int { return strings.Compare(a.Name, b.Name) })
	return byStep, rollbacks, others
}

func (v view) step(parent *node, wfe *workflowv1alpha1.WorkflowExecution, step *workflowv1alpha1.WorkflowStep, ss *workflowv1alpha1.StepStatus, tries []kev1alpha1.KubernetesExecution, rollback *kev1alpha1.KubernetesExecution) {
	state := workflowv1alpha1.StepPending
	if ss != nil && ss.Status != "" {
		state = ss.Status
	}
	title := fmt.Sprintf("step %d", step.StepNumber)
	if step.Name != "" {
		title += " " + step.Name
	}
	line := v.paint(bold, title) + " " + v.dim("("+step.Action+")") + " " + v.state(string(state))
	if step.CriticalStep {
		line += " " + v.dim("critical")
	}
	var facts []string
	if ss != nil {
		if ss.StartTime != nil {
			facts = append(facts, "attempt "+strconv.Itoa(int(ss.RetriesAttempted)+1)+v.maxAttempts(wfe, step))
		}
		facts = append(facts, v.timing(ss.StartTime, ss.EndTime)...)
	}
	if len(facts) > 0 {
		line += " · " + strings.Join(facts, " · ")
	}
	n := parent.add(line)
	if ss != nil && ss.Message != "" {
		n.add("message: " + ss.Message)
	}
	var pre, post []commonv1alpha1.ConditionResult
	if ss != nil {
		pre, post = ss.PreConditionResults, ss.PostConditionResults
	}
	verifying := state == workflowv1alpha1.StepVerifying
	width := condWidth(step.PreConditions, step.PostConditions, pre, post)
	v.conditions(n, "pre ", width, step.PreConditions, pre, wfe.Spec.ConditionOverrides, false)
	v.conditions(n, "post", width, step.PostConditions, post, wfe.Spec.ConditionOverrides, verifying)
	current := ""
	if ss != nil && ss.K8sExecutionRef != nil {
		current = ss.K8sExecutionRef.Name
	}
	seenCurrent := false
	for i := range tries {
		label := "execution"
		if i < len(tries)-1 {
			label = "earlier try"
		}
		seenCurrent = seenCurrent || tries[i].Name == current
		v.execution(n, label, &tries[i], wfe.Spec.ConditionOverrides)
	}
	if current != "" && !seenCurrent {
		n.add("execution " + current + " " + v.dim("(not found)"))
	}
	if rollback != nil {
		v.execution(n, "rollback", rollback, wfe.Spec.ConditionOverrides)
	}
}

// maxAttempts is " of N" when the step's retries are bounded.
func (v view) maxAttempts(wfe *workflowv1alpha1.WorkflowExecution, step *workflowv1alpha1.WorkflowStep) string {
	r := step.MaxRetries
	if r == nil {
		r = wfe.Spec.ExecutionStrategy.MaxRetries
	}
	if r == nil {
		return ""
	}
	return " of " + strconv.Itoa(int(*r)+1)
}

// conditions adds one line per condition: those the spec declares, in its order,
// with their results, then results of conditions the spec does not name (added by
// the manager, say).
func (v view) conditions(parent *node, kind string, width int, spec []commonv1alpha1.ValidationCondition, results []commonv1alpha1.ConditionResult, overrides []commonv1alpha1.ConditionOverride, polling bool) {
	type row struct {
		typ      string
		declared *commonv1alpha1.ValidationCondition
		result   *commonv1alpha1.ConditionResult
	}
	var rows []row
	used := map[string]bool{}
	for i := range spec {
		r := row{typ: spec[i].Type, declared: &spec[i]}
		for j := range results {
			if results[j].ConditionType == spec[i].Type {
				r.result = &results[j]
				used[results[j].ConditionType] = true
			}
		}
		rows = append(rows, r)
	}
	for j := range results {
		if !used[results[j].ConditionType] {
			rows = append(rows, row{typ: results[j].ConditionType, result: &results[j]})
		}
	}
	for _, r := range rows {
		res := Result(r.result, polling)
		required := "optional"
		switch {
		case r.result != nil && r.result.WarnOnly:
			required = "optional (warn only)"
		case r.result != nil:
			if r.result.Required {
				required = "required"
			}
		case r.declared != nil:
			req := r.declared.IsRequired()
			for _, o := range overrides {
				if o.Type == r.typ {
					req = o.Required
				}
			}
			if req {
				required = "required"
			}
		}
		line := fmt.Sprintf("%s %-*s %s %s", kind, width, r.typ, v.state(fmt.Sprintf("%-12s", res)), fmt.Sprintf("%-8s", required))
		if r.result != nil {
			var facts []string
			if r.result.Attempts > 0 {
				facts = append(facts, "attempts "+strconv.Itoa(int(r.result.Attempts)))
			}
			if first := r.result.FirstEvaluationTime; first != nil && !r.result.EvaluationTime.IsZero() && r.result.EvaluationTime.After(first.Time) {
				facts = append(facts, "for "+human(r.result.EvaluationTime.Sub(first.Time)))
			}
			if !r.result.EvaluationTime.IsZero() {
				facts = append(facts, "last "+v.ago(r.result.EvaluationTime.Time))
			}
			if r.result.ConsecutiveErrors > 0 {
				facts = append(facts, strconv.Itoa(int(r.result.ConsecutiveErrors))+" undecided in a row")
			}
			if len(facts) > 0 {
				line += " " + v.dim(strings.Join(facts, ", "))
			}
			if r.result.ErrorMessage != "" {
				line += "\n" + r.result.ErrorMessage
			}
		}
		parent.add(strings.TrimRight(line, " "))
	}
}

// condWidth is the width of the longest condition type, to align the results of
// a step's or an execution's conditions in one column.
func condWidth(pre, post []commonv1alpha1.ValidationCondition, preResults, postResults []commonv1alpha1.ConditionResult) int {
	width := 0
	for _, list := range [][]commonv1alpha1.ValidationCondition{pre, post} {
		for _, c := range list {
			width = max(width, len(c.Type))
		}
	}
	for _, list := range [][]commonv1alpha1.ConditionResult{preResults, postResults} {
		for _, r := range list {
			width = max(width, len(r.ConditionType))
		}
	}
	return width
}

// Result names a condition's result: overridden, passed, inconclusive without
// data, error when the policy could not decide, waiting when it denied and is
// still being verified, failed; pending when there is no result yet.
func Result(r *commonv1alpha1.ConditionResult, polling bool) string {
	switch {
	case r == nil:
		return ResultPending
	case r.Overridden:
		return ResultOverridden
	case r.Passed:
		return ResultPassed
	case r.Inconclusive:
		return ResultInconclusive
	case !r.Evaluated:
		return ResultError
	case polling:
		return ResultWaiting
	default:
		return ResultFailed
	}
}

func (v view) execution(parent *node, label string, ke *kev1alpha1.KubernetesExecution, overrides []commonv1alpha1.ConditionOverride) {
	st := &ke.Status
	line := label + " " + ke.Name + " " + v.state(string(st.Phase))
	if c := meta(st.Conditions, commonv1alpha1.SucceededCondition); c != nil && c.Reason != "" {
		line += " " + v.dim("("+c.Reason+")")
	}
	var facts []string
	if st.RetriesAttempted > 0 {
		facts = append(facts, "retries "+strconv.Itoa(int(st.RetriesAttempted)))
	}
	facts = append(facts, v.timing(st.StartTime, st.CompletionTime)...)
	if len(facts) > 0 {
		line += " · " + strings.Join(facts, " · ")
	}
	n := parent.add(line)
	if msg := phaseMessage(st.Message, st.Conditions); msg != "" {
		n.add("message: " + msg)
	}
	if vr := st.ValidationResults; vr != nil {
		var checks []string
		for _, c := range []struct {
			name string
			r    *kev1alpha1.CheckResult
		}{{"parameters", vr.Parameters}, {"rbac", vr.RBAC}, {"safety", vr.Safety}, {"dry run", vr.DryRun}} {
			if c.r == nil {
				continue
			}
			res := ResultFailed
			if c.r.Passed {
				res = ResultPassed
			}
			checks = append(checks, c.name+" "+v.state(res))
		}
		if len(checks) > 0 {
			line := "checks: " + strings.Join(checks, ", ")
			for _, c := range []*kev1alpha1.CheckResult{vr.Parameters, vr.RBAC, vr.Safety, vr.DryRun} {
				if c != nil && !c.Passed && c.Message != "" {
					line += "\n" + c.Message
				}
			}
			n.add(line)
		}
	}
	var pre, post []commonv1alpha1.ConditionResult
	if vr := st.ValidationResults; vr != nil {
		pre, post = vr.PreConditionResults, vr.PostConditionResults
	}
	width := condWidth(ke.Spec.PreConditions, ke.Spec.PostConditions, pre, post)
	v.conditions(n, "pre ", width, ke.Spec.PreConditions, pre, overrides, false)
	v.conditions(n, "post", width, ke.Spec.PostConditions, post, overrides, st.Phase == kev1alpha1.ExecutionVerifying)
	if er := st.ExecutionResults; er != nil {
		for _, a := range er.ResourcesAffected {
			ref := a.Kind + " " + a.Name
			if a.Namespace != "" {
				ref = a.Kind + " " + a.Namespace + "/" + a.Name
			}
			n.add("changed " + ref + changes(a.Before, a.After))
		}
	}
	v.gates(n, ke.Spec.ExecutionStrategy, ke.Spec.Approvals, st.Approvals, st.Overrides, ke.Annotations, "KubernetesExecution/"+ke.Name)
}

// changes is ": k before → after, ..." over the keys of before and after.
func changes(before, after map[string]string) string {
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s → %s", k, orDash(before[k]), orDash(after[k]))
	}
	return ": " + strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
