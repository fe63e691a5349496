package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"kubernaut.io/stepvalidation/internal/local"
)

func init() { extraCommands = append(extraCommands, newLocalCommand) }

func newLocalCommand() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run a local cluster (kwok nodes) with the manager and its webhooks; run the demo on it",
		Long: `kubernaut local starts a real Kubernetes control plane on this machine, without
containers: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with
three fake nodes (pods on them turn Ready without running anything), all built from
source into bin/ by hack/tools.sh (a cold build takes several minutes; later runs take
seconds). It runs the manager built from cmd/manager with its admission webhooks and
self-signed certificates, and installs the CRDs, the actions' RBAC, the policy
library's ConfigMaps and a sample Deployment production/web-app.

Run it from inside the repository. State, data and logs live in .kubernaut-local/.`,
		Example: `  kubernaut local demo          # start, run two workflows, stop (make demo)
  kubernaut local demo --keep   # the same, and leave the cluster running (make demo KEEP=1)
  kubernaut local up            # start and leave running
  kubernaut local down          # stop`,
	}
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", "", "folder of the cluster's state, data and logs (default .kubernaut-local/ at the top of the repository)")

	opts := func(c *cobra.Command) local.Options {
		return local.Options{StateDir: stateDir, Out: c.OutOrStdout()}
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster and leave it running",
		Example: `  kubernaut local up                              # state in .kubernaut-local/
  kubernaut local up --state-dir /tmp/kubernaut   # elsewhere; local down needs the same --state-dir`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			cluster, err := local.Up(ctx, opts(c))
			if err != nil {
				return failed(ctx, err)
			}
			_, _ = fmt.Fprintf(c.OutOrStdout(), "\n  export KUBECONFIG=%s\n  kubectl get nodes,deployments -A\n  curl -s %s   # the manager's metrics\n\nStop it with: %s\n",
				cluster.KubeconfigPath, cluster.MetricsURL(), cluster.DownCommand())
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster and remove its state",
		Example: `  kubernaut local down
  kubernaut local down --state-dir /tmp/kubernaut`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			if err := local.Down(ctx, opts(c)); err != nil {
				return failed(ctx, err)
			}
			return nil
		},
	}
	var keep bool
	demo := &cobra.Command{
		Use:   "demo",
		Short: "Run two workflows on the local cluster (starting it when needed): one completes, a precondition blocks the other",
		Long: `demo scales production/web-app from 3 to 5 replicas with the seed's scale_deployment
workflow, which completes, and runs the same workflow for a Deployment that does not
exist, which its deployment_exists precondition blocks. It prints the phases and every
condition's result as it is evaluated, then a summary. Exit code 0 only when both ended
as expected, 1 otherwise.

Without --keep, a cluster the demo started is stopped at the end.`,
		Example: `  kubernaut local demo          # make demo
  kubernaut local demo --keep   # make demo KEEP=1: the cluster stays up for kubectl`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			o := opts(c)
			o.Keep = keep
			// A cluster that is stopped at the end anyway dies with this process,
			// even when it is killed.
			o.Attached = !keep
			if err := local.Demo(ctx, o); err != nil {
				return failed(ctx, err)
			}
			return nil
		},
	}
	demo.Flags().BoolVar(&keep, "keep", false, "leave the cluster running at the end, and print how to use it with kubectl")
	cmd.AddCommand(up, demo, down)
	return cmd
}

// signalContext is cancelled by Ctrl-C or SIGTERM, so that a cluster being
// started is stopped again.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// failed is the exit error of a local command: code 1, and a plain word when the
// user interrupted it.
func failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("interrupted; whatever the command had started was stopped (%w)", err)
	}
	return &exitError{code: exitFailed, err: err}
}
