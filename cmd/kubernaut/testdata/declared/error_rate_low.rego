# A postcondition on a Prometheus query the condition declares:
#   metrics: [{name: error_rate, query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'}]
package postcondition.error_rate_low

import rego.v1

allow if input.metrics.error_rate < 0.01

error_message := sprintf("error rate %v is not under 1%%", [input.metrics.error_rate]) if not allow
