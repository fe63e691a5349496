package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// What an operator sees of a live run: the CLI, built from cmd/kubernaut, follows
// the seed-shaped workflow with --watch while the manager runs it, and exits 0
// with the completed run drawn as a tree.
var _ = Describe("kubernaut get wfe", Label("cli"), func() {
	It("follows a live workflow with --watch and draws the succeeded step with its conditions and execution", func(ctx context.Context) {
		cli := filepath.Join(GinkgoT().TempDir(), "kubernaut")
		build := exec.CommandContext(ctx, "go", "build", "-o", cli, "../../cmd/kubernaut")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build ./cmd/kubernaut:\n%s", out)

		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		// The namespace is paused until the CLI follows the run: the run takes well
		// under a second, and could otherwise end before the watch has started.
		pauseNamespace(ctx, ns, "until the CLI watches")
		wfe := scaleWorkflow(ns, "scale-web-app-workflow", "web-app", 5)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowPaused, time.Minute)

		watch := exec.CommandContext(ctx, cli, "get", "wfe", wfe.Name, "-n", ns, "--watch", "--kubeconfig", cluster.KubeconfigPath)
		session, err := gexec.Start(watch, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session.Out).WithTimeout(time.Minute).Should(gbytes.Say(`scale-web-app-workflow paused`))
		pauseNamespace(ctx, ns, "")
		Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
		Expect(session.Err.Contents()).To(BeEmpty())

		// Not a terminal: one frame per change, the last one the completed run.
		stdout := string(session.Out.Contents())
		frames := strings.Split(stdout, "\n\n")
		Expect(len(frames)).To(BeNumerically(">", 1), "a frame before the end and the end:\n%s", stdout)
		last := frames[len(frames)-1]
		for _, want := range []string{
			`(?m)^WorkflowExecution ` + ns + `/scale-web-app-workflow completed \(Succeeded\)$`,
			`step 1 scale \(scale_deployment\) completed`,
			`pre  deployment_exists +passed +required`,
			`post desired_replicas_running +passed +required`,
			`execution scale-web-app-workflow-step-1 completed`,
			`changed Deployment ` + ns + `/web-app: replicas 3 → 5`,
		} {
			Expect(last).To(MatchRegexp(want), "the last frame:\n%s", last)
		}
		Expect(last).NotTo(ContainSubstring("\x1b["), "no colour off a terminal")

		// Once more without --watch: the same tree, drawn once.
		once, err := exec.CommandContext(ctx, cli, "get", "wfe/"+wfe.Name, "-n", ns, "--kubeconfig", cluster.KubeconfigPath).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", once)
		Expect(string(once)).To(ContainSubstring("step 1 scale (scale_deployment) completed"))
	})
})
