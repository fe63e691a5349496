package install_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"kubernaut.io/stepvalidation/test/harness"
)

// monitoringAPIs are the Prometheus Operator's kinds, which the chart installs
// when the cluster serves them (serviceMonitor.enabled and
// prometheusRule.enabled are auto).
var monitoringAPIs = []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// helmTemplate renders charts/kubernaut with bin/helm (hack/tools.sh builds it
// from the Helm module) into namespace with args, the CRDs included.
func helmTemplate(t *testing.T, namespace string, args ...string) []byte {
	t.Helper()
	bin, err := harness.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	helm := filepath.Join(bin, "helm")
	if !fileExists(helm) {
		t.Fatalf("%s is missing: run make tools", helm)
	}
	cmd := exec.Command(helm, append([]string{"template", "kubernaut", filepath.Join(repoRoot(t), "charts", "kubernaut"),
		"--namespace", namespace, "--include-crds"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	return out
}

func withAPIs(apis ...string) []string {
	var args []string
	for _, a := range apis {
		args = append(args, "--api-versions", a)
	}
	return args
}

// TestChartInstallsWhatKustomizeDoes: with its default values, on a cluster
// with the Prometheus Operator, the chart installs every object config/default
// does, the same to the field, but the Namespace (Helm's --create-namespace) and
// the managed-by label. hack/helmchart generates the chart from that render; this
// fails when the two drift apart (make manifests regenerates the chart).
func TestChartInstallsWhatKustomizeDoes(t *testing.T) {
	want := parse(t, render(t))
	got := parse(t, helmTemplate(t, namespace, withAPIs(monitoringAPIs...)...))
	for _, u := range got.list {
		labels := u.GetLabels()
		if labels["app.kubernetes.io/managed-by"] != "" {
			if labels["app.kubernetes.io/managed-by"] != "Helm" {
				t.Errorf("%s %s: managed-by %q, want Helm", u.GetKind(), u.GetName(), labels["app.kubernetes.io/managed-by"])
			}
			labels["app.kubernetes.io/managed-by"] = "kustomize"
			u.SetLabels(labels)
		}
	}
	for _, w := range want.list {
		if w.GetKind() == "Namespace" {
			continue
		}
		g, ok := got.byKey[w.GetKind()+"/"+w.GetName()]
		if !ok {
			t.Errorf("the chart does not install %s %s", w.GetKind(), w.GetName())
			continue
		}
		if !equality.Semantic.DeepEqual(normalized(t, w), normalized(t, g)) {
			wj, _ := json.MarshalIndent(w.Object, "", " ")
			gj, _ := json.MarshalIndent(g.Object, "", " ")
			t.Errorf("%s %s differs:\nkustomize: %s\nhelm: %s", w.GetKind(), w.GetName(), wj, gj)
		}
	}
	for _, g := range got.list {
		if _, ok := want.byKey[g.GetKind()+"/"+g.GetName()]; !ok {
			t.Errorf("the chart installs %s %s, which config/default does not", g.GetKind(), g.GetName())
		}
	}
}

// normalized is u as JSON decodes it, so that numbers compare alike.
func normalized(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	b, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestChartValues: each value changes what it says, and only that.
func TestChartValues(t *testing.T) {
	manager := func(objs *objects) (args []string, container map[string]any, volumes []any) {
		t.Helper()
		d := objs.get(t, "Deployment", managerName)
		containers := slice(t, d, "spec", "template", "spec", "containers")
		container = asMap(t, containers[0])
		for _, a := range container["args"].([]any) {
			args = append(args, a.(string))
		}
		return args, container, slice(t, d, "spec", "template", "spec", "volumes")
	}

	t.Run("without the Prometheus Operator, no ServiceMonitor or PrometheusRule", func(t *testing.T) {
		objs := parse(t, helmTemplate(t, namespace))
		if n := len(objs.ofKind("ServiceMonitor")) + len(objs.ofKind("PrometheusRule")); n != 0 {
			t.Errorf("%d Prometheus Operator objects on a cluster without its CRDs", n)
		}
		forced := parse(t, helmTemplate(t, namespace, "--set", "serviceMonitor.enabled=true"))
		if len(forced.ofKind("ServiceMonitor")) != 1 {
			t.Error("serviceMonitor.enabled=true installs no ServiceMonitor")
		}
	})

	t.Run("settings reach the manager", func(t *testing.T) {
		objs := parse(t, helmTemplate(t, "remediation", append(withAPIs(monitoringAPIs...),
			"--set", "image.repository=registry.example/kubernaut/manager",
			"--set", "image.digest=sha256:"+strings.Repeat("ab", 32),
			"--set", "replicas=3",
			"--set", "resources.limits.memory=1Gi",
			"--set", "validationMode=warn",
			"--set", "replicaCeiling=40",
			"--set", "finishedRunTTL=168h",
			"--set", "protectedNamespaces={payments,ledger}",
			"--set", "webhookClientCA.configMap=apiserver-client-ca",
			"--set", "metrics.enabled=false",
			"--set", "networkPolicy.apiServerCIDRs={10.0.0.0/28,10.0.1.0/28}",
			"--set", "extraArgs={--concurrency=16}",
		)...))
		args, container, volumes := manager(objs)
		if img := container["image"]; img != "registry.example/kubernaut/manager@sha256:"+strings.Repeat("ab", 32) {
			t.Errorf("image %v", img)
		}
		if r, _, _ := unstructured.NestedInt64(objs.get(t, "Deployment", managerName).Object, "spec", "replicas"); r != 3 {
			t.Errorf("replicas %d, want 3", r)
		}
		if mem := asMap(t, asMap(t, container["resources"])["limits"])["memory"]; mem != "1Gi" {
			t.Errorf("memory limit %v, want 1Gi", mem)
		}
		for _, want := range []string{"--validation-mode=warn", "--replica-ceiling=40", "--finished-run-ttl=168h", "--protected-namespaces=payments,ledger",
			"--webhook-client-ca=/etc/kubernaut/webhook-client-ca/ca.crt", "--webhook-client-cn=kube-apiserver",
			"--metrics-bind-address=0", "--concurrency=16"} {
			if !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
		}
		if !slices.ContainsFunc(volumes, func(v any) bool { return asMap(t, v)["name"] == "webhook-client-ca" }) {
			t.Error("no webhook-client-ca volume")
		}
		if _, ok := objs.byKey["Service/kubernaut-metrics-service"]; ok {
			t.Error("metrics.enabled=false leaves the metrics Service")
		}
		if len(objs.ofKind("ServiceMonitor")) != 0 {
			t.Error("metrics.enabled=false leaves the ServiceMonitor")
		}
		np := objs.get(t, "NetworkPolicy", managerName)
		from := asMap(t, slice(t, np, "spec", "ingress")[0])["from"].([]any)
		if len(from) != 2 {
			t.Errorf("NetworkPolicy admits the webhooks from %v, want the two ranges", from)
		}
		// The release's namespace everywhere config/default says kubernaut-system.
		for _, u := range objs.list {
			if b, _ := json.Marshal(u.Object); bytes.Contains(b, []byte(namespace)) {
				t.Errorf("%s %s still names %s", u.GetKind(), u.GetName(), namespace)
			}
		}
	})
}

// TestChartServerSideDryRun applies the chart's render with its defaults (on a
// cluster with the Prometheus Operator) to a real API server, as
// TestServerSideDryRun does the kustomize one.
func TestChartServerSideDryRun(t *testing.T) {
	serverSideDryRun(t, parse(t, helmTemplate(t, namespace, withAPIs(monitoringAPIs...)...)))
}
