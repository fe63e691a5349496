package certs

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/test/harness"
)

// The specs of this suite run against a real kube-apiserver; the other tests of
// the package are plain table tests.

var (
	cluster *harness.Harness
	k8s     client.Client
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(GinkgoLogr)
	os.Exit(m.Run())
}

func TestCerts(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook certificates")
}

var _ = BeforeSuite(func(ctx context.Context) {
	// What the API server does (see a webhook configuration change, call a
	// webhook) takes well under a second, but CI machines are slow.
	SetDefaultEventuallyTimeout(10 * time.Second)
	var err error
	cluster, err = harness.Start(ctx, harness.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	k8s = cluster.Client
})

var uniqueNames atomic.Int64

// uniqueName returns a name no other spec uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, uniqueNames.Add(1))
}

// run starts r until the spec ends, and waits for its first certificates.
func run(r *Rotator) {
	GinkgoHelper()
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), GinkgoLogr))
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(r.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		<-done
	})
	Eventually(r.Ready()).Should(BeClosed())
}
