// Package certs gives the manager's admission webhook server a TLS certificate
// when cert-manager does not: for local runs and for clusters without it.
//
// A Rotator keeps a self-signed CA and a serving certificate signed by it in the
// folder the webhook server reads (its CertDir: ca.crt, ca.key, tls.crt, tls.key),
// and keeps the caBundle of our ValidatingWebhookConfigurations and
// MutatingWebhookConfigurations trusting that CA. controller-runtime's webhook
// server reloads tls.crt and tls.key when they change (pkg/certwatcher), so a
// rotation needs no restart.
//
// A rotation never leaves the API server distrusting the certificate the server
// presents. When the CA changes, the new CA is added to every caBundle first,
// beside the CA that signed the certificate being served; only after the API
// servers have had time to see it (Options.PropagationDelay) is the new serving
// certificate written. The old CA stays in the bundle until the next CA
// rotation. A serving certificate renewed under the same CA needs no bundle
// change at all.
//
// Each replica of the manager keeps its own files (the Rotator does not need
// leader election). A Rotator therefore merges its CAs into a caBundle instead
// of replacing it: CAs it does not own are kept while they are valid (up to a
// bound), so replicas do not undo each other; CAs it retired itself are removed.
//
// With cert-manager (the default install, config/certmanager), do not run a
// Rotator: cert-manager writes the Secret mounted as CertDir and its cainjector
// fills the caBundle.
package certs
