package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestSum(t *testing.T) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "metricstest_requests_total", Help: "test"}, []string{"path", "code"})
	crmetrics.Registry.MustRegister(requests)
	defer crmetrics.Registry.Unregister(requests)
	requests.WithLabelValues("/a", "200").Add(2)
	requests.WithLabelValues("/a", "403").Add(1)
	requests.WithLabelValues("/b", "200").Add(5)

	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"every series", nil, 8},
		{"one label", map[string]string{"path": "/a"}, 3},
		{"two labels", map[string]string{"path": "/a", "code": "403"}, 1},
		{"no such value", map[string]string{"path": "/c"}, 0},
		{"no such label", map[string]string{"verb": "get"}, 0},
	} {
		got, err := Sum("metricstest_requests_total", tc.match)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if got, err := Sum("metricstest_unregistered_total", nil); err != nil || got != 0 {
		t.Errorf("unregistered: %v, %v", got, err)
	}
}
