package execution_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/reconcilers/execution"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/wake"
	"kubernaut.io/stepvalidation/test/harness"
)

// managerNamespace holds the actions' ServiceAccounts (config/rbac/actions.yaml).
const managerNamespace = "kubernaut-system"

// TestReconciler drives the execution reconciler in this process, against a real
// API server (no manager binary, no webhooks: each execution is created as the
// mutating webhook would leave it, its requester recorded).
func TestReconciler(t *testing.T) {
	ctx := t.Context()
	cluster, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	c := cluster.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}}); err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cluster.KubeconfigPath,
		"apply", "-f", "../../config/rbac/actions.yaml").CombinedOutput(); err != nil {
		t.Fatalf("installing the actions' RBAC: %v\n%s", err, out)
	}
	startReconciler(t, cluster)

	t.Run("records its intent, acts once and verifies, woken by the change it made", func(t *testing.T) {
		ns := namespace(t, c)
		createDeployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		// Passes once the cache holds the scaled Deployment: its interval (1h)
		// cannot be what evaluates it again.
		ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{{
			Type: "scaled", Rego: "package scaled\nallow if input.current_replicas == 2",
			Timeout: &metav1.Duration{Duration: 2 * time.Hour}, Interval: &metav1.Duration{Duration: time.Hour},
		}}
		create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)

		affected := done.Status.ExecutionResults.ResourcesAffected
		if len(affected) != 1 || affected[0].Before["replicas"] != "1" || affected[0].After["replicas"] != "2" {
			t.Errorf("executionResults = %+v, want replicas 1 before and 2 after", affected)
		}
		if rb := done.Status.RollbackInformation; rb == nil || rb.Action != "scale_deployment" {
			t.Errorf("rollbackInformation = %+v, want a scale_deployment back", rb)
		}
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 2 || d.Generation != 2 {
			t.Errorf("Deployment replicas %d at generation %d, want 2 at generation 2 (one scale)", *d.Spec.Replicas, d.Generation)
		}
		results := done.Status.ValidationResults.PostConditionResults
		if len(results) != 1 || !results[0].Passed {
			t.Errorf("postcondition results = %+v, want one that passed", results)
		}
	})

	t.Run("a requester who may not scale is denied, and nothing acts", func(t *testing.T) {
		ns := namespace(t, c)
		createDeployment(t, c, ns, "web", 1)
		ke := scaleExecution(ns, "scale", "web", 3, "mallory")
		create(t, c, ke)
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionDenied)
		if done.Status.ExecutionResults != nil {
			t.Errorf("a denied run recorded an action: %+v", done.Status.ExecutionResults)
		}
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 1 {
			t.Errorf("Deployment scaled to %d by a denied run", *d.Spec.Replicas)
		}
	})

	t.Run("a pause holds a run before it acts; when it ends, the run validates again and acts", func(t *testing.T) {
		ns := namespace(t, c)
		createDeployment(t, c, ns, "web", 1)
		switchOn := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: commonv1alpha1.PauseConfigMap, Namespace: managerNamespace},
			Data:       map[string]string{commonv1alpha1.PauseReasonKey: "maintenance"},
		}
		create(t, c, switchOn)
		t.Cleanup(func() { _ = c.Delete(context.Background(), switchOn) })
		// The switch is read from the manager's cache: give it the time a
		// watch event takes to get there.
		time.Sleep(time.Second)

		ke := scaleExecution(ns, "scale", "web", 2, "admin")
		create(t, c, ke)
		waitPhase(t, c, ke, kev1alpha1.ExecutionPaused)
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil || *d.Spec.Replicas != 1 {
			t.Fatalf("a paused run acted: replicas %v, %v", d.Spec.Replicas, err)
		}
		if err := c.Delete(ctx, switchOn); err != nil {
			t.Fatal(err)
		}
		done := waitPhase(t, c, ke, kev1alpha1.ExecutionCompleted)
		if a := done.Status.ExecutionResults.ResourcesAffected; len(a) != 1 || a[0].After["replicas"] != "2" {
			t.Errorf("executionResults = %+v, want the scale to 2", a)
		}
	})
}

// startReconciler runs the execution reconciler as cmd/manager wires it, without
// webhooks, until the test ends.
func startReconciler(t *testing.T, cluster *harness.Harness) {
	t.Helper()
	ctx := t.Context()
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 cluster.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(ctx, engine)
	if err != nil {
		t.Fatal(err)
	}
	reviewer, err := authority.NewReviewer(cluster.Config, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := &execution.Reconciler{
		Conditions: &check.Service{Engine: engine, Library: lib, Reader: mgr.GetClient()},
		Authority:  reviewer,
		Modes:      &mode.Resolver{Default: mode.Enforce, CanaryPercent: 100, Reader: mgr.GetClient()},
		Pauses:     &pause.Resolver{Reader: mgr.GetCache(), Namespace: managerNamespace},
		Waker:      wake.New(mgr.GetCache(), mgr.GetScheme(), &corev1.Secret{}),
		Namespace:  managerNamespace,
	}
	if err := r.SetupWithManager(mgr, 2); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
}

func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "run-"}}
	create(t, c, ns)
	return ns.Name
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func createDeployment(t *testing.T, c client.Client, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	create(t, c, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	})
}

// scaleExecution is a scale_deployment run as the mutating webhook leaves it:
// with its finalizer and its requester, and no conditions of its own.
func scaleExecution(ns, name, deployment string, replicas int, requester string) *kev1alpha1.KubernetesExecution {
	who := authority.Requester{Username: requester, Groups: []string{"system:authenticated"}}
	if requester == "admin" {
		who.Groups = append(who.Groups, "system:masters")
	}
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, Finalizers: []string{kev1alpha1.Finalizer},
			Annotations: map[string]string{commonv1alpha1.RequestedByAnnotation: who.Encode()},
		},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action: "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil,
				`{"deployment":{"name":%q,"namespace":%q,"replicas":%d}}`, deployment, ns, replicas)},
		},
	}
}

// waitPhase waits for ke to reach phase and returns it then; it fails the test at
// once if ke ends in another phase.
func waitPhase(t *testing.T, c client.Client, ke *kev1alpha1.KubernetesExecution, phase kev1alpha1.ExecutionPhase) *kev1alpha1.KubernetesExecution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got kev1alpha1.KubernetesExecution
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(ke), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == phase {
			return &got
		}
		switch got.Status.Phase {
		case kev1alpha1.ExecutionCompleted, kev1alpha1.ExecutionFailed, kev1alpha1.ExecutionDenied, kev1alpha1.ExecutionRollbackReady:
			t.Fatalf("%s ended %s (%s), want %s", ke.Name, got.Status.Phase, got.Status.Message, phase)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s (%s) after 30s, want %s", ke.Name, got.Status.Phase, got.Status.Message, phase)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
