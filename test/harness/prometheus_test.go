package harness_test

import (
	"context"
	"math"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"kubernaut.io/stepvalidation/test/promtest"
)

const prometheusToken = "harness-test-token"

var _ = Describe("Prometheus beside the control plane", func() {
	It("gives the manager's flags and serves what the exporter says", func(ctx SpecContext) {
		flags := cluster.PrometheusFlags()
		Expect(flags).To(HaveLen(3))
		Expect(flags[0]).To(HavePrefix("--prometheus-url=https://127.0.0.1:"))
		Expect(flags[0]).To(Equal("--prometheus-url=" + cluster.Prometheus().URL()))
		Expect(flags[1]).To(Equal("--prometheus-ca-file=" + cluster.Prometheus().CAFile()))
		Expect(flags[2]).To(Equal("--prometheus-bearer-token-file=" + cluster.Prometheus().BearerTokenFile()))
		token, err := os.ReadFile(strings.TrimPrefix(flags[2], "--prometheus-bearer-token-file="))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(token)).To(Equal(prometheusToken))

		Expect(cluster.Exporter().SetHTTPTraffic(promtest.HTTPApp{Namespace: "harness", Service: "web"}, 100, 0.05)).To(Succeed())
		wait, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rate, err := cluster.Prometheus().WaitFor(wait,
			`sum(rate(http_requests_total{namespace="harness",code="500"}[5s])) / sum(rate(http_requests_total{namespace="harness"}[5s]))`,
			func(v float64) bool { return math.Abs(v-0.05) < 0.001 })
		Expect(err).NotTo(HaveOccurred())
		Expect(rate).To(BeNumerically("~", 0.05, 0.001))
	}, SpecTimeout(time.Minute))
})
