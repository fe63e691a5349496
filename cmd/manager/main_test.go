package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// warningCollector keeps the admission warnings the API server returns.
type warningCollector struct{ warnings []string }

func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.warnings = append(w.warnings, text)
}

// TestManagerServesTheWebhooks runs the manager as main does, against a real API
// server whose webhook configurations point at it, and checks that it rejects,
// mutates and preflights.
func TestManagerServesTheWebhooks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := harness.Start(ctx, harness.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Stop() }()
	t.Setenv("KUBECONFIG", h.KubeconfigPath)

	port, certDir := h.WebhookServing()
	managerCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(managerCtx, options{
			metricsAddr: "0", probeAddr: "0", webhookPort: port, certDir: certDir,
			webhookClientCA: h.WebhookClientCA(), webhookClientCN: harness.WebhookClientCN,
			namespace: "kubernaut-system", evalDeadline: time.Second, preflightBudget: time.Second,
			validationMode: "enforce", canaryPercent: 100, replicaCeiling: 100, concurrency: 2,
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("manager: %v", err)
		}
	}()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "manager-"}}
	if err := h.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	workflow := func(action string) *workflowv1alpha1.WorkflowExecution {
		return &workflowv1alpha1.WorkflowExecution{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "wfe-", Namespace: ns.Name},
			Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
				Steps: []workflowv1alpha1.WorkflowStep{{StepNumber: 1, Action: action, Parameters: &runtime.RawExtension{
					Raw: []byte(fmt.Sprintf(`{"deployment":{"name":"web","namespace":%q,"replicas":2}}`, ns.Name))}}},
			}},
		}
	}

	// The webhooks answer once the manager serves them; until then the API server
	// fails the request (failurePolicy Fail).
	deadline := time.Now().Add(time.Minute)
	for {
		err = h.Client.Create(ctx, workflow("scale_everything"))
		if apierrors.IsInvalid(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.workflowDefinition.steps[0].action") {
		t.Fatalf("an unknown action: want an Invalid error naming the field, got %v", err)
	}

	wfe := workflow("scale_deployment")
	if err := h.Client.Create(ctx, wfe); err != nil {
		t.Fatal(err)
	}
	if n := len(wfe.Spec.WorkflowDefinition.Steps[0].PreConditions); n != 3 {
		t.Errorf("the catalog's 3 step preconditions were not injected: %d", n)
	}

	warnings := &warningCollector{}
	cfg := rest.CopyConfig(h.Config)
	cfg.WarningHandler = warnings
	c, err := client.New(cfg, client.Options{Scheme: h.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, workflow("scale_deployment"), client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	want := "step 1: precondition deployment_exists (required) would fail now: Deployment web not found in namespace " + ns.Name
	found := false
	for _, w := range warnings.warnings {
		found = found || w == want
	}
	if !found {
		t.Errorf("dry run: want the warning %q, got %q", want, warnings.warnings)
	}
}
