// Package crd_test checks the CustomResourceDefinitions against a real API server:
// what they store, default and print, and what their schemas reject.
package crd_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/test/harness"
)

var (
	cluster *harness.Harness
	k8s     client.Client
)

func TestCRDs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "CRDs")
}

var _ = BeforeSuite(func(ctx context.Context) {
	var err error
	cluster, err = harness.Start(ctx, harness.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	k8s = cluster.Client
})

// newNamespace creates a namespace for one test.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-test-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// kubectl runs bin/kubectl against the test API server and returns its output.
func kubectl(args ...string) string {
	GinkgoHelper()
	bin := filepath.Join(harnessBinDir(), "kubectl")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", cluster.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

func harnessBinDir() string {
	dir, err := harness.BinDir()
	Expect(err).NotTo(HaveOccurred())
	return dir
}

func ptr[T any](v T) *T { return &v }

func rawJSON(format string, args ...any) []byte { return []byte(fmt.Sprintf(format, args...)) }
