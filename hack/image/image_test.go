package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The repository's root and its bin/ (hack/tools.sh builds the registry there).
var (
	repoRoot = filepath.Join("..", "..")
	binDir   = filepath.Join(repoRoot, "bin")
)

func options(t *testing.T, out string) BuildOptions {
	return BuildOptions{
		Dir: repoRoot, Package: "./cmd/manager", Binary: "manager",
		Platforms: []Platform{{OS: "linux", Arch: runtime.GOARCH}},
		Out:       out, Version: "v0.0.0-test", Revision: "0123456789abcdef", Source: "https://example.test/kubernaut",
		Title: "kubernaut manager", Created: time.Unix(1764000000, 0).UTC(),
	}
}

// TestBuildIsReproducible: two builds of the same source are the same image.
func TestBuildIsReproducible(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds linux images on linux")
	}
	first, err := Build(t.Context(), options(t, filepath.Join(t.TempDir(), "first")))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Build(t.Context(), options(t, filepath.Join(t.TempDir(), "second")))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("two builds of one source: %s and %s", first, second)
	}
}

// TestImageThroughARegistry pushes the image to a real OCI registry (the CNCF
// distribution registry on loopback), pulls it back by digest, checks what it
// is made of, and runs its binary.
func TestImageThroughARegistry(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("runs the linux binary it builds")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	host := startRegistry(ctx, t)

	o := options(t, filepath.Join(t.TempDir(), "layout"))
	built, err := Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := Push(ctx, PushOptions{Layout: o.Out, Ref: host + "/kubernaut/manager:v0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	if want := host + "/kubernaut/manager@" + built.String(); pushed != want {
		t.Fatalf("pushed %s, want %s", pushed, want)
	}

	ref, err := name.ParseReference(pushed)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("pulling %s: %v", pushed, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.Manifests) != 1 || manifest.Manifests[0].Platform == nil ||
		manifest.Manifests[0].Platform.Architecture != runtime.GOARCH || manifest.Manifests[0].Platform.OS != "linux" {
		t.Fatalf("index lists %+v, want one linux/%s image", manifest.Manifests, runtime.GOARCH)
	}
	img, err := idx.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/manager"}) {
		t.Errorf("entrypoint %v, want [/manager]", cfg.Config.Entrypoint)
	}
	for k, v := range map[string]string{LabelVersion: o.Version, LabelRevision: o.Revision, LabelSource: o.Source} {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	if !cfg.Created.Equal(o.Created) {
		t.Errorf("created %s, want %s", cfg.Created.Time, o.Created)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want one on an empty base", len(layers))
	}
	binary := filepath.Join(t.TempDir(), "manager")
	files := extract(t, layers[0], "manager", binary)
	if want := []string{"etc/", "etc/group", "etc/passwd", "manager", "tmp/"}; !slices.Equal(files, want) {
		t.Errorf("the layer holds %v, want only %v (no shell, no distro)", files, want)
	}

	out, err := exec.CommandContext(ctx, binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", binary, err, out)
	}
	for _, flag := range []string{"-webhook-port", "-validation-mode", "-leader-elect"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help does not mention %s:\n%s", flag, out)
		}
	}
	version, err := exec.CommandContext(ctx, binary, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), o.Version) {
		t.Errorf("--version says %q (%v), want %s", version, err, o.Version)
	}
}

// extract lists the layer's entries and writes the file named file to dst.
func extract(t *testing.T, layer v1.Layer, file, dst string) []string {
	t.Helper()
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		if h.Name != file {
			continue
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// startRegistry runs bin/registry on a free loopback port until the test ends
// and returns its host:port.
func startRegistry(ctx context.Context, t *testing.T) string {
	t.Helper()
	registry, err := filepath.Abs(filepath.Join(binDir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(registry); err != nil {
		t.Fatalf("%s is missing: run hack/tools.sh registry (make test does)", registry)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "storage"), addr), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, registry, "serve", config)
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("registry log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
