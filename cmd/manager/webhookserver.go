package main

import (
	"crypto/tls"
	"errors"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"kubernaut.io/stepvalidation/certs/clientauth"
)

// newWebhookServer returns the admission webhook server the flags describe.
// With --webhook-client-ca it serves only clients with a certificate that CA
// signed, and with --webhook-client-cn only those CommonNames: the API server
// (security invariant 9). Without it, anyone who reaches the port is served,
// as before the flag existed.
func newWebhookServer(o options) (webhook.Server, error) {
	opts := webhook.Options{Port: o.webhookPort, CertDir: o.certDir}
	cns := clientauth.ParseCommonNames(o.webhookClientCN)
	if o.webhookClientCA == "" {
		if len(cns) > 0 {
			return nil, errors.New("--webhook-client-cn needs --webhook-client-ca: without a CA no client certificate is verified")
		}
		return webhook.NewServer(opts), nil
	}
	option, err := clientauth.TLSOption(o.webhookClientCA, cns)
	if err != nil {
		return nil, fmt.Errorf("--webhook-client-ca: %w", err)
	}
	opts.TLSOpts = []func(*tls.Config){option}
	return clientauth.QuietReadiness(webhook.NewServer(opts)), nil
}
