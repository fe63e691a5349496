package promquery

import (
	"errors"
	"fmt"
)

// Reasons an answer is inconclusive. None is the query author's fault, and none
// says the application is unhealthy: the condition neither passes nor fails.
const (
	// ReasonEmpty: the query matched no series (nothing scraped yet, a typo in a
	// label value, a target that serves no traffic).
	ReasonEmpty = "Empty"
	// ReasonNaN: a value is NaN, typically a ratio of two rates over no requests.
	ReasonNaN = "NaN"
	// ReasonInf: a value is +Inf or -Inf, typically a division by a zero rate.
	ReasonInf = "Inf"
	// ReasonUnreachable: no answer: connection refused, DNS failure, TLS failure,
	// or no bearer token to send.
	ReasonUnreachable = "Unreachable"
	// ReasonTimeout: no answer within Config.Timeout (or the caller's deadline), or
	// Prometheus gave up on the query with its own timeout.
	ReasonTimeout = "Timeout"
	// ReasonServerError: Prometheus answered but not with a result: HTTP 5xx, 429,
	// an authentication refusal, a redirect, or a body that is not its API's JSON.
	ReasonServerError = "ServerError"
)

// InconclusiveError reports an answer that is no fact about the application and no
// fault of the query: the condition using it is inconclusive.
type InconclusiveError struct {
	Reason  string // one of the Reason constants
	Message string // what happened, for a person
}

func (e *InconclusiveError) Error() string {
	return fmt.Sprintf("inconclusive (%s): %s", e.Reason, e.Message)
}

// IsInconclusive returns the *InconclusiveError in err's chain, if any.
func IsInconclusive(err error) (*InconclusiveError, bool) {
	var inc *InconclusiveError
	if errors.As(err, &inc) {
		return inc, true
	}
	return nil, false
}

func inconclusive(reason, format string, args ...any) *InconclusiveError {
	return &InconclusiveError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}
