package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
)

func newConditionInputCommand() *cobra.Command {
	var (
		kf                                 kubeFlags
		action, params, phase, run, output string
		step                               int32
		policies, embedded                 []string
	)
	cmd := &cobra.Command{
		Use:   "input (--action ACTION --params JSON | --run wfe/NAME --step N | --run ke/NAME)",
		Short: "Print the input document a condition would see now, read from the cluster",
		Long: `Print, as JSON, the facts document the manager would gather now for an action's
conditions: what the action's facts provider reads from the cluster, with action,
parameters (parameters._namespace is the run's namespace) and phase. Save it and
evaluate a policy on it with kubernaut condition eval, or use it as a test case's
input.

The action and its parameters come from --action and --params (a JSON object, as
in a step's parameters; the run's namespace is -n), or from an existing run:
--run wfe/NAME --step N for a workflow's step, --run ke/NAME for a
KubernetesExecution, in the namespace -n.

--phase post gathers the facts as after acting. With --run, parameters._before
then holds what the executor recorded before it acted, from the run's (or the
step's) KubernetesExecution, as the manager does; a run that has not acted yet has
none.

The facts are read from the API server with your own credentials, where the manager
reads its cache: you need get and list on what the action's facts read (the
target, its pods, nodes...). Every fact is gathered, unless --policy or --embedded
name the policies the document is for: then, as the manager does for a round of
conditions, the costly facts no policy reads are left out (the nodes' free capacity,
for one, lists every pod of the cluster).

Data a condition declares beside the facts is not in the document: the results of
its Prometheus queries (input.metrics) need the manager's --prometheus-url, and its
objects (input.objects) are read for the run's requester. Add them to the document
yourself to evaluate such a condition (kubernaut condition eval --help shows how);
with --run, a note on stderr names what the step's conditions declare.

Exit codes:
  0  done
  1  the API server refused (RBAC) or could not be reached, the run or step does
     not exist, or its facts could not be read
  2  usage error, parameters that do not fit the action, or a kubeconfig that
     cannot be loaded`,
		Example: `  kubernaut condition input --action scale_deployment --params '{"deployment": {"name": "web", "namespace": "production", "replicas": 5}}' > facts.json
  kubernaut condition eval --policy p.rego --input facts.json
  kubernaut condition input --run wfe/scale-web-app --step 1 -n production | kubernaut condition eval --embedded deployment_exists --input -
  kubernaut condition input --run ke/scale-web-app-step-1 --phase post -o yaml
  kubernaut condition input --run wfe/scale-web-app --step 1 --embedded deployment_exists --policy policies/change_freeze.rego`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if phase != string(facts.Pre) && phase != string(facts.Post) {
				return usageErrorf("--phase is %q; use pre (before acting) or post (after acting)", phase)
			}
			if output != "json" && output != "yaml" {
				return usageErrorf("unknown output format %q; use -o json or -o yaml", output)
			}
			var src inputSource
			switch {
			case (action == "") == (run == ""):
				return usageErrorf("give the action with --action ACTION --params JSON, or take it from a run with --run wfe/NAME --step N or --run ke/NAME (one of them)")
			case run != "":
				if cmd.Flags().Changed("params") {
					return usageErrorf("--params is for --action; a run's parameters are in its spec")
				}
				ref, err := parseRun(run)
				if err != nil {
					return err
				}
				if (ref.kind == workflowRun) != cmd.Flags().Changed("step") {
					if ref.kind == workflowRun {
						return usageErrorf("give the step of %s with --step N (its stepNumber)", run)
					}
					return usageErrorf("--step is for a workflow run (--run wfe/NAME); a KubernetesExecution is one action")
				}
				src.run, src.step = &ref, step
			default:
				a, err := lookupAction(action)
				if err != nil {
					return err
				}
				p, err := actionParams(a, params)
				if err != nil {
					return err
				}
				src.action, src.params = a.Name, p
			}
			want, err := wantedBy(cmd.Context(), policies, embedded)
			if err != nil {
				return err
			}
			k, err := kf.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			doc, err := gatherInput(cmd.Context(), k, src, facts.Phase(phase), want, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return printStructured(cmd.OutOrStdout(), output, doc)
		},
	}
	kf.bind(cmd, true)
	cmd.Flags().StringVarP(&action, "action", "a", "", "the catalog action, e.g. scale_deployment (kubernaut catalog list)")
	cmd.Flags().StringVar(&params, "params", "", `the action's parameters, a JSON object, e.g. '{"deployment": {"name": "web", "namespace": "production", "replicas": 5}}'`)
	cmd.Flags().StringVar(&run, "run", "", "take the action and parameters from a run: wfe/NAME (with --step) or ke/NAME")
	cmd.Flags().Int32Var(&step, "step", 0, "with --run wfe/NAME: the stepNumber of the step")
	cmd.Flags().StringVar(&phase, "phase", string(facts.Pre), "pre (facts before acting, for preconditions) or post (after acting, for postconditions)")
	cmd.Flags().StringVarP(&output, "output", "o", "json", "output format: json or yaml")
	cmd.Flags().StringArrayVarP(&policies, "policy", "p", nil, "gather only the facts this policy file reads, with those of the other --policy and --embedded (repeatable)")
	cmd.Flags().StringArrayVar(&embedded, "embedded", nil, "gather only the facts the manager's embedded policy of this condition type reads (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("action", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return catalog.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// inputSource is what condition input gathers the facts of: an action with its
// parameters, or a run (and step) to read them from.
type inputSource struct {
	action string
	params map[string]any
	run    *runRef
	step   int32
}

// actionParams decodes --params and checks them against the action's schema, as
// admission would. The keys the manager reserves (_before, _namespace) are left
// out of the check: -n sets _namespace, and _before may be given for --phase post.
func actionParams(a *catalog.Action, text string) (map[string]any, error) {
	params, err := catalog.DecodeParameters([]byte(text))
	if err != nil {
		return nil, usageErrorf("--params: %w", err)
	}
	if _, ok := params[catalog.NamespaceParam]; ok {
		return nil, usageErrorf("--params: %s is the run's namespace; give it with -n", catalog.NamespaceParam)
	}
	checked := maps.Clone(params)
	delete(checked, catalog.BeforeParam)
	if errs := a.ValidateParameters(checked, field.NewPath("parameters")); len(errs) > 0 {
		return nil, usageErrorf("--params do not fit %s (kubernaut catalog show %s):\n  %s", a.Name, a.Name, strings.Join(errorLines(errs), "\n  "))
	}
	return params, nil
}

func errorLines(errs field.ErrorList) []string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return lines
}

// gatherInput reads the run if src names one, and gathers the facts as the
// manager does, with every fact wanted.
func gatherInput(ctx context.Context, k *kube, src inputSource, phase facts.Phase, want catalog.Wanted, stderr io.Writer) (map[string]any, error) {
	namespace := k.namespace
	var before map[string]string
	if src.run != nil {
		src.run.namespace = namespace
		r, err := readRun(ctx, k, *src.run, src.step, phase)
		if err != nil {
			return nil, err
		}
		src.action, src.params, before = r.action, r.params, r.before
		if phase == facts.Post && before == nil {
			_, _ = fmt.Fprintf(stderr, "note: %s has no values recorded before acting (it has not acted yet); the document has no parameters._before\n", r.what)
		}
		if note := declaredNote(r.conditions); note != "" {
			_, _ = fmt.Fprintf(stderr, "note: %s; their values are not in this document: add them (kubernaut condition eval --help)\n", note)
		}
	}
	params := maps.Clone(src.params)
	params[catalog.NamespaceParam] = namespace
	if before != nil {
		params[catalog.BeforeParam] = before
	}
	doc, err := facts.Gather(ctx, k.Client, src.action, params, phase, want)
	if err != nil {
		hint := fmt.Sprintf("The facts of %s are read with your own credentials: ask for get and list on the resource the message names.", src.action)
		if want == nil {
			hint += " Or gather only what your policies read, with --policy or --embedded."
		}
		return nil, refusal(err, hint)
	}
	return doc, nil
}

// wantedBy returns the top-level input keys the policies read, nil for every fact:
// what the manager gathers for a round of those policies (check.wanted).
func wantedBy(ctx context.Context, files, embedded []string) (catalog.Wanted, error) {
	if len(files) == 0 && len(embedded) == 0 {
		return nil, nil
	}
	engine := conditions.NewEngine(conditions.Options{})
	want := catalog.Wanted{}
	add := func(path, typ string) (all bool, err error) {
		p, _, err := loadPolicy(ctx, engine, path, typ)
		if err != nil {
			return false, err
		}
		keys, all := p.Reads()
		for _, k := range keys {
			want[k] = true
		}
		return all, nil
	}
	for _, f := range files {
		if all, err := add(f, ""); err != nil || all {
			return nil, err
		}
	}
	for _, typ := range embedded {
		if all, err := add("", typ); err != nil || all {
			return nil, err
		}
	}
	return want, nil
}

// runInput is what a run says about the facts of one of its actions.
type runInput struct {
	what       string // e.g. workflowexecution production/web step 1
	action     string
	params     map[string]any
	before     map[string]string // after acting; nil before
	conditions []commonv1alpha1.ValidationCondition
}

// readRun reads the action, parameters and, after acting, the recorded values of
// a KubernetesExecution or of a workflow's step, as the reconcilers do.
func readRun(ctx context.Context, k *kube, ref runRef, step int32, phase facts.Phase) (runInput, error) {
	readHint := func(kind *runKind) string {
		return fmt.Sprintf("Ask for get on %s in namespace %s.", kind.rbacName(), ref.namespace)
	}
	if ref.kind == executionRun {
		var ke kev1alpha1.KubernetesExecution
		if err := k.Get(ctx, client.ObjectKey{Namespace: ref.namespace, Name: ref.name}, &ke); err != nil {
			return runInput{}, ref.failure(err, readHint(executionRun))
		}
		params, err := runParams(ref.String()+" spec.parameters", ke.Spec.Action, ke.Spec.Parameters)
		if err != nil {
			return runInput{}, err
		}
		r := runInput{what: ref.String(), action: ke.Spec.Action, params: params, conditions: ke.Spec.PreConditions}
		if phase == facts.Post {
			r.before, r.conditions = recordedBefore(&ke), ke.Spec.PostConditions
		}
		return r, nil
	}

	var wfe workflowv1alpha1.WorkflowExecution
	if err := k.Get(ctx, client.ObjectKey{Namespace: ref.namespace, Name: ref.name}, &wfe); err != nil {
		return runInput{}, ref.failure(err, readHint(workflowRun))
	}
	steps := wfe.Spec.WorkflowDefinition.Steps
	i := slices.IndexFunc(steps, func(s workflowv1alpha1.WorkflowStep) bool { return s.StepNumber == step })
	if i < 0 {
		numbers := make([]string, len(steps))
		for j, s := range steps {
			numbers[j] = fmt.Sprint(s.StepNumber)
		}
		return runInput{}, &exitError{code: exitFailed, err: fmt.Errorf("%s has no step %d; its steps are %s", ref, step, strings.Join(numbers, ", "))}
	}
	s := steps[i]
	r := runInput{what: fmt.Sprintf("%s step %d", ref, step), action: s.Action, conditions: s.PreConditions}
	params, err := runParams(fmt.Sprintf("%s spec.workflowDefinition.steps[stepNumber=%d].parameters", ref, step), s.Action, s.Parameters)
	if err != nil {
		return runInput{}, err
	}
	r.params = params
	if phase != facts.Post {
		return r, nil
	}
	r.conditions = s.PostConditions
	// The manager takes the recorded values from the step's current execution.
	for _, st := range wfe.Status.StepStatuses {
		if st.StepNumber != step || st.K8sExecutionRef == nil {
			continue
		}
		var ke kev1alpha1.KubernetesExecution
		err := k.Get(ctx, client.ObjectKey{Namespace: ref.namespace, Name: st.K8sExecutionRef.Name}, &ke)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return runInput{}, refusal(err, readHint(executionRun))
		default:
			r.before = recordedBefore(&ke)
		}
	}
	return r, nil
}

// runParams decodes and checks a run's parameters; the run was admitted with
// them, so a problem is the run's (exit code 1), not the command line's.
func runParams(where, action string, raw *runtime.RawExtension) (map[string]any, error) {
	a, ok := catalog.Lookup(action)
	if !ok {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("%s: action %q is not in this CLI's catalog (kubernaut catalog list); is the CLI older than the manager?", where, action)}
	}
	var data []byte
	if raw != nil {
		data = raw.Raw
	}
	params, err := catalog.DecodeParameters(data)
	if err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", where, err)}
	}
	if errs := a.ValidateParameters(params, field.NewPath("parameters")); len(errs) > 0 {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("%s do not fit %s:\n  %s", where, action, strings.Join(errorLines(errs), "\n  "))}
	}
	return params, nil
}

// recordedBefore is what the executor recorded before acting, as the reconcilers
// read it: from the first affected resource.
func recordedBefore(ke *kev1alpha1.KubernetesExecution) map[string]string {
	if ke.Status.ExecutionResults == nil || len(ke.Status.ExecutionResults.ResourcesAffected) == 0 {
		return nil
	}
	return ke.Status.ExecutionResults.ResourcesAffected[0].Before
}

// declaredNote names the metrics and objects that conditions declare, "" for none.
func declaredNote(conds []commonv1alpha1.ValidationCondition) string {
	var parts []string
	for _, c := range conds {
		var names []string
		for _, m := range c.Metrics {
			names = append(names, "metrics."+m.Name)
		}
		for _, o := range c.Objects {
			names = append(names, "objects."+o.Key)
		}
		if len(names) > 0 {
			parts = append(parts, fmt.Sprintf("condition %s reads %s", c.Type, strings.Join(names, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}
