package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"kubernaut.io/stepvalidation/conditions"
)

// Offline, an input document stands in for what the manager reads for a condition
// beside the facts: input.metrics.<name>, the results of its Prometheus queries,
// and input.objects.<key>, the objects it declares (conditions/check, declared.go).
// The manager does not evaluate the policy when that data is not there; a test
// says so with null, and gets the same Inconclusive outcome.

// declaredName is what a metrics query's name or an object's key looks like
// (api/common/v1alpha1, MetricQuery.Name and ObjectQuery.Key).
var declaredName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// declaredHelp explains the format, for --help of eval and test.
const declaredHelp = `Data a condition declares beside the facts goes into the input as the manager
puts it there:

  metrics:                       # input.metrics.<name>: each query's result
    error_rate: 0.002            #   a number...
    restarts_by_pod:             #   ...or an object from label set to number
      '{pod="web-1"}': 0
  objects:                       # input.objects.<key>: each object's JSON
    cert: {status: {conditions: [{type: Ready, status: "True"}]}}

null says the data was not there: metrics {error_rate: null} (or {} for a query by
label set) is a query that returned nothing, NaN or Inf, or a Prometheus that did
not answer; objects {cert: null} is an object that does not exist. The manager then
does not evaluate the policy, and the outcome is inconclusive (reason NoMetricsData
or ObjectMissing).`

// declaredOutcome checks the metrics and objects of an input document. It returns
// the Inconclusive result the manager would report when a value is null, nil when
// the policy is to be evaluated, and an error naming the field when a value is of
// a shape the manager never gives a policy.
func declaredOutcome(doc map[string]any) (*conditions.Result, error) {
	metrics, err := declaredSection(doc, "metrics", "a query's name")
	if err != nil {
		return nil, err
	}
	objects, err := declaredSection(doc, "objects", "an object's key")
	if err != nil {
		return nil, err
	}
	var inconclusive *conditions.Result
	note := func(reason, msg string) {
		if inconclusive == nil { // the first, as the manager stops at it
			inconclusive = &conditions.Result{Outcome: conditions.Inconclusive, Reason: reason, Message: msg}
		}
	}
	for _, name := range sortedNames(metrics) {
		switch v := metrics[name].(type) {
		case nil:
			note(conditions.ReasonNoMetricsData, fmt.Sprintf("metrics %s: the query returned no data (null in the input)", name))
		case float64, int, int64:
		case map[string]any:
			if len(v) == 0 {
				note(conditions.ReasonNoMetricsData, fmt.Sprintf("metrics %s: the query returned no series (an empty object in the input)", name))
			}
			for _, labels := range sortedNames(v) {
				if !strings.HasPrefix(labels, "{") || !strings.HasSuffix(labels, "}") {
					return nil, fmt.Errorf(`metrics.%s: the key %q is not a label set; the manager writes them as {pod="web-1"}`, name, labels)
				}
				switch v[labels].(type) {
				case float64, int, int64:
				default:
					return nil, fmt.Errorf("metrics.%s[%s] is %s; want a number (a query with no data is null as a whole)", name, labels, describe(v[labels]))
				}
			}
		default:
			return nil, fmt.Errorf("metrics.%s is %s; want a number, an object from label set to number, or null for no data", name, describe(v))
		}
	}
	for _, key := range sortedNames(objects) {
		switch v := objects[key].(type) {
		case nil:
			note(conditions.ReasonObjectMissing, fmt.Sprintf("objects %s: the object does not exist (null in the input)", key))
		case map[string]any:
		default:
			return nil, fmt.Errorf("objects.%s is %s; want the object, or null for one that does not exist", key, describe(v))
		}
	}
	return inconclusive, nil
}

// declaredSection returns doc[section] when it is an object whose names could be
// declared.
func declaredSection(doc map[string]any, section, what string) (map[string]any, error) {
	raw, ok := doc[section]
	if !ok {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s; want an object from %s to its value", section, describe(raw), what)
	}
	for _, name := range sortedNames(m) {
		if !declaredName.MatchString(name) {
			return nil, fmt.Errorf("%s.%s: %q cannot be %s: use snake_case letters, digits and _, starting with a letter", section, name, name, what)
		}
	}
	return m, nil
}

func sortedNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// describe names a decoded JSON value's type for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}

// nonFiniteHint explains a YAML .nan or .inf, which JSON cannot hold.
func nonFiniteHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "unsupported value: NaN") || strings.Contains(msg, "unsupported value: +Inf") || strings.Contains(msg, "unsupported value: -Inf") {
		return "; a query that returns NaN or Inf gives no data: write null, and the condition is inconclusive"
	}
	return ""
}

// evaluateOffline decides on doc as the manager would: Inconclusive, without
// evaluating the policy, when data the condition declares is null.
func evaluateOffline(ctx context.Context, engine *conditions.Engine, p *conditions.Policy, doc map[string]any) (conditions.Result, error) {
	inconclusive, err := declaredOutcome(doc)
	if err != nil {
		return conditions.Result{}, err
	}
	if inconclusive != nil {
		return *inconclusive, nil
	}
	return engine.Evaluate(ctx, p, doc), nil
}
