// Package reconcilertest runs both reconcilers in the test's process against a
// real API server (test/harness), wired as cmd/manager wires them but without the
// webhooks: a test creates its objects as the mutating webhook would leave them,
// with their requester recorded (Requested).
package reconcilertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/internal/metricstest"
	"kubernaut.io/stepvalidation/reconcilers/execution"
	"kubernaut.io/stepvalidation/reconcilers/mode"
	"kubernaut.io/stepvalidation/reconcilers/pause"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/retention"
	"kubernaut.io/stepvalidation/reconcilers/wake"
	"kubernaut.io/stepvalidation/reconcilers/workflow"
	"kubernaut.io/stepvalidation/test/harness"
)

// ManagerNamespace holds the actions' ServiceAccounts (config/rbac/actions.yaml)
// and the pause switch.
const ManagerNamespace = "kubernaut-system"

// Clock is the reconcilers' clock in a test: real time, moved ahead by whatever the
// test advanced it. Time still flows, so a short real timeout still ends; a long
// one ends once the test advances past it and something wakes the reconciler.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is real time plus the advances so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock ahead by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// FinishedRunTTL is the reconcilers' --finished-run-ttl: by the test clock, longer
// than all the clock advances of the other tests together, so a test sees a run
// deleted only by advancing past it.
const FinishedRunTTL = 24 * time.Hour

// Env is what Start started: an admin client, and the reconcilers' clock.
type Env struct {
	client.Client
	Clock *Clock
}

// Start starts an API server, installs the actions' ServiceAccounts and roles, and
// runs both reconcilers until the test ends.
func Start(t *testing.T) Env {
	t.Helper()
	ctx := t.Context()
	cluster := Cluster(t)
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 cluster.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	checker := Checker(t, cluster, mgr.GetClient())
	checker.Mapper = mgr.GetRESTMapper()
	service, reviewer := checker.Conditions, checker.Authority
	modes := &mode.Resolver{Default: mode.Enforce, CanaryPercent: 100, Reader: mgr.GetClient()}
	pauses := &pause.Resolver{Reader: mgr.GetCache(), Namespace: ManagerNamespace}
	waker := wake.New(mgr.GetCache(), mgr.GetScheme(), &corev1.Secret{}, &corev1.ConfigMap{})
	clock := &Clock{}
	retain := retention.Policy{TTL: FinishedRunTTL}
	executions := &execution.Reconciler{
		Now: clock.Now, Conditions: service, Preflight: checker, Authority: reviewer, Modes: modes, Pauses: pauses, Waker: waker,
		Retention: retain,
	}
	if err := executions.SetupWithManager(mgr, 2); err != nil {
		t.Fatal(err)
	}
	workflows := &workflow.Reconciler{
		Now: clock.Now, Conditions: service, Preflight: checker, Authority: reviewer, Modes: modes, Pauses: pauses, Waker: waker,
		Retention: retain,
	}
	if err := workflows.SetupWithManager(ctx, mgr, 2); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	return Env{Client: cluster.Client, Clock: clock}
}

// Cluster starts an API server with the manager's namespace and the actions'
// ServiceAccounts and roles (config/rbac/actions.yaml), until the test ends.
func Cluster(t *testing.T) *harness.Harness {
	t.Helper()
	cluster, err := harness.Start(t.Context(), harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	if err := cluster.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ManagerNamespace}}); err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	_, self, _, _ := runtime.Caller(0)
	actions := filepath.Join(filepath.Dir(self), "..", "..", "config", "rbac", "actions.yaml")
	if out, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cluster.KubeconfigPath,
		"apply", "-f", actions).CombinedOutput(); err != nil {
		t.Fatalf("installing the actions' RBAC: %v\n%s", err, out)
	}
	return cluster
}

// Checker returns the preflight checks as the manager wires them, reading facts
// from reader: the embedded policies, an authority reviewer that keeps answers
// for a second, and the actions' ServiceAccounts in ManagerNamespace.
func Checker(t *testing.T, cluster *harness.Harness, reader client.Reader) *preflight.Checker {
	t.Helper()
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(t.Context(), engine)
	if err != nil {
		t.Fatal(err)
	}
	reviewer, err := authority.NewReviewer(cluster.Config, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	service := &check.Service{Engine: engine, Library: lib, Reader: reader,
		Objects: &objects.Reader{Client: cluster.Client, Mapper: cluster.Client.RESTMapper(), Reviewer: reviewer}}
	return &preflight.Checker{
		Authority: reviewer, Conditions: service,
		Config: cluster.Config, Scheme: cluster.Scheme, Mapper: cluster.Client.RESTMapper(), Namespace: ManagerNamespace,
	}
}

// Namespace creates a namespace of the test's own.
func Namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "run-"}}
	Create(t, c, ns)
	return ns.Name
}

// Create creates obj and fails the test when it cannot.
func Create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// Deployment creates Deployment ns/name of replicas. Without a
// kube-controller-manager, it has no pods: facts about its spec only.
func Deployment(t *testing.T, c client.Client, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	Create(t, c, &appsv1.Deployment{
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

// Replicas returns spec.replicas of Deployment ns/name.
func Replicas(t *testing.T, c client.Client, ns, name string) int32 {
	t.Helper()
	var d appsv1.Deployment
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// Requested returns annotations recording requester as the mutating webhook
// does; admin is in system:masters, anyone else only authenticated.
func Requested(requester string) map[string]string {
	who := authority.Requester{Username: requester, Groups: []string{"system:authenticated"}}
	if requester == "admin" {
		who.Groups = append(who.Groups, "system:masters")
	}
	return map[string]string{commonv1alpha1.RequestedByAnnotation: who.Encode()}
}

// ScaleParameters are scale_deployment's parameters.
func ScaleParameters(ns, deployment string, replicas int) []byte {
	return fmt.Appendf(nil, `{"deployment":{"name":%q,"namespace":%q,"replicas":%d}}`, deployment, ns, replicas)
}

// Eventually calls done every 100ms until it reports true, for at most 30s; an
// error from done (a final state other than the one awaited) fails the test at
// once.
func Eventually(t *testing.T, what string, done func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := done()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Poke changes an annotation of obj, which wakes its reconciler (annotations are
// not status): after Clock.Advance, a deadline in the future of real time is due.
func Poke(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"test.kubernaut.io/poke":%q}}}`, time.Now().Format(time.RFC3339Nano))
	if err := c.Patch(t.Context(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("poking %s: %v", obj.GetName(), err)
	}
}

// EventReasons returns the reasons of the Events recorded about the object named
// name in namespace ns, oldest first.
func EventReasons(t *testing.T, c client.Client, ns, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := c.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(list.Items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// WaitEvent waits until an Event of reason is recorded about ns/name.
func WaitEvent(t *testing.T, c client.Client, ns, name, reason string) {
	t.Helper()
	Eventually(t, "Event "+reason+" about "+name, func() (bool, error) {
		return slices.Contains(EventReasons(t, c, ns, name), reason), nil
	})
}

// RefuseScales makes the API server refuse every real change to a Deployment's
// scale in ns, while accepting dry runs: the dry run passes, acting fails, until
// lift is called (or the test ends).
func RefuseScales(t *testing.T, c client.Client, ns string) (lift func()) {
	t.Helper()
	name := "refuse-scales-" + ns
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments", "deployments/scale"}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "request.dryRun == true", Message: RefusedMessage}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns},
			}},
		},
	}
	Create(t, c, policy)
	Create(t, c, binding)
	lift = func() {
		_ = c.Delete(context.Background(), binding)
		_ = c.Delete(context.Background(), policy)
	}
	t.Cleanup(lift)
	// The policy applies once the API server has loaded it: probe with a
	// Deployment of its own until a real change is refused.
	Deployment(t, c, ns, "probe", 1)
	Eventually(t, "the API server refusing changes in "+ns, func() (bool, error) {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":2}}`))
		err := c.Patch(t.Context(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}}, patch)
		return err != nil && strings.Contains(err.Error(), RefusedMessage), nil
	})
	return lift
}

// RefusedMessage is the API server's message when RefuseScales refuses a change.
const RefusedMessage = "frozen for the test"

// PauseNamespace sets the pause annotation of namespace ns to reason, or removes
// it when reason is "".
func PauseNamespace(t *testing.T, c client.Client, ns, reason string) {
	t.Helper()
	value := "null"
	if reason != "" {
		value = strconv.Quote(reason)
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%s}}}`, commonv1alpha1.PauseAnnotation, value)
	if err := c.Patch(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

// Annotate sets annotations on obj, as a person allowed to (through the webhook)
// would.
func Annotate(t *testing.T, c client.Client, obj client.Object, annotations map[string]string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(t.Context(), obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		t.Fatalf("annotating %s: %v", obj.GetName(), err)
	}
}

// Expire moves the clock to a minute before the finished run's FinishedRunTTL and
// checks that a reconcile keeps it, then past the TTL, and waits until a reconcile
// deletes it, counted under kind in kubernaut_finished_runs_deleted_total. It moves
// the clock a day ahead: a test calls it last.
func (e Env) Expire(t *testing.T, run client.Object, kind string) {
	t.Helper()
	deleted := func() float64 {
		n, err := metricstest.Sum("kubernaut_finished_runs_deleted_total", map[string]string{"kind": kind})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deleted()
	key := client.ObjectKeyFromObject(run)
	e.Clock.Advance(FinishedRunTTL - time.Minute)
	Poke(t, e.Client, run)
	time.Sleep(time.Second) // the reconcile the poke wakes
	if err := e.Get(t.Context(), key, run); err != nil {
		t.Fatalf("a minute before its finished-run TTL, %s: %v", key, err)
	}
	e.Clock.Advance(time.Minute)
	Poke(t, e.Client, run)
	Eventually(t, fmt.Sprintf("%s deleted after its finished-run TTL", key), func() (bool, error) {
		err := e.Get(t.Context(), key, run)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if got := deleted() - before; got != 1 {
		t.Errorf("kubernaut_finished_runs_deleted_total{kind=%q} grew by %v, want 1", kind, got)
	}
}
