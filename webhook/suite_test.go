package webhook_test

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/conditions/promquery"
	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/webhook"
)

var (
	cluster *harness.Harness
	k8s     client.Client
	// managerUser is the user the suite's admin client authenticates as, which the
	// webhooks take for the manager's.
	managerUser string
	// service is the webhooks' condition service. Its Prometheus is a closed
	// loopback port: admission parses queries and never runs them, except in a
	// dry run's preflight, which finds no Prometheus there.
	service *check.Service
	// closedPrometheus is that Prometheus' URL.
	closedPrometheus string
)

func TestWebhooks(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhooks")
}

var _ = BeforeSuite(func(ctx context.Context) {
	var err error
	cluster, err = harness.Start(ctx, harness.Options{Webhooks: true})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	k8s = cluster.Client

	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:        cluster.Scheme,
		Metrics:       metricsserver.Options{BindAddress: "0"},
		WebhookServer: cluster.WebhookServer(),
	})
	Expect(err).NotTo(HaveOccurred())
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(ctx, engine)
	Expect(err).NotTo(HaveOccurred())
	managerUser, err = authority.Self(ctx, k8s)
	Expect(err).NotTo(HaveOccurred())
	closedPrometheus = closedLoopbackURL()
	prom, err := promquery.New(promquery.Config{URL: closedPrometheus, Timeout: 200 * time.Millisecond})
	Expect(err).NotTo(HaveOccurred())
	service = &check.Service{Engine: engine, Library: lib, Reader: mgr.GetClient(), Metrics: prom,
		Objects: &objects.Reader{Client: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Reviewer: &authority.Reviewer{Client: mgr.GetClient()}}}
	hooks := &webhook.Webhooks{
		Conditions:      service,
		Client:          mgr.GetClient(),
		ManagerUsername: managerUser,
		// The manager's own status writes skip the status guard (ownwrites.go).
		StatusConfiguration: harness.ValidatingWebhookConfiguration,
	}
	Expect(hooks.SetupWithManager(mgr)).To(Succeed())

	mgrCtx, stop := context.WithCancel(context.Background())
	DeferCleanup(stop)
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	// The webhooks answer once the server runs and the cache the preflight reads
	// has synced.
	Eventually(func() error { return mgr.GetWebhookServer().StartedChecker()(nil) }).Should(Succeed())
	Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
}, NodeTimeout(time.Minute))

// closedLoopbackURL is an http URL on 127.0.0.1 where nothing listens: a port
// the kernel handed out and that was closed again.
func closedLoopbackURL() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return "http://" + addr
}

func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "webhook-test-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// clientAs returns a client that impersonates user.
func clientAs(user string) client.Client {
	GinkgoHelper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// kubectl runs bin/kubectl against the test API server; it returns stdout and
// stderr (where kubectl prints admission warnings).
func kubectl(stdin string, args ...string) (stdout, stderr string) {
	GinkgoHelper()
	stdout, stderr, err := tryKubectl(stdin, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s:\n%s", strings.Join(args, " "), stderr)
	return stdout, stderr
}

// tryKubectl is kubectl for a command that may fail.
func tryKubectl(stdin string, args ...string) (stdout, stderr string, err error) {
	GinkgoHelper()
	dir, err := harness.BinDir()
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(filepath.Join(dir, "kubectl"), append([]string{"--kubeconfig", cluster.KubeconfigPath}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
