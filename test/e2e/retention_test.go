package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// Serial: the manager it runs deletes every finished run of the cluster, those of
// the specs before it too.
var _ = Describe("Finished runs", Label("retention"), Serial, func() {
	It("are deleted once kept for --finished-run-ttl, a workflow with its execution", func(ctx context.Context) {
		// Long enough for the checks below to see the completed run before it goes,
		// even on a loaded machine.
		const ttl = 10 * time.Second
		// The suite's manager gives way to one that keeps finished runs for ttl; it
		// runs again afterwards, whatever happened.
		Expect(manager.Stop()).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			stopped := manager.Stop()
			startManager(ctx)
			Expect(stopped).To(Succeed())
		})
		startManager(ctx, "--finished-run-ttl="+ttl.String())

		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 1, nil)
		wfe := scaleWorkflow(ns, "scale", "web-app", 2)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(executions(ctx, ns)).To(HaveLen(1))

		Eventually(func(g Gomega) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &workflowv1alpha1.WorkflowExecution{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the workflow: %v", err)
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(time.Now()).To(BeTemporally(">=", done.Status.CompletionTime.Add(ttl)), "deleted before its TTL")
		Expect(executions(ctx, ns)).To(BeEmpty(), "the workflow's finalizer deletes its executions first")
	})
})
