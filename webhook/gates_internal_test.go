package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
)

// TestStampsCannotBeForged: a client the mutating webhook did not see (a
// bypassed or misconfigured webhook configuration) cannot write override-by and
// override-at of its choosing.
func TestStampsCannotBeForged(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	at := now.Format(time.RFC3339)
	set := map[string]string{
		commonv1alpha1.OverrideConditionAnnotation: "x",
		commonv1alpha1.OverrideReasonAnnotation:    "r",
		commonv1alpha1.OverrideByAnnotation:        "olga",
		commonv1alpha1.OverrideAtAnnotation:        at,
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name         string
		old, current map[string]string
		sender       string
		field        string // "" when admitted
	}{
		{"stamped on CREATE", nil, set, "olga", ""},
		{"someone else's name on CREATE", nil, with(set, commonv1alpha1.OverrideByAnnotation, "mallory"), "olga",
			"metadata.annotations[kubernaut.io/override-by]"},
		{"no stamp on CREATE", nil, with(set, commonv1alpha1.OverrideByAnnotation, "-", commonv1alpha1.OverrideAtAnnotation, "-"), "olga",
			"metadata.annotations[kubernaut.io/override-by]"},
		{"a time long past", nil, with(set, commonv1alpha1.OverrideAtAnnotation, "2000-01-01T00:00:00Z"), "olga",
			"metadata.annotations[kubernaut.io/override-at]"},
		{"a stamp without an override", nil, map[string]string{commonv1alpha1.OverrideByAnnotation: "olga"}, "olga",
			"metadata.annotations[kubernaut.io/override-by]"},
		{"unchanged on UPDATE", set, set, "otto", ""},
		{"changed alone on UPDATE", set, with(set, commonv1alpha1.OverrideByAnnotation, "otto"), "otto",
			"metadata.annotations[kubernaut.io/override-by]"},
		{"the old stamp kept when the reason changes", set, with(set, commonv1alpha1.OverrideReasonAnnotation, "r2"), "otto",
			"metadata.annotations[kubernaut.io/override-by]"},
		{"restamped when the reason changes", set, with(set, commonv1alpha1.OverrideReasonAnnotation, "r2", commonv1alpha1.OverrideByAnnotation, "otto"), "otto", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := checkStamps(tc.old, tc.current, tc.sender, now)
			switch {
			case tc.field == "" && len(errs) > 0:
				t.Errorf("refused: %v", errs)
			case tc.field != "" && (len(errs) == 0 || errs[0].Field != tc.field):
				t.Errorf("got %v, want a refusal at %s", errs, tc.field)
			}
		})
	}
}

// TestSelfApproval: the requester's own approval is refused unless the manager
// allows self-approval.
func TestSelfApproval(t *testing.T) {
	allowAll := interceptor.Funcs{Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
		obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
		return nil
	}}
	alice := authenticationv1.UserInfo{Username: "alice"}
	old := &kubernetesexecutionv1alpha1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns",
		Annotations: map[string]string{commonv1alpha1.RequestedByAnnotation: authority.FromUserInfo(alice).Encode()}}}
	old.Spec.ExecutionStrategy.ApprovalRequired = true
	ke := old.DeepCopy()
	ke.Spec.Approvals = []commonv1alpha1.Approval{{Approver: "alice", Decision: commonv1alpha1.Approve, Reason: "mine"}}
	ctx := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, UserInfo: alice}})

	for _, allowSelf := range []bool{false, true} {
		w := &Webhooks{AllowSelfApproval: allowSelf,
			Authority: &authority.Reviewer{Client: fake.NewClientBuilder().WithInterceptorFuncs(allowAll).Build()}}
		r := review{obj: ke, old: old, oldAnnotations: old.Annotations, gates: executionGates(old, ke, w)}
		errs := w.checkApprovals(ctx, r, authority.FromUserInfo(alice), true)
		switch {
		case allowSelf && len(errs) > 0:
			t.Errorf("with self-approval allowed, refused: %v", errs)
		case !allowSelf && (len(errs) != 1 || !strings.Contains(errs[0].Detail, `user "alice" requested this run and may not approve it`)):
			t.Errorf("without self-approval, got %v", errs)
		}
	}
}
