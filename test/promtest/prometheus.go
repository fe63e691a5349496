package promtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kubernaut.io/stepvalidation/internal/repo"
	"kubernaut.io/stepvalidation/test/proc"
)

// Options say what a Prometheus scrapes and how it serves.
type Options struct {
	// Targets are host:port addresses scraped over HTTP at /metrics, e.g.
	// Exporter.Target(). Labels the targets serve win over Prometheus's own
	// (honor_labels), so an exporter's namespace and pod labels arrive as set.
	Targets []string
	// ScrapeInterval is how often each target is scraped; 1s when zero. Windows
	// of range queries should span at least 4 of them (rate() needs two samples).
	ScrapeInterval time.Duration
	// LookbackDelta is how far back an instant query looks for a series' last
	// sample (--query.lookback-delta); Prometheus's 5m when zero. A series the
	// exporter deletes disappears at the next scrape anyway (staleness markers).
	LookbackDelta time.Duration

	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost, signed by
	// a fresh CA whose PEM file CAFile returns (Prometheus's --web.config.file).
	TLS bool
	// BearerToken, when set, is required of every request as "Authorization:
	// Bearer <token>". Prometheus itself checks only basic auth, so a reverse
	// proxy in front checks the token, as kube-rbac-proxy does in front of a
	// cluster's Prometheus or Thanos querier; URL is then the proxy's (over TLS
	// too when TLS is set). BearerTokenFile holds the token.
	BearerToken string

	// Binary is the prometheus binary; when empty, prometheus in
	// $KUBEBUILDER_ASSETS, else in bin/ at the top of the repository.
	Binary string
	// Dir holds the configuration, the TSDB and the log, and is kept at Stop;
	// when empty, a temporary folder is made and removed at Stop.
	Dir string
	// StartTimeout bounds the wait for /-/ready; 1 minute when zero.
	StartTimeout time.Duration
}

// Prometheus is a running Prometheus server on loopback.
type Prometheus struct {
	url, caFile, tokenFile string
	dir                    string
	removeDir              bool
	client                 *http.Client
	token                  string
	proc                   *proc.Process
	proxy                  *http.Server
}

// Start starts a Prometheus for a test and stops it when the test ends; it fails
// the test if Prometheus does not start.
func Start(t testing.TB, opts Options) *Prometheus {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// Run starts Prometheus as opts say and waits until it is ready; Stop stops it.
// The process is in a process group of its own and is killed by the kernel if
// the calling process dies first, so none is left behind. ctx bounds the start.
func Run(ctx context.Context, opts Options) (_ *Prometheus, err error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	p := &Prometheus{dir: opts.Dir, token: opts.BearerToken}
	if p.dir == "" {
		if p.dir, err = os.MkdirTemp("", "promtest-"); err != nil {
			return nil, fmt.Errorf("prometheus: making its folder: %w", err)
		}
		p.removeDir = true
	} else if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, fmt.Errorf("prometheus: making its folder: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Stop())
		}
	}()

	configFile := filepath.Join(p.dir, "prometheus.yml")
	if err := os.WriteFile(configFile, scrapeConfig(opts), 0o600); err != nil {
		return nil, fmt.Errorf("prometheus: writing its configuration: %w", err)
	}
	args := []string{
		"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(p.dir, "data"),
		// Ours, not the machine's: the tests share the machine with other work.
		"--no-auto-gomemlimit",
		// The scrape manager takes in targets every 5s by default, so the first
		// scrape came up to 5s after /-/ready; a hidden flag shortens it.
		"--scrape.discovery-reload-interval=200ms",
	}
	if opts.LookbackDelta > 0 {
		args = append(args, "--query.lookback-delta="+opts.LookbackDelta.String())
	}
	scheme := "http"
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.TLS {
		var pool *x509.CertPool
		if p.caFile, pool, err = writeServingFiles(p.dir); err != nil {
			return nil, err
		}
		args = append(args, "--web.config.file="+filepath.Join(p.dir, webConfigFile))
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	// Prometheus answers the queries itself, through the proxy or not.
	direct := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var promURL string
	// A port found free can be taken before Prometheus binds it: try again then.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		promURL = scheme + "://" + addr
		p.proc, err = proc.Start(p.dir, "prometheus", nil, opts.Binary, append(args, "--web.listen-address="+addr)...)
		if err != nil {
			return nil, err
		}
		err = waitReady(ctx, opts.StartTimeout, direct, promURL, "", p.proc)
		if err == nil {
			break
		}
		stopErr := p.proc.Stop()
		p.proc = nil
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, errors.Join(err, stopErr)
		}
	}
	p.url, p.client = promURL, direct

	if opts.BearerToken != "" {
		p.tokenFile = filepath.Join(p.dir, "token")
		if err := os.WriteFile(p.tokenFile, []byte(opts.BearerToken), 0o600); err != nil {
			return nil, fmt.Errorf("prometheus: writing the bearer token file: %w", err)
		}
		if p.url, err = p.startTokenProxy(promURL, transport, opts.TLS); err != nil {
			return nil, err
		}
		if err := waitReady(ctx, opts.StartTimeout, direct, p.url, p.token, p.proc); err != nil {
			return nil, fmt.Errorf("prometheus: the bearer token proxy: %w", err)
		}
	}
	return p, nil
}

func (o *Options) complete() error {
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = time.Second
	}
	if o.ScrapeInterval < 100*time.Millisecond || o.ScrapeInterval%time.Millisecond != 0 {
		return fmt.Errorf("prometheus: ScrapeInterval %v: want whole milliseconds, at least 100ms", o.ScrapeInterval)
	}
	if o.LookbackDelta < 0 {
		return fmt.Errorf("prometheus: LookbackDelta %v: want zero (Prometheus's default) or more", o.LookbackDelta)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = time.Minute
	}
	for i, t := range o.Targets {
		host, port, err := net.SplitHostPort(t)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("prometheus: Targets[%d] %q: want host:port", i, t)
		}
	}
	if strings.ContainsAny(o.BearerToken, "\r\n") {
		return fmt.Errorf("prometheus: BearerToken: no line breaks, it goes into an HTTP header")
	}
	if o.Binary == "" {
		dir := os.Getenv("KUBEBUILDER_ASSETS")
		if dir == "" {
			root, err := repo.Root()
			if err != nil {
				return fmt.Errorf("prometheus: finding bin/: %w", err)
			}
			dir = filepath.Join(root, "bin")
		}
		o.Binary = filepath.Join(dir, "prometheus")
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return fmt.Errorf("prometheus: %s not found: run `hack/tools.sh prometheus` to build it into bin/", o.Binary)
	}
	return nil
}

// scrapeConfig is prometheus.yml: one job scraping every target.
func scrapeConfig(o Options) []byte {
	var b bytes.Buffer
	interval := strconv.FormatInt(o.ScrapeInterval.Milliseconds(), 10) + "ms"
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n", interval, interval)
	b.WriteString("scrape_configs:\n  - job_name: promtest\n    honor_labels: true\n    static_configs:\n      - targets: [")
	for i, t := range o.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// URL is where Prometheus's HTTP API is served: the --prometheus-url of a
// manager that queries it.
func (p *Prometheus) URL() string { return p.url }

// CAFile is the PEM file of the CA that signed the serving certificate
// (Options.TLS): the manager's --prometheus-ca-file. Empty without TLS.
func (p *Prometheus) CAFile() string { return p.caFile }

// BearerTokenFile holds Options.BearerToken: the manager's
// --prometheus-bearer-token-file. Empty without a token.
func (p *Prometheus) BearerTokenFile() string { return p.tokenFile }

// LogTail returns the end of Prometheus's log, for a failing test's message.
func (p *Prometheus) LogTail() string {
	if p.proc == nil {
		return ""
	}
	return p.proc.LogTail()
}

// Exited returns an error with the end of the log once Prometheus has exited;
// nil while it runs.
func (p *Prometheus) Exited() error {
	if p.proc == nil {
		return errors.New("prometheus: not running")
	}
	return p.proc.Exited()
}

// Stop stops Prometheus (SIGTERM to its process group, SIGKILL after 10s) and
// the token proxy, and removes the temporary folder. Safe to call twice.
func (p *Prometheus) Stop() error {
	var errs []error
	if p.proxy != nil {
		errs = append(errs, p.proxy.Close())
		p.proxy = nil
	}
	if p.proc != nil {
		errs = append(errs, p.proc.Stop())
		p.proc = nil
	}
	if p.removeDir {
		errs = append(errs, os.RemoveAll(p.dir))
		p.removeDir = false
	}
	return errors.Join(errs...)
}

// waitReady polls url/-/ready until it answers 200, the process exits, or the
// timeout or ctx ends.
func waitReady(ctx context.Context, timeout time.Duration, client *http.Client, url, token string, prom *proc.Process) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if err := prom.Exited(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		if err != nil {
			return fmt.Errorf("prometheus: %w", err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if res, err := client.Do(req); err != nil {
			last = err
		} else {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s/-/ready: %s", url, res.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus not ready within %v: %w; end of its log:\n%s", timeout, last, prom.LogTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("prometheus: finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
