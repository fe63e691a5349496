// Package clientauth lets only the API server call the admission webhooks
// (security invariant 9): the webhook server requires a client certificate
// signed by a CA the administrator names (the manager's --webhook-client-ca),
// optionally with one of a few CommonNames (--webhook-client-cn), and the local
// cluster and the test harness configure kube-apiserver to present one.
//
// It is a package of its own, not part of package certs, because the test
// harness needs it and package certs' own tests import the harness.
package clientauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// TLSOption returns a TLS option for the webhook server (an entry of
// controller-runtime's webhook.Options.TLSOpts) that lets only the API server
// in: a client must present a certificate that a CA of caFile signed for client
// authentication and, when commonNames is not empty, whose CommonName is one of
// them. Without it, anyone who can reach the webhook port can send it forged
// AdmissionReviews.
//
// The CA file is read here, once, so that a wrong path or a file without a
// certificate stops the manager at start instead of failing every admission
// later; a new client CA needs a restart.
func TLSOption(caFile string, commonNames []string) (func(*tls.Config), error) {
	if caFile == "" {
		return nil, errors.New("no client CA file")
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the client CA: %w", err)
	}
	pool, err := certPool(data)
	if err != nil {
		return nil, fmt.Errorf("client CA file %s: %w", caFile, err)
	}
	allowed := slices.Clone(commonNames)
	return func(cfg *tls.Config) {
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if len(allowed) == 0 {
			return
		}
		// VerifyConnection runs after the chain has been verified, and also on a
		// resumed session, where VerifyPeerCertificate does not run.
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
				return errors.New("no verified client certificate")
			}
			if cn := cs.PeerCertificates[0].Subject.CommonName; !slices.Contains(allowed, cn) {
				return fmt.Errorf("client certificate CommonName %q is not one of the allowed %s", cn, strings.Join(allowed, ", "))
			}
			return nil
		}
	}, nil
}

// certPool returns a pool of the CERTIFICATE blocks of data. A block that does
// not parse is an error, not skipped: a half-read CA file would otherwise lock
// the API server out with no explanation.
func certPool(data []byte) (*x509.CertPool, error) {
	certs, err := pemcert.Parse(data)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// ParseCommonNames splits a comma-separated list of CommonNames as a flag
// spells it, dropping blanks around and between the names.
func ParseCommonNames(list string) []string {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// QuietReadiness returns server with a StartedChecker that dials it only until
// it first succeeds. controller-runtime's checker opens a TLS connection
// without a client certificate: with client authentication on, its side of a
// TLS 1.3 handshake still completes, so it passes, but the server logs a "TLS
// handshake error ... didn't provide a certificate" line for it, once per
// readiness probe for as long as the manager runs. Once the server has
// answered, it serves until the manager stops (the manager exits when it
// fails), so dialing it again tells nothing new.
func QuietReadiness(server webhook.Server) webhook.Server {
	return &quietServer{Server: server}
}

type quietServer struct {
	webhook.Server
	answered atomic.Bool
}

func (s *quietServer) StartedChecker() healthz.Checker {
	check := s.Server.StartedChecker()
	return func(req *http.Request) error {
		if s.answered.Load() {
			return nil
		}
		if err := check(req); err != nil {
			return err
		}
		s.answered.Store(true)
		return nil
	}
}
