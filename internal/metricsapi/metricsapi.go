// Package metricsapi serves the Metrics API (metrics.k8s.io: kubectl top, the
// pods' usage facts) in the clusters the project runs on this machine (the local
// cluster, the test harness's cluster mode): metrics-server, a process beside
// kube-apiserver, scrapes the resource metrics kwok simulates for its fake nodes,
// and kube-apiserver's aggregation layer serves what it reports.
//
// Four things have to line up, none of which a bare kube-apiserver and kwok do:
//
//   - The aggregation layer. kube-apiserver proxies metrics.k8s.io to
//     metrics-server with a front-proxy client certificate and the user in
//     X-Remote-* headers (--proxy-client-*, --requestheader-*), and publishes the
//     front-proxy CA in kube-system/extension-apiserver-authentication, where
//     metrics-server reads whom to trust. APIServerFlags sets them.
//
//   - The route to metrics-server. The APIService names a Service. With
//     --enable-aggregator-routing, kube-apiserver dials an address of the
//     Service's Endpoints, and the Endpoints and EndpointSlice APIs refuse
//     loopback addresses ("may not be in the loopback range"); without it, it
//     dials the Service's cluster IP, which nothing serves without kube-proxy,
//     except for a Service of type ExternalName, whose name it dials as is
//     (k8s.io/apiserver/pkg/util/proxy.ResolveCluster). So the Service is
//     ExternalName 127.0.0.1, metrics-server listens on loopback only, and
//     aggregator routing stays off. Register creates both.
//
//   - TLS. kube-apiserver checks metrics-server's certificate for the Service's
//     name (metrics-server.kube-system.svc) against the APIService's caBundle;
//     WriteFiles issues one certificate from a CA of its own for that name and
//     127.0.0.1, which kwok serves too, so that metrics-server verifies kwok's
//     certificate with the same CA (no --kubelet-insecure-tls).
//
//   - The "kubelets". metrics-server scrapes https://ADDRESS:PORT/PATH of each
//     node, ADDRESS its first InternalIP, PORT its status.daemonEndpoints
//     (--kubelet-use-node-status-port) and PATH the node's annotation
//     metrics.k8s.io/resource-metrics-path (metrics-server 0.8), else
//     /metrics/resource. kwok serves one endpoint for all its nodes, at
//     /metrics/nodes/NODE/metrics/resource, from the Metric and
//     ClusterResourceUsage documents WriteKwokConfig writes (usage from the pod
//     annotations kwok.x-k8s.io/usage-cpu and kwok.x-k8s.io/usage-memory, else
//     1m and 1Mi per container). So kwok runs with KwokArgs (its server on
//     127.0.0.1:PORT, nodes at InternalIP 127.0.0.1 and port PORT) and nodes
//     carry NodeAnnotations.
//
// metrics-server scrapes every 10 s (its least --metric-resolution) and reports a
// pod once it has two points of it; kwok learns of a node's pods from the first
// scrape that finds them (its pod cache is filled lazily), so a new pod's metrics
// appear 20 to 30 s after it runs.
package metricsapi

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/certs/ca"
)

// Names of what Register creates.
const (
	Namespace   = "kube-system"
	ServiceName = "metrics-server"
	APIService  = "v1beta1.metrics.k8s.io"
	// frontProxyUser is the CommonName of kube-apiserver's front-proxy client
	// certificate, the one name metrics-server accepts it under.
	frontProxyUser = "front-proxy-client"
)

// ResourceMetricsPathAnnotation tells metrics-server where a node's resource
// metrics are (metrics-server 0.8).
const ResourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path"

// NodeAnnotations are the annotations a kwok node needs for metrics-server to
// scrape its resource metrics from kwok.
func NodeAnnotations(node string) map[string]string {
	return map[string]string{ResourceMetricsPathAnnotation: "/metrics/nodes/" + node + "/metrics/resource"}
}

// Files are the certificates WriteFiles writes, and the ports chosen for
// metrics-server and kwok's server.
type Files struct {
	// CA signed Serving; it is the APIService's caBundle and what metrics-server
	// verifies kwok with.
	CA string
	// ServingCert and ServingKey are metrics-server's and kwok's serving
	// certificate, for 127.0.0.1 and metrics-server.kube-system.svc.
	ServingCert, ServingKey string
	// FrontProxyCA signed FrontProxyCert, the client certificate kube-apiserver
	// presents to metrics-server.
	FrontProxyCA, FrontProxyCert, FrontProxyKey string
	// MetricsServerPort and KwokPort are free ports on 127.0.0.1.
	MetricsServerPort, KwokPort int
}

// WriteFiles issues the certificates into dir (created if needed), valid for
// validity, and picks the ports.
func WriteFiles(dir string, validity time.Duration) (Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	now := time.Now()
	f := Files{
		CA: filepath.Join(dir, "ca.crt"), ServingCert: filepath.Join(dir, "serving.crt"), ServingKey: filepath.Join(dir, "serving.key"),
		FrontProxyCA: filepath.Join(dir, "front-proxy-ca.crt"), FrontProxyCert: filepath.Join(dir, "front-proxy-client.crt"),
		FrontProxyKey: filepath.Join(dir, "front-proxy-client.key"),
	}
	servingCA, err := ca.New(now, validity)
	if err != nil {
		return Files{}, err
	}
	serving, err := servingCA.Issue(ca.Names{
		DNSNames:    []string{ServiceName + "." + Namespace + ".svc", "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, now, validity)
	if err != nil {
		return Files{}, err
	}
	proxyCA, err := ca.New(now, validity)
	if err != nil {
		return Files{}, err
	}
	proxy, err := proxyCA.IssueClient(frontProxyUser, now, validity)
	if err != nil {
		return Files{}, err
	}
	for path, data := range map[string][]byte{
		f.CA: servingCA.CertPEM, f.ServingCert: serving.CertPEM, f.ServingKey: serving.KeyPEM,
		f.FrontProxyCA: proxyCA.CertPEM, f.FrontProxyCert: proxy.CertPEM, f.FrontProxyKey: proxy.KeyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return Files{}, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if f.MetricsServerPort, err = freePort(); err != nil {
		return Files{}, err
	}
	if f.KwokPort, err = freePort(); err != nil {
		return Files{}, err
	}
	return f, nil
}

// APIServerFlags are the kube-apiserver flags (without the leading dashes) of its
// aggregation layer.
func (f Files) APIServerFlags() map[string]string {
	return map[string]string{
		"requestheader-client-ca-file":       f.FrontProxyCA,
		"requestheader-allowed-names":        frontProxyUser,
		"requestheader-username-headers":     "X-Remote-User",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"proxy-client-cert-file":             f.FrontProxyCert,
		"proxy-client-key-file":              f.FrontProxyKey,
	}
}

// MetricsServerArgs are metrics-server's arguments, kubeconfig an admin's (it
// reads nodes and pods, and asks the API server to authenticate and authorize
// the requests it serves).
func (f Files) MetricsServerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(f.MetricsServerPort),
		"--tls-cert-file=" + f.ServingCert,
		"--tls-private-key-file=" + f.ServingKey,
		"--kubelet-certificate-authority=" + f.CA,
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=10s",
		"--kubelet-request-timeout=5s",
	}
}

// KwokArgs are the arguments that make kwok serve its nodes' resource metrics
// (metricsConfig: what WriteKwokConfig wrote) on 127.0.0.1, and give its nodes
// that address and port. They replace kwok's --node-ip and --server-address.
func (f Files) KwokArgs(metricsConfig string) []string {
	port := strconv.Itoa(f.KwokPort)
	return []string{
		"--node-ip=127.0.0.1", "--node-port=" + port, "--server-address=127.0.0.1:" + port,
		"--tls-cert-file=" + f.ServingCert, "--tls-private-key-file=" + f.ServingKey,
		"--config=" + metricsConfig,
	}
}

// Register creates the Service and the APIService that route metrics.k8s.io to
// metrics-server (see the package comment); what exists already is kept.
func (f Files) Register(ctx context.Context, c client.Client) error {
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: Namespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(f.MetricsServerPort)}}},
	}
	if err := c.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Service %s/%s: %w", Namespace, ServiceName, err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": APIService},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "version": "v1beta1",
			"service":  map[string]any{"namespace": Namespace, "name": ServiceName, "port": int64(f.MetricsServerPort)},
			"caBundle": ca, "groupPriorityMinimum": int64(100), "versionPriority": int64(100),
		},
	}}
	if err := c.Create(ctx, api); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating APIService %s: %w", APIService, err)
	}
	return nil
}

// WaitAvailable waits until kube-apiserver reports the APIService Available: it
// reached metrics-server. failed, polled meanwhile, reports a process that died.
func WaitAvailable(ctx context.Context, c client.Client, timeout time.Duration, failed func() error) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if failed != nil {
			if err := failed(); err != nil {
				return false, err
			}
		}
		api := &unstructured.Unstructured{}
		api.SetAPIVersion("apiregistration.k8s.io/v1")
		api.SetKind("APIService")
		if err := c.Get(ctx, client.ObjectKey{Name: APIService}, api); err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(api.Object, "status", "conditions")
		for _, x := range conditions {
			cond, _ := x.(map[string]any)
			if cond["type"] == "Available" {
				last = fmt.Sprintf("%v: %v", cond["reason"], cond["message"])
				return cond["status"] == "True", nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for APIService %s to be Available (last: %s): %w", APIService, last, err)
	}
	return nil
}

// freePort returns a port free on 127.0.0.1 now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// kwokConfig makes kwok serve, for each node at
// /metrics/nodes/NODE/metrics/resource, the resource metrics metrics-server
// reads (the kubelet's names and labels), with each container using the CPU and
// memory its pod's annotations kwok.x-k8s.io/usage-cpu and
// kwok.x-k8s.io/usage-memory give (1m and 1Mi without them).
//
// A container's CPU counter is its pod's age times its usage, rather than
// kwok's CumulativeUsage, which counts from kwok's first answer about the pod and
// so is 0 then: metrics-server drops a point of 0 CPU, and would report a new pod
// after three scrapes (20 to 30 s) instead of two. The node's counter is kwok's:
// pods come and go, and a product would go down.
const kwokConfig = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Metric
metadata:
  name: kubernaut-resource-metrics
spec:
  path: /metrics/nodes/{nodeName}/metrics/resource
  metrics:
  - name: node_cpu_usage_seconds_total
    help: Cumulative CPU time of the node's pods, in core-seconds.
    kind: counter
    dimension: node
    value: node.CumulativeUsage("cpu")
  - name: node_memory_working_set_bytes
    help: Working set of the node's pods, in bytes.
    kind: gauge
    dimension: node
    value: node.Usage("memory")
  - name: container_cpu_usage_seconds_total
    help: Cumulative CPU time of the container, in core-seconds.
    kind: counter
    dimension: container
    labels:
    - {name: container, value: container.name}
    - {name: namespace, value: pod.metadata.namespace}
    - {name: pod, value: pod.metadata.name}
    value: pod.SinceSecond() * pod.Usage("cpu", container.name)
  - name: container_memory_working_set_bytes
    help: Working set of the container, in bytes.
    kind: gauge
    dimension: container
    labels:
    - {name: container, value: container.name}
    - {name: namespace, value: pod.metadata.namespace}
    - {name: pod, value: pod.metadata.name}
    value: pod.Usage("memory", container.name)
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: kubernaut-usage-from-annotations
spec:
  usages:
  - usage:
      cpu:
        expression: '"kwok.x-k8s.io/usage-cpu" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-cpu"]) : Quantity("1m")'
      memory:
        expression: '"kwok.x-k8s.io/usage-memory" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-memory"]) : Quantity("1Mi")'
`

// WriteKwokConfig writes the kwok configuration of the resource metrics (see
// kwokConfig) to path, for KwokArgs.
func WriteKwokConfig(path string) error {
	if err := os.WriteFile(path, []byte(kwokConfig), 0o644); err != nil {
		return fmt.Errorf("writing kwok's resource metrics configuration: %w", err)
	}
	return nil
}
