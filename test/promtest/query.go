package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseBytes bounds what Query reads of an answer.
const maxResponseBytes = 8 << 20

// pollInterval is how often WaitFor asks again.
const pollInterval = 200 * time.Millisecond

// Sample is one element of an instant query's result.
type Sample struct {
	// Labels are the series' labels; nil for a scalar result.
	Labels Labels
	Value  float64
}

func (s Sample) String() string { return formatLabels(s.Labels) + " " + formatValue(s.Value) }

// Query runs an instant query at the current time through /api/v1/query, as the
// manager does (bearer token and CA included), and returns a scalar result as
// one sample without labels and a vector's samples in Prometheus's order. A
// range vector or string result is an error.
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	form := url.Values{"query": {query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("query %q: reading the answer: %w", query, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("query %q: answer larger than %d bytes", query, maxResponseBytes)
	}
	samples, err := decodeQueryResponse(body)
	if err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", query, res.Status, err)
	}
	return samples, nil
}

// WaitFor polls query until it returns exactly one sample whose value satisfies
// cond, and returns that value: e.g. until an error rate is about 0.05 once the
// exporter's new counters have been scraped twice. When ctx ends first, the
// error says what the query returned last.
func (p *Prometheus) WaitFor(ctx context.Context, query string, cond func(float64) bool) (float64, error) {
	samples, err := p.WaitForSamples(ctx, query, func(s []Sample) bool { return len(s) == 1 && cond(s[0].Value) })
	if err != nil {
		return 0, err
	}
	return samples[0].Value, nil
}

// WaitForSamples polls query until cond accepts its samples (none for an empty
// result) and returns them. A query Prometheus refuses (a syntax error) ends the
// wait at once.
func (p *Prometheus) WaitForSamples(ctx context.Context, query string, cond func([]Sample) bool) ([]Sample, error) {
	var last string
	for {
		samples, err := p.Query(ctx, query)
		var refused *queryError
		switch {
		case errors.As(err, &refused) && refused.Type == "bad_data":
			return nil, err
		case err != nil:
			last = err.Error()
		case cond(samples):
			return samples, nil
		default:
			last = describe(samples)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %q: %w; it last returned %s", query, ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}

func describe(samples []Sample) string {
	if len(samples) == 0 {
		return "an empty result"
	}
	parts := make([]string, len(samples))
	for i, s := range samples {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// queryError is an answer with status "error": errorType is e.g. bad_data
// (the query does not parse), timeout, execution.
type queryError struct{ Type, Message string }

func (e *queryError) Error() string { return e.Type + ": " + e.Message }

// decodeQueryResponse reads the API's answer:
// {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[1.5,"0.05"]}]}}.
func decodeQueryResponse(body []byte) ([]Sample, error) {
	var answer struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("not a Prometheus API answer: %w", err)
	}
	if answer.Status != "success" {
		return nil, &queryError{Type: answer.ErrorType, Message: answer.Error}
	}
	switch answer.Data.ResultType {
	case "scalar":
		var point json.RawMessage
		if err := json.Unmarshal(answer.Data.Result, &point); err != nil {
			return nil, fmt.Errorf("scalar result: %w", err)
		}
		v, err := pointValue(point)
		if err != nil {
			return nil, err
		}
		return []Sample{{Value: v}}, nil
	case "vector":
		var vector []struct {
			Metric Labels          `json:"metric"`
			Value  json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(answer.Data.Result, &vector); err != nil {
			return nil, fmt.Errorf("vector result: %w", err)
		}
		samples := make([]Sample, len(vector))
		for i, s := range vector {
			v, err := pointValue(s.Value)
			if err != nil {
				return nil, err
			}
			samples[i] = Sample{Labels: s.Metric, Value: v}
		}
		return samples, nil
	default:
		return nil, fmt.Errorf("result type %q: want an instant vector or a scalar", answer.Data.ResultType)
	}
}

// pointValue reads [<unix time>, "<value>"]; the value is a string so that NaN
// and ±Inf survive JSON.
func pointValue(raw json.RawMessage) (float64, error) {
	var point []any
	if err := json.Unmarshal(raw, &point); err != nil || len(point) != 2 {
		return 0, fmt.Errorf("sample %s: want [time, \"value\"]", raw)
	}
	s, ok := point[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample %s: the value is not a string", raw)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("sample %s: %w", raw, err)
	}
	return v, nil
}
