package webhook_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// Re-applying an unchanged manifest to a started run, as people and GitOps tools
// do, must change nothing and fail nothing: kubectl sends back less than the
// webhooks stored (no injected conditions, no defaults).
var _ = Describe("kubectl apply of an unchanged manifest to a started run", func() {
	sample := func(ns string) string {
		GinkgoHelper()
		_, self, _, _ := runtime.Caller(0)
		b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "config", "samples", "scale-web-app.yaml"))
		Expect(err).NotTo(HaveOccurred())
		return strings.ReplaceAll(string(b), "namespace: production", "namespace: "+ns)
	}
	start := func(ctx context.Context, ns string) *workflowv1alpha1.WorkflowExecution {
		GinkgoHelper()
		wfe := &workflowv1alpha1.WorkflowExecution{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale-web-app-sample"}, wfe)).To(Succeed())
		wfe.Status.Phase = workflowv1alpha1.WorkflowExecuting
		Expect(k8s.Status().Update(ctx, wfe)).To(Succeed())
		return wfe
	}
	unchanged := func(ctx context.Context, before *workflowv1alpha1.WorkflowExecution) {
		GinkgoHelper()
		after := &workflowv1alpha1.WorkflowExecution{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(before), after)).To(Succeed())
		Expect(after.Spec).To(Equal(before.Spec))
		Expect(after.Generation).To(Equal(before.Generation), "the spec changed")
	}
	refusesARealChange := func(manifest string, args ...string) {
		GinkgoHelper()
		changed := strings.Replace(manifest, "replicas: 6", "replicas: 7", 1)
		_, stderr, err := tryKubectl(changed, append(args, "-f", "-")...)
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("the spec cannot change once the workflow has started"))
	}

	It("with client-side apply, and kubectl diff shows no difference", func(ctx context.Context) {
		ns := newNamespace(ctx)
		manifest := sample(ns)
		kubectl(manifest, "apply", "-f", "-")
		wfe := start(ctx, ns)
		Expect(wfe.Spec.WorkflowDefinition.Steps[0].PreConditions).To(ContainElement(
			HaveField("Injected", true)), "the sample relies on injected conditions")

		for range 2 {
			kubectl(manifest, "apply", "-f", "-")
			unchanged(ctx, wfe)
		}
		stdout, stderr, err := tryKubectl(manifest, "diff", "-f", "-")
		Expect(err).NotTo(HaveOccurred(), "kubectl diff:\n%s%s", stdout, stderr)
		Expect(stdout).To(BeEmpty())
		refusesARealChange(manifest, "apply")
		unchanged(ctx, wfe)
	})

	It("with server-side apply", func(ctx context.Context) {
		ns := newNamespace(ctx)
		manifest := sample(ns)
		kubectl(manifest, "apply", "--server-side", "-f", "-")
		wfe := start(ctx, ns)
		for range 2 {
			kubectl(manifest, "apply", "--server-side", "-f", "-")
			unchanged(ctx, wfe)
		}
		refusesARealChange(manifest, "apply", "--server-side")
		unchanged(ctx, wfe)
	})
})
