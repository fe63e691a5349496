package promquery

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// apiResponse is the envelope of every answer of Prometheus' HTTP API.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// vectorSample is one series of an instant vector: a float sample in Value, or a
// native histogram in Histogram.
type vectorSample struct {
	Metric    map[string]string `json:"metric"`
	Value     json.RawMessage   `json:"value"`
	Histogram json.RawMessage   `json:"histogram"`
}

// decode converts a 2xx answer's body into Query's result.
func decode(body []byte, maxSeries int) (any, error) {
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, inconclusive(ReasonServerError, "the answer is not Prometheus API JSON: %v", err)
	}
	if resp.Status != "success" {
		text := capText(resp.Error)
		if resp.ErrorType == "bad_data" || resp.ErrorType == "execution" {
			return nil, fmt.Errorf("query refused by Prometheus (%s): %q", resp.ErrorType, text)
		}
		return nil, inconclusive(ReasonServerError, "Prometheus answered status %q (%s): %q", capText(resp.Status), capText(resp.ErrorType), text)
	}
	switch resp.Data.ResultType {
	case "scalar":
		v, err := parseSample(resp.Data.Result)
		if err != nil {
			return nil, err
		}
		if err := checkFinite(v, "the scalar result"); err != nil {
			return nil, err
		}
		return v, nil
	case "vector":
		return decodeVector(resp.Data.Result, maxSeries)
	case "matrix":
		return nil, fmt.Errorf("query returned a range vector (matrix); use an instant query, e.g. rate(metric[5m]) instead of metric[5m]")
	case "string":
		return nil, fmt.Errorf("query returned a string; a condition needs a number or an instant vector")
	default:
		return nil, inconclusive(ReasonServerError, "Prometheus answered an unknown result type %q", capText(resp.Data.ResultType))
	}
}

// decodeVector checks the query's own faults first (too many series, histograms,
// label sets that collide), since they hold on every try, then the values.
func decodeVector(raw json.RawMessage, maxSeries int) (any, error) {
	var samples []vectorSample
	if err := json.Unmarshal(raw, &samples); err != nil {
		return nil, inconclusive(ReasonServerError, "the vector in Prometheus' answer is malformed: %v", err)
	}
	if len(samples) == 0 {
		return nil, inconclusive(ReasonEmpty, "query returned no series (empty vector)")
	}
	if len(samples) > maxSeries {
		return nil, fmt.Errorf("query returned more than %d series; aggregate it (e.g. sum by (pod) (...)) so that it returns fewer", maxSeries)
	}
	keys := make([]string, len(samples))
	seen := make(map[string]bool, len(samples))
	for i, s := range samples {
		keys[i] = labelKey(s.Metric)
		if len(s.Value) == 0 && len(s.Histogram) > 0 {
			return nil, fmt.Errorf("series %s is a native histogram; reduce it to a number, e.g. with histogram_quantile(0.99, ...)", keys[i])
		}
		if seen[keys[i]] {
			return nil, fmt.Errorf("query returned several series with the labels %s once __name__ is dropped; aggregate or select one so each label set is unique", keys[i])
		}
		seen[keys[i]] = true
	}
	values := make([]float64, len(samples))
	for i, s := range samples {
		v, err := parseSample(s.Value)
		if err != nil {
			return nil, err
		}
		if err := checkFinite(v, "series "+keys[i]); err != nil {
			return nil, err
		}
		values[i] = v
	}
	if len(samples) == 1 && keys[0] == "{}" {
		return values[0], nil
	}
	out := make(map[string]any, len(samples))
	for i, k := range keys {
		out[k] = values[i]
	}
	return out, nil
}

// parseSample parses a [<unix time>, "<value>"] pair; Prometheus sends the value
// as a string so that NaN and ±Inf survive JSON.
func parseSample(raw json.RawMessage) (float64, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return 0, inconclusive(ReasonServerError, "a sample in Prometheus' answer is not a [time, value] pair: %s", capText(string(raw)))
	}
	var text string
	if err := json.Unmarshal(pair[1], &text); err != nil {
		return 0, inconclusive(ReasonServerError, "a sample value in Prometheus' answer is not a string: %s", capText(string(pair[1])))
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, inconclusive(ReasonServerError, "a sample value in Prometheus' answer is not a number: %q", capText(text))
	}
	return v, nil
}

func checkFinite(v float64, what string) error {
	switch {
	case math.IsNaN(v):
		return inconclusive(ReasonNaN, "%s is NaN (e.g. a ratio of rates over no requests)", what)
	case math.IsInf(v, 0):
		return inconclusive(ReasonInf, "%s is %s (e.g. a division by a zero rate)", what, strconv.FormatFloat(v, 'f', -1, 64))
	}
	return nil
}

// labelKey renders a label set canonically: sorted by name, without __name__,
// values Go-quoted, names quoted only when they are not classic Prometheus names.
func labelKey(metric map[string]string) string {
	names := make([]string, 0, len(metric))
	for name := range metric {
		if name != "__name__" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "{}"
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		if classicName(name) {
			b.WriteString(name)
		} else {
			b.WriteString(strconv.Quote(name))
		}
		b.WriteByte('=')
		b.WriteString(strconv.Quote(metric[name]))
	}
	b.WriteByte('}')
	return b.String()
}

// classicName reports whether name matches [a-zA-Z_][a-zA-Z0-9_]*.
func classicName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
