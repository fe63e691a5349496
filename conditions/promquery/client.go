package promquery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for the zero values of Config's bounds.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxSeries    = 64
	DefaultMaxBodyBytes = 1 << 20
)

const (
	// maxTokenBytes bounds the bearer token file: a token is a few KiB at most.
	maxTokenBytes = 64 << 10
	// maxErrorBodyBytes bounds what is read of an error answer to find its text.
	maxErrorBodyBytes = 64 << 10
	// maxErrorTextBytes bounds Prometheus' error text quoted in our messages,
	// which end up in statuses with size caps.
	maxErrorTextBytes = 256
)

// Config says where Prometheus is and how much a query may cost.
type Config struct {
	URL             string        // http(s)://host:port[/prefix]; the API is at URL+"/api/v1/query"
	CAFile          string        // PEM CA bundle for https; empty: system roots
	BearerTokenFile string        // read at each query (so a rotated token is used); empty: none
	Timeout         time.Duration // per query; default 10s when zero
	MaxSeries       int           // default 64 when zero: more series in a result is refused
	MaxBodyBytes    int64         // default 1 MiB when zero: a larger answer is refused
}

// Client runs instant queries against one Prometheus. It is safe for concurrent use.
type Client struct {
	endpoint  string // URL + /api/v1/query
	tokenFile string
	timeout   time.Duration
	maxSeries int
	maxBody   int64
	http      *http.Client
}

// New checks cfg and returns a Client for it. It reads the CA file, and the bearer
// token file once, so that a wrong path is reported at start rather than at the
// first query.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("the Prometheus URL is empty")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("the Prometheus URL is invalid: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("the Prometheus URL %q: scheme must be http or https, not %q", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("the Prometheus URL %q has no host", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("the Prometheus URL %q carries credentials; put a bearer token in a file (BearerTokenFile) instead", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("the Prometheus URL %q must not have a query or a fragment", u.Redacted())
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("the Prometheus query timeout %s is negative", cfg.Timeout)
	}
	if cfg.MaxSeries < 0 {
		return nil, fmt.Errorf("the Prometheus max series %d is negative", cfg.MaxSeries)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("the Prometheus max body bytes %d is negative", cfg.MaxBodyBytes)
	}
	if cfg.CAFile != "" && u.Scheme != "https" {
		return nil, fmt.Errorf("the Prometheus CA file %s is set but the URL %q is not https", cfg.CAFile, u.Redacted())
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("the Prometheus CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the Prometheus CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	if cfg.BearerTokenFile != "" {
		if _, err := readToken(cfg.BearerTokenFile); err != nil {
			return nil, err
		}
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	c := &Client{
		endpoint:  u.JoinPath("api", "v1", "query").String(),
		tokenFile: cfg.BearerTokenFile,
		timeout:   orDefault(cfg.Timeout, DefaultTimeout),
		maxSeries: orDefault(cfg.MaxSeries, DefaultMaxSeries),
		maxBody:   orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		http: &http.Client{
			Transport: transport,
			// A redirect could carry the bearer token elsewhere; the URL is to be fixed instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Query runs query as an instant query at the current time and returns its value:
// a float64 for a scalar or for a vector of one series without labels (such as
// sum(rate(...))), otherwise a map from each series' label set to its float64 value.
// The label set is rendered sorted by name, without __name__, with Go-quoted values:
// {container="app",pod="web-1"}; a label name that is not a classic Prometheus name
// is quoted too. A series with no label but __name__ beside other series gets the
// key {}; two series whose label sets are equal once __name__ is dropped (as with
// {__name__=~"a|b"}) would share a key, and are refused rather than one dropped.
//
// The error is an *InconclusiveError when the answer is no fact (see the package
// doc), or another error when the query cannot be used by a condition. A cancelled
// ctx gives an error wrapping ctx's error; a passed deadline is a Timeout.
func (c *Client) Query(ctx context.Context, query string) (any, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("query is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	form := url.Values{
		"query": {query},
		// Prometheus stops evaluating when we stop waiting...
		"timeout": {strconv.FormatFloat(c.timeout.Seconds(), 'f', -1, 64)},
		// ...and sends at most one series more than we accept (servers that do not
		// know the parameter ignore it, and the body bound still holds).
		"limit": {strconv.Itoa(c.maxSeries + 1)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building the request to %s: %w", c.endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.tokenFile != "" {
		token, err := readToken(c.tokenFile)
		if err != nil {
			return nil, &InconclusiveError{Reason: ReasonUnreachable, Message: err.Error()}
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp)
	}
	if resp.ContentLength > c.maxBody {
		return nil, c.tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, c.tooLarge()
	}
	return decode(body, c.maxSeries)
}

func (c *Client) tooLarge() error {
	return fmt.Errorf("the answer is larger than %d bytes; aggregate the query (e.g. sum by (pod) (...)) so that it returns fewer series", c.maxBody)
}

// transportError classifies an error that left no usable answer: a deadline is a
// Timeout, a cancellation by the caller is returned as such, anything else
// (refused connection, DNS, TLS, a connection lost mid-answer) is Unreachable.
func (c *Client) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return inconclusive(ReasonTimeout, "no answer from Prometheus within %s", c.timeout)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("query to Prometheus abandoned: %w", context.Cause(ctx))
	}
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		err = urlErr.Err
	}
	return inconclusive(ReasonUnreachable, "cannot reach Prometheus at %s: %v", c.endpoint, err)
}

// statusError turns a non-2xx answer into an error, quoting Prometheus' own error
// text. HTTP 400 and 422 are Prometheus refusing the query (bad syntax, too many
// samples): the query's fault. Everything else is not, and is inconclusive.
func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	var apiErr struct {
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	text := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
		text = apiErr.Error
	}
	text = capText(text)
	status := strconv.Itoa(resp.StatusCode)
	if apiErr.ErrorType != "" {
		status += " " + apiErr.ErrorType
	}
	switch code := resp.StatusCode; {
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		return fmt.Errorf("query refused by Prometheus (HTTP %s): %q", status, text)
	case code == http.StatusServiceUnavailable && apiErr.ErrorType == "timeout":
		return inconclusive(ReasonTimeout, "Prometheus gave up on the query (HTTP %s): %q", status, text)
	case code >= 300 && code <= 399:
		return inconclusive(ReasonServerError, "Prometheus answered HTTP %s, a redirect to %q; set the Prometheus URL to the final address",
			status, capText(resp.Header.Get("Location")))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return inconclusive(ReasonServerError, "Prometheus refused our credentials (HTTP %s): %q; check the bearer token file", status, text)
	case code == http.StatusNotFound:
		return inconclusive(ReasonServerError, "Prometheus answered HTTP %s for %s; check the URL and its path prefix", status, resp.Request.URL.Redacted())
	default: // 5xx, 429 and any other status
		return inconclusive(ReasonServerError, "Prometheus answered HTTP %s: %q", status, text)
	}
}

// capText cuts s to maxErrorTextBytes on a character boundary.
func capText(s string) string {
	if len(s) <= maxErrorTextBytes {
		return s
	}
	cut := maxErrorTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// readToken reads the bearer token, bounded, and refuses an empty one: a token
// file that exists but is empty is being rotated or was mounted wrong, and no
// header at all would only get a less clear 401.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("the Prometheus bearer token file: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("the Prometheus bearer token file %s: %w", path, err)
	}
	if len(data) > maxTokenBytes {
		return "", fmt.Errorf("the Prometheus bearer token file %s is larger than %d bytes", path, maxTokenBytes)
	}
	token := string(bytes.TrimSpace(data))
	if token == "" {
		return "", fmt.Errorf("the Prometheus bearer token file %s is empty", path)
	}
	if strings.ContainsAny(token, "\r\n") {
		return "", fmt.Errorf("the Prometheus bearer token file %s holds more than one line", path)
	}
	return token, nil
}
