// Package pemcert reads and writes certificates as PEM. It imports nothing of the
// project, so that both certs and certs/clientauth (which the test harness
// needs, and which certs' own tests import through it) can use it.
package pemcert

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Encode returns certs as PEM, in order.
func Encode(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// Parse returns the certificates of the CERTIFICATE blocks in data, in order,
// skipping other blocks. The error names the blocks that did not parse; the
// certificates that did are returned anyway.
func Parse(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	var errs []error
	for i := 0; ; i++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("PEM block %d: %w", i, err))
			continue
		}
		certs = append(certs, cert)
	}
	return certs, errors.Join(errs...)
}
