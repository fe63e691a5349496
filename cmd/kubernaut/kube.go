package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/internal/scheme"
)

// kubeFlags say which cluster, user and namespace a command talks to. They load
// as kubectl's do (--kubeconfig, else $KUBECONFIG, else ~/.kube/config), so that
// the commands act as the person running them, under the same identity.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

// bind adds --kubeconfig and --context to cmd and, when withNamespace, -n/--namespace
// for the namespace of the object the command names.
func (f *kubeFlags) bind(cmd *cobra.Command, withNamespace bool) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context (default its current context)")
	if withNamespace {
		cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of the object (default the context's namespace)")
	}
}

// kube is a client acting as the kubeconfig's user.
type kube struct {
	client.Client
	// namespace is -n, else the context's namespace, else default.
	namespace string
	// config is what Client was made from, for watches (see watcher).
	config *rest.Config
}

// requestTimeout bounds each request, so that a script does not hang on an API
// server that does not answer; a kubeconfig's own timeout wins.
const requestTimeout = 30 * time.Second

// connect loads the kubeconfig and makes a client. Admission warnings go to
// stderr, as kubectl prints them. A kubeconfig that cannot be loaded is a usage
// error (exit code 2).
func (f *kubeFlags) connect(stderr io.Writer) (*kube, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.context}
	overrides.Context.Namespace = f.namespace
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := loader.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, usageErrorf("no kubeconfig found: set KUBECONFIG or give --kubeconfig")
	}
	if err != nil {
		return nil, usageErrorf("loading the kubeconfig: %w", err)
	}
	namespace, _, err := loader.Namespace()
	if err != nil {
		return nil, usageErrorf("reading the namespace from the kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubernaut-cli"
	if cfg.Timeout == 0 {
		cfg.Timeout = requestTimeout
	}
	cfg.WarningHandler = rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true})
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("connecting to the API server: %w", err)}
	}
	return &kube{Client: c, namespace: namespace, config: cfg}, nil
}

// whoAmI returns the user name the API server authenticates this client as:
// approvals are admitted only under the sender's own name.
func (k *kube) whoAmI(ctx context.Context) (string, error) {
	return authority.Self(ctx, k.Client)
}

// watcher makes a client for watches. Its requests have no client-side timeout,
// which would cut every watch at requestTimeout; a watch asks the API server to
// end it instead (metav1.ListOptions.TimeoutSeconds), and the transport's
// keepalives notice a connection that died.
func (k *kube) watcher() (client.WithWatch, error) {
	cfg := rest.CopyConfig(k.config)
	cfg.Timeout = 0
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: k.Scheme(), Mapper: k.RESTMapper()})
	if err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("connecting to the API server: %w", err)}
	}
	return c, nil
}
