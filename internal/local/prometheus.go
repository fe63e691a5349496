package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The local cluster runs no application that serves metrics, so its Prometheus
// records the error rates an application would have, with recording rules: the
// demo's third workflow reads them through a postcondition's metrics query, as a
// condition reads a real service's. Rates are ratios of failed requests.
const (
	errorRatioMetric = "service:http_requests:error_ratio"
	webAppErrorRatio = "0.002"
	checkoutRatio    = "0.047"
)

const prometheusConfig = `global:
  evaluation_interval: 1s
rule_files: [rules.yaml]
`

var prometheusRules = `groups:
  - name: local-cluster-error-ratios
    interval: 1s
    rules:
      - record: ` + errorRatioMetric + `
        expr: vector(` + webAppErrorRatio + `)
        labels: {namespace: production, service: web-app}
      - record: ` + errorRatioMetric + `
        expr: vector(` + checkoutRatio + `)
        labels: {namespace: production, service: checkout}
`

// startPrometheus runs bin/prometheus on a free loopback port with the recording
// rules above and waits until it answers with them; it returns its URL, for the
// manager's --prometheus-url.
func (c *Cluster) startPrometheus(ctx context.Context) (string, error) {
	dir := filepath.Join(c.opts.StateDir, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, content := range map[string]string{"prometheus.yml": prometheusConfig, "rules.yaml": prometheusRules} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := c.startProcess("prometheus", filepath.Join(c.opts.bin(), "prometheus"), nil,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	if err != nil {
		return "", err
	}
	base := "http://" + addr
	query := base + "/api/v1/query?query=" + url.QueryEscape(`count(`+errorRatioMetric+`)`)
	deadline := time.Now().Add(time.Minute)
	for {
		if n, err := scalar(ctx, query); err == nil && n == 2 {
			return base, nil
		}
		if !p.alive() {
			return "", fmt.Errorf("prometheus exited; end of its log (%s):\n%s", p.Log, tail(p.Log))
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("prometheus did not record the error ratios within a minute; end of its log (%s):\n%s", p.Log, tail(p.Log))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scalar runs an instant query whose answer is one series and returns its value.
func scalar(ctx context.Context, query string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, query, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = res.Body.Close() }()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, err
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("%d series", len(body.Data.Result))
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}
