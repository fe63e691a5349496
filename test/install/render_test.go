// Package install_test checks the install manifests (config/default): that they
// render with kustomize into objects whose names agree with the manager's flag
// defaults and with each other, and that a real API server accepts every object
// (server-side dry run, with cert-manager's and the Prometheus Operator's CRDs
// installed from the Go module cache).
package install_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/test/harness"
)

const (
	namespace   = "kubernaut-system"
	managerName = "kubernaut-manager"
	certName    = "kubernaut-serving-cert"
)

// repoRoot is the top of the repository: go test runs in test/install.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// kubectlPath is bin/kubectl (make tools), else the kubectl on PATH.
func kubectlPath(t *testing.T) string {
	t.Helper()
	if bin, err := harness.BinDir(); err == nil {
		if p := filepath.Join(bin, "kubectl"); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("no kubectl in bin/ (make tools) or on PATH")
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// render runs kubectl kustomize on config/default and returns the YAML.
func render(t *testing.T) []byte {
	t.Helper()
	cmd := exec.Command(kubectlPath(t), "kustomize", filepath.Join(repoRoot(t), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, stderr.String())
	}
	return out
}

// objects are the rendered objects, by "Kind/name".
type objects struct {
	list  []*unstructured.Unstructured
	byKey map[string]*unstructured.Unstructured
}

func parse(t *testing.T, rendered []byte) *objects {
	t.Helper()
	objs := &objects{byKey: map[string]*unstructured.Unstructured{}}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading rendered document %d: %v", len(objs.list)+1, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("rendered document %d does not parse: %v\n%s", len(objs.list)+1, err, doc)
		}
		if string(js) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("rendered document %d is not an object: %v\n%s", len(objs.list)+1, err, doc)
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			t.Fatalf("rendered document %d has no apiVersion, kind or name:\n%s", len(objs.list)+1, doc)
		}
		key := u.GetKind() + "/" + u.GetName()
		if _, dup := objs.byKey[key]; dup {
			t.Errorf("%s rendered twice", key)
		}
		objs.byKey[key] = u
		objs.list = append(objs.list, u)
	}
	if len(objs.list) == 0 {
		t.Fatal("config/default renders nothing")
	}
	return objs
}

func (o *objects) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	u, ok := o.byKey[kind+"/"+name]
	if !ok {
		t.Fatalf("config/default renders no %s %s", kind, name)
	}
	return u
}

func (o *objects) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range o.list {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// clusterScoped are the kinds of the install that have no namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
}

func str(t *testing.T, u *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedString(u.Object, fields...)
	if err != nil {
		t.Fatalf("%s %s: %s: %v", u.GetKind(), u.GetName(), strings.Join(fields, "."), err)
	}
	return v
}

func slice(t *testing.T, u *unstructured.Unstructured, fields ...string) []any {
	t.Helper()
	v, _, err := unstructured.NestedSlice(u.Object, fields...)
	if err != nil {
		t.Fatalf("%s %s: %s: %v", u.GetKind(), u.GetName(), strings.Join(fields, "."), err)
	}
	return v
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not an object", v)
	}
	return m
}

// managerFlagDefaults reads the defaults of cmd/manager's flags from its source,
// so the install cannot drift from them unnoticed.
func managerFlagDefaults(t *testing.T) map[string]string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "cmd", "manager", "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") {
			return true
		}
		name, ok := call.Args[1].(*ast.BasicLit)
		if !ok || name.Kind != token.STRING {
			return true
		}
		flagName, err := strconv.Unquote(name.Value)
		if err != nil {
			return true
		}
		// A literal default as its text (true and false included); other
		// expressions (string(mode.Enforce), a constant) only make the flag known.
		switch v := call.Args[2].(type) {
		case *ast.BasicLit:
			defaults[flagName] = v.Value
			if v.Kind == token.STRING {
				defaults[flagName], _ = strconv.Unquote(v.Value)
			}
		case *ast.Ident:
			defaults[flagName] = v.Name
		default:
			defaults[flagName] = ""
		}
		return true
	})
	for _, want := range []string{"webhook-service", "validating-webhook-configuration", "mutating-webhook-configuration",
		"webhook-cert-dir", "health-probe-bind-address", "metrics-bind-address", "webhook-port"} {
		if _, ok := defaults[want]; !ok {
			t.Fatalf("cmd/manager/main.go has no literal default for --%s any more: update this test", want)
		}
	}
	return defaults
}

// port is the port of an address like ":8081".
func port(t *testing.T, addr string) int64 {
	t.Helper()
	_, p, ok := strings.Cut(addr, ":")
	n, err := strconv.ParseInt(p, 10, 32)
	if !ok || err != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return n
}

func TestRenderNamesAndNamespaces(t *testing.T) {
	objs := parse(t, render(t))

	for _, u := range objs.list {
		if strings.HasPrefix(u.GetName(), "kubernaut-kubernaut-") {
			t.Errorf("%s %s: prefixed twice", u.GetKind(), u.GetName())
		}
		switch {
		case clusterScoped[u.GetKind()] && u.GetNamespace() != "":
			t.Errorf("%s %s is cluster-scoped but has namespace %q", u.GetKind(), u.GetName(), u.GetNamespace())
		case !clusterScoped[u.GetKind()] && u.GetNamespace() != namespace:
			t.Errorf("%s %s is in namespace %q, want %s", u.GetKind(), u.GetName(), u.GetNamespace(), namespace)
		}
		if u.GetLabels()["app.kubernetes.io/part-of"] != "kubernaut" {
			t.Errorf("%s %s has no label app.kubernetes.io/part-of=kubernaut", u.GetKind(), u.GetName())
		}
	}

	flags := managerFlagDefaults(t)
	for _, want := range [][2]string{
		{"Namespace", namespace},
		{"ServiceAccount", managerName},
		{"ClusterRole", managerName},
		{"ClusterRoleBinding", managerName},
		{"Role", "kubernaut-action-impersonator"},
		{"RoleBinding", "kubernaut-manager-impersonates-actions"},
		{"Role", "kubernaut-leader-election"},
		{"RoleBinding", "kubernaut-leader-election"},
		{"ClusterRole", "kubernaut-condition-override"},
		{"ClusterRole", "kubernaut-approver"},
		{"ClusterRole", "kubernaut-viewer"},
		{"ClusterRole", "kubernaut-workflow-author"},
		{"ClusterRole", "kubernaut-metrics-query"},
		{"ClusterRole", "kubernaut-condition-objects"},
		{"Role", "kubernaut-pauser"},
		{"ClusterRole", "kubernaut-metrics-reader"},
		{"Deployment", managerName},
		{"PodDisruptionBudget", managerName},
		{"Service", flags["webhook-service"]},
		{"Service", "kubernaut-metrics-service"},
		{"ValidatingWebhookConfiguration", flags["validating-webhook-configuration"]},
		{"MutatingWebhookConfiguration", flags["mutating-webhook-configuration"]},
		{"Issuer", "kubernaut-selfsigned-issuer"},
		{"Issuer", "kubernaut-ca-issuer"},
		{"Certificate", "kubernaut-webhook-ca"},
		{"Certificate", certName},
		{"ConfigMap", library.ConditionsConfigMap},
		{"ConfigMap", library.SafetyConfigMap},
		{"ConfigMap", "kubernaut-grafana-dashboard"},
		{"ServiceMonitor", managerName},
		{"PrometheusRule", "kubernaut-validation"},
	} {
		objs.get(t, want[0], want[1])
	}
	if namespace != library.DefaultNamespace {
		t.Errorf("install namespace %s, the manager's default %s", namespace, library.DefaultNamespace)
	}

	// Every CRD controller-gen writes is installed.
	bases, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	if got := len(objs.ofKind("CustomResourceDefinition")); got != len(bases) {
		t.Errorf("config/default renders %d CRDs, config/crd/bases has %d: list new ones in config/crd/kustomization.yaml", got, len(bases))
	}
}

func TestRenderManager(t *testing.T) {
	objs := parse(t, render(t))
	flags := managerFlagDefaults(t)

	d := objs.get(t, "Deployment", managerName)
	if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 2 {
		t.Errorf("Deployment replicas %d, want 2", r)
	}
	sa := str(t, d, "spec", "template", "spec", "serviceAccountName")
	if sa != managerName {
		t.Errorf("Deployment runs as ServiceAccount %q, want %s", sa, managerName)
	}
	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	selector, _, _ := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels")
	for k, v := range selector {
		if podLabels[k] != v {
			t.Errorf("Deployment selector %s=%s does not select its own pods", k, v)
		}
	}
	containers := slice(t, d, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(containers))
	}
	c := &unstructured.Unstructured{Object: asMap(t, containers[0])}
	c.SetKind("container")

	// Arguments: only flags the manager has, values agreeing with the rest of the install.
	args := map[string]string{}
	for _, a := range slice(t, c, "args") {
		s, _ := a.(string)
		name, value, _ := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		if _, known := flags[name]; !known && !strings.HasPrefix(name, "zap-") {
			t.Errorf("manager argument %q: cmd/manager has no such flag", s)
		}
		args[name] = value
	}
	arg := func(name string) string {
		if v, ok := args[name]; ok {
			return v
		}
		return flags[name]
	}
	for _, name := range []string{"webhook-service", "validating-webhook-configuration", "mutating-webhook-configuration"} {
		if arg(name) != flags[name] {
			t.Errorf("--%s=%s, but the install names it %s", name, arg(name), flags[name])
		}
	}
	if arg("leader-elect") != "true" {
		t.Errorf("--leader-elect=%s with 2 replicas", arg("leader-elect"))
	}

	// POD_NAMESPACE from the downward API (the manager's --namespace default).
	var podNamespace bool
	for _, e := range slice(t, c, "env") {
		env := &unstructured.Unstructured{Object: asMap(t, e)}
		if str(t, env, "name") == "POD_NAMESPACE" && str(t, env, "valueFrom", "fieldRef", "fieldPath") == "metadata.namespace" {
			podNamespace = true
		}
	}
	if !podNamespace {
		t.Error("no POD_NAMESPACE from metadata.namespace in the manager's env")
	}

	// Ports and probes.
	ports := map[string]int64{}
	for _, p := range slice(t, c, "ports") {
		pm := &unstructured.Unstructured{Object: asMap(t, p)}
		n, _, _ := unstructured.NestedInt64(pm.Object, "containerPort")
		ports[str(t, pm, "name")] = n
	}
	webhookPort, _ := strconv.ParseInt(arg("webhook-port"), 10, 32)
	if ports["webhook-server"] != webhookPort || webhookPort != 9443 {
		t.Errorf("container port webhook-server %d, --webhook-port %d, want 9443", ports["webhook-server"], webhookPort)
	}
	if ports["metrics"] != port(t, arg("metrics-bind-address")) {
		t.Errorf("container port metrics %d, --metrics-bind-address %s", ports["metrics"], arg("metrics-bind-address"))
	}
	probePort := port(t, arg("health-probe-bind-address"))
	if probePort != 8081 {
		t.Errorf("--health-probe-bind-address %s, want :8081", arg("health-probe-bind-address"))
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(t, c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %s", probe, got, path)
		}
		p, _, _ := unstructured.NestedFieldNoCopy(c.Object, probe, "httpGet", "port")
		if name, ok := p.(string); ok {
			p = ports[name]
		}
		if fmt.Sprint(p) != fmt.Sprint(probePort) {
			t.Errorf("%s port %v, want %d", probe, p, probePort)
		}
	}

	// The serving certificate's Secret mounted at --webhook-cert-dir.
	cert := objs.get(t, "Certificate", certName)
	secret := str(t, cert, "spec", "secretName")
	var certVolume string
	for _, v := range slice(t, d, "spec", "template", "spec", "volumes") {
		vm := &unstructured.Unstructured{Object: asMap(t, v)}
		if str(t, vm, "secret", "secretName") == secret {
			certVolume = str(t, vm, "name")
		}
	}
	if certVolume == "" {
		t.Fatalf("no volume of the Secret %s (Certificate %s)", secret, certName)
	}
	var mountedAt string
	for _, m := range slice(t, c, "volumeMounts") {
		mm := &unstructured.Unstructured{Object: asMap(t, m)}
		if str(t, mm, "name") == certVolume {
			mountedAt = str(t, mm, "mountPath")
		}
	}
	if mountedAt != arg("webhook-cert-dir") {
		t.Errorf("Secret %s mounted at %q, --webhook-cert-dir %s", secret, mountedAt, arg("webhook-cert-dir"))
	}

	// Security and resources.
	for field, want := range map[string]bool{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false} {
		got, found, _ := unstructured.NestedBool(c.Object, "securityContext", field)
		if !found || got != want {
			t.Errorf("container securityContext.%s = %v (set: %v), want %v", field, got, found, want)
		}
	}
	for _, r := range []string{"requests", "limits"} {
		if m, _, _ := unstructured.NestedMap(c.Object, "resources", r); len(m) == 0 {
			t.Errorf("container has no resources.%s", r)
		}
	}
	affinity, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec", "affinity", "podAntiAffinity")
	spread, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "topologySpreadConstraints")
	if len(affinity) == 0 && len(spread) == 0 {
		t.Error("replicas are not spread: no podAntiAffinity or topologySpreadConstraints")
	}

	// The PodDisruptionBudget keeps one of them.
	pdb := objs.get(t, "PodDisruptionBudget", managerName)
	if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); fmt.Sprint(v) != "1" {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", v)
	}
	pdbSelector, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
	for k, v := range pdbSelector {
		if podLabels[k] != v {
			t.Errorf("PodDisruptionBudget selector %s=%s does not select the manager's pods", k, v)
		}
	}

	// Services select the manager's pods and reach its named ports.
	for _, svc := range []string{flags["webhook-service"], "kubernaut-metrics-service"} {
		s := objs.get(t, "Service", svc)
		sel, _, _ := unstructured.NestedStringMap(s.Object, "spec", "selector")
		if len(sel) == 0 {
			t.Errorf("Service %s selects nothing", svc)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("Service %s selector %s=%s does not select the manager's pods", svc, k, v)
			}
		}
		for _, p := range slice(t, s, "spec", "ports") {
			pm := &unstructured.Unstructured{Object: asMap(t, p)}
			target, _, _ := unstructured.NestedFieldNoCopy(pm.Object, "targetPort")
			if name, ok := target.(string); ok {
				if _, ok := ports[name]; !ok {
					t.Errorf("Service %s targets port %q, which the container does not have", svc, name)
				}
			}
		}
	}

	// Bindings: the manager's ServiceAccount gets its ClusterRole, the
	// impersonation of the actions, and leader election.
	for _, b := range []struct{ kind, name, roleKind, role string }{
		{"ClusterRoleBinding", managerName, "ClusterRole", managerName},
		{"RoleBinding", "kubernaut-manager-impersonates-actions", "Role", "kubernaut-action-impersonator"},
		{"RoleBinding", "kubernaut-leader-election", "Role", "kubernaut-leader-election"},
		{"ClusterRoleBinding", "kubernaut-metrics-auth", "ClusterRole", "kubernaut-metrics-auth"},
	} {
		u := objs.get(t, b.kind, b.name)
		if str(t, u, "roleRef", "kind") != b.roleKind || str(t, u, "roleRef", "name") != b.role {
			t.Errorf("%s %s binds %s %s, want %s %s", b.kind, b.name,
				str(t, u, "roleRef", "kind"), str(t, u, "roleRef", "name"), b.roleKind, b.role)
		}
		objs.get(t, b.roleKind, b.role)
		subjects := slice(t, u, "subjects")
		if len(subjects) != 1 {
			t.Fatalf("%s %s has %d subjects", b.kind, b.name, len(subjects))
		}
		s := &unstructured.Unstructured{Object: asMap(t, subjects[0])}
		if str(t, s, "kind") != "ServiceAccount" || str(t, s, "name") != sa || str(t, s, "namespace") != namespace {
			t.Errorf("%s %s binds %v, want ServiceAccount %s/%s", b.kind, b.name, subjects[0], namespace, sa)
		}
	}
	// Every ServiceAccount the impersonator Role names exists.
	for _, r := range slice(t, objs.get(t, "Role", "kubernaut-action-impersonator"), "rules") {
		rule := &unstructured.Unstructured{Object: asMap(t, r)}
		for _, n := range slice(t, rule, "resourceNames") {
			objs.get(t, "ServiceAccount", fmt.Sprint(n))
		}
	}
}

func TestRenderWebhooksAndCertificate(t *testing.T) {
	objs := parse(t, render(t))
	flags := managerFlagDefaults(t)
	svc := objs.get(t, "Service", flags["webhook-service"])
	var svcPort int64
	for _, p := range slice(t, svc, "spec", "ports") {
		svcPort, _, _ = unstructured.NestedInt64(asMap(t, p), "port")
	}

	cert := objs.get(t, "Certificate", certName)
	issuer := objs.get(t, str(t, cert, "spec", "issuerRef", "kind"), str(t, cert, "spec", "issuerRef", "name"))
	if issuer.GetNamespace() != cert.GetNamespace() {
		t.Errorf("Certificate %s and its Issuer %s are in different namespaces", certName, issuer.GetName())
	}
	dnsNames := slice(t, cert, "spec", "dnsNames")
	wantDNS := flags["webhook-service"] + "." + namespace + ".svc"
	if !slices.Contains(dnsNames, any(wantDNS)) {
		t.Errorf("Certificate %s dnsNames %v lack %s", certName, dnsNames, wantDNS)
	}

	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		configs := objs.ofKind(kind)
		if len(configs) != 1 {
			t.Fatalf("%d %ss, want 1", len(configs), kind)
		}
		u := configs[0]
		if got, want := u.GetAnnotations()["cert-manager.io/inject-ca-from"], namespace+"/"+certName; got != want {
			t.Errorf("%s %s: cert-manager.io/inject-ca-from %q, want %q", kind, u.GetName(), got, want)
		}
		hooks := slice(t, u, "webhooks")
		if len(hooks) == 0 {
			t.Errorf("%s %s has no webhooks", kind, u.GetName())
		}
		for _, h := range hooks {
			hook := &unstructured.Unstructured{Object: asMap(t, h)}
			name := str(t, hook, "clientConfig", "service", "name")
			ns := str(t, hook, "clientConfig", "service", "namespace")
			if name != flags["webhook-service"] || ns != namespace {
				t.Errorf("%s webhook %s calls Service %s/%s, want %s/%s", kind, str(t, hook, "name"), ns, name, namespace, flags["webhook-service"])
			}
			if p, found, _ := unstructured.NestedInt64(hook.Object, "clientConfig", "service", "port"); found && p != svcPort {
				t.Errorf("%s webhook %s calls port %d, the Service serves %d", kind, str(t, hook, "name"), p, svcPort)
			}
		}
	}
}

// policyKey is the form of a policy library ConfigMap's keys.
var policyKey = regexp.MustCompile(`^[a-z][a-z0-9_]*\.rego$`)

func TestRenderPolicyConfigMaps(t *testing.T) {
	objs := parse(t, render(t))
	for _, name := range []string{library.ConditionsConfigMap, library.SafetyConfigMap} {
		cm := objs.get(t, "ConfigMap", name)
		if cm.GetLabels()[library.VersionLabel] == "" {
			t.Errorf("ConfigMap %s has no %s label", name, library.VersionLabel)
		}
		data, _, _ := unstructured.NestedMap(cm.Object, "data")
		for k := range data {
			if !policyKey.MatchString(k) {
				t.Errorf("ConfigMap %s key %q: the library refuses any key but <name>.rego", name, k)
			}
		}
	}
}

// metricName finds our metric names in PromQL; histogram series carry a suffix.
var (
	metricName   = regexp.MustCompile(`kubernaut_[a-z0-9_]+`)
	metricSuffix = regexp.MustCompile(`_(bucket|sum|count)$`)
	definedName  = regexp.MustCompile(`Name:\s+"(kubernaut_[a-z0-9_]+)"`)
)

// definedMetrics are the names metrics/metrics.go registers.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range definedName.FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatal("no metric names found in metrics/metrics.go")
	}
	return names
}

func checkMetricNames(t *testing.T, where, expr string, defined map[string]bool) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
	}
	for _, n := range metricName.FindAllString(expr, -1) {
		if !defined[n] && !defined[metricSuffix.ReplaceAllString(n, "")] {
			t.Errorf("%s: metric %s is not one of metrics/metrics.go", where, n)
		}
	}
}

func TestRenderMonitoring(t *testing.T) {
	objs := parse(t, render(t))
	defined := definedMetrics(t)

	// The ServiceMonitor selects the metrics Service and its port.
	sm := objs.get(t, "ServiceMonitor", managerName)
	metricsSvc := objs.get(t, "Service", "kubernaut-metrics-service")
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if metricsSvc.GetLabels()[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s does not select Service kubernaut-metrics-service", k, v)
		}
	}
	for _, s := range objs.ofKind("Service") {
		if s.GetName() == metricsSvc.GetName() {
			continue
		}
		matches := len(sel) > 0
		for k, v := range sel {
			matches = matches && s.GetLabels()[k] == v
		}
		if matches {
			t.Errorf("ServiceMonitor also selects Service %s", s.GetName())
		}
	}
	svcPorts := map[string]bool{}
	for _, p := range slice(t, metricsSvc, "spec", "ports") {
		svcPorts[fmt.Sprint(asMap(t, p)["name"])] = true
	}
	for _, e := range slice(t, sm, "spec", "endpoints") {
		ep := &unstructured.Unstructured{Object: asMap(t, e)}
		if !svcPorts[str(t, ep, "port")] || str(t, ep, "scheme") != "https" {
			t.Errorf("ServiceMonitor endpoint port %q scheme %q, want https on a port of the metrics Service", str(t, ep, "port"), str(t, ep, "scheme"))
		}
	}

	// The PrometheusRule: the seed's alerts, on metrics that exist.
	rule := objs.get(t, "PrometheusRule", "kubernaut-validation")
	alerts := map[string]bool{}
	records := map[string]bool{}
	for _, g := range slice(t, rule, "spec", "groups") {
		group := &unstructured.Unstructured{Object: asMap(t, g)}
		for _, r := range slice(t, group, "rules") {
			ru := &unstructured.Unstructured{Object: asMap(t, r)}
			name := str(t, ru, "alert") + str(t, ru, "record")
			if a := str(t, ru, "alert"); a != "" {
				alerts[a] = true
				if str(t, ru, "labels", "severity") == "" || str(t, ru, "annotations", "summary") == "" {
					t.Errorf("alert %s has no severity label or summary", a)
				}
			} else {
				records[name] = true
			}
			checkMetricNames(t, "rule "+name, str(t, ru, "expr"), defined)
		}
	}
	for _, a := range []string{"HighValidationFalsePositiveRate", "ValidationPerformanceImpact"} {
		if !alerts[a] {
			t.Errorf("PrometheusRule has no alert %s", a)
		}
	}

	// The Grafana dashboard.
	cm := objs.get(t, "ConfigMap", "kubernaut-grafana-dashboard")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Error("dashboard ConfigMap lacks the label grafana_dashboard=1 Grafana's sidecar looks for")
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if len(data) != 1 {
		t.Fatalf("dashboard ConfigMap has %d keys, want 1", len(data))
	}
	for key, raw := range data {
		var dash struct {
			Title  string `json:"title"`
			UID    string `json:"uid"`
			Panels []struct {
				ID      int    `json:"id"`
				Title   string `json:"title"`
				Type    string `json:"type"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal([]byte(raw), &dash); err != nil {
			t.Fatalf("dashboard %s is not JSON: %v", key, err)
		}
		if dash.Title != "Validation Framework Overview" || dash.UID == "" {
			t.Errorf("dashboard title %q uid %q", dash.Title, dash.UID)
		}
		ids := map[int]bool{}
		var queries int
		for _, p := range dash.Panels {
			if ids[p.ID] {
				t.Errorf("dashboard panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("dashboard panel %q has no queries", p.Title)
			}
			for _, q := range p.Targets {
				queries++
				checkMetricNames(t, "dashboard panel "+p.Title, q.Expr, defined)
				for _, rec := range regexp.MustCompile(`kubernaut:[a-z0-9_:]+`).FindAllString(q.Expr, -1) {
					if !records[rec] {
						t.Errorf("dashboard panel %q uses recording rule %s, which the PrometheusRule does not define", p.Title, rec)
					}
				}
			}
		}
		if queries < 10 {
			t.Errorf("dashboard has %d queries", queries)
		}
	}
}
