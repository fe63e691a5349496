package install_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pinned is an image named by digest.
var pinned = regexp.MustCompile(`^[a-z0-9.:-]+(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$`)

// TestReleaseInstallPinsTheImage renders the release's install.yaml as make
// release does (hack/render-install.sh), for an image by digest: every container
// names that image by digest, nothing is left of the placeholder, and the whole
// install passes a server-side dry run.
func TestReleaseInstallPinsTheImage(t *testing.T) {
	image := "registry.example/kubernaut/manager@sha256:" + strings.Repeat("0f", 32)
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "render-install.sh"), image)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/render-install.sh: %v\n%s", err, stderr.String())
	}
	if bytes.Contains(rendered, []byte("kubernaut/manager:latest")) {
		t.Error("install.yaml still names the placeholder kubernaut/manager:latest")
	}
	objs := parse(t, rendered)
	images := 0
	for _, d := range objs.ofKind("Deployment") {
		for _, c := range slice(t, d, "spec", "template", "spec", "containers") {
			got := asMap(t, c)["image"]
			images++
			if got != image {
				t.Errorf("Deployment %s runs %v, want %s", d.GetName(), got, image)
			}
			if s, _ := got.(string); !pinned.MatchString(s) {
				t.Errorf("Deployment %s: image %v is not named by digest", d.GetName(), got)
			}
		}
	}
	if images == 0 {
		t.Fatal("install.yaml runs no container")
	}
	serverSideDryRun(t, objs)
}
