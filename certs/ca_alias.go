package certs

import (
	"time"

	"kubernaut.io/stepvalidation/certs/ca"
)

// The CA and serving certificates live in package ca; these names keep the
// rotator's code and tests short.
type (
	Names   = ca.Names
	KeyPair = ca.KeyPair
)

// NewCA is ca.New.
func NewCA(now time.Time, validity time.Duration) (*KeyPair, error) { return ca.New(now, validity) }
