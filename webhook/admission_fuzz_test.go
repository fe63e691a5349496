package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/test/harness"
)

// fuzzManager is the manager's user in the fuzz targets' webhooks.
const fuzzManager = "system:serviceaccount:kubernaut-system:kubernaut-manager"

// admissionBound is how long one decision may take: the API server gives a
// webhook call 5 s (timeoutSeconds in the webhook configurations), and these
// decisions ask no one over the network.
const admissionBound = 5 * time.Second

// memoryReviewer answers SubjectAccessReviews in memory, deterministically, as
// TestSelfApproval's: everyone holds every permission, except user mallory, who
// holds none, and nobody holds any in namespace "locked".
func memoryReviewer() *authority.Reviewer {
	return &authority.Reviewer{AllowedFor: -1, Client: fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar, ok := obj.(*authorizationv1.SubjectAccessReview)
			if !ok {
				return fmt.Errorf("memoryReviewer: creating a %T", obj)
			}
			attrs := sar.Spec.ResourceAttributes
			sar.Status.Allowed = sar.Spec.User != "mallory" && (attrs == nil || attrs.Namespace != "locked")
			return nil
		},
	}).Build()}
}

// FuzzAdmission is the validating webhooks' decision on a whole object: the
// same bytes as a WorkflowExecution and as a KubernetesExecution, created (no
// oldObject) or updated, by sender, perhaps as a dry run, each as sent (a client
// the mutating webhook did not see) and as the mutating webhook leaves it (the
// API server's order). The requester's and the sender's permissions come from
// memoryReviewer, the dry run's facts from an empty in-memory cluster. For every
// decision: nothing panics; it is admitted, or refused with an Invalid error of
// the object's kind whose causes each name a field and none is an internal
// error (nothing here can fail to answer); the same request gets the same
// answer (the same warnings too, but on a dry run, whose preflight evaluates
// policies under a deadline); the object is left as it was; and it takes less
// than admissionBound.
func FuzzAdmission(f *testing.F) {
	v := newValidator(f)
	w := v.w
	w.Authority = memoryReviewer()
	w.ManagerUsername = fuzzManager
	w.Conditions.Reader = fake.NewClientBuilder().WithScheme(harness.NewScheme()).Build()
	// A preflight cut short answers differently the second time: a preflight this
	// long fails the bound anyway.
	w.PreflightBudget = admissionBound
	workflows := admissionKind[workflowv1alpha1.WorkflowExecution, *workflowv1alpha1.WorkflowExecution]{
		kind: "WorkflowExecution", validator: v, defaulter: &workflowDefaulter{w: w}}
	executions := admissionKind[kubernetesexecutionv1alpha1.KubernetesExecution, *kubernetesexecutionv1alpha1.KubernetesExecution]{
		kind: "KubernetesExecution", validator: &executionValidator{w}, defaulter: &executionDefaulter{w: w}}

	// More seeds, one per case, are in testdata/fuzz/FuzzAdmission.
	alice := authority.Requester{Username: "alice", Groups: []string{"sre", "system:authenticated"}}
	recorded := twoSteps()
	recorded.Name, recorded.Namespace = "scale", "prod"
	recorded.Annotations = map[string]string{commonv1alpha1.RequestedByAnnotation: alice.Encode()}
	seed, err := utiljson.Marshal(recorded)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, []byte{}, "alice", false)
	f.Add(seed, seed, "bob", true)

	f.Fuzz(func(t *testing.T, object, oldObject []byte, sender string, dryRun bool) {
		in := admissionInput{object: object, oldObject: oldObject, dryRun: dryRun,
			sender: authenticationv1.UserInfo{Username: sender, Groups: alice.Groups}}
		workflows.admit(t, in)
		executions.admit(t, in)
	})
}

// admissionInput is one request of FuzzAdmission.
type admissionInput struct {
	object, oldObject []byte
	sender            authenticationv1.UserInfo
	dryRun            bool
}

// admissionKind is the validating and mutating webhooks of one kind.
type admissionKind[E any, T interface {
	*E
	runtime.Object
	metav1.Object
}] struct {
	kind      string
	validator admission.Validator[T]
	defaulter admission.Defaulter[T]
}

// admit decodes the input as the webhooks do (validatingWebhook.decodeTyped) and
// checks the decision on the object as sent and as the mutating webhook leaves it.
func (k admissionKind[E, T]) admit(t *testing.T, in admissionInput) {
	obj := T(new(E))
	if utiljson.Unmarshal(in.object, obj) != nil {
		return
	}
	op := admissionv1.Create
	var old T
	if len(in.oldObject) > 0 {
		old = T(new(E))
		if utiljson.Unmarshal(in.oldObject, old) != nil {
			return
		}
		op = admissionv1.Update
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "fuzz", Operation: op, Name: obj.GetName(), Namespace: obj.GetNamespace(), UserInfo: in.sender, DryRun: &in.dryRun,
		Object: runtime.RawExtension{Raw: in.object}, OldObject: runtime.RawExtension{Raw: in.oldObject},
	}}
	ctx := admission.NewContextWithRequest(context.Background(), req)

	k.check(t, ctx, "as sent", old, obj)
	mutated := obj.DeepCopyObject().(T)
	if err := k.defaulter.Default(ctx, mutated); err == nil {
		k.check(t, ctx, "as the mutating webhook leaves it", old, mutated)
	}
}

// check decides on obj twice and checks the decisions.
func (k admissionKind[E, T]) check(t *testing.T, ctx context.Context, label string, old, obj T) {
	t.Helper()
	start := time.Now()
	warnings, err := k.decide(t, ctx, old, obj)
	if took := time.Since(start); took > admissionBound {
		t.Errorf("%s %s: the decision took %s, more than %s", k.kind, label, took, admissionBound)
	}
	if err != nil {
		if cause := k.malformed(err); cause != "" {
			t.Fatalf("%s %s: %s: %v", k.kind, label, cause, err)
		}
	}
	if testing.Verbose() {
		t.Logf("%s %s: %v %q", k.kind, label, err, warnings)
	}
	again, errAgain := k.decide(t, ctx, old, obj)
	// A dry run's preflight warns of the policies that would fail now, and one
	// evaluated near its deadline may fail only once.
	sameWarnings := isDryRun(ctx) || slices.Equal(warnings, again)
	if !sameWarnings || !equalErrors(err, errAgain) {
		t.Fatalf("%s %s: the same request is decided differently:\n%v\n%q\nthen\n%v\n%q", k.kind, label, err, warnings, errAgain, again)
	}
}

// decide is the validating webhook's decision on obj, as validateHandler.Handle
// makes it: CREATE without an old object, UPDATE with one. The objects must come
// back as they went in.
func (k admissionKind[E, T]) decide(t *testing.T, ctx context.Context, old, obj T) (admission.Warnings, error) {
	t.Helper()
	objBefore := obj.DeepCopyObject()
	if old == nil {
		warnings, err := k.validator.ValidateCreate(ctx, obj)
		if !equality.Semantic.DeepEqual(objBefore, runtime.Object(obj)) {
			t.Fatalf("%s: validating the create changed the object", k.kind)
		}
		return warnings, err
	}
	oldBefore := old.DeepCopyObject()
	warnings, err := k.validator.ValidateUpdate(ctx, old, obj)
	if !equality.Semantic.DeepEqual(objBefore, runtime.Object(obj)) || !equality.Semantic.DeepEqual(oldBefore, runtime.Object(old)) {
		t.Fatalf("%s: validating the update changed the objects", k.kind)
	}
	return warnings, err
}

// malformed says what is wrong with a refusal, "" when nothing: decide refuses
// with one Invalid error of the object's kind, a cause per field error.
func (k admissionKind[E, T]) malformed(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		return fmt.Sprintf("refused with %T, not an Invalid error", err)
	}
	details := status.Status().Details
	switch {
	case details == nil || len(details.Causes) == 0:
		return "refused without causes"
	case details.Kind != k.kind:
		return fmt.Sprintf("refused as a %q", details.Kind)
	}
	for _, c := range details.Causes {
		switch {
		case c.Field == "":
			return fmt.Sprintf("a cause names no field: %+v", c)
		case c.Type == metav1.CauseType(field.ErrorTypeInternal):
			return fmt.Sprintf("an internal error at %s, though nothing here can fail to answer", c.Field)
		}
	}
	return ""
}

func equalErrors(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var sa, sb apierrors.APIStatus
	if errors.As(a, &sa) && errors.As(b, &sb) {
		return equality.Semantic.DeepEqual(sa.Status(), sb.Status())
	}
	return a.Error() == b.Error()
}
