package check

import (
	"context"
	"errors"
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/conditions/promquery"
)

// ObjectReader reads an object a condition declares, if the requester may get it:
// *objects.Reader. An *objects.MissingError says it does not exist.
type ObjectReader interface {
	Read(ctx context.Context, who authority.Requester, ref objects.Ref) (map[string]any, error)
}

// QueryPermission is what a requester needs for their conditions' metrics queries
// to run, in their run's namespace: Prometheus has no RBAC of its own, so whoever
// writes a query may read any series through the policy's messages, and the
// administrator decides who may (ClusterRole kubernaut-metrics-query). Asked at
// admission and again before each round's queries, so that revoking it stops
// pending runs.
func QueryPermission(namespace string) authority.Permission {
	return authority.Permission{Verb: "query", Group: "kubernaut.io", Resource: "metrics", Namespace: namespace}
}

// Target is what a round's declared data is read about: the action's target,
// the run's namespace and who asked for the run.
type Target struct {
	Name, Namespace string
	// RunNamespace is the namespace of the WorkflowExecution or
	// KubernetesExecution: objects that name no namespace are read there.
	RunNamespace string
	// Requester is who asked for the run; objects are read only if they may get
	// them.
	Requester authority.Requester
}

// declares reports whether a condition reads data beside the facts.
func declares(c *commonv1alpha1.ValidationCondition) bool {
	return len(c.Metrics) > 0 || len(c.Objects) > 0
}

// declared reads what c declares into a copy of doc, under metrics and objects. A
// result that is not nil means the policy is not to be evaluated: the data was
// not there (Inconclusive) or could not be read (Errored).
func (s *Service) declared(ctx context.Context, r Round, c *commonv1alpha1.ValidationCondition, doc map[string]any) (map[string]any, *conditions.Result) {
	vars := promquery.Vars{Name: r.Target.Name, Namespace: r.Target.Namespace}
	out := maps.Clone(doc)
	if len(c.Metrics) > 0 {
		values := make(map[string]any, len(c.Metrics))
		for _, m := range c.Metrics {
			v, res := s.query(ctx, r.Target, m, vars)
			if res != nil {
				return nil, res
			}
			values[m.Name] = v
		}
		out["metrics"] = values
	}
	if len(c.Objects) > 0 {
		values := make(map[string]any, len(c.Objects))
		for _, o := range c.Objects {
			v, res := s.read(ctx, r.Target, o)
			if res != nil {
				return nil, res
			}
			values[o.Key] = v
		}
		out["objects"] = values
	}
	return out, nil
}

func (s *Service) query(ctx context.Context, t Target, m commonv1alpha1.MetricQuery, vars promquery.Vars) (any, *conditions.Result) {
	if s.Metrics == nil {
		return nil, errored(fmt.Sprintf("metrics %s: the manager has no Prometheus to query (--prometheus-url)", m.Name))
	}
	if s.Authority != nil {
		perm := QueryPermission(t.RunNamespace)
		missing, err := s.Authority.Missing(ctx, t.Requester, []authority.Permission{perm})
		switch {
		case err != nil:
			return nil, errored(fmt.Sprintf("metrics %s: asking whether %s may query: %v", m.Name, t.Requester, err))
		case len(missing) > 0:
			return nil, errored(fmt.Sprintf("metrics %s: user %q cannot %s", m.Name, t.Requester.Username, perm))
		}
	}
	q, err := promquery.Expand(m.Query, vars)
	if err != nil {
		return nil, errored(fmt.Sprintf("metrics %s: %v", m.Name, err))
	}
	v, err := s.Metrics.Query(ctx, q)
	var none *promquery.InconclusiveError
	switch {
	case errors.As(err, &none):
		return nil, &conditions.Result{Outcome: conditions.Inconclusive, Reason: conditions.ReasonNoMetricsData,
			Message: conditions.CapMessage(fmt.Sprintf("metrics %s: %v", m.Name, err))}
	case err != nil:
		return nil, errored(fmt.Sprintf("metrics %s: %v", m.Name, err))
	}
	return v, nil
}

func (s *Service) read(ctx context.Context, t Target, o commonv1alpha1.ObjectQuery) (map[string]any, *conditions.Result) {
	if s.Objects == nil {
		return nil, errored(fmt.Sprintf("objects %s: the manager reads no objects for conditions", o.Key))
	}
	ref, err := objects.RefOf(o, t.RunNamespace, t.Name, t.Namespace)
	if err != nil {
		return nil, errored(fmt.Sprintf("objects %s: %v", o.Key, err))
	}
	v, err := s.Objects.Read(ctx, t.Requester, ref)
	var missing *objects.MissingError
	switch {
	case errors.As(err, &missing):
		return nil, &conditions.Result{Outcome: conditions.Inconclusive, Reason: conditions.ReasonObjectMissing,
			Message: conditions.CapMessage(fmt.Sprintf("objects %s: %v", o.Key, err))}
	case err != nil:
		return nil, errored(fmt.Sprintf("objects %s: %v", o.Key, err))
	}
	return v, nil
}

func errored(msg string) *conditions.Result {
	return &conditions.Result{Outcome: conditions.Errored, Reason: conditions.ReasonEvaluationError, Message: conditions.CapMessage(msg)}
}

// TargetOf is the Target of a run in runNamespace of action with params, asked for
// by who.
func TargetOf(action string, params map[string]any, runNamespace string, who authority.Requester) Target {
	t := Target{RunNamespace: runNamespace, Requester: who}
	if a, ok := catalog.Lookup(action); ok && a.Target != nil {
		t.Name, t.Namespace, _ = a.Target.Name(params)
	}
	return t
}

// RecordedTarget is TargetOf for a run object, whose annotations record its
// requester (authority.Recorded): a run without one reads no objects.
func RecordedTarget(action string, params map[string]any, run metav1.Object) Target {
	who, _ := authority.Recorded(run.GetAnnotations())
	return TargetOf(action, params, run.GetNamespace(), who)
}
