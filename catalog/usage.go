package catalog

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// The CPU and memory the pods of a workload use, from the Metrics API
// (metrics.k8s.io/v1beta1 PodMetrics, which metrics-server serves through the API
// server's aggregation layer, as kubectl top reads it), against their requests and
// limits. A round reads them only when one of its policies reads pods: one List of
// the workload's PodMetrics (by its selector, in its namespace), or one Get for a
// single pod.
//
// The Metrics API has no watch, so the manager's cache cannot hold PodMetrics: the
// manager's client reads them from the API server (cmd/manager, Cache.DisableFor),
// and a change of usage wakes no verification (package wake skips the kinds read
// around the cache); a postcondition on usage is evaluated again at its interval.
//
// When the Metrics API is absent (no APIService, no metrics-server, metrics-server
// unavailable), or answers with an error, the usage keys are left out, never set to
// zero: a policy that reads them reports a missing fact. So are those of a pod the
// Metrics API has no metrics for yet (metrics-server needs two scrapes of a new
// pod), or only metrics older than the pod (of a former pod of the same name).

// podUsageTimeout bounds the one read of the Metrics API a round makes.
// metrics-server answers from memory; one that hangs must not hold the round.
const podUsageTimeout = 3 * time.Second

// metricsAPIRecheck is how long the Metrics API is taken as absent once the API
// server said it does not serve it: asking again looks the group up in the API
// server's discovery, a document of every API the cluster serves, which a round
// should not fetch each time.
const metricsAPIRecheck = time.Minute

// MetricsAPIMemo remembers for a minute that the API server said it does not
// serve the Metrics API, so that rounds do not ask it again each time. One
// belongs to whatever gathers the facts from one API server (facts.Gatherer);
// readers it does not wrap ask every time. Safe for concurrent use.
type MetricsAPIMemo struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	until time.Time // the Metrics API is taken as absent until then
}

// Reader returns r, whose reads of PodMetrics fail at once with a
// NoKindMatchError while the Metrics API is known to be absent, and tell m when
// the API server says it is.
func (m *MetricsAPIMemo) Reader(r client.Reader) client.Reader {
	return &memoReader{Reader: r, memo: m}
}

func (m *MetricsAPIMemo) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// read runs a read of the Metrics API unless it is known to be absent, and
// remembers when the read says it is.
func (m *MetricsAPIMemo) read(read func() error) error {
	m.mu.Lock()
	absent := m.now().Before(m.until)
	m.mu.Unlock()
	if absent {
		return &meta.NoKindMatchError{GroupKind: metricsv1beta1.SchemeGroupVersion.WithKind("PodMetrics").GroupKind(),
			SearchedVersions: []string{metricsv1beta1.SchemeGroupVersion.Version}}
	}
	err := read()
	if meta.IsNoMatchError(err) {
		m.mu.Lock()
		m.until = m.now().Add(metricsAPIRecheck)
		m.mu.Unlock()
	}
	return err
}

// memoReader is a client.Reader whose reads of PodMetrics go through a
// MetricsAPIMemo.
type memoReader struct {
	client.Reader
	memo *MetricsAPIMemo
}

func (r *memoReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*metricsv1beta1.PodMetrics); !ok {
		return r.Reader.Get(ctx, key, obj, opts...)
	}
	return r.memo.read(func() error { return r.Reader.Get(ctx, key, obj, opts...) })
}

func (r *memoReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*metricsv1beta1.PodMetricsList); !ok {
		return r.Reader.List(ctx, list, opts...)
	}
	return r.memo.read(func() error { return r.Reader.List(ctx, list, opts...) })
}

// podUsage is the Metrics API's report on a workload's pods, by pod name.
type podUsage map[string]*metricsv1beta1.PodMetrics

// readPodUsage reads the PodMetrics of pods, which are in namespace and which
// selector matches (nil: the namespace's; a single pod is read by name). It
// returns nil when the round's policies do not read pods, when there are none,
// and when the Metrics API does not answer: see above.
func readPodUsage(ctx context.Context, r client.Reader, want Wanted, namespace string, selector labels.Selector, pods []corev1.Pod) podUsage {
	if !want.Has("pods") || len(pods) == 0 {
		return nil
	}
	if selector != nil {
		if _, selectable := selector.Requirements(); !selectable {
			selector = nil // labels.Nothing(), which a List would send as no selector at all
		}
	}
	ctx, cancel := context.WithTimeout(ctx, podUsageTimeout)
	defer cancel()
	usage := podUsage{}
	var err error
	if len(pods) == 1 {
		var m metricsv1beta1.PodMetrics
		if err = r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pods[0].Name}, &m); err == nil {
			usage[m.Name] = &m
		} else if apierrors.IsNotFound(err) && !metricsAPIAbsent(err) {
			return usage // the API answers; it has no metrics for this pod yet
		}
	} else {
		opts := []client.ListOption{client.InNamespace(namespace)}
		if selector != nil {
			opts = append(opts, client.MatchingLabelsSelector{Selector: selector})
		}
		var list metricsv1beta1.PodMetricsList
		if err = r.List(ctx, &list, opts...); err == nil {
			for i := range list.Items {
				usage[list.Items[i].Name] = &list.Items[i]
			}
		}
	}
	if err != nil {
		log := logf.FromContext(ctx)
		if metricsAPIAbsent(err) {
			log.V(1).Info("no pod usage: the Metrics API does not answer", "namespace", namespace, "error", err.Error())
		} else {
			log.Info("no pod usage: reading the Metrics API failed", "namespace", namespace, "error", err.Error())
		}
		return nil
	}
	return usage
}

// metricsAPIAbsent reports whether err says the Metrics API is not served: no
// such kind in discovery, no APIService (404 on its path), or an APIService whose
// server is unavailable (503 from the aggregator, or its discovery failed).
func metricsAPIAbsent(err error) bool {
	if meta.IsNoMatchError(err) || discovery.IsGroupDiscoveryFailedError(err) || apierrors.IsServiceUnavailable(err) {
		return true
	}
	// A 404 from the aggregator for the whole path has no object details; one for
	// a pod the API has no metrics for names the pod.
	var status apierrors.APIStatus
	if errors.As(err, &status) && apierrors.IsNotFound(err) {
		details := status.Status().Details
		return details == nil || details.Name == ""
	}
	return false
}

// addUsage adds to the summary of pod p its usage and its containers'
// (podsFacts), when usage has metrics of p taken since p was created.
func addUsage(summary map[string]any, p *corev1.Pod, usage podUsage) {
	containers := containerSummaries(p)
	summary["containers"] = containers
	m := usage[p.Name]
	if m == nil || m.Timestamp.Time.Before(p.CreationTimestamp.Time) || len(m.Containers) == 0 {
		return
	}
	byName := map[string]map[string]any{}
	for _, c := range containers {
		c := c.(map[string]any)
		byName[c["name"].(string)] = c
	}
	var cpu, memory resource.Quantity
	// The pod's requests and limits over the containers the Metrics API reports,
	// unknown (nil) as soon as one of them does not set it.
	totals := map[string]*resource.Quantity{}
	for _, key := range resourceKeys {
		totals[key] = &resource.Quantity{}
	}
	for _, cm := range m.Containers {
		containerCPU, containerMemory := cm.Usage[corev1.ResourceCPU], cm.Usage[corev1.ResourceMemory]
		cpu.Add(containerCPU)
		memory.Add(containerMemory)
		spec := podContainer(p, cm.Name)
		var declared corev1.ResourceRequirements
		if spec != nil {
			declared = spec.Resources
		}
		if c := byName[cm.Name]; c != nil {
			addUsageKeys(c, containerCPU, containerMemory, declared)
		}
		for _, key := range resourceKeys {
			if totals[key] == nil {
				continue
			}
			if q, ok := declaredQuantity(declared, key); ok {
				totals[key].Add(q)
			} else {
				totals[key] = nil
			}
		}
	}
	// Pod-level resources, where the pod sets them, bound the whole pod.
	if pr := p.Spec.Resources; pr != nil {
		for _, key := range resourceKeys {
			if q, ok := declaredQuantity(*pr, key); ok {
				totals[key] = &q
			}
		}
	}
	summary["cpu_usage_millicores"] = cpu.MilliValue()
	summary["memory_usage_bytes"] = memory.Value()
	for _, key := range resourceKeys {
		if total := totals[key]; total != nil {
			addRatio(summary, key, cpu, memory, *total)
		}
	}
}

// resourceKeys name the declared resources a usage is compared with, as the
// ratio keys spell them: cpu_request_ratio, memory_limit_ratio, ...
var resourceKeys = []string{"cpu_request", "cpu_limit", "memory_request", "memory_limit"}

// declaredQuantity is the request or limit key names in r, when set and above 0.
func declaredQuantity(r corev1.ResourceRequirements, key string) (resource.Quantity, bool) {
	list, name := r.Requests, corev1.ResourceCPU
	switch key {
	case "cpu_limit":
		list = r.Limits
	case "memory_request":
		name = corev1.ResourceMemory
	case "memory_limit":
		list, name = r.Limits, corev1.ResourceMemory
	}
	q, ok := list[name]
	return q, ok && q.Sign() > 0
}

// addUsageKeys sets a container's usage and its ratios to what it declares.
func addUsageKeys(c map[string]any, cpu, memory resource.Quantity, declared corev1.ResourceRequirements) {
	c["cpu_usage_millicores"] = cpu.MilliValue()
	c["memory_usage_bytes"] = memory.Value()
	for _, key := range resourceKeys {
		if q, ok := declaredQuantity(declared, key); ok {
			addRatio(c, key, cpu, memory, q)
		}
	}
}

// addRatio sets <key>_ratio: the usage of key's resource over the declared
// quantity, to three decimals.
func addRatio(m map[string]any, key string, cpu, memory, declared resource.Quantity) {
	used := cpu
	if key == "memory_request" || key == "memory_limit" {
		used = memory
	}
	ratio := used.AsApproximateFloat64() / declared.AsApproximateFloat64()
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return
	}
	m[key+"_ratio"] = math.Round(ratio*1000) / 1000
}

// containerSummaries lists a pod's containers with what they declare: requests
// and limits of CPU (millicores) and memory (bytes), each only when set. The
// regular containers, then the init containers that keep running beside them
// (sidecars, restartPolicy Always), by their order in the spec.
func containerSummaries(p *corev1.Pod) []any {
	out := []any{}
	add := func(c *corev1.Container) {
		s := map[string]any{"name": c.Name}
		for _, key := range resourceKeys {
			if q, ok := declaredQuantity(c.Resources, key); ok {
				if key == "cpu_request" || key == "cpu_limit" {
					s[key+"_millicores"] = q.MilliValue()
				} else {
					s[key+"_bytes"] = q.Value()
				}
			}
		}
		out = append(out, s)
	}
	for i := range p.Spec.Containers {
		add(&p.Spec.Containers[i])
	}
	for i := range p.Spec.InitContainers {
		if c := &p.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}

// podContainer returns p's container or init container named name, nil if none.
func podContainer(p *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
