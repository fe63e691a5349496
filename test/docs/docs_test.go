package docs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kubernaut.io/stepvalidation/internal/local"
	"kubernaut.io/stepvalidation/internal/repo"
)

// Time limits: a block's default, and the whole suite's.
const (
	blockTimeout = 90 * time.Second
	suiteTimeout = 8 * time.Minute
	// maxOutput is what is kept of a block's output.
	maxOutput = 256 << 10
)

// TestDocs runs the code blocks of README.md and docs/*.md, file by file and in
// order, against one local cluster (see the package comment for the markers).
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster and builds the manager and the CLI")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseAll(root)
	if err != nil {
		t.Fatalf("reading the docs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	started := time.Now()

	// The CLI under the names the docs use, first on PATH; then bin/ (kubectl).
	cliDir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(cliDir, "kubernaut"), "./cmd/kubernaut")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kubernaut: %v\n%s", err, out)
	}
	if err := os.Symlink("kubernaut", filepath.Join(cliDir, "kubectl-kubernaut")); err != nil {
		t.Fatal(err)
	}

	cluster, stateDir := startCluster(ctx, t)
	env := append(withoutVars(os.Environ(), "KUBECONFIG", "PATH", "NO_COLOR"),
		"PATH="+cliDir+string(os.PathListSeparator)+filepath.Join(root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NO_COLOR=1")
	t.Logf("cluster and CLI ready in %s", time.Since(started).Round(100*time.Millisecond))

	for _, d := range docs {
		t.Run(strings.TrimSuffix(filepath.Base(d.file), ".md"), func(t *testing.T) {
			fileStarted := time.Now()
			r := &runner{root: root, env: env, file: d.file, tally: tally{notRun: map[string]int{}}}
			r.prepare(ctx, t, cluster.KubeconfigPath, stateDir)
			for _, b := range d.blocks {
				r.run(ctx, t, b)
			}
			t.Logf("%s in %s: %s", d.file, time.Since(fileStarted).Round(100*time.Millisecond), r.tally.String())
		})
	}
	t.Logf("the docs ran in %s", time.Since(started).Round(100*time.Millisecond))
}

// doc is one Markdown file's blocks.
type doc struct {
	file   string // relative to the repository
	blocks []Block
}

// parseAll reads README.md and docs/*.md; every marker error of every file at once.
func parseAll(root string) ([]doc, error) {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var (
		docs []doc
		errs []error
	)
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		blocks, err := Parse(rel, f)
		_ = f.Close()
		if err != nil {
			errs = append(errs, err)
		}
		docs = append(docs, doc{file: rel, blocks: blocks})
	}
	return docs, errors.Join(errs...)
}

// startCluster starts the local cluster for the suite and stops it at the end;
// it returns the cluster and its state folder.
func startCluster(ctx context.Context, t *testing.T) (*local.Cluster, string) {
	var out bytes.Buffer
	opts := local.Options{StateDir: t.TempDir(), Out: &lockedWriter{w: &out}, Attached: true}
	c, err := local.Up(ctx, opts)
	if err != nil {
		t.Fatalf("starting the local cluster: %v\n%s", err, out.String())
	}
	t.Cleanup(func() {
		if err := local.Down(context.Background(), opts); err != nil {
			t.Errorf("stopping the local cluster: %v", err)
		}
	})
	return c, opts.StateDir
}

// runner runs one file's blocks, in order, sharing the cluster, a working
// folder and the file's namespace.
type runner struct {
	// root is the repository; work is the file's working folder, which shows
	// the repository's files (symbolic links) and takes what the blocks write.
	root, work, file string
	env              []string
	// last is the output of the last block run, for an output block.
	last  string
	tally tally
}

// prepare gives the file its own namespace (the kubeconfig's default), its own
// kubeconfig and its own working folder, and deletes at the end the runs and the
// namespace its blocks left.
func (r *runner) prepare(ctx context.Context, t *testing.T, adminKubeconfig, stateDir string) {
	ns := "docs-" + regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(strings.TrimSuffix(filepath.Base(r.file), ".md")), "-")
	data, err := os.ReadFile(adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "KUBECONFIG="+kubeconfig)
	r.work = workingFolder(t, r.root, stateDir)
	r.must(ctx, t, "kubectl config set-context --current --namespace="+ns+" >/dev/null && kubectl create namespace "+ns+" >/dev/null")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r.must(ctx, t, "kubectl delete wfe,ke --all -A --wait=true >/dev/null && kubectl delete namespace "+ns+" --wait=false >/dev/null")
	})
}

// workingFolder is a new folder with a symbolic link to each top-level entry of
// the repository but .git: commands read config/, go.mod and ./cmd/... as in a
// clone, and the files the blocks write (facts.json, policies/) land here, not
// among the developer's own. Its .kubernaut-local, where `kubernaut local` and
// the docs find the local cluster's state and logs, is the suite's cluster
// (stateDir), never a cluster the developer left running in the repository.
func workingFolder(t *testing.T, root, stateDir string) string {
	work := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" || e.Name() == local.DefaultStateDir {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(work, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(stateDir, filepath.Join(work, local.DefaultStateDir)); err != nil {
		t.Fatal(err)
	}
	return work
}

// must runs a script of the runner's own and fails the test if it fails.
func (r *runner) must(ctx context.Context, t *testing.T, script string) {
	t.Helper()
	if out, _, code := r.shell(ctx, script, time.Minute); code != 0 {
		t.Fatalf("%s: exit %d\n%s", script, code, out)
	}
}

// run runs one block and reports a failure with its file, line, body and output.
func (r *runner) run(ctx context.Context, t *testing.T, b Block) {
	t.Helper()
	if b.Skip != "" {
		r.tally.skipped = append(r.tally.skipped, fmt.Sprintf("%d (%s)", b.Line, b.Skip))
		return
	}
	timeout := blockTimeout
	if b.Timeout != 0 {
		timeout = b.Timeout
	}
	var (
		out     string
		took    time.Duration
		code    int
		command = b.Body
	)
	switch b.Kind {
	case Other, Fragment:
		lang := b.Lang
		if lang == "" {
			lang = "plain"
		}
		r.tally.notRun[string(b.Kind)+" "+lang]++
		return
	case Output:
		r.tally.outputs++
		if err := MatchOutput(b.Body, r.last); err != nil {
			t.Errorf("%s: the output the doc states is not what the block before printed: %v\n--- stated:\n%s--- printed:\n%s", b.Name(), err, b.Body, r.last)
		}
		return
	case File:
		r.tally.files++
		if err := r.writeFile(b.Path, b.Body); err != nil {
			t.Errorf("%s: %v", b.Name(), err)
		}
		return
	case Object:
		command = "kubectl apply --dry-run=server -f - <<'DOCS_YAML'\n" + b.Body + "DOCS_YAML\n"
		if b.Apply {
			command = "kubectl apply -f - <<'DOCS_YAML'\n" + b.Body + "DOCS_YAML\n"
		}
	}
	if b.Kind == Setup {
		r.tally.setups++
	} else {
		r.tally.run++
	}
	before := r.changed(ctx, t)
	out, took, code = r.shell(ctx, command, timeout)
	r.last = out
	if code != b.Exit {
		what := fmt.Sprintf("exited %d", code)
		if code == -1 {
			what = fmt.Sprintf("did not end within %s", timeout)
		}
		t.Errorf("%s: %s (want %d) after %s\n--- block:\n%s--- output:\n%s", b.Name(), what, b.Exit, took.Round(100*time.Millisecond), command, out)
	}
	if after := r.changed(ctx, t); after != before {
		t.Errorf("%s: the block changed the repository; git status before:\n%s\nafter:\n%s", b.Name(), before, after)
	}
}

// changed is git's view of the repository's changes and new files: a block
// writes into its working folder, never into the repository through its links.
func (r *runner) changed(ctx context.Context, t *testing.T) string {
	out, _, code := r.shell(ctx, "git -C "+shellQuote(r.root)+" status --porcelain --untracked-files=all", time.Minute)
	if code != 0 {
		t.Fatalf("git status: %s", out)
	}
	return out
}

// writeFile writes a file block where later blocks read it: in the working
// folder, never through a link into the repository.
func (r *runner) writeFile(path, body string) error {
	first, _, _ := strings.Cut(filepath.ToSlash(filepath.Clean(path)), "/")
	if _, err := os.Lstat(filepath.Join(r.root, first)); err == nil {
		return fmt.Errorf("file %s: %s is the repository's; write elsewhere", path, first)
	}
	full := filepath.Join(r.work, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return os.WriteFile(full, []byte(body), 0o644)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shell runs script with bash -euo pipefail in the working folder, as a reader
// in a clone would, and returns its output (stdout and stderr, interleaved), how long
// it took and its exit code (-1 when it ran out of time). The whole process
// group is killed at the end, so a block leaves no process behind.
func (r *runner) shell(ctx context.Context, script string, timeout time.Duration) (string, time.Duration, int) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir, cmd.Env = r.work, r.env
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	code := 0
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		return err.Error(), took, 127
	}
	return out.String(), took, code
}

// capped keeps the first maxOutput bytes written to it.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxOutput - c.buf.Len(); room < len(p) {
		c.buf.Write(p[:max(room, 0)])
		c.cut = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return c.buf.String() + fmt.Sprintf("\n[output cut at %d bytes]\n", maxOutput)
	}
	return c.buf.String()
}

// lockedWriter serializes the local cluster's progress lines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func withoutVars(env []string, names ...string) []string {
	var kept []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			kept = append(kept, kv)
		}
	}
	return kept
}

// tally counts what a file's blocks did, for the log.
type tally struct {
	run, setups, outputs, files int
	skipped                     []string
	notRun                      map[string]int
}

func (t *tally) String() string {
	s := fmt.Sprintf("%d run, %d hidden setups, %d outputs checked, %d files written, %d skipped", t.run, t.setups, t.outputs, t.files, len(t.skipped))
	if len(t.skipped) > 0 {
		s += " (lines " + strings.Join(t.skipped, ", ") + ")"
	}
	var kinds []string
	for k, n := range t.notRun {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	if len(kinds) > 0 {
		s += ", not run: " + strings.Join(kinds, ", ")
	}
	return s
}

// TestWorkingFolder checks that a file's working folder shows the repository
// and keeps what the blocks write out of it.
func TestWorkingFolder(t *testing.T) {
	root, stateDir := t.TempDir(), t.TempDir()
	// .kubernaut-local in the repository: a cluster the developer left running.
	for _, d := range []string{".git", "config", local.DefaultStateDir} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &runner{root: root, work: workingFolder(t, root, stateDir)}
	if _, err := os.Stat(filepath.Join(r.work, "go.mod")); err != nil {
		t.Errorf("go.mod is not in the working folder: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(r.work, ".git")); err == nil {
		t.Errorf(".git is in the working folder: git would see the folder as the repository")
	}
	if got, err := os.Readlink(filepath.Join(r.work, local.DefaultStateDir)); err != nil || got != stateDir {
		t.Errorf("%s in the working folder links to %q (%v), want the suite's cluster %q", local.DefaultStateDir, got, err, stateDir)
	}
	if err := r.writeFile("policies/a_test.yaml", "cases: []\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.work, "policies/a_test.yaml")); err != nil {
		t.Errorf("the file block was not written to the working folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "policies")); err == nil {
		t.Errorf("the file block was written to the repository")
	}
	for _, p := range []string{"config/x.yaml", "go.mod", "./config/../config/x"} {
		if err := r.writeFile(p, "x"); err == nil {
			t.Errorf("writeFile(%q) wrote through a link into the repository", p)
		}
	}
}

// TestShell checks a block's exit code, its output and its time limit: a block
// that runs out of time is reported so, and its children do not outlive it.
func TestShell(t *testing.T) {
	r := &runner{work: t.TempDir(), env: os.Environ()}
	ctx := context.Background()
	if out, _, code := r.shell(ctx, "echo out; echo err >&2; false; echo not reached", time.Minute); code != 1 || out != "out\nerr\n" {
		t.Errorf("set -e: got exit %d output %q, want 1 and out, err", code, out)
	}
	if _, _, code := r.shell(ctx, "false | true", time.Minute); code != 1 {
		t.Errorf("pipefail: got exit %d, want 1", code)
	}
	if _, _, code := r.shell(ctx, "echo $UNSET_VARIABLE_OF_THE_DOCS", time.Minute); code != 1 {
		t.Errorf("set -u: got exit %d, want 1", code)
	}
	pidFile := filepath.Join(r.work, "pid")
	_, took, code := r.shell(ctx, "sleep 60 & echo $! > "+pidFile+"; wait", time.Second)
	if code != -1 || took > 10*time.Second {
		t.Errorf("a block over its time: got exit %d after %s, want -1 soon after 1s", code, took)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(data)) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the block's child (pid %s) still runs", strings.TrimSpace(string(data)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
