// Command kubernaut is the command line of the per-step validation framework: it
// evaluates and unit-tests condition policies the way the manager does (same
// engine, same sandbox), generates a skeleton policy and test file for an action's
// facts, and shows the action catalog.
//
// Exit codes, for scripts:
//
//	0  success: the policy allowed, every test passed
//	1  the policy denied or errored (eval), a test failed (test)
//	2  usage error, unreadable file, or a policy that does not compile
package main

import (
	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Exit codes of every command.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitHelpMsg = `Exit codes:
  0  success
  1  a policy denied or errored (eval), or a test case failed (test)
  2  usage error, unreadable file, or a policy that does not compile`
)

// extraCommands are subcommands defined in other files of this package that add
// themselves from an init function, e.g. local.go:
//
//	func init() { extraCommands = append(extraCommands, newLocalCommand) }
//
// so that the root command does not have to know about them.
var extraCommands []func() *cobra.Command

// asKubectlPlugin is set when the binary runs as kubectl-kubernaut, the name
// under which 'kubectl kubernaut ...' finds it.
var asKubectlPlugin bool

// exitError carries the exit code a command wants. Its message, when not empty, is
// printed to stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error with exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// silentExit ends a command with code, having printed what it had to say already.
func silentExit(code int) error { return &exitError{code: code} }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubernaut",
		Short: "Test and write condition policies; browse the action catalog",
		Long: `kubernaut is the command line of the per-step validation framework.

It evaluates and unit-tests the Rego policies behind pre- and postconditions with the
same engine and sandbox as the manager, generates a policy skeleton and its test file
for an action, and shows the action catalog: parameters, permissions, suggested
conditions and the input keys policies can read.

` + exitHelpMsg,
		Example: `  kubernaut catalog list
  kubernaut catalog show scale_deployment
  kubernaut condition generate --action scale_deployment --type precondition --check replicas_sane --out policies/
  kubernaut condition test policies/
  kubernaut condition eval --policy policies/replicas_sane.rego --input facts.json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate("kubernaut {{.Version}}\n")
	if asKubectlPlugin {
		// kubectl runs kubectl-kubernaut for 'kubectl kubernaut': help says so.
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl kubernaut"}
	}
	root.AddCommand(newConditionCommand(), newCatalogCommand())
	// local (local.go) and any other extra subcommands register in extraCommands.
	for _, newCommand := range extraCommands {
		root.AddCommand(newCommand())
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())
	})
	return root
}

// run executes the command line args and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			_, _ = fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown command, wrong number of arguments.
	_, _ = fmt.Fprintln(stderr, "Error:", err)
	return exitUsage
}

func main() {
	// The CLI prints what happens itself; controller-runtime's own logs (envtest in
	// local mode) would only add noise, and a stack trace when no logger is set.
	ctrllog.SetLogger(logr.Discard())
	asKubectlPlugin = strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-")
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// printer writes to w and keeps the first write error, so that code that prints
// many lines checks once, at the end.
type printer struct {
	w   io.Writer
	tw  *tabwriter.Writer // when the output is a table
	err error
}

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

// newTable returns a printer that aligns tab-separated columns.
func newTable(w io.Writer) *printer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	return &printer{w: tw, tw: tw}
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) println(args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, args...)
	}
}

// done flushes a table and returns the first error.
func (p *printer) done() error {
	if p.err == nil && p.tw != nil {
		p.err = p.tw.Flush()
	}
	return p.err
}
