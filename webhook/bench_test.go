package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/test/harness"
)

// benchWorkflow is the WorkflowExecution the validating webhook sees when a user
// creates a workflow of 10 scale_deployment steps, each with 4 inline Rego
// preconditions: the mutating webhook has injected the catalog's 5 step conditions
// (9 per step) and written out every default, and the API server has set what it
// sets before admission (uid, creationTimestamp, generation, managedFields).
// benchUser sends the benchmark's reviews.
var benchUser = authenticationv1.UserInfo{
	Username: "alice@example.com", UID: "7e1c1a52-2bc5-4d3a-9f7e-0a9f5e1f2c3d",
	Groups: []string{"sre", "system:authenticated"},
}

func benchWorkflow(t testing.TB) *workflowv1alpha1.WorkflowExecution {
	wfe := &workflowv1alpha1.WorkflowExecution{
		TypeMeta: metav1.TypeMeta{APIVersion: workflowv1alpha1.GroupVersion.String(), Kind: "WorkflowExecution"},
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "production",
			// As the mutating webhook records it.
			Annotations: map[string]string{commonv1alpha1.RequestedByAnnotation: authority.FromUserInfo(benchUser).Encode()}},
	}
	for n := int32(1); n <= 10; n++ {
		step := workflowv1alpha1.WorkflowStep{
			StepNumber: n, Action: "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil, `{"deployment":{"name":"web-%d","namespace":"production","replicas":%d}}`, n, n)},
		}
		for i := range 4 {
			step.PreConditions = append(step.PreConditions, commonv1alpha1.ValidationCondition{
				Type: fmt.Sprintf("custom_check_%d", i),
				Rego: fmt.Sprintf("package custom.check%d\nallow if input.ready_pods >= %d\nerror_message := \"not enough ready pods\"\n", i, i),
			})
		}
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, step)
	}
	written, err := json.Marshal(wfe.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&workflowDefaulter{}).Default(context.Background(), wfe); err != nil {
		t.Fatal(err)
	}
	for _, s := range wfe.Spec.WorkflowDefinition.Steps {
		if n := len(s.PreConditions) + len(s.PostConditions); n != 9 {
			t.Fatalf("step %d has %d conditions, want 9", s.StepNumber, n)
		}
	}
	var spec any
	if err := json.Unmarshal(written, &spec); err != nil {
		t.Fatal(err)
	}
	fields, err := json.Marshal(map[string]any{"f:spec": managedFields(spec)})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	wfe.UID, wfe.Generation, wfe.CreationTimestamp = types.UID("6b3a1d0e-3f9c-4f0e-9a51-3c1f0f7e2b11"), 1, now
	wfe.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: wfe.APIVersion,
		Time: &now, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(string(fields)),
	}}
	return wfe
}

// managedFields is the FieldsV1 set of a value the user wrote, with the list keys
// of the CRD (steps by stepNumber, conditions by type, dependsOn a set).
func managedFields(v any) map[string]any {
	out := map[string]any{}
	m, ok := v.(map[string]any)
	if !ok {
		return out
	}
	listKeys := map[string]string{"steps": "stepNumber", "preConditions": "type", "postConditions": "type"}
	for k, child := range m {
		list, isList := child.([]any)
		switch {
		case isList && k == "dependsOn":
			set := map[string]any{}
			for _, item := range list {
				set["v:"+fmt.Sprint(item)] = map[string]any{}
			}
			out["f:"+k] = set
		case isList:
			items := map[string]any{}
			for _, item := range list {
				key, _ := json.Marshal(map[string]any{listKeys[k]: item.(map[string]any)[listKeys[k]]})
				f := managedFields(item)
				f["."] = map[string]any{}
				items["k:"+string(key)] = f
			}
			out["f:"+k] = items
		default:
			out["f:"+k] = managedFields(child)
		}
	}
	return out
}

// admissionReview is the request body the API server sends for a CREATE of obj by
// a user with kubectl.
func admissionReview(t testing.TB, wfe *workflowv1alpha1.WorkflowExecution) []byte {
	raw, err := json.Marshal(wfe)
	if err != nil {
		t.Fatal(err)
	}
	gvk := wfe.GroupVersionKind()
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             "705ab4f5-6393-11e8-b7cc-42010a800002",
			Kind:            metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource:        metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: "workflowexecutions"},
			RequestKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			RequestResource: &metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: "workflowexecutions"},
			Name:            wfe.Name,
			Namespace:       wfe.Namespace,
			Operation:       admissionv1.Create,
			UserInfo:        benchUser,
			Object:          runtime.RawExtension{Raw: raw},
			DryRun:          new(false),
			Options:         runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-create"}`)},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// BenchmarkAdmission measures, over TLS on loopback, the latency of admitting
// benchWorkflow through the validating webhook, and through a no-op webhook
// served the same way: by controller-runtime's webhook server (TLS, metrics)
// with the same request plumbing, admitting without looking at the object. For
// each number of concurrent clients it reports, of one run:
//
//	p50-µs, p99-µs            the validating webhook's latency percentiles
//	noop-p50-µs, noop-p99-µs  the no-op webhook's
//	p50-x-noop, p99-x-noop    their ratios
//	server-cpu-µs             CPU the server process spent per validating request
//	noop-server-cpu-µs        and per no-op request
//	client-cpu-µs             CPU the clients spent per validating request
//	cores                     CPU the server and clients spent per second of
//	                          the validating run: the cores they had, when
//	                          the clients keep them busy
//
// and ns/op, the validating webhook's wall time per request (its throughput).
// b.N is the number of measured requests per webhook.
//
// The clients run in another process, a copy of the test binary started with
// TestAdmissionBenchClient: each keeps one HTTP/1.1 keep-alive connection and has
// one request in flight. They warm up (TLS handshakes, compiled policies in the
// engine's cache) before measuring. Both processes share the machine's cores, so a
// latency includes the time the request waited for a core.
//
//	go test ./webhook -run '^$' -bench Admission -benchtime 4000x -count 4
func BenchmarkAdmission(b *testing.B) {
	// Without a logger, controller-runtime complains in the middle of the results.
	logf.SetLogger(logr.Discard())
	scheme := harness.NewScheme()
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(context.Background(), engine)
	if err != nil {
		b.Fatal(err)
	}
	// The requester's SubjectAccessReviews go to a real API server, where alice may
	// scale the workflow's Deployments.
	cluster, err := harness.Start(context.Background(), harness.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cluster.Stop() })
	grantBenchUser(b, cluster.Client, "production")
	reviewers := map[string]*authority.Reviewer{
		// What the webhook cost before requesters were authorized: every review
		// allowed without asking anyone.
		"none": {Client: fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
			Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
				obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
				return nil
			},
		}).Build()},
		// A requester seen within the last minute: the answers are reused.
		"cached": newBenchReviewer(b, cluster, 0),
		// Every request asks the API server: 60 SubjectAccessReviews for 10 steps.
		"each-request": newBenchReviewer(b, cluster, -1),
	}
	const validatePath = "/validate-workflow-kubernaut-io-v1alpha1-workflowexecution"
	handlers := map[string]http.Handler{"/noop": benchNoop()}
	for name, reviewer := range reviewers {
		hooks := &Webhooks{Conditions: &check.Service{Engine: engine, Library: lib}, Authority: reviewer}
		validating, err := hooks.validatingWebhooks(scheme)
		if err != nil {
			b.Fatal(err)
		}
		if validating[validatePath] == nil {
			b.Fatalf("no validating webhook at %s", validatePath)
		}
		handlers["/"+name] = validating[validatePath]
	}
	srv := startBenchServer(b, handlers)
	body := admissionReview(b, benchWorkflow(b))
	bodyFile := filepath.Join(b.TempDir(), "review.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		b.Fatal(err)
	}
	if code, answer := benchAnswer(b, srv, "/each-request", body); code != http.StatusOK || !strings.Contains(answer, `"allowed":true`) {
		b.Fatalf("the review is not admitted: %d %.500s", code, answer)
	}

	for _, clients := range []int{16, 8, 4, 2, 1} {
		for _, sar := range []string{"none", "cached", "each-request"} {
			b.Run(fmt.Sprintf("clients=%d/sar=%s", clients, sar), func(b *testing.B) {
				cfg := benchClientConfig{Addr: srv.addr, CAFile: srv.caFile, BodyFile: bodyFile, Clients: clients, Requests: b.N, Warmup: 25}
				cfg.Path = "/noop"
				noop := runBenchClients(b, cfg)
				cfg.Path = "/" + sar
				val := runBenchClients(b, cfg)

				n := float64(b.N)
				b.ReportMetric(float64(val.wall.Nanoseconds())/n, "ns/op")
				b.ReportMetric(micros(val.percentile(50)), "p50-µs")
				b.ReportMetric(micros(val.percentile(99)), "p99-µs")
				b.ReportMetric(micros(noop.percentile(50)), "noop-p50-µs")
				b.ReportMetric(micros(noop.percentile(99)), "noop-p99-µs")
				b.ReportMetric(float64(val.percentile(50))/float64(noop.percentile(50)), "p50-x-noop")
				b.ReportMetric(float64(val.percentile(99))/float64(noop.percentile(99)), "p99-x-noop")
				b.ReportMetric(micros(val.serverCPU)/n, "server-cpu-µs")
				b.ReportMetric(micros(noop.serverCPU)/n, "noop-server-cpu-µs")
				b.ReportMetric(micros(val.clientCPU)/n, "client-cpu-µs")
				b.ReportMetric(float64(val.serverCPU+val.clientCPU)/float64(val.wall), "cores")
			})
		}
	}
}

func newBenchReviewer(b *testing.B, cluster *harness.Harness, allowedFor time.Duration) *authority.Reviewer {
	r, err := authority.NewReviewer(cluster.Config, allowedFor)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// grantBenchUser lets benchUser scale Deployments in ns.
func grantBenchUser(b *testing.B, c client.Client, ns string) {
	ctx := context.Background()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "scaler", Namespace: ns}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale"},
			Verbs: []string{"get", "list", "watch", "update", "patch"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scaler", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "scaler"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: benchUser.Username}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	// The API server's RBAC authorizer sees the binding a moment later.
	reviewer := &authority.Reviewer{Client: c, AllowedFor: -1}
	perm := authority.Permission{Verb: "patch", Group: "apps", Resource: "deployments", Subresource: "scale", Namespace: ns, Name: "web-1"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		missing, err := reviewer.Missing(ctx, authority.FromUserInfo(benchUser), []authority.Permission{perm})
		if err == nil && len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s may not %s after 10s: %v", benchUser.Username, perm, err)
		}
	}
}

// benchAnswer sends body to path once, as the clients do.
func benchAnswer(b *testing.B, srv benchServer, path string, body []byte) (int, string) {
	ca, err := os.ReadFile(srv.caFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := hc.Post("https://"+srv.addr+path, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	answer, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(answer)
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// benchNoop is the no-op webhook: the request plumbing of the validating webhook
// (the AdmissionReview decoded in one call, admission.Webhook to answer) with a
// handler that admits without looking at the object, which stays raw.
func benchNoop() http.Handler {
	return &fastPath{
		webhook: &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
			return admission.Allowed("")
		})},
		decode: func(body []byte) (admission.Request, metav1.TypeMeta, bool) {
			var review admissionv1.AdmissionReview
			if err := utiljson.Unmarshal(body, &review); err != nil || review.Request == nil {
				return admission.Request{}, review.TypeMeta, false
			}
			return admission.Request{AdmissionRequest: *review.Request}, review.TypeMeta, true
		},
	}
}

type benchServer struct {
	addr   string // host:port
	caFile string // PEM of the serving certificate, self-signed
}

// startBenchServer serves handlers with controller-runtime's webhook server, as
// the manager does, on a loopback port with a fresh self-signed certificate.
func startBenchServer(b *testing.B, handlers map[string]http.Handler) benchServer {
	dir := b.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"tls.crt": certPEM,
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	for path, h := range handlers {
		srv.Register(path, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() {
		if err := srv.Start(ctx); err != nil {
			b.Error(err)
		}
	}()
	for start := time.Now(); srv.StartedChecker()(nil) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			b.Fatal("the webhook server did not start")
		}
	}
	return benchServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), caFile: filepath.Join(dir, "tls.crt")}
}

// benchClientConfig tells TestAdmissionBenchClient what to send.
type benchClientConfig struct {
	Addr, Path, CAFile, BodyFile string
	Clients, Requests, Warmup    int
}

// benchClientResult is what TestAdmissionBenchClient measured.
type benchClientResult struct {
	Latencies []time.Duration // one per request, sorted
	CPU       time.Duration   // the client process's, user and system
	Wall      time.Duration
	Error     string
}

type benchRun struct {
	latencies            []time.Duration
	serverCPU, clientCPU time.Duration
	wall                 time.Duration
}

func (r benchRun) percentile(p int) time.Duration {
	return r.latencies[(len(r.latencies)-1)*p/100]
}

const benchClientEnv = "KUBERNAUT_ADMISSION_BENCH_CLIENT"

// runBenchClients starts the clients in a copy of the test binary, waits for them
// to warm up, and measures its own CPU (the server's) while they send.
func runBenchClients(b *testing.B, cfg benchClientConfig) benchRun {
	b.Helper()
	b.StopTimer()
	encoded, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdmissionBenchClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchClientEnv+"="+string(encoded))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	results, resultsW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	startR, start, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = results.Close(); _ = start.Close() }()
	cmd.ExtraFiles = []*os.File{resultsW, startR} // fd 3 and 4 of the child
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	_ = resultsW.Close()
	_ = startR.Close()
	fail := func(err error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.Fatalf("admission bench client: %v\n%s", err, out.String())
	}
	r := bufio.NewReader(results)
	if line, err := r.ReadString('\n'); err != nil {
		fail(fmt.Errorf("waiting for the clients to warm up: %w", err))
	} else if line != "ready\n" {
		fail(fmt.Errorf("waiting for the clients to warm up: %q", line))
	}
	before := processCPU(b)
	b.StartTimer()
	if _, err := io.WriteString(start, "go\n"); err != nil {
		fail(err)
	}
	var res benchClientResult
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		fail(fmt.Errorf("reading the measurements: %w", err))
	}
	b.StopTimer()
	serverCPU := processCPU(b) - before
	if err := cmd.Wait(); err != nil {
		b.Fatalf("admission bench client: %v\n%s", err, out.String())
	}
	if res.Error != "" {
		b.Fatalf("admission bench client: %s", res.Error)
	}
	if len(res.Latencies) != cfg.Requests {
		b.Fatalf("admission bench client: %d latencies, want %d", len(res.Latencies), cfg.Requests)
	}
	return benchRun{latencies: res.Latencies, serverCPU: serverCPU, clientCPU: res.CPU, wall: res.Wall}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAdmissionBenchClient is the load generator of BenchmarkAdmission, which
// starts it in a process of its own; otherwise it skips. Each of cfg.Clients
// goroutines keeps one keep-alive TLS connection and sends the review, one
// request at a time, cfg.Warmup times and, once the benchmark says go, as many as
// it can take of cfg.Requests, timing each from writing the request to reading the
// whole response. It writes "ready\n" then the result as JSON on fd 3, and reads
// the go from fd 4.
func TestAdmissionBenchClient(t *testing.T) {
	encoded := os.Getenv(benchClientEnv)
	if encoded == "" {
		t.Skip("the load generator of BenchmarkAdmission, which starts it")
	}
	out, start := os.NewFile(3, "results"), os.NewFile(4, "start")
	res := benchClient(encoded, out, start)
	if err := json.NewEncoder(out).Encode(res); err != nil {
		t.Fatal(err)
	}
}

func benchClient(encoded string, ready io.Writer, start io.Reader) benchClientResult {
	var cfg benchClientConfig
	if err := json.Unmarshal([]byte(encoded), &cfg); err != nil {
		return benchClientResult{Error: err.Error()}
	}
	body, err := os.ReadFile(cfg.BodyFile)
	if err != nil {
		return benchClientResult{Error: err.Error()}
	}
	ca, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return benchClientResult{Error: err.Error()}
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	request := append(fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: %d\r\n\r\n",
		cfg.Path, cfg.Addr, len(body)), body...)

	latencies := make([]time.Duration, cfg.Requests)
	var next atomic.Int64
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	var warm, done sync.WaitGroup
	begin := make(chan struct{})
	for range cfg.Clients {
		warm.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			conn, err := tls.Dial("tcp", cfg.Addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
			if err != nil {
				fail(err)
				warm.Done()
				return
			}
			defer func() { _ = conn.Close() }()
			c := &benchConn{conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}
			for range cfg.Warmup {
				if err := c.admit(request); err != nil {
					fail(err)
					break
				}
			}
			warm.Done()
			<-begin
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Requests) || firstErr != nil {
					return
				}
				began := time.Now()
				if err := c.send(request); err != nil {
					fail(err)
					return
				}
				latencies[i] = time.Since(began)
				if err := c.check(); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	warm.Wait()
	if _, err := io.WriteString(ready, "ready\n"); err != nil {
		return benchClientResult{Error: err.Error()}
	}
	if _, err := bufio.NewReader(start).ReadString('\n'); err != nil {
		return benchClientResult{Error: err.Error()}
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	began := time.Now()
	close(begin)
	done.Wait()
	wall := time.Since(began)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if firstErr != nil {
		return benchClientResult{Error: firstErr.Error()}
	}
	slices.Sort(latencies)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	return benchClientResult{Latencies: latencies, CPU: cpu, Wall: wall}
}

// benchConn is one client's connection.
type benchConn struct {
	conn net.Conn
	r    *bufio.Reader
	body bytes.Buffer // the last response's
}

func (c *benchConn) admit(request []byte) error {
	if err := c.send(request); err != nil {
		return err
	}
	return c.check()
}

// send writes the request and reads the whole response.
func (c *benchConn) send(request []byte) error {
	if _, err := c.conn.Write(request); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, c.body.String())
	}
	return nil
}

// check says whether the last response admitted the object.
func (c *benchConn) check() error {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(c.body.Bytes(), &review); err != nil {
		return err
	}
	switch {
	case review.Response == nil:
		return fmt.Errorf("no response: %s", c.body.String())
	case review.Response.UID != "705ab4f5-6393-11e8-b7cc-42010a800002":
		return fmt.Errorf("the response is for request %q", review.Response.UID)
	case !review.Response.Allowed:
		return fmt.Errorf("denied: %s", c.body.String())
	case len(review.Response.Warnings) > 0:
		return fmt.Errorf("warnings: %q", review.Response.Warnings)
	}
	return nil
}
