package promquery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkQuery measures one query round trip on loopback against a server
// answering a two-series vector: the cost a condition adds per query and round.
func BenchmarkQuery(b *testing.B) {
	body := []byte(vectorOf(
		[2]string{`{"__name__":"http_requests_total","pod":"web-1","container":"app"}`, "0.012"},
		[2]string{`{"__name__":"http_requests_total","pod":"web-2","container":"app"}`, "0.034"},
	))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.Query(ctx, `sum by (pod, container) (rate(http_requests_total{namespace="shop"}[5m]))`)
		if err != nil {
			b.Fatal(err)
		}
		if len(v.(map[string]any)) != 2 {
			b.Fatalf("Query = %v", v)
		}
	}
}
