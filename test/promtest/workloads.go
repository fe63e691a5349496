package promtest

import (
	"fmt"
	"math"
)

// Metric names the helpers below serve, as instrumented applications and
// cAdvisor (the kubelet's /metrics/cadvisor) name them.
const (
	HTTPRequestsTotal        = "http_requests_total"
	CFSPeriodsTotal          = "container_cpu_cfs_periods_total"
	CFSThrottledPeriodsTotal = "container_cpu_cfs_throttled_periods_total"
)

// CFSPeriodsPerSecond is how many CFS enforcement periods a container with a CPU
// limit goes through each second: the kernel's default period is 100ms.
const CFSPeriodsPerSecond = 10

// HTTPApp names an application whose requests http_requests_total counts.
// Namespace is required; Service and Pod become labels when set.
type HTTPApp struct {
	Namespace string
	Service   string
	Pod       string
}

func (a HTTPApp) labels(code string) (Labels, error) {
	if a.Namespace == "" {
		return nil, fmt.Errorf("HTTPApp: Namespace is required")
	}
	l := Labels{"namespace": a.Namespace, "code": code}
	if a.Service != "" {
		l["service"] = a.Service
	}
	if a.Pod != "" {
		l["pod"] = a.Pod
	}
	return l, nil
}

// SetHTTPTraffic makes the app serve perSecond requests a second, errorRatio of
// them failing: http_requests_total{code="200"} grows by perSecond*(1-errorRatio)
// a second and {code="500"} by perSecond*errorRatio. Both series exist even at
// 0% errors, as a real application's do once it has served one error, so
//
//	sum(rate(http_requests_total{code=~"5.."}[5s])) / sum(rate(http_requests_total[5s]))
//
// is errorRatio once two scrapes inside the window have landed. Calling it
// again changes the traffic from now on; the counters continue from where they
// are. perSecond 0 stops the traffic (the ratio above is then NaN: 0/0).
func (e *Exporter) SetHTTPTraffic(app HTTPApp, perSecond, errorRatio float64) error {
	if math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond < 0 {
		return fmt.Errorf("HTTP traffic for %+v: requests per second %v: want a finite number >= 0", app, perSecond)
	}
	if math.IsNaN(errorRatio) || errorRatio < 0 || errorRatio > 1 {
		return fmt.Errorf("HTTP traffic for %+v: error ratio %v: want 0 to 1", app, errorRatio)
	}
	ok, err := app.labels("200")
	if err != nil {
		return err
	}
	failed, _ := app.labels("500")
	if err := e.SetCounterRate(HTTPRequestsTotal, ok, perSecond*(1-errorRatio)); err != nil {
		return err
	}
	return e.SetCounterRate(HTTPRequestsTotal, failed, perSecond*errorRatio)
}

// Container names a container whose CPU throttling the cAdvisor counters count.
// All three fields are required, as cAdvisor always sets them for pods.
type Container struct {
	Namespace string
	Pod       string
	Container string
}

func (c Container) labels() (Labels, error) {
	if c.Namespace == "" || c.Pod == "" || c.Container == "" {
		return nil, fmt.Errorf("container %+v: Namespace, Pod and Container are all required", c)
	}
	return Labels{"namespace": c.Namespace, "pod": c.Pod, "container": c.Container}, nil
}

// SetCPUThrottling makes the container run into its CPU limit in ratio of its
// CFS periods: container_cpu_cfs_periods_total grows by CFSPeriodsPerSecond a
// second and container_cpu_cfs_throttled_periods_total by ratio times that, so
//
//	sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total[5s]))
//	  / sum by (namespace, pod) (rate(container_cpu_cfs_periods_total[5s]))
//
// is ratio for the pod (with one container) once two scrapes have landed.
func (e *Exporter) SetCPUThrottling(c Container, ratio float64) error {
	if math.IsNaN(ratio) || ratio < 0 || ratio > 1 {
		return fmt.Errorf("CPU throttling of %+v: ratio %v: want 0 to 1", c, ratio)
	}
	l, err := c.labels()
	if err != nil {
		return err
	}
	if err := e.SetCounterRate(CFSPeriodsTotal, l, CFSPeriodsPerSecond); err != nil {
		return err
	}
	return e.SetCounterRate(CFSThrottledPeriodsTotal, l, CFSPeriodsPerSecond*ratio)
}
