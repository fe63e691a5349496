package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/runview"
)

func init() { extraCommands = append(extraCommands, newGetCommand) }

// workflowLabel is the label the manager sets on a workflow's executions to the
// workflow's name, cut to 63 characters (reconcilers/workflow.WorkflowLabel).
const workflowLabel = "kubernaut.io/workflow"

// getInterval is how often --watch reads the run again.
const getInterval = time.Second

func newGetCommand() *cobra.Command {
	var (
		kf       kubeFlags
		watch    bool
		color    string
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "get wfe NAME",
		Short: "Show a workflow run as a tree: steps, conditions, executions, approvals and overrides",
		Long: `get draws a WorkflowExecution as a tree: its phase and why; each step with its
state, attempts and duration; each pre- and postcondition with its result (passed,
failed, waiting while a postcondition is still being verified, inconclusive when the policy
could not decide, overridden, pending before it ran), whether it is required, and
its message; the KubernetesExecution under each step (earlier tries and the rollback
too) with its checks and conditions; and the approvals and overrides, with who and
why.

With --watch it watches the run and its executions and redraws it as it changes:
in place on a terminal (and every --interval there, for the durations), otherwise
as frames separated by a blank line, one per change. It exits 0 once the run is
completed or failed, after drawing its last state, or on Ctrl-C. It needs watch on
workflowexecutions and kubernetesexecutions too; without it, it reads the run every
--interval instead.

Colour is used when stdout is a terminal and NO_COLOR is not set (--color=auto);
--color=always or never decide for themselves.

As a kubectl plugin (the binary named kubectl-kubernaut on PATH) it is
'kubectl kubernaut get wfe NAME'.

` + gatesExitHelp,
		Example: `  kubernaut get wfe scale-web-app -n production
  kubernaut get workflowexecution scale-web-app --watch
  kubectl kubernaut get wfe scale-web-app -n production -w
  kubernaut get wfe/scale-web-app --color=never > run.txt`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, name := args[0], ""
			if len(args) == 2 {
				name = args[1]
			} else if t, n, ok := strings.Cut(typ, "/"); ok {
				typ, name = t, n
			}
			if kind, ok := runKinds[strings.ToLower(typ)]; !ok || kind != workflowRun {
				return usageErrorf("get shows workflowexecutions: give wfe NAME, not %q", args[0])
			}
			if name == "" || strings.Contains(name, "/") {
				return usageErrorf("get wfe needs the name of one WorkflowExecution")
			}
			if interval <= 0 {
				return usageErrorf("--interval must be positive")
			}
			out := cmd.OutOrStdout()
			tty := isTerminal(out)
			useColor := false
			switch color {
			case "auto":
				// no-color.org: set and not empty.
				useColor = tty && os.Getenv("NO_COLOR") == ""
			case "always":
				useColor = true
			case "never":
			default:
				return usageErrorf("--color is auto, always or never, not %q", color)
			}
			k, err := kf.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			g := &getter{kube: k, ref: runRef{kind: workflowRun, namespace: k.namespace, name: name}, out: out, color: useColor, tty: tty}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if !watch {
				_, err := g.draw(ctx)
				return err
			}
			// Ctrl-C ends a watch normally, with the last frame left on the screen.
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return g.watch(ctx, interval, cmd.ErrOrStderr())
		},
	}
	kf.bind(cmd, true)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw the run as it changes; exit once it is completed or failed")
	cmd.Flags().StringVar(&color, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
	cmd.Flags().DurationVar(&interval, "interval", getInterval, "how often --watch redraws on a terminal, and reads the run when it may not watch")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// getter reads a run and draws it.
type getter struct {
	kube  *kube
	ref   runRef
	out   io.Writer
	color bool
	tty   bool
	// last is the frame drawn last, and lines how many terminal rows it took.
	last  string
	lines int
	// version is the resourceVersions of the objects last drawn.
	version string
}

// fetch reads the workflow and its executions: those it controls (owner
// reference), and those labelled with its name that no one controls.
func (g *getter) fetch(ctx context.Context) (*workflowv1alpha1.WorkflowExecution, []kev1alpha1.KubernetesExecution, error) {
	wfe, kes, _, err := g.fetchList(ctx)
	return wfe, kes, err
}

// fetchList is fetch that also returns the resourceVersion of the list of
// executions, to watch them from.
func (g *getter) fetchList(ctx context.Context) (*workflowv1alpha1.WorkflowExecution, []kev1alpha1.KubernetesExecution, string, error) {
	var wfe workflowv1alpha1.WorkflowExecution
	if err := g.kube.Get(ctx, client.ObjectKey{Namespace: g.ref.namespace, Name: g.ref.name}, &wfe); err != nil {
		return nil, nil, "", g.ref.failure(err, fmt.Sprintf("Ask for get on %s in namespace %s.", workflowRun.rbacName(), g.ref.namespace))
	}
	var list kev1alpha1.KubernetesExecutionList
	if err := g.kube.List(ctx, &list, client.InNamespace(g.ref.namespace)); err != nil {
		return nil, nil, "", refusal(fmt.Errorf("listing the KubernetesExecutions of %s: %w", g.ref, err),
			fmt.Sprintf("Ask for list on %s in namespace %s.", executionRun.rbacName(), g.ref.namespace))
	}
	var kes []kev1alpha1.KubernetesExecution
	for _, ke := range list.Items {
		owner := metav1.GetControllerOf(&ke)
		if (owner != nil && owner.UID == wfe.UID) || (owner == nil && ke.Labels[workflowLabel] == labelValue(wfe.Name)) {
			kes = append(kes, ke)
		}
	}
	return &wfe, kes, list.ResourceVersion, nil
}

// labelValue is a name as the manager puts it in a label: cut to 63 characters.
func labelValue(s string) string {
	if len(s) <= 63 {
		return s
	}
	return strings.TrimRight(s[:63], "-_.")
}

// draw reads the run and prints it once. It returns the workflow read.
func (g *getter) draw(ctx context.Context) (*workflowv1alpha1.WorkflowExecution, error) {
	wfe, kes, err := g.fetch(ctx)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := runview.Render(&b, wfe, kes, time.Now(), g.color); err != nil {
		return nil, err
	}
	_, err = g.out.Write(b.Bytes())
	return wfe, err
}

// watch draws the run whenever it changes until it is completed or failed. It
// watches the workflow and its executions (those labelled with its name) and,
// once a burst of changes has settled, reads the run again and draws it: on a
// terminal each frame replaces the one before, and the frame is redrawn every
// interval for its durations; elsewhere frames follow each other, separated by a
// blank line, one per change of the objects. A watch that ends (the API server's
// timeout, a resourceVersion too old) starts again from a fresh read. A user who
// may get and list but not watch gets the run read every interval instead.
func (g *getter) watch(ctx context.Context, interval time.Duration, stderr io.Writer) error {
	w, err := g.kube.watcher()
	if err != nil {
		return err
	}
	var ticks <-chan time.Time
	if g.tty {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		ticks = ticker.C
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	polling := false
	for {
		wfe, kes, listVersion, err := g.fetchList(ctx)
		if err != nil {
			return err
		}
		if done, err := g.show(wfe, kes); done || err != nil {
			return err
		}
		if polling {
			if !sleep(ctx, interval) {
				return nil
			}
			continue
		}
		opened := time.Now()
		wfeEvents, keEvents, stop, err := g.openWatches(ctx, w, wfe.ResourceVersion, listVersion)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !apierrors.IsForbidden(err) && !apierrors.IsMethodNotSupported(err) {
				return fmt.Errorf("watching %s: %w", g.ref, err)
			}
			_, _ = fmt.Fprintf(stderr, "Cannot watch %s (%v); reading it every %s instead.\n", g.ref, err, interval)
			polling = true
			if !sleep(ctx, interval) {
				return nil
			}
			continue
		}
		restart, err := g.follow(ctx, wfeEvents, keEvents, ticks, settle, wfe, kes)
		stop()
		if !restart || err != nil {
			return err
		}
		// A watch the API server ends at once (say, an admission of a stale
		// resourceVersion, again and again) is not reopened in a tight loop.
		if time.Since(opened) < interval && !sleep(ctx, interval) {
			return nil
		}
	}
}

// follow waits for the watches to report a change and draws each settled burst
// of them. It returns restart when a watch ended and the run must be read and
// watched anew, and no restart on Ctrl-C or once the run is completed or failed.
func (g *getter) follow(ctx context.Context, wfeEvents, keEvents <-chan watch.Event, ticks <-chan time.Time, settle *time.Timer,
	wfe *workflowv1alpha1.WorkflowExecution, kes []kev1alpha1.KubernetesExecution) (restart bool, err error) {
	pending := false
	for {
		var ev watch.Event
		var ok bool
		select {
		case <-ctx.Done():
			return false, nil
		case <-ticks:
			// Only the durations changed.
			if _, err := g.show(wfe, kes); err != nil {
				return false, err
			}
			continue
		case <-settle.C:
			pending = false
			wfe, kes, err = g.fetch(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return false, nil
				}
				return false, err
			}
			if done, err := g.show(wfe, kes); done || err != nil {
				return false, err
			}
			continue
		case ev, ok = <-wfeEvents:
		case ev, ok = <-keEvents:
		}
		switch {
		case !ok || ev.Type == watch.Error:
			if pending {
				settle.Stop()
			}
			return true, nil
		case ev.Type == watch.Bookmark:
		case !pending:
			pending = true
			settle.Reset(settleDelay)
		}
	}
}

// settleDelay is how long --watch waits after a change for the ones that come
// with it (a step's status and its execution's), to draw them in one frame.
const settleDelay = 100 * time.Millisecond

// watchTimeout is how long the API server keeps a watch open before --watch
// opens it again.
var watchTimeout = 5 * time.Minute

// openWatches watches the workflow from version and its executions from
// listVersion. stop ends both.
func (g *getter) openWatches(ctx context.Context, w client.WithWatch, version, listVersion string) (wfeEvents, keEvents <-chan watch.Event, stop func(), err error) {
	seconds := int64(watchTimeout / time.Second)
	from := func(rv string) *client.ListOptions {
		return &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, TimeoutSeconds: &seconds, AllowWatchBookmarks: true}}
	}
	wfeWatch, err := w.Watch(ctx, &workflowv1alpha1.WorkflowExecutionList{}, from(version), client.InNamespace(g.ref.namespace),
		client.MatchingFields{"metadata.name": g.ref.name})
	if err != nil {
		return nil, nil, nil, err
	}
	keWatch, err := w.Watch(ctx, &kev1alpha1.KubernetesExecutionList{}, from(listVersion), client.InNamespace(g.ref.namespace),
		client.MatchingLabels{workflowLabel: labelValue(g.ref.name)})
	if err != nil {
		wfeWatch.Stop()
		return nil, nil, nil, err
	}
	return wfeWatch.ResultChan(), keWatch.ResultChan(), func() { wfeWatch.Stop(); keWatch.Stop() }, nil
}

// show draws the run as the next frame and reports whether it is over.
func (g *getter) show(wfe *workflowv1alpha1.WorkflowExecution, kes []kev1alpha1.KubernetesExecution) (done bool, err error) {
	version := versions(wfe, kes)
	if version != g.version || g.tty {
		var b bytes.Buffer
		if err := runview.Render(&b, wfe, kes, time.Now(), g.color); err != nil {
			return false, err
		}
		if err := g.frame(b.String()); err != nil {
			return false, err
		}
		g.version = version
	}
	p := wfe.Status.Phase
	return p == workflowv1alpha1.WorkflowCompleted || p == workflowv1alpha1.WorkflowFailed, nil
}

// sleep waits d, or less when ctx ends: then it returns false.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// versions identifies the state of the objects drawn.
func versions(wfe *workflowv1alpha1.WorkflowExecution, kes []kev1alpha1.KubernetesExecution) string {
	parts := []string{wfe.ResourceVersion}
	for _, ke := range kes {
		parts = append(parts, ke.Name+"="+ke.ResourceVersion)
	}
	slices.Sort(parts[1:])
	return strings.Join(parts, ",")
}

// frame prints one frame of --watch.
func (g *getter) frame(s string) error {
	if s == g.last {
		return nil
	}
	var b strings.Builder
	switch {
	case g.tty && g.lines > 0:
		// Back to the first row of the last frame, and erase to the end of the screen.
		fmt.Fprintf(&b, "\r\x1b[%dA\x1b[J", g.lines)
	case !g.tty && g.last != "":
		b.WriteString("\n")
	}
	b.WriteString(s)
	if _, err := io.WriteString(g.out, b.String()); err != nil {
		return err
	}
	g.last, g.lines = s, rows(s, g.width())
	return nil
}

// width is the terminal's width in columns, 0 when unknown.
func (g *getter) width() int {
	f, ok := g.out.(*os.File)
	if !ok {
		return 0
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// rows counts the terminal rows s takes, lines longer than width wrapping.
func rows(s string, width int) int {
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		w := utf8.RuneCountInString(stripANSI(line))
		if width <= 0 || w <= width {
			n++
			continue
		}
		n += (w + width - 1) / width
	}
	return n
}

// stripANSI removes the colour codes runview writes (ESC [ ... m).
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && s[j] != 'm' {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
