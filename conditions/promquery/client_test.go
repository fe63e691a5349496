package promquery

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// prometheus is an httptest server that answers /api/v1/query as Prometheus does,
// with the body and status a test sets, and records what it was asked.
type prometheus struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   string
	seen   []request
}

// request is what the server keeps of a request it answered.
type request struct {
	path, authorization string
	form                url.Values
}

func newPrometheus(t *testing.T, status int, body string) *prometheus {
	t.Helper()
	p := &prometheus{status: status, body: body}
	p.Server = httptest.NewServer(p)
	t.Cleanup(p.Close)
	return p
}

func (p *prometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/api/v1/query") {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, request{path: r.URL.Path, authorization: r.Header.Get("Authorization"), form: r.PostForm})
	status, body := p.status, p.body
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// requests returns the requests answered so far.
func (p *prometheus) requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.seen...)
}

func success(resultType, result string) string {
	return fmt.Sprintf(`{"status":"success","data":{"resultType":%q,"result":%s}}`, resultType, result)
}

// vectorOf renders series as an instant vector; each entry is a metric JSON
// object and a value string.
func vectorOf(series ...[2]string) string {
	parts := make([]string, len(series))
	for i, s := range series {
		parts[i] = fmt.Sprintf(`{"metric":%s,"value":[1712345678.123,%q]}`, s[0], s[1])
	}
	return success("vector", "["+strings.Join(parts, ",")+"]")
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c
}

func TestQueryConvertsResults(t *testing.T) {
	cases := []struct {
		name string
		body string
		want any
	}{
		{"scalar", success("scalar", `[1712345678.123,"0.25"]`), 0.25},
		{"one series without labels is a number", vectorOf([2]string{`{}`, "0.01"}), 0.01},
		{"one series with only __name__ is a number", vectorOf([2]string{`{"__name__":"up"}`, "1"}), 1.0},
		{"one labelled series is a map", vectorOf([2]string{`{"__name__":"up","pod":"web-1"}`, "1"}),
			map[string]any{`{pod="web-1"}`: 1.0}},
		{"labelled vector is a map with sorted keys, __name__ dropped", vectorOf(
			[2]string{`{"pod":"web-1","container":"app","__name__":"x"}`, "0.5"},
			[2]string{`{"pod":"web-2","container":"app"}`, "-2e-3"},
		), map[string]any{`{container="app",pod="web-1"}`: 0.5, `{container="app",pod="web-2"}`: -0.002}},
		{"label values are Go-quoted, unusual names quoted", vectorOf(
			[2]string{`{"path":"/a\"b\\c","service.name":"é"}`, "3"},
			[2]string{`{}`, "4"},
		), map[string]any{`{path="/a\"b\\c","service.name"="é"}`: 3.0, `{}`: 4.0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPrometheus(t, http.StatusOK, tc.body)
			got, err := newClient(t, Config{URL: p.URL}).Query(context.Background(), `sum(rate(http_requests_total[5m]))`)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Query = %#v, want %#v", got, tc.want)
			}
			if q := p.requests()[0].form["query"]; len(q) != 1 || q[0] != `sum(rate(http_requests_total[5m]))` {
				t.Fatalf("server got query %q", q)
			}
		})
	}
}

func TestQueryInconclusive(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		reason  string
		message string
	}{
		{"empty vector", 200, success("vector", `[]`), ReasonEmpty, "no series"},
		{"scalar NaN", 200, success("scalar", `[1,"NaN"]`), ReasonNaN, "scalar result is NaN"},
		{"series NaN", 200, vectorOf([2]string{`{"pod":"a"}`, "1"}, [2]string{`{"pod":"b"}`, "NaN"}), ReasonNaN, `series {pod="b"} is NaN`},
		{"+Inf", 200, vectorOf([2]string{`{}`, "+Inf"}), ReasonInf, "is +Inf"},
		{"-Inf", 200, success("scalar", `[1,"-Inf"]`), ReasonInf, "is -Inf"},
		{"503", 503, `{"status":"error","errorType":"unavailable","error":"TSDB not ready"}`, ReasonServerError, `HTTP 503 unavailable: "TSDB not ready"`},
		{"503 timeout is a Timeout", 503, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`, ReasonTimeout, "query timed out"},
		{"500 plain text", 500, "internal error\n", ReasonServerError, `HTTP 500: "internal error"`},
		{"429", 429, "slow down", ReasonServerError, `HTTP 429: "slow down"`},
		{"401", 401, "Unauthorized", ReasonServerError, "check the bearer token file"},
		{"404", 404, "404 page not found", ReasonServerError, "check the URL"},
		{"not JSON", 200, "<html>hello</html>", ReasonServerError, "not Prometheus API JSON"},
		{"value not a number", 200, success("scalar", `[1,"many"]`), ReasonServerError, "not a number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPrometheus(t, tc.status, tc.body)
			got, err := newClient(t, Config{URL: p.URL}).Query(context.Background(), `up`)
			inc, ok := IsInconclusive(err)
			if !ok {
				t.Fatalf("Query = %v, %v; want an inconclusive %s", got, err, tc.reason)
			}
			if inc.Reason != tc.reason || !strings.Contains(inc.Message, tc.message) {
				t.Fatalf("Query error = %v; want reason %s and message containing %q", err, tc.reason, tc.message)
			}
		})
	}
}

func TestQueryRefused(t *testing.T) {
	long := strings.Repeat("é", 400)
	cases := []struct {
		name    string
		status  int
		body    string
		message string
	}{
		{"matrix", 200, success("matrix", `[{"metric":{},"values":[[1,"1"],[2,"2"]]}]`), "query returned a range vector (matrix); use an instant query"},
		{"string", 200, success("string", `[1,"hello"]`), "query returned a string"},
		{"too many series", 200, vectorOf([2]string{`{"pod":"a"}`, "1"}, [2]string{`{"pod":"b"}`, "1"}, [2]string{`{"pod":"c"}`, "1"}, [2]string{`{"pod":"d"}`, "1"}),
			"more than 3 series"},
		{"too many series wins over NaN", 200, vectorOf([2]string{`{"pod":"a"}`, "NaN"}, [2]string{`{"pod":"b"}`, "1"}, [2]string{`{"pod":"c"}`, "1"}, [2]string{`{"pod":"d"}`, "1"}),
			"more than 3 series"},
		{"label sets equal without __name__", 200, vectorOf([2]string{`{"__name__":"a","pod":"x"}`, "1"}, [2]string{`{"__name__":"b","pod":"x"}`, "2"}),
			`several series with the labels {pod="x"}`},
		{"native histogram", 200, success("vector", `[{"metric":{"le":"x"},"histogram":[1,{"count":"3","sum":"1"}]}]`), "native histogram"},
		{"400 bad_data", 400, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unexpected right parenthesis ')'"}`,
			`query refused by Prometheus (HTTP 400 bad_data): "invalid parameter \"query\": 1:6: parse error: unexpected right parenthesis ')'"`},
		{"422 execution", 422, `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`,
			`HTTP 422 execution): "query processing would load too many samples`},
		{"400 error text capped", 400, `{"status":"error","errorType":"bad_data","error":"` + long + `"}`, strings.Repeat("é", 128) + `…"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPrometheus(t, tc.status, tc.body)
			got, err := newClient(t, Config{URL: p.URL, MaxSeries: 3}).Query(context.Background(), `up`)
			if err == nil {
				t.Fatalf("Query = %v; want an error containing %q", got, tc.message)
			}
			if _, ok := IsInconclusive(err); ok {
				t.Fatalf("Query error = %v; want a refusal, not inconclusive", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Query error = %v; want it to contain %q", err, tc.message)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("Query error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestQueryAsksForOneSeriesMoreThanAllowedAndTheTimeout(t *testing.T) {
	p := newPrometheus(t, 200, success("scalar", `[1,"1"]`))
	if _, err := newClient(t, Config{URL: p.URL, MaxSeries: 5, Timeout: 1500 * time.Millisecond}).Query(context.Background(), `up`); err != nil {
		t.Fatal(err)
	}
	if got := p.requests()[0].form["limit"]; len(got) != 1 || got[0] != "6" {
		t.Fatalf("limit = %q, want 6", got)
	}
	if got := p.requests()[0].form["timeout"]; len(got) != 1 || got[0] != "1.5" {
		t.Fatalf("timeout = %q, want 1.5", got)
	}
}

func TestQueryRefusesALargeAnswer(t *testing.T) {
	var series [][2]string
	for i := range 40 {
		series = append(series, [2]string{fmt.Sprintf(`{"pod":"web-%d","padding":"%s"}`, i, strings.Repeat("p", 100)), "1"})
	}
	body := vectorOf(series...)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					_, _ = w.Write([]byte(body))
					return
				}
				// No Content-Length: the client must stop reading at its bound.
				for i := 0; i < len(body); i += 512 {
					_, _ = w.Write([]byte(body[i:min(i+512, len(body))]))
					w.(http.Flusher).Flush()
				}
			}))
			defer srv.Close()
			got, err := newClient(t, Config{URL: srv.URL, MaxBodyBytes: 2048}).Query(context.Background(), `up`)
			if err == nil || !strings.Contains(err.Error(), "larger than 2048 bytes") {
				t.Fatalf("Query = %v, %v; want a refusal for size", got, err)
			}
			if _, ok := IsInconclusive(err); ok {
				t.Fatalf("Query error = %v; want a refusal, not inconclusive", err)
			}
			// The same answer fits the default bound.
			if _, err := newClient(t, Config{URL: srv.URL}).Query(context.Background(), `up`); err != nil {
				t.Fatalf("Query with the default bound: %v", err)
			}
		})
	}
}

func TestQueryTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		waitForClientToLeave(r)
		_, _ = w.Write([]byte(success("scalar", `[1,"1"]`)))
	}))
	defer srv.Close()
	start := time.Now()
	_, err := newClient(t, Config{URL: srv.URL, Timeout: 150 * time.Millisecond}).Query(context.Background(), `up`)
	if inc, ok := IsInconclusive(err); !ok || inc.Reason != ReasonTimeout {
		t.Fatalf("Query error = %v; want inconclusive Timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Query took %s with a 150ms timeout", elapsed)
	}
}

func TestQueryTimesOutOnASlowBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":`))
		w.(http.Flusher).Flush()
		waitForClientToLeave(r)
	}))
	defer srv.Close()
	_, err := newClient(t, Config{URL: srv.URL, Timeout: 150 * time.Millisecond}).Query(context.Background(), `up`)
	if inc, ok := IsInconclusive(err); !ok || inc.Reason != ReasonTimeout {
		t.Fatalf("Query error = %v; want inconclusive Timeout", err)
	}
}

func TestQueryCancelledByTheCallerIsNotInconclusive(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		waitForClientToLeave(r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := newClient(t, Config{URL: srv.URL}).Query(ctx, `up`)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Query error = %v; want one wrapping context.Canceled", err)
	}
	if _, ok := IsInconclusive(err); ok {
		t.Fatalf("Query error = %v; a caller's cancellation is not inconclusive", err)
	}
}

func TestQueryUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, err = newClient(t, Config{URL: "http://" + addr}).Query(context.Background(), `up`)
	inc, ok := IsInconclusive(err)
	if !ok || inc.Reason != ReasonUnreachable || !strings.Contains(inc.Message, "connection refused") {
		t.Fatalf("Query error = %v; want inconclusive Unreachable, connection refused", err)
	}
}

func TestQueryDoesNotFollowRedirects(t *testing.T) {
	target := newPrometheus(t, 200, success("scalar", `[1,"1"]`))
	srv := httptest.NewServer(http.RedirectHandler(target.URL+"/api/v1/query", http.StatusTemporaryRedirect))
	defer srv.Close()
	_, err := newClient(t, Config{URL: srv.URL}).Query(context.Background(), `up`)
	if inc, ok := IsInconclusive(err); !ok || inc.Reason != ReasonServerError || !strings.Contains(inc.Message, "redirect") {
		t.Fatalf("Query error = %v; want inconclusive ServerError naming the redirect", err)
	}
	if len(target.requests()) != 0 {
		t.Fatalf("the redirect was followed")
	}
}

func TestQueryUsesThePathPrefix(t *testing.T) {
	p := newPrometheus(t, 200, success("scalar", `[1,"1"]`))
	for _, prefix := range []string{"/prometheus", "/prometheus/"} {
		if _, err := newClient(t, Config{URL: p.URL + prefix}).Query(context.Background(), `up`); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range p.requests() {
		if r.path != "/prometheus/api/v1/query" {
			t.Fatalf("request path %q, want /prometheus/api/v1/query", r.path)
		}
	}
}

func TestQueryReadsTheBearerTokenAtEachQuery(t *testing.T) {
	p := newPrometheus(t, 200, success("scalar", `[1,"1"]`))
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "first-token\n")
	c := newClient(t, Config{URL: p.URL, BearerTokenFile: tokenFile})
	if _, err := c.Query(context.Background(), `up`); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tokenFile, "rotated-token")
	if _, err := c.Query(context.Background(), `up`); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.requests() {
		got = append(got, r.authorization)
	}
	if want := []string{"Bearer first-token", "Bearer rotated-token"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Authorization headers = %q, want %q", got, want)
	}

	// A token file emptied (or removed) while running makes the query inconclusive.
	writeFile(t, tokenFile, "")
	_, err := c.Query(context.Background(), `up`)
	if inc, ok := IsInconclusive(err); !ok || inc.Reason != ReasonUnreachable || !strings.Contains(inc.Message, "is empty") {
		t.Fatalf("Query error = %v; want inconclusive Unreachable for an empty token file", err)
	}
	if len(p.requests()) != 2 {
		t.Fatalf("a query was sent without a token")
	}
}

func TestQueryOverHTTPSWithACAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(success("scalar", `[1,"42"]`)))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	got, err := newClient(t, Config{URL: srv.URL, CAFile: caFile}).Query(context.Background(), `up`)
	if err != nil || got != 42.0 {
		t.Fatalf("Query = %v, %v; want 42", got, err)
	}

	// Without the CA the server's certificate is not trusted.
	_, err = newClient(t, Config{URL: srv.URL}).Query(context.Background(), `up`)
	if inc, ok := IsInconclusive(err); !ok || inc.Reason != ReasonUnreachable || !strings.Contains(inc.Message, "certificate") {
		t.Fatalf("Query error = %v; want inconclusive Unreachable about the certificate", err)
	}
}

func TestNewRefusesBadConfigs(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, "hello")
	token := filepath.Join(dir, "token")
	writeFile(t, token, "t")
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty URL", Config{}, "URL is empty"},
		{"bad scheme", Config{URL: "ftp://prometheus:9090"}, `scheme must be http or https, not "ftp"`},
		{"no scheme", Config{URL: "prometheus:9090"}, "scheme must be http or https"},
		{"no host", Config{URL: "http:///api"}, "has no host"},
		{"credentials in the URL", Config{URL: "http://user:secret@prometheus:9090"}, "carries credentials"},
		{"query in the URL", Config{URL: "http://prometheus:9090/?x=1"}, "must not have a query"},
		{"negative timeout", Config{URL: "http://p:9090", Timeout: -time.Second}, "timeout -1s is negative"},
		{"negative max series", Config{URL: "http://p:9090", MaxSeries: -1}, "max series -1 is negative"},
		{"negative max body", Config{URL: "http://p:9090", MaxBodyBytes: -1}, "max body bytes -1 is negative"},
		{"CA file with http", Config{URL: "http://p:9090", CAFile: notPEM}, "is not https"},
		{"unreadable CA file", Config{URL: "https://p:9090", CAFile: filepath.Join(dir, "missing.pem")}, "CA file: open " + filepath.Join(dir, "missing.pem")},
		{"CA file without PEM", Config{URL: "https://p:9090", CAFile: notPEM}, "holds no PEM certificate"},
		{"missing token file", Config{URL: "http://p:9090", BearerTokenFile: filepath.Join(dir, "nope")}, "bearer token file: open"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", c, err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("New error %q shows the URL's password", err)
			}
		})
	}
	if _, err := New(Config{URL: "https://p:9090/prefix", BearerTokenFile: token}); err != nil {
		t.Fatalf("New with a good config: %v", err)
	}
}

// waitForClientToLeave holds a handler until the client closes the connection, or
// 5s. The request body is read first: only then does the server notice a close.
func waitForClientToLeave(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
