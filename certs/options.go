package certs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Options.
const (
	// DefaultCAValidity is how long a CA is valid.
	DefaultCAValidity = 365 * 24 * time.Hour
	// DefaultServingValidity is how long a serving certificate is valid.
	DefaultServingValidity = 90 * 24 * time.Hour
	// DefaultRenewBefore renews a certificate when less than a third of its
	// lifetime is left, that is at two thirds of it.
	DefaultRenewBefore = 1.0 / 3
	// DefaultInterval is how often the Rotator checks the files and the caBundles.
	// Checking is cheap (the files, one GET per webhook configuration), and it
	// bounds how long a caBundle wiped by a `kubectl apply` stays wrong.
	DefaultInterval = time.Minute
	// DefaultPropagationDelay is how long the Rotator waits between adding a new
	// CA to the caBundles and serving a certificate signed by it. API servers see
	// a webhook configuration change through a watch, normally well within a
	// second.
	DefaultPropagationDelay = 10 * time.Second
)

// DefaultCertDir is where controller-runtime's webhook server looks for tls.crt
// and tls.key when its Options.CertDir is empty.
var DefaultCertDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")

// Options configure a Rotator. Zero values take the defaults above.
type Options struct {
	// CertDir is the folder the webhook server reads its certificate from (the
	// webhook server's CertDir). It is created when missing. Default:
	// DefaultCertDir.
	CertDir string

	// ServiceName and ServiceNamespace name the webhook Service; the serving
	// certificate is valid for <service>.<namespace>.svc and
	// <service>.<namespace>.svc.cluster.local. Both or neither.
	ServiceName      string
	ServiceNamespace string
	// DNSNames and IPAddresses are further names of the serving certificate,
	// e.g. localhost and 127.0.0.1 for a manager run outside the cluster.
	DNSNames    []string
	IPAddresses []net.IP

	// ValidatingWebhookConfigurations and MutatingWebhookConfigurations are the
	// names of the configurations whose webhooks must trust the CA: the caBundle
	// of every webhook in them is kept. A configuration that does not exist is
	// skipped and looked for again on the next check.
	ValidatingWebhookConfigurations []string
	MutatingWebhookConfigurations   []string

	// CAValidity is how long a CA is valid; at least ServingValidity.
	CAValidity time.Duration
	// ServingValidity is how long a serving certificate is valid.
	ServingValidity time.Duration
	// RenewBefore is the fraction of its lifetime (between 0 and 1, exclusive)
	// left when a certificate is renewed.
	RenewBefore float64
	// Interval is how often the Rotator checks the files and the caBundles.
	Interval time.Duration
	// PropagationDelay is how long the Rotator waits after adding a new CA to the
	// caBundles before it writes a serving certificate signed by that CA, when a
	// certificate is being served already.
	PropagationDelay time.Duration

	// Client reads and patches the webhook configurations. It must read from the
	// API server directly, not from the manager's cache, which has not started
	// when the first certificates are needed. SetupWithManager fills it when nil.
	Client client.Client
	// Clock tells the time; tests pass a fake one. Default: the real clock.
	Clock clock.WithTicker
}

// withDefaults returns o with its zero values replaced by the defaults.
func (o Options) withDefaults() Options {
	if o.CertDir == "" {
		o.CertDir = DefaultCertDir
	}
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.ServingValidity == 0 {
		o.ServingValidity = DefaultServingValidity
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.PropagationDelay == 0 {
		o.PropagationDelay = DefaultPropagationDelay
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

// validate reports every option that cannot work, all at once.
func (o Options) validate() error {
	var errs []error
	if (o.ServiceName == "") != (o.ServiceNamespace == "") {
		errs = append(errs, errors.New("ServiceName and ServiceNamespace go together"))
	}
	if len(o.names().DNSNames) == 0 && len(o.IPAddresses) == 0 {
		errs = append(errs, errors.New("no name for the serving certificate: set ServiceName and ServiceNamespace, DNSNames or IPAddresses"))
	}
	if o.ServingValidity <= 0 {
		errs = append(errs, fmt.Errorf("ServingValidity %s is not positive", o.ServingValidity))
	}
	if o.CAValidity < o.ServingValidity {
		errs = append(errs, fmt.Errorf("CAValidity %s is shorter than ServingValidity %s", o.CAValidity, o.ServingValidity))
	}
	if o.RenewBefore <= 0 || o.RenewBefore >= 1 {
		errs = append(errs, fmt.Errorf("RenewBefore %v is not between 0 and 1", o.RenewBefore))
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("the check Interval %s is not positive", o.Interval))
	}
	if o.PropagationDelay < 0 {
		errs = append(errs, fmt.Errorf("the PropagationDelay %s is negative", o.PropagationDelay))
	}
	return errors.Join(errs...)
}

// names returns the names the serving certificate must be valid for.
func (o Options) names() Names {
	var dns []string
	if o.ServiceName != "" && o.ServiceNamespace != "" {
		svc := o.ServiceName + "." + o.ServiceNamespace + ".svc"
		dns = append(dns, svc, svc+".cluster.local")
	}
	return Names{DNSNames: append(dns, o.DNSNames...), IPAddresses: o.IPAddresses}
}
