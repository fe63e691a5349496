package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/harness"
)

// benchWorkflow has 10 scale_deployment steps of 9 conditions each, as the mutating
// webhook leaves them: the catalog's five step conditions (from the library) and four
// inline ones.
func benchWorkflow() *workflowv1alpha1.WorkflowExecution {
	wfe := &workflowv1alpha1.WorkflowExecution{
		TypeMeta:   metav1.TypeMeta{APIVersion: workflowv1alpha1.GroupVersion.String(), Kind: "WorkflowExecution"},
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "production"},
	}
	for n := int32(1); n <= 10; n++ {
		step := workflowv1alpha1.WorkflowStep{
			StepNumber: n, Action: "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: []byte(fmt.Sprintf(`{"deployment":{"name":"web-%d","namespace":"production","replicas":%d}}`, n, n))},
		}
		if n > 1 {
			step.DependsOn = []int32{n - 1}
		}
		for _, t := range []string{"deployment_exists", "cluster_capacity_available", "current_replicas_match"} {
			step.PreConditions = append(step.PreConditions, commonv1alpha1.ValidationCondition{Type: t, Injected: true})
		}
		for _, t := range []string{"desired_replicas_running", "deployment_health_check"} {
			step.PostConditions = append(step.PostConditions, commonv1alpha1.ValidationCondition{Type: t, Injected: true})
		}
		for i := range 4 {
			step.PreConditions = append(step.PreConditions, commonv1alpha1.ValidationCondition{
				Type: fmt.Sprintf("custom_check_%d", i),
				Rego: fmt.Sprintf("package custom.check%d\nallow if input.ready_pods >= %d\nerror_message := \"not enough ready pods\"\n", i, i),
			})
		}
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, step)
	}
	return wfe
}

// BenchmarkAdmission measures the validating webhook's admission of benchWorkflow
// over TLS on loopback with 16 concurrent clients, against a webhook served the
// same way that admits without looking. It reports p50 and p99 latency.
//
// go test ./webhook -run '^$' -bench Admission -benchtime 4000x
func BenchmarkAdmission(b *testing.B) {
	scheme := harness.NewScheme()
	validating := admission.WithValidator[*workflowv1alpha1.WorkflowExecution](scheme, newValidator(b))
	noop := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	body := admissionReview(b, benchWorkflow())

	for _, c := range []struct {
		name    string
		handler http.Handler
	}{{"noop", noop}, {"validating", validating}} {
		b.Run(c.name, func(b *testing.B) {
			server := httptest.NewUnstartedServer(c.handler)
			server.StartTLS()
			defer server.Close()
			client := server.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16

			var mu sync.Mutex
			var latencies []time.Duration
			b.SetParallelism(8) // 8 x GOMAXPROCS (2 here) = 16 clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					allowed, err := post(client, server.URL, body)
					if err != nil || !allowed {
						b.Errorf("admission failed: allowed=%v err=%v", allowed, err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(latencies)
			if len(latencies) > 0 {
				b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

func admissionReview(b *testing.B, wfe *workflowv1alpha1.WorkflowExecution) []byte {
	raw, err := json.Marshal(wfe)
	if err != nil {
		b.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "bench",
			Kind:      metav1.GroupVersionKind{Group: "workflow.kubernaut.io", Version: "v1alpha1", Kind: "WorkflowExecution"},
			Resource:  metav1.GroupVersionResource{Group: "workflow.kubernaut.io", Version: "v1alpha1", Resource: "workflowexecutions"},
			Name:      wfe.Name,
			Namespace: wfe.Namespace,
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "bench"},
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func post(client *http.Client, url string, body []byte) (bool, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer func() { _ = resp.Body.Close() }()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
		return false, err
	}
	if review.Response == nil {
		return false, fmt.Errorf("no response")
	}
	if !review.Response.Allowed && review.Response.Result != nil {
		return false, fmt.Errorf("denied: %s", review.Response.Result.Message)
	}
	return review.Response.Allowed, nil
}
