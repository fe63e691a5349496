package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/samples"
	"kubernaut.io/stepvalidation/test/harness"
)

// The replicas' leader election: short, so that a takeover takes seconds.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
	// takeoverMargin is what a takeover may take beyond the lease duration: the
	// follower notices the expiry on its next retry, then writes the Lease.
	takeoverMargin = 3 * time.Second

	leaseName = "kubernaut-manager.kubernaut.io"
	// scaleUser is the identity scale_deployment acts as (config/rbac/actions.yaml).
	scaleUser = "system:serviceaccount:" + managerNamespace + ":scale-deployment-sa"
)

// webhookBalancer stands where the installed webhook configurations expect the
// webhooks, in front of every replica, as a Service in front of the manager's pods
// does: it passes each TCP connection (TLS and the API server's client certificate
// go through untouched) to the first replica that accepts it. Down refuses every
// connection, as when no replica serves.
type webhookBalancer struct {
	listener net.Listener
	mu       sync.Mutex
	backends []int // webhook ports of the replicas
	down     bool
	open     map[net.Conn]bool // the connections passed on, both ends
	wg       sync.WaitGroup
}

func startWebhookBalancer(ctx context.Context) *webhookBalancer {
	GinkgoHelper()
	port, _ := cluster.WebhookServing()
	// The host the API server calls, from an installed configuration.
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	Expect(k8s.Get(ctx, client.ObjectKey{Name: harness.ValidatingWebhookConfiguration}, &cfg)).To(Succeed())
	Expect(cfg.Webhooks).NotTo(BeEmpty())
	u, err := url.Parse(ptr.Deref(cfg.Webhooks[0].ClientConfig.URL, ""))
	Expect(err).NotTo(HaveOccurred())
	Expect(u.Port()).To(Equal(strconv.Itoa(port)))
	b := &webhookBalancer{open: map[net.Conn]bool{}}
	// The suite's manager has just released the port.
	Eventually(func() error {
		b.listener, err = net.Listen("tcp", net.JoinHostPort(u.Hostname(), u.Port()))
		return err
	}).WithContext(ctx).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			conn, err := b.listener.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.pass(conn)
			}()
		}
	}()
	return b
}

func (b *webhookBalancer) pass(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	b.mu.Lock()
	down, backends := b.down, append([]int(nil), b.backends...)
	b.mu.Unlock()
	if down {
		return
	}
	for _, port := range backends {
		upstream, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			continue // a replica that is gone
		}
		if !b.track(conn, upstream) {
			_ = upstream.Close()
			return
		}
		defer b.untrack(conn, upstream)
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(upstream, conn); done <- struct{}{} }()
		go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
		<-done
		_ = upstream.Close()
		return
	}
}

// track records a connection passed on; false when the webhooks went down meanwhile.
func (b *webhookBalancer) track(conns ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return false
	}
	for _, c := range conns {
		b.open[c] = true
	}
	return true
}

func (b *webhookBalancer) untrack(conns ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range conns {
		delete(b.open, c)
	}
}

func (b *webhookBalancer) add(port int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = append(b.backends, port)
}

func (b *webhookBalancer) remove(port int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range b.backends {
		if p == port {
			b.backends = append(b.backends[:i], b.backends[i+1:]...)
			return
		}
	}
}

// setDown takes the webhooks down, cutting the connections open (the API server's
// kept-alive ones included), or brings them back.
func (b *webhookBalancer) setDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
	if down {
		for c := range b.open {
			_ = c.Close()
		}
	}
}

func (b *webhookBalancer) close() {
	_ = b.listener.Close()
	b.wg.Wait()
}

// replica is one of the manager processes run with leader election.
type replica struct {
	name        string
	process     *harness.Process
	webhookPort int
}

// acquired reports whether the replica's log says it took the lease. A replica
// takes it at most once: one that loses it exits.
func (r *replica) acquired() bool {
	data, err := os.ReadFile(r.process.LogPath())
	return err == nil && strings.Contains(strings.ToLower(string(data)), "successfully acquired lease")
}

// replicaSet runs the manager replicas behind the balancer.
type replicaSet struct {
	balancer *webhookBalancer
	running  []*replica
	started  int
	all      []*replica
}

// start runs one more replica and waits until it is ready.
func (s *replicaSet) start(ctx context.Context) *replica {
	GinkgoHelper()
	s.started++
	_, certDir := cluster.WebhookServing()
	r := &replica{name: fmt.Sprintf("manager-replica-%d", s.started), webhookPort: freePort()}
	probe := freePort()
	var err error
	r.process, err = cluster.StartProcess(r.name, managerBinary,
		"--webhook-port="+strconv.Itoa(r.webhookPort), "--webhook-cert-dir="+certDir,
		"--webhook-client-ca="+cluster.WebhookClientCA(), "--webhook-client-cn="+harness.WebhookClientCN,
		"--validating-webhook-configuration="+harness.ValidatingWebhookConfiguration,
		"--namespace="+managerNamespace, "--leader-elect=true",
		"--leader-election-lease-duration="+leaseDuration.String(),
		"--leader-election-renew-deadline="+renewDeadline.String(),
		"--leader-election-retry-period="+retryPeriod.String(),
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probe),
		"--concurrency=4", "--authorization-cache-ttl=1s")
	Expect(err).NotTo(HaveOccurred())
	s.all = append(s.all, r)
	Eventually(func() error {
		if err := r.process.Exited(); err != nil {
			return StopTrying(err.Error())
		}
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probe))
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", res.Status)
		}
		return nil
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	s.running = append(s.running, r)
	s.balancer.add(r.webhookPort)
	return r
}

// leader waits until exactly one running replica holds the lease, by its own log,
// and the Lease names a holder, and returns that replica and the holder identity.
func (s *replicaSet) leader(ctx context.Context) (*replica, string) {
	GinkgoHelper()
	var leader *replica
	var holder string
	Eventually(func(g Gomega) {
		leader = nil
		for _, r := range s.running {
			g.Expect(r.process.Exited()).To(Succeed())
			if r.acquired() {
				g.Expect(leader).To(BeNil(), "two running replicas say they hold the lease")
				leader = r
			}
		}
		g.Expect(leader).NotTo(BeNil(), "no running replica holds the lease")
		holder = leaseHolder(ctx, g)
		g.Expect(holder).NotTo(BeEmpty())
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	return leader, holder
}

// killLeader kills the leader with SIGKILL, as a crash would, and measures how long
// the Lease takes to name another holder; the replica that took it says so in its
// log. A replacement replica is started afterwards, so that two run again.
func (s *replicaSet) killLeader(ctx context.Context, kill func(*replica)) time.Duration {
	GinkgoHelper()
	old, holder := s.leader(ctx)
	killedAt := time.Now()
	kill(old)
	s.balancer.remove(old.webhookPort)
	for i, r := range s.running {
		if r == old {
			s.running = append(s.running[:i], s.running[i+1:]...)
			break
		}
	}
	var takeover time.Duration
	Eventually(func(g Gomega) {
		now := leaseHolder(ctx, g)
		g.Expect(now).NotTo(BeElementOf(holder, ""))
		takeover = time.Since(killedAt)
	}).WithContext(ctx).WithTimeout(leaseDuration + 20*time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	next, _ := s.leader(ctx)
	Expect(next).NotTo(BeIdenticalTo(old))
	GinkgoWriter.Printf("%s took the lease %s after %s was killed\n", next.name, takeover.Round(10*time.Millisecond), old.name)
	AddReportEntry("takeover", fmt.Sprintf("%s -> %s in %s", old.name, next.name, takeover.Round(10*time.Millisecond)))
	Expect(takeover).To(BeNumerically("<", leaseDuration+takeoverMargin), "the follower took the lease late")
	s.start(ctx)
	return takeover
}

// replaceExited drops the running replicas that exited, as one that could not
// renew the lease does (its pod would restart), and starts as many new ones. It
// returns the names of those that exited.
func (s *replicaSet) replaceExited(ctx context.Context) []string {
	GinkgoHelper()
	var exited []string
	var running []*replica
	for _, r := range s.running {
		if r.process.Exited() != nil {
			exited = append(exited, r.name)
			s.balancer.remove(r.webhookPort)
			continue
		}
		running = append(running, r)
	}
	s.running = running
	for range exited {
		s.start(ctx)
	}
	return exited
}

func leaseHolder(ctx context.Context, g Gomega) string {
	var lease coordinationv1.Lease
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: managerNamespace, Name: leaseName}, &lease)).To(Succeed())
	return ptr.Deref(lease.Spec.HolderIdentity, "")
}

// scalePatch is one write of a Deployment's scale subresource as the API server's
// admission saw it.
type scalePatch struct {
	User       string
	Deployment string
	Replicas   int32
	DryRun     bool
	Allowed    bool // false for a request the tap held and refused
}

// scaleTap is a validating webhook served by the test, for the writes of the scale
// of Deployments in one namespace: it records them (the API server's account of what
// the action did) and holds the first real write to an armed replica count until
// the test has killed the manager that sent it, then refuses it: a crash with the
// intent recorded and the action not yet done.
type scaleTap struct {
	server *httptest.Server
	holds  chan chan struct{}
	stop   chan struct{}

	mu      sync.Mutex
	patches []scalePatch
	armed   map[int32]bool
}

func startScaleTap(ctx context.Context, ns string, armed ...int32) *scaleTap {
	GinkgoHelper()
	tap := &scaleTap{holds: make(chan chan struct{}), stop: make(chan struct{}), armed: map[int32]bool{}}
	for _, n := range armed {
		tap.armed[n] = true
	}
	tap.server = httptest.NewTLSServer(http.HandlerFunc(tap.serve))
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tap.server.Certificate().Raw})
	config := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-scale-tap-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "deployment-scale.tap.e2e.kubernaut.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(tap.server.URL + "/tap"), CABundle: caBundle},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"},
					Resources: []string{"deployments/scale"}},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			// Fail: a write the tap did not see is refused, so its record is complete.
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](20),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	Expect(k8s.Create(ctx, config)).To(Succeed())
	DeferCleanup(func(ctx context.Context) {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, config))).To(Succeed())
		close(tap.stop)
		tap.server.Close()
	})
	// Wait until the API server calls it: a dry-run write of a scale reaches it.
	var deployments appsv1.DeploymentList
	Expect(k8s.List(ctx, &deployments, client.InNamespace(ns))).To(Succeed())
	Expect(deployments.Items).NotTo(BeEmpty())
	d := deployments.Items[0]
	Eventually(func(g Gomega) {
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: *d.Spec.Replicas}}
		g.Expect(k8s.SubResource("scale").Update(ctx, &d, client.WithSubResourceBody(scale), client.DryRunAll)).To(Succeed())
		g.Expect(tap.Patches()).NotTo(BeEmpty())
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	tap.mu.Lock()
	tap.patches = nil
	tap.mu.Unlock()
	return tap
}

func (t *scaleTap) serve(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("decoding the AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}
	req := review.Request
	var scale autoscalingv1.Scale
	_ = json.Unmarshal(req.Object.Raw, &scale)
	p := scalePatch{User: req.UserInfo.Username, Deployment: req.Name, Replicas: scale.Spec.Replicas,
		DryRun: ptr.Deref(req.DryRun, false), Allowed: true}
	t.mu.Lock()
	hold := !p.DryRun && p.User == scaleUser && t.armed[p.Replicas]
	if hold {
		delete(t.armed, p.Replicas)
	}
	t.mu.Unlock()
	if hold {
		release := make(chan struct{})
		select {
		case t.holds <- release:
			select {
			case <-release:
			case <-t.stop:
			}
		case <-t.stop:
		}
		p.Allowed = false
	}
	t.mu.Lock()
	t.patches = append(t.patches, p)
	t.mu.Unlock()
	review.Response = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: p.Allowed}
	if !p.Allowed {
		review.Response.Result = &metav1.Status{Message: "e2e: the manager was killed while this request was in flight"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}

func (t *scaleTap) Patches() []scalePatch {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]scalePatch(nil), t.patches...)
}

// actions returns the real writes of the action's ServiceAccount: the replica counts
// the API server admitted, and how many it refused.
func (t *scaleTap) actions() (admitted []int32, refused int) {
	for _, p := range t.Patches() {
		switch {
		case p.DryRun || p.User != scaleUser:
		case p.Allowed:
			admitted = append(admitted, p.Replicas)
		default:
			refused++
		}
	}
	return admitted, refused
}

// held waits for the armed write.
func (t *scaleTap) held(ctx context.Context, timeout time.Duration) chan struct{} {
	GinkgoHelper()
	select {
	case release := <-t.holds:
		return release
	case <-time.After(timeout):
		Fail(fmt.Sprintf("the armed scale write did not come within %s; writes seen: %+v", timeout, t.Patches()))
	case <-ctx.Done():
		Fail("interrupted")
	}
	return nil
}

// deploymentRecord is the Deployment's own account of its spec changes: its
// generation, and its ReplicaSets (scaling creates none).
func deploymentRecord(ctx context.Context, ns, name string) (generation int64, replicaSets int) {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	var sets appsv1.ReplicaSetList
	Expect(k8s.List(ctx, &sets, client.InNamespace(ns), client.MatchingLabels(d.Spec.Selector.MatchLabels))).To(Succeed())
	return d.Generation, len(sets.Items)
}

// expectSpecChanges checks, through the Deployment, that its spec changed exactly
// changes times since generation before, and stays so.
func expectSpecChanges(ctx context.Context, ns, name string, before int64, changes int) {
	GinkgoHelper()
	Consistently(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
		g.Expect(d.Generation).To(Equal(before + int64(changes)))
	}).WithContext(ctx).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	_, sets := deploymentRecord(ctx, ns, name)
	Expect(sets).To(Equal(1), "scaling creates no ReplicaSet")
}

var _ = Describe("Manager failover", Label("failover"), Serial, Ordered, func() {
	var set *replicaSet
	var takeovers []time.Duration

	BeforeAll(func(ctx context.Context) {
		// Two replicas with leader election replace the suite's manager; the suite's
		// manager runs again afterwards, whatever happened.
		Expect(manager.Stop()).To(Succeed())
		set = &replicaSet{}
		DeferCleanup(func(ctx context.Context) {
			for _, r := range set.all {
				r.process.Kill()
			}
			if set.balancer != nil {
				set.balancer.close()
			}
			var ts []string
			for _, t := range takeovers {
				ts = append(ts, t.Round(10*time.Millisecond).String())
			}
			AddReportEntry("takeover times", strings.Join(ts, ", "))
			startManager(ctx)
		})
		set.balancer = startWebhookBalancer(ctx)
		set.start(ctx)
		set.start(ctx)
		set.leader(ctx)
	})

	JustAfterEach(func() {
		if CurrentSpecReport().Failed() {
			for _, r := range set.all {
				AddReportEntry(r.name+" log", r.process.LogTail())
			}
		}
	})

	killLeader := func(ctx context.Context) {
		GinkgoHelper()
		takeovers = append(takeovers, set.killLeader(ctx, func(r *replica) { r.process.Kill() }))
	}

	It("with the intent recorded and the scale not yet written: the other replica takes over and scales once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		createDeployment(ctx, ns, "web", 3, nil)
		gen0, _ := deploymentRecord(ctx, ns, "web")
		tap := startScaleTap(ctx, ns, 5)

		ke := scaleExecution(ns, "scale-web", "web", 5)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		release := tap.held(ctx, time.Minute)

		// The leader recorded its intent and is writing the scale.
		var cur kev1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), &cur)).To(Succeed())
		Expect(cur.Status.Phase).To(Equal(kev1alpha1.ExecutionExecuting))
		Expect(cur.Status.ExecutionResults).NotTo(BeNil())
		Expect(cur.Status.ExecutionResults.ResourcesAffected).To(ConsistOf(HaveField("Before", HaveKeyWithValue("replicas", "3"))))
		Expect(replicas(ctx, ns, "web")).To(Equal(int32(3)))

		killLeader(ctx)
		close(release)

		done := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, 2*time.Minute)
		Expect(done.Status.ExecutionResults.ResourcesAffected).To(ConsistOf(And(
			HaveField("Before", HaveKeyWithValue("replicas", "3")), HaveField("After", HaveKeyWithValue("replicas", "5")))))
		waitReady(ctx, ns, "web", 5)
		admitted, refused := tap.actions()
		Expect(refused).To(Equal(1), "the write in flight when the leader died")
		Expect(admitted).To(Equal([]int32{5}), "exactly one scale went through: %+v", tap.Patches())
		expectSpecChanges(ctx, ns, "web", gen0, 1)
	})

	It("mid-verification: the other replica goes on verifying, does not act again, and completes", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		// The new pods wait, Pending, until openGates: the run stays in verifying.
		createGatedDeployment(ctx, ns, "web", 3)
		gen0, _ := deploymentRecord(ctx, ns, "web")
		tap := startScaleTap(ctx, ns)

		ke := scaleExecution(ns, "scale-web", "web", 5)
		ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{
			condition("desired_replicas_running", samples.SeedDesiredReplicasRunning, true, 2*time.Minute)}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionVerifying, time.Minute)

		killLeader(ctx)
		// The new leader picks the run up where it was.
		Consistently(func(g Gomega) {
			var cur kev1alpha1.KubernetesExecution
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), &cur)).To(Succeed())
			g.Expect(cur.Status.Phase).To(Equal(kev1alpha1.ExecutionVerifying))
		}).WithContext(ctx).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		openGates(ctx, ns)

		waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, 2*time.Minute)
		waitReady(ctx, ns, "web", 5)
		admitted, refused := tap.actions()
		Expect(refused).To(BeZero())
		Expect(admitted).To(Equal([]int32{5}), "exactly one scale went through: %+v", tap.Patches())
		expectSpecChanges(ctx, ns, "web", gen0, 1)
	})

	It("mid-rollback: the other replica finishes the rollback, scaling back once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		createDeployment(ctx, ns, "web", 3, nil)
		gen0, _ := deploymentRecord(ctx, ns, "web")
		// The rollback's write back to 3 is held.
		tap := startScaleTap(ctx, ns, 3)

		wfe := scaleWorkflow(ns, "scale-and-undo", "web", 4)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = []commonv1alpha1.ValidationCondition{
			condition("impossible", "package custom.impossible\nimport rego.v1\nallow if input.current_replicas == 999\n", true, 3*time.Second)}
		wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackAutomatic
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		release := tap.held(ctx, 2*time.Minute)

		var rollback kev1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale-and-undo-rollback-1"}, &rollback)).To(Succeed())
		Expect(rollback.Status.Phase).To(Equal(kev1alpha1.ExecutionExecuting))
		Expect(rollback.Status.ExecutionResults).NotTo(BeNil())
		Expect(replicas(ctx, ns, "web")).To(Equal(int32(4)))

		killLeader(ctx)
		close(release)

		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		Expect(failed.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepRolledBack))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(&rollback), &rollback)).To(Succeed())
		Expect(rollback.Status.Phase).To(Equal(kev1alpha1.ExecutionCompleted))
		Expect(names(executions(ctx, ns))).To(ConsistOf("scale-and-undo-step-1", "scale-and-undo-rollback-1"))
		waitReady(ctx, ns, "web", 3)
		admitted, refused := tap.actions()
		Expect(refused).To(Equal(1), "the rollback's write in flight when the leader died")
		Expect(admitted).To(Equal([]int32{4, 3}), "one scale, one scale back: %+v", tap.Patches())
		expectSpecChanges(ctx, ns, "web", gen0, 2)
	})

	It("with the API server restarted mid-verification: a replica leads again, the step completes, the next runs, each scaling once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		createGatedDeployment(ctx, ns, "web", 3)
		gen0, _ := deploymentRecord(ctx, ns, "web")
		tap := startScaleTap(ctx, ns)

		wfe := scaleWorkflow(ns, "two-scales", "web", 5)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		first := &wfe.Spec.WorkflowDefinition.Steps[0]
		first.PreConditions = nil
		first.PostConditions = []commonv1alpha1.ValidationCondition{
			condition("desired_replicas_running", samples.SeedDesiredReplicasRunning, true, 3*time.Minute)}
		second := scaleWorkflow(ns, "unused", "web", 6).Spec.WorkflowDefinition.Steps[0]
		second.StepNumber, second.Name, second.DependsOn = 2, "scale-again", []int32{1}
		second.PreConditions, second.PostConditions = nil, nil
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, second)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		stepState := func(g Gomega) workflowv1alpha1.StepState {
			var cur workflowv1alpha1.WorkflowExecution
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &cur)).To(Succeed())
			g.Expect(cur.Status.StepStatuses).NotTo(BeEmpty())
			return cur.Status.StepStatuses[0].Status
		}
		Eventually(stepState).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).
			Should(Equal(workflowv1alpha1.StepVerifying))
		Eventually(func() []types.UID { return podUIDs(ctx, ns, "web") }).WithContext(ctx).
			WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(HaveLen(5), "the ReplicaSet creates the new pods")

		// Down for longer than the renew deadline: the leader cannot renew the
		// lease, gives up the lead and exits, as its pod would restart.
		before, _ := set.leader(ctx)
		down := renewDeadline + 2*time.Second
		Expect(cluster.RestartAPIServer(down)).To(Succeed())
		upAt := time.Now()
		Eventually(before.process.Exited).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).
			ShouldNot(Succeed(), "the leader that could not renew its lease exits")
		exited := set.replaceExited(ctx)
		Expect(exited).To(Equal([]string{before.name}), "the follower keeps running")
		GinkgoWriter.Printf("the API server was down for %s; %s exited\n", down, before.name)
		leader, _ := set.leader(ctx)
		GinkgoWriter.Printf("%s leads %s after the API server came back\n", leader.name, time.Since(upAt).Round(10*time.Millisecond))

		Expect(stepState(Default)).To(Equal(workflowv1alpha1.StepVerifying), "the pods are still gated")
		openGates(ctx, ns)

		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(done.Status.StepStatuses).To(HaveEach(HaveField("Status", workflowv1alpha1.StepCompleted)))
		Expect(names(executions(ctx, ns))).To(ConsistOf("two-scales-step-1", "two-scales-step-2"))
		Expect(replicas(ctx, ns, "web")).To(Equal(int32(6)))
		admitted, refused := tap.actions()
		Expect(refused).To(BeZero())
		Expect(admitted).To(Equal([]int32{5, 6}), "one scale per step: %+v", tap.Patches())
		expectSpecChanges(ctx, ns, "web", gen0, 2)
	})

	It("with the webhooks unreachable mid-verification: the run still completes, scaling once", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		createGatedDeployment(ctx, ns, "web", 3)
		gen0, _ := deploymentRecord(ctx, ns, "web")
		tap := startScaleTap(ctx, ns)

		ke := scaleExecution(ns, "scale-web", "web", 5)
		ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{
			condition("desired_replicas_running", samples.SeedDesiredReplicasRunning, true, 2*time.Minute)}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionVerifying, time.Minute)
		Eventually(func() []types.UID { return podUIDs(ctx, ns, "web") }).WithContext(ctx).
			WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(HaveLen(5), "the ReplicaSet creates the new pods")

		set.balancer.setDown(true)
		downAt := time.Now()
		// The postconditions pass while no webhook answers. The manager's own
		// status writes skip the status webhook (its match condition), so the run
		// completes without waiting for the webhooks to come back.
		openGates(ctx, ns)
		probe := scaleExecution(ns, "probe", "web", 4)
		err := k8s.Create(ctx, probe, client.DryRunAll)
		Expect(err).To(MatchError(ContainSubstring("failed calling webhook")), "the webhooks are unreachable")
		waitReady(ctx, ns, "web", 5)
		waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, 2*time.Minute)
		GinkgoWriter.Printf("completed %s after the webhooks went down\n", time.Since(downAt).Round(10*time.Millisecond))
		Expect(k8s.Create(ctx, probe, client.DryRunAll)).To(MatchError(ContainSubstring("failed calling webhook")),
			"the webhooks were still unreachable when the run completed")
		set.balancer.setDown(false)

		admitted, refused := tap.actions()
		Expect(refused).To(BeZero())
		Expect(admitted).To(Equal([]int32{5}), "exactly one scale went through: %+v", tap.Patches())
		expectSpecChanges(ctx, ns, "web", gen0, 1)
		// No leader change: the outage is of the webhooks only.
		for _, r := range set.running {
			Expect(r.process.Exited()).To(Succeed())
		}
	})
})
