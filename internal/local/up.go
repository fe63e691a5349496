package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"kubernaut.io/stepvalidation/certs/clientauth"
	"kubernaut.io/stepvalidation/internal/metricsapi"
	"kubernaut.io/stepvalidation/internal/scheme"
)

// Cluster is a running local cluster.
type Cluster struct {
	// KubeconfigPath is an admin kubeconfig (group system:masters).
	KubeconfigPath string
	// Config reaches the API server as that admin.
	Config *rest.Config
	// Client is a controller-runtime client that knows our API groups.
	Client client.Client
	// Scheme knows the built-in kinds and both of our API groups.
	Scheme *runtime.Scheme

	opts  Options
	state *state
	// webhookClientCA signed the client certificate kube-apiserver presents to
	// the webhooks: the manager's --webhook-client-ca.
	webhookClientCA string
	// prometheusURL is the local Prometheus: the manager's --prometheus-url.
	prometheusURL string
	// metricsAPI is what metrics-server and kube-apiserver's aggregation layer
	// need (set while Up starts them).
	metricsAPI *metricsapi.Files
}

// Manager namespace and the names the manager's flags default to.
const (
	managerNamespace  = "kubernaut-system"
	webhookService    = "kubernaut-webhook-service"
	validatingWebhook = "kubernaut-validating-webhook-configuration"
	mutatingWebhook   = "kubernaut-mutating-webhook-configuration"
)

// Up starts a local cluster, or returns the one already running from the same
// state folder. On error, whatever it started has been stopped again.
func Up(ctx context.Context, opts Options) (_ *Cluster, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if c, err := connect(opts); err == nil {
		opts.progress("A local cluster is running already (started %s); using it", c.state.Started.Format(time.Kitchen))
		return c, nil
	} else if !errors.Is(err, errNotRunning) {
		return nil, err
	}
	start := time.Now()
	if err := os.RemoveAll(opts.StateDir); err != nil {
		return nil, fmt.Errorf("clearing the old state folder: %w", err)
	}
	for _, d := range []string{"logs", "bin"} {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating the state folder: %w", err)
		}
	}
	st := &state{Started: time.Now()}
	c := &Cluster{opts: opts, state: st, Scheme: scheme.New()}
	defer func() {
		if err != nil {
			opts.progress("Up failed; stopping what it started (logs are in %s)", filepath.Join(opts.StateDir, "logs"))
			_ = writeState(opts, st)
			for i := len(st.Processes) - 1; i >= 0; i-- {
				_ = st.Processes[i].stop(5 * time.Second)
			}
		}
	}()

	if err := opts.buildTools(ctx); err != nil {
		return nil, err
	}
	manager := filepath.Join(opts.StateDir, "bin", "manager")
	if err := opts.step("Building the manager (go build ./cmd/manager)", func() error {
		return opts.run(ctx, "go", "build", "-o", manager, "./cmd/manager")
	}); err != nil {
		return nil, err
	}
	if err := opts.step("Starting etcd and kube-apiserver, installing the CRDs", func() error { return c.startAPIServer() }); err != nil {
		return nil, err
	}
	if err := writeState(opts, st); err != nil {
		return nil, err
	}
	if err := opts.step("Starting kube-controller-manager, kube-scheduler, kwok with 3 nodes, and metrics-server (kubectl top)", func() error {
		return c.startClusterComponents(ctx)
	}); err != nil {
		return nil, err
	}
	if err := opts.step("Installing RBAC, the policy library's ConfigMaps and the webhook configurations", func() error {
		return c.install(ctx)
	}); err != nil {
		return nil, err
	}
	if err := opts.step("Starting Prometheus (recording rules stand in for the sample applications' error rates)", func() error {
		c.prometheusURL, err = c.startPrometheus(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	if err := opts.step("Starting the manager (self-signed webhook certificates, only the API server's client certificate admitted)", func() error {
		return c.startManager(ctx, manager)
	}); err != nil {
		return nil, err
	}
	if err := opts.step("Creating the sample workload (production/web-app, 3 replicas)", func() error {
		return c.sampleWorkload(ctx, 3)
	}); err != nil {
		return nil, err
	}
	opts.progress("Local cluster up in %s (state in %s)", time.Since(start).Round(100*time.Millisecond), opts.StateDir)
	return c, nil
}

var errNotRunning = errors.New("no local cluster is running")

// connect returns the cluster the state folder describes when all of it runs.
func connect(opts Options) (*Cluster, error) {
	st, err := readState(opts)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotRunning
	}
	if err != nil {
		return nil, err
	}
	var alive, dead []string
	for _, p := range st.Processes {
		if p.alive() {
			alive = append(alive, p.Name)
		} else {
			dead = append(dead, p.Name)
		}
	}
	if len(alive) == 0 {
		return nil, errNotRunning
	}
	if len(dead) > 0 || len(st.Processes) < 6 {
		return nil, fmt.Errorf("the local cluster in %s is half running (%s not running; logs in %s): run `%s` first",
			opts.StateDir, strings.Join(dead, ", "), filepath.Join(opts.StateDir, "logs"), opts.DownCommand())
	}
	c := &Cluster{opts: opts, state: st, KubeconfigPath: st.Kubeconfig, Scheme: scheme.New()}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", st.Kubeconfig); err != nil {
		return nil, fmt.Errorf("reading the local kubeconfig: %w", err)
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: c.Scheme}); err != nil {
		return nil, err
	}
	return c, nil
}

// buildTools runs hack/tools.sh for the control plane, kwok, metrics-server and Prometheus,
// showing its progress; it takes a second when bin/ is current.
func (o Options) buildTools(ctx context.Context) error {
	return o.step("Building the local control plane, metrics-server and Prometheus into bin/ (hack/tools.sh; a cold build takes minutes)", func() error {
		return o.run(ctx, filepath.Join(o.Root, "hack", "tools.sh"), "etcd", "control-plane", "kwok", "metrics-server", "prometheus")
	})
}

// run runs a command in the repository, its output indented under the progress
// lines.
func (o Options) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = o.Root
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(pr)
		for s.Scan() {
			_, _ = fmt.Fprintf(o.Out, "      %s\n", s.Text())
		}
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func (o Options) progress(format string, args ...any) {
	_, _ = fmt.Fprintf(o.Out, "==> "+format+"\n", args...)
}

// step prints what is being done, does it and prints how long it took.
func (o Options) step(what string, do func() error) error {
	o.progress("%s", what)
	start := time.Now()
	if err := do(); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(o.Out, "    done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// startAPIServer starts etcd and kube-apiserver through envtest, through launcher
// scripts that record their pids, and writes the admin kubeconfig.
func (c *Cluster) startAPIServer() error {
	o := c.opts
	var launchers [2]string
	for i, name := range []string{"etcd", "kube-apiserver"} {
		l, err := o.launcher(name)
		if err != nil {
			return err
		}
		launchers[i] = l
	}
	etcdLog, err := os.Create(filepath.Join(o.StateDir, "logs", "etcd.log"))
	if err != nil {
		return err
	}
	defer func() { _ = etcdLog.Close() }()
	apiLog, err := os.Create(filepath.Join(o.StateDir, "logs", "kube-apiserver.log"))
	if err != nil {
		return err
	}
	defer func() { _ = apiLog.Close() }()
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.bin(),
		ControlPlane: envtest.ControlPlane{
			// Output goes to files, not pipes: the processes outlive this one.
			Etcd: &envtest.Etcd{Path: launchers[0], DataDir: filepath.Join(o.StateDir, "etcd"), Out: etcdLog, Err: etcdLog,
				StartTimeout: time.Minute},
			APIServer: &envtest.APIServer{Path: launchers[1], CertDir: filepath.Join(o.StateDir, "apiserver"), Out: apiLog, Err: apiLog,
				StartTimeout: time.Minute},
		},
		CRDDirectoryPaths:     []string{filepath.Join(o.Root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                c.Scheme,
	}
	for _, d := range []string{env.ControlPlane.Etcd.DataDir, env.ControlPlane.APIServer.CertDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// kube-apiserver presents a client certificate to every webhook, and the
	// manager serves only that certificate (security invariant 9).
	clientAuth, err := clientauth.WriteAPIServerFiles(filepath.Join(o.StateDir, "webhook-client"), clientauth.APIServerCommonName, 365*24*time.Hour)
	if err != nil {
		return fmt.Errorf("making the API server's webhook client certificate: %w", err)
	}
	c.webhookClientCA = clientAuth.CA
	env.ControlPlane.APIServer.Configure().Set(clientauth.AdmissionConfigFlag, clientAuth.AdmissionConfig)
	// The aggregation layer, for the Metrics API metrics-server serves.
	metricsAPI, err := metricsapi.WriteFiles(filepath.Join(o.StateDir, "metrics-api"), 365*24*time.Hour)
	if err != nil {
		return fmt.Errorf("preparing metrics-server: %w", err)
	}
	c.metricsAPI = &metricsAPI
	for flag, value := range metricsAPI.APIServerFlags() {
		env.ControlPlane.APIServer.Configure().Set(flag, value)
	}
	cfg, startErr := env.Start()
	// Record the pids even when the start failed half way, for the clean-up.
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if pid, err := readPID(filepath.Join(o.StateDir, name+".pid")); err == nil {
			c.state.Processes = append(c.state.Processes, proc{Name: name, PID: pid, Binary: filepath.Join(o.bin(), name),
				Log: filepath.Join(o.StateDir, "logs", name+".log")})
		}
	}
	if startErr != nil {
		return fmt.Errorf("starting etcd and kube-apiserver: %w", startErr)
	}
	c.Config = cfg
	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding an admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	c.KubeconfigPath = filepath.Join(o.StateDir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	c.state.Kubeconfig, c.state.Server = c.KubeconfigPath, cfg.Host
	if c.Client, err = client.New(cfg, client.Options{Scheme: c.Scheme}); err != nil {
		return err
	}
	return nil
}

// launcher writes a script that records its pid and execs binary, under
// setpriv --pdeathsig when the processes die with this one: envtest starts etcd
// and kube-apiserver itself and offers no other way to learn their pids.
func (o Options) launcher(name string) (string, error) {
	binary := filepath.Join(o.bin(), name)
	if _, err := os.Stat(binary); err != nil {
		return "", fmt.Errorf("%s not found: run `make tools`", binary)
	}
	pidFile := filepath.Join(o.StateDir, name+".pid")
	exec1 := fmt.Sprintf("exec %q \"$@\"", binary)
	if o.Attached {
		if setpriv, err := exec.LookPath("setpriv"); err == nil {
			exec1 = fmt.Sprintf("exec %q --pdeathsig KILL -- %q \"$@\"", setpriv, binary)
		}
	}
	script := filepath.Join(o.StateDir, "bin", name)
	body := fmt.Sprintf("#!/bin/sh\necho $$ > %q\n%s\n", pidFile, exec1)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return "", fmt.Errorf("writing the %s launcher: %w", name, err)
	}
	return script, nil
}

// startProcess starts binary with args, its output in logs/<name>.log, in its
// own process group, and records it in the state.
func (c *Cluster) startProcess(name, binary string, env []string, args ...string) (proc, error) {
	if _, err := os.Stat(binary); err != nil {
		return proc{}, fmt.Errorf("%s not found: run `make tools`", binary)
	}
	logPath := filepath.Join(c.opts.StateDir, "logs", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return proc{}, err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.opts.Attached {
		dieWithParent(cmd.SysProcAttr)
	}
	if err := cmd.Start(); err != nil {
		return proc{}, fmt.Errorf("starting %s: %w", name, err)
	}
	// Reap it, should it exit while we run, and say how it ended at the end of
	// its log: a process that dies before writing a line (killed by a signal)
	// otherwise leaves an empty log.
	go func() {
		err := cmd.Wait()
		if f, openErr := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0); openErr == nil {
			_, _ = fmt.Fprintf(f, "[kubernaut local] %s (pid %d) ended: %v (%s)\n", name, cmd.Process.Pid, err, cmd.ProcessState)
			_ = f.Close()
		}
	}()
	p := proc{Name: name, PID: cmd.Process.Pid, Binary: binary, Log: logPath}
	c.state.Processes = append(c.state.Processes, p)
	return p, writeState(c.opts, c.state)
}

// controllers are the kube-controller-manager controllers that make Deployments
// scale, nodes schedulable and namespaces deletable (as in test/harness).
const controllers = "deployment-controller,replicaset-controller,statefulset-controller," +
	"daemonset-controller,job-controller,disruption-controller,garbage-collector-controller," +
	"namespace-controller,node-lifecycle-controller"

func (c *Cluster) startClusterComponents(ctx context.Context) error {
	bin := c.opts.bin()
	kubeconfig := "--kubeconfig=" + c.KubeconfigPath
	stages := filepath.Join(bin, "kwok-stages.yaml")
	if _, err := os.Stat(stages); err != nil {
		return fmt.Errorf("%s not found: run `make tools`", stages)
	}
	// kwok serves its nodes' resource metrics, which metrics-server scrapes and
	// serves through the API server (internal/metricsapi says how).
	m := c.metricsAPI
	kwokMetrics := filepath.Join(c.opts.StateDir, "kwok-metrics.yaml")
	if err := metricsapi.WriteKwokConfig(kwokMetrics); err != nil {
		return err
	}
	starts := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{kubeconfig, "--leader-elect=false", "--secure-port=0", "--controllers=" + controllers,
			"--node-monitor-grace-period=5m"}},
		{"kube-scheduler", []string{kubeconfig, "--leader-elect=false", "--secure-port=0"}},
		{"kwok", append([]string{kubeconfig, "--manage-all-nodes=true", "--cidr=10.0.0.1/24", "--config=" + stages},
			m.KwokArgs(kwokMetrics)...)},
		{"metrics-server", m.MetricsServerArgs(c.KubeconfigPath)},
	}
	for _, s := range starts {
		if _, err := c.startProcess(s.name, filepath.Join(bin, s.name), nil, s.args...); err != nil {
			return err
		}
	}
	if err := c.createNodes(ctx); err != nil {
		return err
	}
	if err := m.Register(ctx, c.Client); err != nil {
		return err
	}
	return metricsapi.WaitAvailable(ctx, c.Client, 30*time.Second, func() error {
		for _, p := range c.state.Processes {
			if !p.alive() {
				return fmt.Errorf("%s exited; end of its log (%s):\n%s", p.Name, p.Log, tail(p.Log))
			}
		}
		return nil
	})
}

func (c *Cluster) startManager(ctx context.Context, binary string) error {
	webhookPort, err := freePort()
	if err != nil {
		return err
	}
	probePort, err := freePort()
	if err != nil {
		return err
	}
	// Metrics over plain HTTP on loopback: a cluster on one machine for one
	// developer, whose scrapes need no token (an install serves them over HTTPS
	// to callers the API server authorizes).
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	c.state.WebhookPort, c.state.ProbePort, c.state.MetricsPort = webhookPort, probePort, metricsPort
	if err := c.installWebhooks(ctx, webhookPort); err != nil {
		return err
	}
	p, err := c.startProcess("manager", binary, []string{"KUBECONFIG=" + c.KubeconfigPath},
		"--self-signed-certs", "--webhook-cert-dir="+filepath.Join(c.opts.StateDir, "webhook-certs"),
		"--webhook-port="+strconv.Itoa(webhookPort), "--namespace="+managerNamespace,
		"--webhook-client-ca="+c.webhookClientCA, "--webhook-client-cn="+clientauth.APIServerCommonName,
		"--webhook-service="+webhookService,
		"--validating-webhook-configuration="+validatingWebhook, "--mutating-webhook-configuration="+mutatingWebhook,
		"--leader-elect=false", "--prometheus-url="+c.prometheusURL,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort), "--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probePort))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	for {
		if !p.alive() {
			return fmt.Errorf("the manager exited; end of its log (%s):\n%s", p.Log, tail(p.Log))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager was not ready within a minute; end of its log (%s):\n%s", p.Log, tail(p.Log))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The API server learns the new caBundle through a watch: wait until a dry
	// run through the webhooks succeeds.
	return c.waitWebhooks(ctx)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file.
func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 3000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}
