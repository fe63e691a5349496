// Package webhook admits WorkflowExecutions and KubernetesExecutions. The mutating
// webhook fills in defaults, injects the conditions the action catalog suggests,
// records the requester and stamps who set an override; the validating webhook
// checks everything the schema cannot (catalog actions and their parameters, step
// dependencies, every condition's Rego, compiled), admits approvals only from
// approvers (gates.go), lets only overriders weaken validation, and on a dry run
// tells which preconditions would fail now. Errors carry field paths and come all
// at once.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/conditions/check"
)

// Annotations users write on both kinds.
const (
	// OverrideAnnotation lists condition types to skip, comma-separated. Only users
	// allowed verb override on conditions.kubernaut.io may add or change it, with a
	// reason (commonv1alpha1.OverrideReasonAnnotation).
	OverrideAnnotation = commonv1alpha1.OverrideConditionAnnotation
	// InjectAnnotation set to "false" keeps the catalog's conditions out.
	InjectAnnotation = commonv1alpha1.InjectConditionsAnnotation
)

// DefaultPreflightBudget bounds the dry-run preflight of one request.
const DefaultPreflightBudget = time.Second

// Webhooks holds what both kinds' webhooks need.
type Webhooks struct {
	// Conditions resolves and compiles conditions, and evaluates preconditions for
	// the dry-run preflight.
	Conditions *check.Service
	// Client creates the SubjectAccessReviews of Authority, when that is nil.
	Client client.Client
	// Authority asks whether a requester holds what an action needs, and whether
	// a sender may approve or override; one asking with Client when nil.
	Authority *authority.Reviewer
	// ManagerUsername is the user the manager itself authenticates as: the only one
	// that may write the status of either kind, create an execution for another
	// requester, or make an execution a workflow's step.
	ManagerUsername string
	// AllowSelfApproval lets a run's requester approve it (--allow-self-approval).
	// Off by default: an approval is a second person's decision.
	AllowSelfApproval bool
	// PreflightBudget bounds the preflight of one dry-run request;
	// DefaultPreflightBudget when zero.
	PreflightBudget time.Duration
	// Mapper finds the resource of an object a condition declares, to ask
	// whether the requester may get it; the manager's when nil.
	Mapper meta.RESTMapper
	// StatusConfiguration names the ValidatingWebhookConfiguration that holds
	// the status guard; when set, the manager sets a match condition there so
	// that its own status writes skip the guard (skipOwnStatusWrites).
	StatusConfiguration string
}

// SetupWithManager registers the webhooks of both kinds with mgr's webhook server.
func (w *Webhooks) SetupWithManager(mgr ctrl.Manager) error {
	if w.Conditions == nil || w.Client == nil || w.ManagerUsername == "" {
		return fmt.Errorf("webhooks: Conditions, Client and ManagerUsername must be set")
	}
	if w.Mapper == nil {
		w.Mapper = mgr.GetRESTMapper()
	}
	wfePath, wfe, err := newDefaultingWebhook[workflowv1alpha1.WorkflowExecution](mgr.GetScheme(), &workflowDefaulter{w: w})
	if err != nil {
		return fmt.Errorf("registering the WorkflowExecution webhooks: %w", err)
	}
	kePath, ke, err := newDefaultingWebhook[kubernetesexecutionv1alpha1.KubernetesExecution](mgr.GetScheme(), &executionDefaulter{w: w})
	if err != nil {
		return fmt.Errorf("registering the KubernetesExecution webhooks: %w", err)
	}
	mgr.GetWebhookServer().Register(wfePath, wfe)
	mgr.GetWebhookServer().Register(kePath, ke)
	// The validating webhooks are served by validatingWebhook rather than the
	// builder's: the same admission.Webhook answers, but the object is decoded once.
	validating, err := w.validatingWebhooks(mgr.GetScheme())
	if err != nil {
		return err
	}
	for path, h := range validating {
		mgr.GetWebhookServer().Register(path, h)
	}
	mgr.GetWebhookServer().Register(StatusWebhookPath, &admission.Webhook{Handler: &statusGuard{manager: w.ManagerUsername}})
	if w.StatusConfiguration != "" {
		return w.skipOwnStatusWritesAtStart(mgr)
	}
	return nil
}

// validatingWebhooks returns the validating webhooks of both kinds by the path the
// builder would give them, the one the webhook configurations name.
func (w *Webhooks) validatingWebhooks(scheme *runtime.Scheme) (map[string]http.Handler, error) {
	if w.Authority == nil {
		w.Authority = &authority.Reviewer{Client: w.Client}
	}
	wfe, err := newValidatingWebhook[workflowv1alpha1.WorkflowExecution](scheme, &workflowValidator{w})
	if err != nil {
		return nil, fmt.Errorf("registering the WorkflowExecution webhooks: %w", err)
	}
	ke, err := newValidatingWebhook[kubernetesexecutionv1alpha1.KubernetesExecution](scheme, &executionValidator{w})
	if err != nil {
		return nil, fmt.Errorf("registering the KubernetesExecution webhooks: %w", err)
	}
	return map[string]http.Handler{wfe.path: wfe, ke.path: ke}, nil
}

func (w *Webhooks) preflightBudget() time.Duration {
	if w.PreflightBudget > 0 {
		return w.PreflightBudget
	}
	return DefaultPreflightBudget
}

// maxReviewSize bounds the body the fast path reads, as admission.Webhook bounds
// what it reads: two objects of at most 3MB each and the rest. A larger body is
// left to admission.Webhook, which refuses it.
const maxReviewSize = 7 << 20

// validatingWebhook serves the validating webhook of one kind: the builder's
// admission.WithValidator webhook, with one fast path in front of it.
//
// admission.Webhook decodes the AdmissionReview keeping its objects raw, then
// WithValidator's decoder reads each raw object twice (once for its kind, once
// into T). Measured with BenchmarkAdmission's request, that decoding is about
// 40% of the server's CPU per request. So a review as the API server sends it
// (decodeTyped) is decoded in one pass, objects typed, and handed to the same
// admission.Webhook's Handle (which recovers panics and completes the response)
// with the context its WithContextFunc gives. Anything else, malformed or merely
// unusual, goes to admission.Webhook.ServeHTTP unchanged, which answers it as it
// always does: TestValidatingWebhookAnswersAsTheBuilders and its fuzz target
// hold both paths to the builder's answers, byte for byte.
type validatingWebhook[E any, T interface {
	*E
	runtime.Object
}] struct {
	fastPath
	gvk  schema.GroupVersionKind
	path string
}

func newValidatingWebhook[E any, T interface {
	*E
	runtime.Object
}](scheme *runtime.Scheme, validator admission.Validator[T]) (*validatingWebhook[E, T], error) {
	gvk, err := apiutil.GVKForObject(T(new(E)), scheme)
	if err != nil {
		return nil, err
	}
	h := &validatingWebhook[E, T]{
		gvk:  gvk,
		path: webhookPath("validate", gvk),
	}
	h.webhook = &admission.Webhook{
		Handler:        &validateHandler[E, T]{validator: validator, decoder: admission.NewDecoder(scheme)},
		LogConstructor: logConstructor(gvk),
	}
	h.decode = h.decodeTyped
	return h, nil
}

// typedReview is an AdmissionReview with its objects decoded into T.
type typedReview[T any] struct {
	metav1.TypeMeta `json:",inline"`
	Request         *struct {
		admissionv1.AdmissionRequest
		// Object and OldObject hide the AdmissionRequest's, being shallower.
		Object    T `json:"object,omitempty"`
		OldObject T `json:"oldObject,omitempty"`
	} `json:"request,omitempty"`
}

// decodeTyped decodes body into a request whose objects are T, in
// RawExtension.Object. It declines (ok false) all but the reviews the API server
// sends: an AdmissionReview v1 or v1beta1 whose objects name T's apiVersion and
// kind. admission.Webhook decodes the others in ways of its own (it finds the
// apiVersion and kind with a decoder that ignores the case of field names, and
// fails on those it cannot parse).
func (h *validatingWebhook[E, T]) decodeTyped(body []byte) (req admission.Request, typeMeta metav1.TypeMeta, ok bool) {
	var review typedReview[T]
	if err := utiljson.Unmarshal(body, &review); err != nil || review.Request == nil || review.Kind != "AdmissionReview" ||
		review.APIVersion != admissionv1.SchemeGroupVersion.String() && review.APIVersion != admissionv1beta1.SchemeGroupVersion.String() {
		return admission.Request{}, metav1.TypeMeta{}, false
	}
	req = admission.Request{AdmissionRequest: review.Request.AdmissionRequest}
	for _, o := range []struct {
		obj  T
		into *runtime.RawExtension
	}{{review.Request.Object, &req.Object}, {review.Request.OldObject, &req.OldObject}} {
		if o.obj == nil {
			continue
		}
		if o.obj.GetObjectKind().GroupVersionKind() != h.gvk {
			return admission.Request{}, metav1.TypeMeta{}, false
		}
		o.into.Object = o.obj
	}
	return req, review.TypeMeta, true
}

// bodies holds request body buffers for reuse; those that grew beyond
// maxPooledBody are left to the garbage collector.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 1 << 20

// fastPath answers the requests decode takes with webhook's Handle, and passes
// every other request, its body as read, to webhook's ServeHTTP.
type fastPath struct {
	webhook *admission.Webhook
	// decode decodes a request body; ok false leaves it to webhook.
	decode func(body []byte) (req admission.Request, typeMeta metav1.TypeMeta, ok bool)
}

func (h *fastPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Content-Type") != "application/json" {
		h.webhook.ServeHTTP(w, r)
		return
	}
	// Nothing decoded keeps the body: strings are copied, raw JSON too.
	buf := bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodies.Put(buf)
		}
	}()
	_, err := buf.ReadFrom(io.LimitReader(r.Body, maxReviewSize))
	var req admission.Request
	var typeMeta metav1.TypeMeta
	ok := err == nil && buf.Len() < maxReviewSize
	if ok {
		req, typeMeta, ok = h.decode(buf.Bytes())
	}
	if !ok {
		// admission.Webhook reads the body again: what was read, then the rest.
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf.Bytes()), r.Body), r.Body}
		h.webhook.ServeHTTP(w, r)
		return
	}
	_ = r.Body.Close()
	ctx := r.Context()
	if h.webhook.WithContextFunc != nil {
		ctx = h.webhook.WithContextFunc(ctx, r)
	}
	review := admissionv1.AdmissionReview{TypeMeta: typeMeta}
	resp := h.webhook.Handle(ctx, req)
	review.Response = &resp.AdmissionResponse
	if err := json.NewEncoder(w).Encode(review); err != nil {
		// As admission.Webhook does: the connection broke, most likely.
		serverError := admission.Errored(http.StatusInternalServerError, err)
		_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{Response: &serverError.AdmissionResponse})
	}
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// logConstructor is the builder's: the webhook's kind and the request.
func logConstructor(gvk schema.GroupVersionKind) func(logr.Logger, *admission.Request) logr.Logger {
	return func(base logr.Logger, req *admission.Request) logr.Logger {
		log := base.WithValues("webhookGroup", gvk.Group, "webhookKind", gvk.Kind)
		if req != nil {
			return log.WithValues(gvk.Kind, klog.KRef(req.Namespace, req.Name),
				"namespace", req.Namespace, "name", req.Name,
				"resource", req.Resource, "user", req.UserInfo.Username,
				"requestID", req.UID)
		}
		return log
	}
}

// validateHandler is the handler of admission.WithValidator, taking the objects
// the fast path decoded; objects it did not decode are decoded from raw.
type validateHandler[E any, T interface {
	*E
	runtime.Object
}] struct {
	validator admission.Validator[T]
	decoder   admission.Decoder
}

func (h *validateHandler[E, T]) Handle(ctx context.Context, req admission.Request) admission.Response {
	ctx = admission.NewContextWithRequest(ctx, req)
	var warnings admission.Warnings
	var err error
	switch req.Operation {
	case admissionv1.Connect:
	case admissionv1.Create:
		obj, derr := h.object(req.Object)
		if derr != nil {
			return admission.Errored(http.StatusBadRequest, derr)
		}
		warnings, err = h.validator.ValidateCreate(ctx, obj)
	case admissionv1.Update:
		obj, derr := h.object(req.Object)
		if derr != nil {
			return admission.Errored(http.StatusBadRequest, derr)
		}
		old, derr := h.object(req.OldObject)
		if derr != nil {
			return admission.Errored(http.StatusBadRequest, derr)
		}
		warnings, err = h.validator.ValidateUpdate(ctx, old, obj)
	case admissionv1.Delete:
		// OldObject is the object being deleted.
		obj, derr := h.object(req.OldObject)
		if derr != nil {
			return admission.Errored(http.StatusBadRequest, derr)
		}
		warnings, err = h.validator.ValidateDelete(ctx, obj)
	default:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("unknown operation %q", req.Operation))
	}
	if err != nil {
		var apiStatus apierrors.APIStatus
		if errors.As(err, &apiStatus) {
			status := apiStatus.Status()
			return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Result: &status}}.WithWarnings(warnings...)
		}
		return admission.Denied(err.Error()).WithWarnings(warnings...)
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// object is raw's object, decoded from raw if it is not there already.
func (h *validateHandler[E, T]) object(raw runtime.RawExtension) (T, error) {
	if obj, ok := raw.Object.(T); ok && obj != nil {
		return obj, nil
	}
	obj := T(new(E))
	return obj, h.decoder.DecodeRaw(raw, obj)
}

// The webhook configurations (config/webhook) are generated from these markers.
//
// +kubebuilder:webhook:path=/mutate-workflow-kubernaut-io-v1alpha1-workflowexecution,mutating=true,failurePolicy=fail,sideEffects=None,groups=workflow.kubernaut.io,resources=workflowexecutions,verbs=create;update,versions=v1alpha1,name=mworkflowexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-workflow-kubernaut-io-v1alpha1-workflowexecution,mutating=false,failurePolicy=fail,sideEffects=None,groups=workflow.kubernaut.io,resources=workflowexecutions,verbs=create;update,versions=v1alpha1,name=vworkflowexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/mutate-kubernetesexecution-kubernaut-io-v1alpha1-kubernetesexecution,mutating=true,failurePolicy=fail,sideEffects=None,groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions,verbs=create;update,versions=v1alpha1,name=mkubernetesexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-kubernetesexecution-kubernaut-io-v1alpha1-kubernetesexecution,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubernetesexecution.kubernaut.io,resources=kubernetesexecutions,verbs=create;update,versions=v1alpha1,name=vkubernetesexecution.kubernaut.io,admissionReviewVersions=v1,timeoutSeconds=5
