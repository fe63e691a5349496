// Package promquery runs the named PromQL queries a validation condition declares
// and turns their answers into values a policy can read as input.metrics.<name>.
//
// Policies are evaluated in a sandbox without network access, so they cannot ask
// Prometheus themselves: the manager runs each query against --prometheus-url with
// a Client, bounded in time (Config.Timeout), in series (Config.MaxSeries) and in
// bytes read (Config.MaxBodyBytes), and hands the policy plain numbers.
//
// An answer that cannot be turned into a fact ends in one of two kinds of error:
//
//   - *InconclusiveError: the answer says nothing about the application, and the
//     query is not at fault either: an empty vector (nothing scraped yet), a NaN or
//     infinite value (a rate over no requests divides zero by zero), Prometheus
//     unreachable, slow, overloaded (HTTP 5xx, 429) or answering oddly. A condition
//     that sees one is inconclusive: it neither passes nor fails, and a person decides.
//   - any other error: the query itself is wrong for a condition and would be wrong
//     on every try: a range vector or a string result, too many series, an answer
//     too large, or a query Prometheus refuses (HTTP 400, 422, with its own words).
//
// Query texts are checked at admission with Validate and may name the target with
// the template variables {{name}} and {{namespace}}, filled in by Expand.
package promquery
