package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// firstRetry is how soon a failed check is tried again; the delay doubles up to
// Options.Interval.
const firstRetry = time.Second

// Rotator keeps the webhook server's certificate folder valid and the caBundle
// of our webhook configurations trusting it (see the package documentation).
// It is a manager.Runnable that runs on every replica.
type Rotator struct {
	opts   Options
	policy policy

	ready     chan struct{}
	readyOnce sync.Once

	mu      sync.Mutex                // one Ensure at a time; guards the fields below
	retired map[fingerprint]time.Time // CAs dropped from our bundle, until they expire
	missing map[string]bool           // webhook configurations last seen missing
}

var (
	_ manager.Runnable               = &Rotator{}
	_ manager.LeaderElectionRunnable = &Rotator{}
)

// NewRotator returns a Rotator for opts, with defaults filled in.
func NewRotator(opts Options) (*Rotator, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("certificate rotator options: %w", err)
	}
	return &Rotator{
		opts:    opts,
		policy:  policy{names: opts.names(), renewBefore: opts.RenewBefore},
		ready:   make(chan struct{}),
		retired: map[fingerprint]time.Time{},
		missing: map[string]bool{},
	}, nil
}

// SetupWithManager adds the Rotator to mgr, and a readiness check named
// "webhook-certs" that passes once the first certificates are written. It gives
// the Rotator a client that reads the API server directly when Options.Client
// is nil.
func (r *Rotator) SetupWithManager(mgr ctrl.Manager) error {
	if r.opts.Client == nil {
		c, err := client.New(mgr.GetConfig(), client.Options{HTTPClient: mgr.GetHTTPClient(), Mapper: mgr.GetRESTMapper()})
		if err != nil {
			return fmt.Errorf("creating the certificate rotator's client: %w", err)
		}
		r.opts.Client = c
	}
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("adding the certificate rotator: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook-certs", r.ReadyCheck); err != nil {
		return fmt.Errorf("adding the certificate readiness check: %w", err)
	}
	return nil
}

// CertDir is the folder the Rotator writes: give it to the webhook server.
func (r *Rotator) CertDir() string { return r.opts.CertDir }

// NeedLeaderElection returns false: every replica serves webhooks from its own
// files and keeps them fresh.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Ready is closed once the first certificates are in the folder and trusted by
// every webhook configuration that exists.
func (r *Rotator) Ready() <-chan struct{} { return r.ready }

// ReadyCheck is a healthz.Checker that fails until Ready is closed.
func (r *Rotator) ReadyCheck(_ *http.Request) error {
	select {
	case <-r.ready:
		return nil
	default:
		return errors.New("the webhook certificates are not ready yet")
	}
}

// Start runs Ensure now and then every Options.Interval until ctx is done, and
// retries sooner after a failure.
func (r *Rotator) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("certs")
	ctx = ctrl.LoggerInto(ctx, log)
	ticker := r.opts.Clock.NewTicker(r.opts.Interval)
	defer ticker.Stop()
	log.Info("Starting the webhook certificate rotator", "certDir", r.opts.CertDir, "interval", r.opts.Interval)

	retry := firstRetry
	for {
		var retryAfter <-chan time.Time
		if err := r.Ensure(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Error(err, "Checking the webhook certificates failed", "retryIn", retry)
			retryAfter = r.opts.Clock.After(retry)
			retry = min(2*retry, r.opts.Interval)
		} else {
			retry = firstRetry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		case <-retryAfter:
		}
	}
}

// Ensure makes the certificate folder and the caBundles right for now: it keeps
// the files while they are valid and not due for renewal, makes new ones when
// they are not, and sets the caBundle of every webhook that does not trust the
// CA. When the CA changes, the caBundles trust the new CA (beside the old one)
// before the new serving certificate is written; nothing is written when they
// cannot be set. Start calls it periodically; a manager may call it once before
// it starts instead of gating its webhook server.
func (r *Rotator) Ensure(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := ctrl.LoggerFrom(ctx)
	now := r.opts.Clock.Now()

	disk := load(r.opts.CertDir)
	p := r.policy.decide(disk, now)
	next, err := r.next(disk, p, now)
	if err != nil {
		return err
	}
	if p.issue {
		log.Info("Making new webhook certificates", "newCA", p.newCA, "reason", p.reason,
			"expires", next.serving.Cert.NotAfter, "caExpires", next.ca.Cert.NotAfter)
	}
	r.retired = r.retiredAfter(disk.bundle, next.bundle, now)

	if err := r.apply(ctx, disk, next, p, now); err != nil {
		if p.newCA {
			// The new CA may be in some caBundles already; it will never sign
			// anything, so the next check removes it.
			r.retired[fingerprintOf(next.ca.Cert)] = next.ca.Cert.NotAfter
		}
		return err
	}
	r.readyOnce.Do(func() {
		log.Info("Webhook certificates ready", "certDir", r.opts.CertDir, "expires", next.serving.Cert.NotAfter)
		close(r.ready)
	})
	return nil
}

// apply makes the caBundles trust next, waits for the API servers to see a
// new CA when a certificate is being served, then writes next.
func (r *Rotator) apply(ctx context.Context, disk *onDisk, next *certSet, p plan, now time.Time) error {
	changed, err := r.trustInWebhooks(ctx, next.bundle, r.retired, now)
	if err != nil {
		return err
	}
	if p.newCA && changed && disk.cert != nil && validAt(disk.cert, now) && r.opts.PropagationDelay > 0 {
		ctrl.LoggerFrom(ctx).Info("Waiting for the API servers to trust the new CA before serving a certificate it signed",
			"delay", r.opts.PropagationDelay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the API servers to trust the new CA: %w", ctx.Err())
		case <-r.opts.Clock.After(r.opts.PropagationDelay):
		}
	}
	if err := writeFiles(r.opts.CertDir, disk.raw, next.files()); err != nil {
		return fmt.Errorf("writing the webhook certificates: %w", err)
	}
	return nil
}

// next returns the files the folder must hold after plan p.
func (r *Rotator) next(disk *onDisk, p plan, now time.Time) (*certSet, error) {
	if p.newCA {
		ca, err := NewCA(now, r.opts.CAValidity)
		if err != nil {
			return nil, err
		}
		serving, err := ca.Issue(r.policy.names, now, r.opts.ServingValidity)
		if err != nil {
			return nil, err
		}
		return &certSet{bundle: rotatedBundle(ca.Cert, disk, now), ca: ca, serving: serving}, nil
	}
	// The policy kept the CA: disk.bundle[0] and disk.caKey are valid.
	ca := &KeyPair{Cert: disk.bundle[0], Key: disk.caKey, CertPEM: pemcert.Encode(disk.bundle[0]), KeyPEM: disk.raw[CAKeyFile]}
	set := &certSet{bundle: unexpired(disk.bundle, now), ca: ca}
	if !p.issue {
		set.serving = &KeyPair{Cert: disk.cert, Key: disk.key, CertPEM: disk.raw[CertFile], KeyPEM: disk.raw[KeyFile]}
		return set, nil
	}
	serving, err := ca.Issue(r.policy.names, now, r.opts.ServingValidity)
	if err != nil {
		return nil, err
	}
	set.serving = serving
	return set, nil
}

// retiredAfter returns the CAs retired once the bundle old is replaced by next:
// those retired before and those of old, less the ones in next and the ones
// expired at now. Retired CAs are removed from the caBundles.
func (r *Rotator) retiredAfter(old, next []*x509.Certificate, now time.Time) map[fingerprint]time.Time {
	kept := map[fingerprint]bool{}
	for _, c := range next {
		kept[fingerprintOf(c)] = true
	}
	retired := map[fingerprint]time.Time{}
	for fp, notAfter := range r.retired {
		if !kept[fp] && !now.After(notAfter) {
			retired[fp] = notAfter
		}
	}
	for _, c := range old {
		if fp := fingerprintOf(c); !kept[fp] && !now.After(c.NotAfter) {
			retired[fp] = c.NotAfter
		}
	}
	return retired
}
