package install_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"kubernaut.io/stepvalidation/test/harness"
)

// crdModule is a Go module that ships CustomResourceDefinitions the install needs
// as YAML files: the Go module proxy is how these machines reach them.
type crdModule struct {
	module, version string
	// files are relative to the module's folder.
	files []string
	// group is the API group of the kinds the CRDs define.
	group string
}

var crdModules = []crdModule{
	{
		module: "github.com/cert-manager/cert-manager", version: "v1.21.2", group: "cert-manager.io",
		files: []string{"deploy/crds/cert-manager.io_issuers.yaml", "deploy/crds/cert-manager.io_certificates.yaml"},
	},
	{
		module: "github.com/prometheus-operator/prometheus-operator", version: "v0.85.0", group: "monitoring.coreos.com",
		files: []string{
			"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
			"example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
		},
	},
}

// goBinary is the go command on PATH (go test puts its own GOROOT/bin there).
func goBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command on PATH: it finds cert-manager's and the Prometheus Operator's CRDs in the module cache")
	}
	return p
}

// moduleDir returns the folder of module@version in the module cache, downloading
// it if needed. It runs outside the repository (GOFLAGS, GOWORK off) so go.mod and
// go.sum are never touched. Offline, a module already in the cache is still found
// (go mod download reads the cache first, and GOPROXY=off is tried second); the
// error says what to run when it is not there.
func moduleDir(ctx context.Context, t *testing.T, m crdModule) (string, error) {
	t.Helper()
	var details []string
	for _, proxy := range []string{"", "off"} {
		cmd := exec.CommandContext(ctx, goBinary(t), "mod", "download", "-json", m.module+"@"+m.version)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
		if proxy != "" {
			cmd.Env = append(cmd.Env, "GOPROXY="+proxy)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var info struct{ Dir, Error string }
		if jsonErr := json.Unmarshal(out, &info); err == nil && jsonErr == nil && info.Error == "" && info.Dir != "" {
			return info.Dir, nil
		}
		details = append(details, strings.TrimSpace(info.Error+" "+stderr.String()))
	}
	return "", &downloadError{module: m.module + "@" + m.version, detail: strings.Join(details, "; ")}
}

type downloadError struct{ module, detail string }

func (e *downloadError) Error() string {
	return "go mod download " + e.module + " failed (" + e.detail + "); with network access run: go mod download " + e.module
}

// TestServerSideDryRun applies the whole render to a real API server with
// server-side dry run: every object must be accepted, by its schema (strict field
// validation: unknown fields fail) and by admission.
//
// The API server is envtest's (test/harness), which installs our CRDs itself;
// cert-manager's (Issuer, Certificate) and the Prometheus Operator's
// (ServiceMonitor, PrometheusRule) are installed from their Go modules.
func TestServerSideDryRun(t *testing.T) {
	serverSideDryRun(t, parse(t, render(t)))
}

// serverSideDryRun applies objs, all of them, to a new API server with
// server-side dry run, as TestServerSideDryRun says.
func serverSideDryRun(t *testing.T, objs *objects) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var paths []string
	missing := map[string]string{}
	for _, m := range crdModules {
		dir, err := moduleDir(ctx, t, m)
		if err != nil {
			missing[m.group] = err.Error()
			continue
		}
		for _, f := range m.files {
			paths = append(paths, filepath.Join(dir, filepath.FromSlash(f)))
		}
	}

	h, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Error(err)
		}
	})
	if len(paths) > 0 {
		if _, err := envtest.InstallCRDs(h.Config, envtest.CRDInstallOptions{
			Paths: paths, ErrorIfPathMissing: true, MaxTime: 30 * time.Second,
		}); err != nil {
			t.Fatalf("installing cert-manager and Prometheus Operator CRDs: %v", err)
		}
	}

	// Leave out the objects of groups whose CRDs could not be had (offline and not
	// in the module cache): the rest is still checked, and the test ends as
	// skipped, saying what it did not check.
	var docs [][]byte
	notChecked := map[string][]string{}
	for _, u := range objs.list {
		group, _, _ := strings.Cut(u.GetAPIVersion(), "/")
		if _, ok := missing[group]; ok {
			notChecked[group] = append(notChecked[group], u.GetKind()+" "+u.GetName())
			continue
		}
		js, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(js)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, y)
	}
	if len(missing) > 0 {
		defer func() {
			var b strings.Builder
			for group, why := range missing {
				fmt.Fprintf(&b, "\n%s CRDs unavailable, not checked: %s\n  %s", group, strings.Join(notChecked[group], ", "), why)
			}
			t.Skipf("checked all but the objects of CRDs that could not be had:%s", b.String())
		}()
	}

	// A dry run creates nothing, so objects in kubernaut-system would be refused
	// for want of the namespace (NamespaceLifecycle admission): create it for
	// real first, then dry-run everything (the rendered Namespace included).
	if err := h.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}

	// --server-side: the CRDs and the dashboard are too big for client-side apply's
	// last-applied annotation, and the install is meant to be applied this way.
	// envtest created our CRDs already, from the same files, as another field
	// manager; applying them again conflicts only on fields whose values differ,
	// and none do, so --force-conflicts is not needed (and would hide a real
	// conflict).
	out := kubectl(ctx, t, h, bytes.Join(docs, []byte("---\n")),
		"apply", "--server-side", "--dry-run=server",
		"--field-manager=kubernaut-install", "-f", "-")
	var applied int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, "(server dry run)") {
			applied++
		}
	}
	if applied != len(docs) {
		t.Errorf("kubectl applied %d objects, the render has %d checked here:\n%s", applied, len(docs), out)
	}
}

// kubectl runs kubectl against h with stdin and fails the test on an error or a
// warning (deprecated API, Pod Security, unknown field).
func kubectl(ctx context.Context, t *testing.T, h *harness.Harness, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, kubectlPath(t), append([]string{"--kubeconfig", h.KubeconfigPath}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "Warning") {
		t.Errorf("kubectl %s warned:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String()
}
