package facts

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"kubernaut.io/stepvalidation/catalog"
)

// A Gatherer with a MetricsAPIMemo asks an API server without the Metrics API
// once for many rounds; the package-level Gather, which has none, every round.
func TestGathererRemembersAbsentMetricsAPI(t *testing.T) {
	var lists int
	c := interceptor.NewClient(fakeWorkload().(client.WithWatch), interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*metricsv1beta1.PodMetricsList); ok {
				lists++
				return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: metricsv1beta1.GroupName, Kind: "PodMetrics"}}
			}
			return c.List(ctx, list, opts...)
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*metricsv1beta1.PodMetrics); ok {
				lists++
				return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: metricsv1beta1.GroupName, Kind: "PodMetrics"}}
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	params := map[string]any{"deployment": map[string]any{"name": "web", "namespace": "shop", "replicas": 2}}
	g := Gatherer{MetricsAPI: &catalog.MetricsAPIMemo{}}
	for range 3 {
		if _, err := g.Gather(context.Background(), c, "scale_deployment", params, Post, nil); err != nil {
			t.Fatal(err)
		}
	}
	if lists != 1 {
		t.Errorf("%d reads of the Metrics API in three rounds with a memo, want 1", lists)
	}
	lists = 0
	for range 3 {
		if _, err := Gather(context.Background(), c, "scale_deployment", params, Post, nil); err != nil {
			t.Fatal(err)
		}
	}
	if lists != 3 {
		t.Errorf("%d reads of the Metrics API in three rounds without a memo, want 3", lists)
	}
}
