// Package metricstest reads the metrics a test's process registered with
// controller-runtime's registry, where the manager's own metrics and
// controller-runtime's (reconciles, webhook requests) live.
package metricstest

import (
	"fmt"

	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Sum adds up the counters and gauges named name whose labels include every
// pair of match (nil matches every series). A metric nothing has recorded yet
// sums to 0.
func Sum(name string, match map[string]string) (float64, error) {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return 0, fmt.Errorf("gathering the metrics: %w", err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if matches(labels, match) {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return total, nil
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
