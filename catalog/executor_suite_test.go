package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/test/harness"
)

// The executors against a real control plane (kube-apiserver, kube-controller-manager
// with the deployment, statefulset, daemonset and disruption controllers, the
// scheduler, and kwok nodes), each action acting as its own ServiceAccount with the
// RBAC of config/rbac/actions.yaml applied: a rule missing from the catalog's
// Permissions fails its action's test with Forbidden.

var (
	cluster *harness.Harness
	admin   client.Client
)

// testTaint keeps the workloads of the tests off the nodes the node tests drain,
// cordon and taint; the pods meant for those nodes tolerate it.
var testTaint = corev1.Taint{Key: "executors.test/reserved", Value: "true", Effect: corev1.TaintEffectNoSchedule}

var _ = BeforeSuite(func(ctx context.Context) {
	var err error
	cluster, err = harness.Start(ctx, harness.Options{Nodes: []harness.Node{
		{Name: "worker-1", CPU: "32", Memory: "64Gi"},
		{Name: "drain-1", CPU: "8", Memory: "16Gi"},
		{Name: "drain-2", CPU: "8", Memory: "16Gi"},
	}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	admin = cluster.Client

	for _, name := range []string{"drain-1", "drain-2"} {
		var node corev1.Node
		Expect(admin.Get(ctx, client.ObjectKey{Name: name}, &node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.Taints = append(node.Spec.Taints, testTaint)
		Expect(admin.Patch(ctx, &node, patch)).To(Succeed())
	}

	Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: catalog.ServiceAccountNamespace}})).To(Succeed())
	for _, obj := range actionRBAC() {
		Expect(admin.Create(ctx, obj)).To(Succeed(), obj.GetName())
	}
	waitForActionRBAC(ctx)
}, NodeTimeout(3*time.Minute))

// actionRBAC reads the objects of config/rbac/actions.yaml.
func actionRBAC() []*unstructured.Unstructured {
	data, err := os.ReadFile(filepath.Join("..", "config", "rbac", "actions.yaml"))
	Expect(err).NotTo(HaveOccurred())
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := decoder.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objects
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(u.Object) > 0 {
			objects = append(objects, &u)
		}
	}
}

// waitForActionRBAC waits until the API server's authorizer has seen the bindings:
// each ServiceAccount is allowed its action's first rule.
func waitForActionRBAC(ctx context.Context) {
	for _, action := range catalog.Names() {
		rules := mustAction(action).Permissions
		Eventually(func() bool { return allowed(ctx, action, rules[0]) }).WithContext(ctx).
			WithTimeout(30*time.Second).Should(BeTrue(), action)
	}
}

// allowed asks the API server whether action's ServiceAccount may use rule's first
// verb on its first resource.
func allowed(ctx context.Context, action string, rule rbacv1.PolicyRule) bool {
	res, subresource, _ := strings.Cut(rule.Resources[0], "/")
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: mustAction(action).Username(catalog.ServiceAccountNamespace),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + catalog.ServiceAccountNamespace,
			"system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: rule.APIGroups[0], Resource: res, Subresource: subresource, Verb: rule.Verbs[0],
		},
	}}
	Expect(admin.Create(ctx, review)).To(Succeed())
	return review.Status.Allowed
}

// as returns a client that impersonates action's ServiceAccount.
var as = func() func(action string) client.Client {
	var mu sync.Mutex
	clients := map[string]client.Client{}
	return func(action string) client.Client {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[action]; ok {
			return c
		}
		c, err := client.New(mustAction(action).ImpersonatingConfig(cluster.Config, catalog.ServiceAccountNamespace),
			client.Options{Scheme: cluster.Scheme})
		Expect(err).NotTo(HaveOccurred())
		clients[action] = c
		return c
	}
}()

// run is one run of an action, as its ServiceAccount.
type run struct {
	action    string
	params    map[string]any
	namespace string // the KubernetesExecution's
	target    catalog.ObjectRef
	before    map[string]string
	after     map[string]string
}

// capture runs the action's Capture and expects it to succeed.
func capture(ctx context.Context, action string, params map[string]any, namespace string) *run {
	GinkgoHelper()
	e, ok := catalog.Lookup(action)
	Expect(ok).To(BeTrue(), action)
	r := &run{action: action, params: params, namespace: namespace}
	var err error
	r.target, r.before, err = e.Capture(ctx, as(action), params, namespace)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// act runs the action's Act with the before values captured.
func (r *run) act(ctx context.Context, dryRun bool) (map[string]string, error) {
	e, _ := catalog.Lookup(r.action)
	return e.Act(ctx, as(r.action), r.params, r.before, r.namespace, dryRun)
}

// actOK runs Act and expects it to succeed.
func (r *run) actOK(ctx context.Context, dryRun bool) map[string]string {
	GinkgoHelper()
	after, err := r.act(ctx, dryRun)
	Expect(err).NotTo(HaveOccurred())
	return after
}

// exercise captures, runs a dry run (observe sees no change), acts (observe sees a
// change) and acts again with the same before values (observe sees nothing more).
func exercise(ctx context.Context, action string, params map[string]any, namespace string, observe func() string) *run {
	GinkgoHelper()
	r := capture(ctx, action, params, namespace)
	unchanged := observe()
	r.actOK(ctx, true)
	Expect(observe()).To(Equal(unchanged), "the dry run changed the target")
	r.after = r.actOK(ctx, false)
	changed := observe()
	Expect(changed).NotTo(Equal(unchanged), "Act changed nothing")
	again := r.actOK(ctx, false)
	Expect(again).To(Equal(r.after))
	Expect(observe()).To(Equal(changed), "a second Act with the same before values changed the target again")
	return r
}

// undo runs the catalog's inverse of r, built from its before values, through the
// inverse action's executor.
func undo(ctx context.Context, r *run) *run {
	GinkgoHelper()
	a, _ := catalog.Lookup(r.action)
	Expect(a.Inverse).NotTo(BeNil(), r.action+" has no inverse")
	rollback, err := a.Inverse(r.params, r.before)
	Expect(err).NotTo(HaveOccurred())
	u := capture(ctx, rollback.Action, rollback.Parameters, r.namespace)
	u.after = u.actOK(ctx, false)
	return u
}

// expectMissing checks that Capture of a target that does not exist fails with
// NotFound, naming the target.
func expectMissing(ctx context.Context, action string, params map[string]any, target string) {
	GinkgoHelper()
	e, _ := catalog.Lookup(action)
	_, _, err := e.Capture(ctx, as(action), params, "default")
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsNotFound(err)).To(BeTrue(), err.Error())
	Expect(err.Error()).To(ContainSubstring(target))
}

// mustAction returns the catalog action named name.
func mustAction(name string) *catalog.Action {
	GinkgoHelper()
	a, ok := catalog.Lookup(name)
	Expect(ok).To(BeTrue(), "no catalog action %s", name)
	return a
}

// jsonOf renders what observe functions compare.
func jsonOf(v any) string {
	data, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "executors-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func target(name, namespace string, extra ...any) map[string]any {
	t := map[string]any{"name": name, "namespace": namespace}
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i].(string)] = extra[i+1]
	}
	return t
}

// podTemplate is a one-container template labelled app=name.
func podTemplate(name, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: image,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		}}},
	}
}

func newDeployment(ctx context.Context, ns, name string, replicas int32, image string) *appsv1.Deployment {
	GinkgoHelper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, image),
		},
	}
	Expect(admin.Create(ctx, d)).To(Succeed())
	return d
}

// waitForRevision waits until the deployment controller gives the Deployment revision.
func waitForRevision(ctx context.Context, ns, name, revision string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
		g.Expect(d.Annotations).To(HaveKeyWithValue("deployment.kubernetes.io/revision", revision))
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
}

// podsOf lists the pods labelled app=name that are not being deleted.
func podsOf(ctx context.Context, ns, name string) []corev1.Pod {
	GinkgoHelper()
	var list corev1.PodList
	Expect(admin.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": name})).To(Succeed())
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

// waitForReadyPods waits until n pods labelled app=name are Ready, and returns them.
func waitForReadyPods(ctx context.Context, ns, name string, n int) []corev1.Pod {
	GinkgoHelper()
	var ready []corev1.Pod
	Eventually(func(g Gomega) {
		ready = nil
		for _, p := range podsOf(ctx, ns, name) {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = append(ready, p)
				}
			}
		}
		g.Expect(ready).To(HaveLen(n))
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	return ready
}

// gone reports whether the pod of that UID no longer exists or is being deleted.
func gone(ctx context.Context, pod corev1.Pod) bool {
	var now corev1.Pod
	err := admin.Get(ctx, client.ObjectKeyFromObject(&pod), &now)
	if apierrors.IsNotFound(err) {
		return true
	}
	Expect(err).NotTo(HaveOccurred())
	return now.UID != pod.UID || now.DeletionTimestamp != nil
}
