package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/test/harness"
)

// The paths of the validating webhooks.
const (
	wfePath = "/validate-workflow-kubernaut-io-v1alpha1-workflowexecution"
	kePath  = "/validate-kubernetesexecution-kubernaut-io-v1alpha1-kubernetesexecution"
)

// validatingPair returns by path the validating webhooks SetupWithManager
// registers, which decode each object once (what BenchmarkAdmission measures), and
// the builder's admission.WithValidator webhooks they replace, with the same
// validators.
func validatingPair(t testing.TB) (ours, builders map[string]http.Handler) {
	scheme := harness.NewScheme()
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	cluster := fake.NewClientBuilder().WithScheme(scheme).Build()
	// The fake client cannot answer SubjectAccessReviews: each would fail, and the
	// first of the failures, whichever it is, would name the request's error.
	hooks := &Webhooks{Conditions: &check.Service{Engine: engine, Library: lib, Reader: cluster}, Client: cluster,
		Authority: memoryReviewer()}
	ours, err = hooks.validatingWebhooks(scheme)
	if err != nil {
		t.Fatal(err)
	}
	builders = map[string]http.Handler{
		wfePath: admission.WithValidator(scheme, &workflowValidator{hooks}),
		kePath:  admission.WithValidator(scheme, &executionValidator{hooks}),
	}
	for path := range builders {
		if ours[path] == nil {
			t.Fatalf("no validating webhook at %s", path)
		}
	}
	return ours, builders
}

// answer is h's answer to body.
func answer(h http.Handler, path, contentType string, body []byte) (int, string) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestValidatingWebhookAnswersAsTheBuilders sends the same requests, well-formed
// and not, to the validating webhooks and to the builder's they replace: the
// answers must be the same, byte for byte. The requests the API server would send
// must take the one-pass decoding.
func TestValidatingWebhookAnswersAsTheBuilders(t *testing.T) {
	ours, builders := validatingPair(t)

	good := benchWorkflow(t)
	invalid := good.DeepCopy()
	invalid.Spec.WorkflowDefinition.Steps[0].Action = "scale_everything"
	invalid.Spec.WorkflowDefinition.Steps[1].PreConditions[0].Rego = "package p\nallow if {"
	invalid.Spec.WorkflowDefinition.Steps[2].DependsOn = []int32{3}
	invalid.Spec.ConditionOverrides = []commonv1alpha1.ConditionOverride{{Type: "no_such_condition"}}
	warned := good.DeepCopy()
	warned.Spec.WorkflowDefinition.Steps[0].PostConditions[0].Timeout = &metav1.Duration{Duration: 5 * time.Second}
	overridden := good.DeepCopy()
	overridden.Annotations = map[string]string{OverrideAnnotation: "deployment_exists"}
	started := good.DeepCopy()
	started.Status.Phase = workflowv1alpha1.WorkflowExecuting
	renamed := good.DeepCopy()
	renamed.Spec.WorkflowDefinition.Steps[0].Name = "renamed"
	relabelled := started.DeepCopy()
	relabelled.Labels = map[string]string{"team": "sre"}
	ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
		TypeMeta:   metav1.TypeMeta{APIVersion: kubernetesexecutionv1alpha1.GroupVersion.String(), Kind: "KubernetesExecution"},
		ObjectMeta: metav1.ObjectMeta{Name: "drain", Namespace: "production"},
		Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{
			Action: "drain_node", Parameters: &runtime.RawExtension{Raw: []byte(`{"node":{"name":"worker-1"}}`)},
		},
	}
	badKE := ke.DeepCopy()
	badKE.Spec.Parameters = &runtime.RawExtension{Raw: []byte(`{"node":{"name":"worker-1","gracePeriodSeconds":99999}}`)}

	raw := func(obj any) json.RawMessage {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	request := func(op string, obj, old any) map[string]any {
		r := map[string]any{
			"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": op, "name": "bench", "namespace": "production",
			"kind":     map[string]string{"group": "workflow.kubernaut.io", "version": "v1alpha1", "kind": "WorkflowExecution"},
			"resource": map[string]string{"group": "workflow.kubernaut.io", "version": "v1alpha1", "resource": "workflowexecutions"},
			"userInfo": map[string]any{"username": "alice", "groups": []string{"sre"}},
		}
		if obj != nil {
			r["object"] = obj
		}
		if old != nil {
			r["oldObject"] = old
		}
		return r
	}
	review := func(req any) []byte {
		return raw(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	}
	dryRun := request("CREATE", good, nil)
	dryRun["dryRun"] = true
	asYAML, err := yaml.JSONToYAML(review(request("CREATE", good, nil)))
	if err != nil {
		t.Fatal(err)
	}
	withKind := func(apiVersion, kind string) json.RawMessage {
		var m map[string]any
		if err := json.Unmarshal(raw(good), &m); err != nil {
			t.Fatal(err)
		}
		m["apiVersion"], m["kind"] = apiVersion, kind
		if apiVersion == "" {
			delete(m, "apiVersion")
		}
		if kind == "" {
			delete(m, "kind")
		}
		return raw(m)
	}

	for _, c := range []struct {
		name, path, contentType string
		body                    []byte
		onePass                 bool // decoded in one pass
	}{
		{name: "a valid workflow", body: review(request("CREATE", good, nil)), onePass: true},
		{name: "an invalid workflow", body: review(request("CREATE", invalid, nil)), onePass: true},
		{name: "a workflow with a warning", body: review(request("CREATE", warned, nil)), onePass: true},
		{name: "an override the user may not make", body: review(request("CREATE", overridden, nil)), onePass: true},
		{name: "a dry run", body: review(dryRun), onePass: true},
		{name: "an update of a started workflow's spec", body: review(request("UPDATE", renamed, started)), onePass: true},
		{name: "an update of a started workflow's labels", body: review(request("UPDATE", relabelled, started)), onePass: true},
		{name: "an update without its old object", body: review(request("UPDATE", good, nil)), onePass: true},
		{name: "a delete", body: review(request("DELETE", nil, good)), onePass: true},
		{name: "a connect", body: review(request("CONNECT", nil, nil)), onePass: true},
		{name: "an unknown operation", body: review(request("FROB", good, nil)), onePass: true},
		{name: "a create without its object", body: review(request("CREATE", nil, nil)), onePass: true},
		{name: "a null object", body: review(request("CREATE", json.RawMessage("null"), nil)), onePass: true},
		{name: "a number for an object", body: review(request("CREATE", 5, nil))},
		{name: "an array for an object", body: review(request("CREATE", []int{}, nil))},
		{name: "a string for steps", body: review(request("CREATE", json.RawMessage(`{"spec":{"workflowDefinition":{"steps":"x"}}}`), nil))},
		{name: "a malformed old object on create", body: review(request("CREATE", good, json.RawMessage(`{"spec":7}`)))},
		{name: "an object of another kind", body: review(request("CREATE", withKind("kubernetesexecution.kubernaut.io/v1alpha1", "KubernetesExecution"), nil))},
		{name: "an object of an unknown kind", body: review(request("CREATE", withKind("workflow.kubernaut.io/v1alpha1", "Frob"), nil))},
		{name: "an object of an unknown version", body: review(request("CREATE", withKind("workflow.kubernaut.io/v2", "WorkflowExecution"), nil))},
		{name: "an object without apiVersion and kind", body: review(request("CREATE", withKind("", ""), nil))},
		{name: "an object with a kind only", body: review(request("CREATE", withKind("", "WorkflowExecution"), nil))},
		{name: "an object with a version only", body: review(request("CREATE", withKind("v1alpha1", ""), nil))},
		{name: "a v1beta1 review", body: raw(map[string]any{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": request("CREATE", good, nil)}), onePass: true},
		{name: "a review without apiVersion and kind", body: raw(map[string]any{"request": request("CREATE", invalid, nil)})},
		{name: "a review of another kind", body: raw(map[string]any{"apiVersion": "frob.io/v9", "kind": "Frob", "request": request("CREATE", good, nil)})},
		{name: "a review with an apiVersion that does not parse", body: raw(map[string]any{"apiVersion": "admission/k8s.io/v1", "kind": "AdmissionReview", "request": request("CREATE", good, nil)})},
		{name: "a review with its apiVersion in capitals", body: raw(map[string]any{"APIVERSION": "frob.io/v9", "kind": "AdmissionReview", "request": request("CREATE", good, nil)})},
		{name: "an object with its kind in capitals", body: review(request("CREATE", json.RawMessage(strings.Replace(string(withKind("workflow.kubernaut.io/v1alpha1", "")), "{", `{"KIND":"Frob",`, 1)), nil))},
		{name: "a review without a request", body: raw(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})},
		{name: "a null request", body: review(nil)},
		{name: "a review in YAML", body: asYAML},
		{name: "a body that is not JSON", body: []byte("{not json")},
		{name: "an array body", body: []byte("[]")},
		{name: "an empty body", body: []byte{}},
		{name: "another content type", body: review(request("CREATE", good, nil)), contentType: "text/plain", onePass: true},
		{name: "a valid KubernetesExecution", path: kePath, body: review(request("CREATE", ke, nil)), onePass: true},
		{name: "an invalid KubernetesExecution", path: kePath, body: review(request("CREATE", badKE, nil)), onePass: true},
		{name: "a workflow to the KubernetesExecution webhook", path: kePath, body: review(request("CREATE", good, nil))},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, contentType := c.path, c.contentType
			if path == "" {
				path = wfePath
			}
			if contentType == "" {
				contentType = "application/json"
			}
			wantCode, want := answer(builders[path], path, contentType, c.body)
			gotCode, got := answer(ours[path], path, contentType, c.body)
			if gotCode != wantCode || got != want {
				t.Errorf("the builder's webhook answers %d\n%s\nthis one %d\n%s", wantCode, want, gotCode, got)
			}
			type onePass interface {
				decodeTyped(body []byte) (admission.Request, metav1.TypeMeta, bool)
			}
			if _, _, ok := ours[path].(onePass).decodeTyped(c.body); ok != c.onePass {
				t.Errorf("decoded in one pass: %v, want %v", ok, c.onePass)
			}
			if testing.Verbose() {
				t.Logf("%d %s", gotCode, strings.TrimSpace(got))
			}
		})
	}
}

// FuzzValidatingWebhookAnswersAsTheBuilders is TestValidatingWebhookAnswersAsTheBuilders
// on arbitrary bodies.
func FuzzValidatingWebhookAnswersAsTheBuilders(f *testing.F) {
	ours, builders := validatingPair(f)
	// Small seeds without inline Rego: the fuzzer mutates the plumbing's input, not
	// policies, which take long to compile.
	good := `{"apiVersion":"workflow.kubernaut.io/v1alpha1","kind":"WorkflowExecution","metadata":{"name":"w"},"spec":{"workflowDefinition":{"steps":[{"stepNumber":1,"action":"cordon_node","parameters":{"node":{"name":"n1"}},"preConditions":[{"type":"node_exists","timeout":"30s"}]}]}}}`
	for _, op := range []string{"CREATE", "UPDATE", "DELETE"} {
		f.Add(fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":%q,"object":%s,"oldObject":%s}}`, op, good, good))
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","dryRun":true,"object":{"apiVersion":"workflow.kubernaut.io/v1alpha1","kind":"WorkflowExecution","metadata":{"annotations":{"kubernaut.io/override-condition":"a"}},"spec":{"workflowDefinition":{"steps":[{"stepNumber":1,"action":"scale_deployment","dependsOn":[1]}]}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		wantCode, want := answer(builders[wfePath], wfePath, "application/json", body)
		gotCode, got := answer(ours[wfePath], wfePath, "application/json", body)
		if gotCode != wantCode || got != want {
			t.Errorf("the builder's webhook answers %d\n%s\nthis one %d\n%s", wantCode, want, gotCode, got)
		}
	})
}

// contextKey carries a value from WithContextFunc to the validator.
type contextKey struct{}

// recordingValidator admits everything and records the context value it saw.
type recordingValidator struct{ seen []any }

func (v *recordingValidator) ValidateCreate(ctx context.Context, _ *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	v.seen = append(v.seen, ctx.Value(contextKey{}))
	return nil, nil
}

func (v *recordingValidator) ValidateUpdate(ctx context.Context, _, _ *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	return v.ValidateCreate(ctx, nil)
}

func (v *recordingValidator) ValidateDelete(ctx context.Context, _ *workflowv1alpha1.WorkflowExecution) (admission.Warnings, error) {
	return v.ValidateCreate(ctx, nil)
}

// TestBothPathsUseTheWebhooksContextFunc: the fast path and admission.Webhook's
// own both give the validator the context WithContextFunc makes of the request.
func TestBothPathsUseTheWebhooksContextFunc(t *testing.T) {
	v := &recordingValidator{}
	h, err := newValidatingWebhook[workflowv1alpha1.WorkflowExecution](harness.NewScheme(), v)
	if err != nil {
		t.Fatal(err)
	}
	h.webhook.WithContextFunc = func(ctx context.Context, r *http.Request) context.Context {
		return context.WithValue(ctx, contextKey{}, r.Header.Get("X-Trace"))
	}
	obj, err := json.Marshal(benchWorkflow(t))
	if err != nil {
		t.Fatal(err)
	}
	fast := fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":%s}}`, obj)
	// A review without apiVersion and kind is left to admission.Webhook.
	slow := fmt.Appendf(nil, `{"request":{"uid":"u","operation":"CREATE","object":%s}}`, obj)
	for _, body := range [][]byte{fast, slow} {
		req := httptest.NewRequest(http.MethodPost, wfePath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Trace", "t-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), `"allowed":true`) {
			t.Fatalf("not admitted: %s", rec.Body.String())
		}
	}
	if len(v.seen) != 2 || v.seen[0] != "t-1" || v.seen[1] != "t-1" {
		t.Errorf("the validator saw %v, want the context value on both paths", v.seen)
	}
	if _, _, ok := h.decodeTyped(fast); !ok {
		t.Error("the review as the API server sends it did not take the fast path")
	}
	if _, _, ok := h.decodeTyped(slow); ok {
		t.Error("a review without apiVersion and kind took the fast path")
	}
}
