package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The Rotator reads and patches only the webhook configurations it is given: the
// install's, by name (the defaults of the manager's flags; an install that renames
// them renames them here too).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;patch,resourceNames=kubernaut-validating-webhook-configuration
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;patch,resourceNames=kubernaut-mutating-webhook-configuration

// webhookConfig names one webhook configuration the Rotator keeps trusting its CA.
type webhookConfig struct {
	kind   string
	name   string
	newObj func() client.Object
}

// webhookConfigs returns the configurations named in the options.
func (o Options) webhookConfigs() []webhookConfig {
	var configs []webhookConfig
	for _, name := range o.ValidatingWebhookConfigurations {
		configs = append(configs, webhookConfig{"ValidatingWebhookConfiguration", name,
			func() client.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} }})
	}
	for _, name := range o.MutatingWebhookConfigurations {
		configs = append(configs, webhookConfig{"MutatingWebhookConfiguration", name,
			func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} }})
	}
	return configs
}

// caBundles returns the caBundle field of every webhook in obj.
func caBundles(obj client.Object) []*[]byte {
	var bundles []*[]byte
	switch o := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range o.Webhooks {
			bundles = append(bundles, &o.Webhooks[i].ClientConfig.CABundle)
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range o.Webhooks {
			bundles = append(bundles, &o.Webhooks[i].ClientConfig.CABundle)
		}
	}
	return bundles
}

// trustInWebhooks makes every webhook of every configuration in the options
// trust ours (see mergeBundle), and says whether it changed any. It tries every
// configuration before it returns the errors.
func (r *Rotator) trustInWebhooks(ctx context.Context, ours []*x509.Certificate, retired map[fingerprint]time.Time, now time.Time) (bool, error) {
	if len(r.opts.webhookConfigs()) > 0 && r.opts.Client == nil {
		return false, errors.New("no client to patch the webhook configurations: set Options.Client or call SetupWithManager")
	}
	changed := false
	var errs []error
	for _, wc := range r.opts.webhookConfigs() {
		c, err := r.trustIn(ctx, wc, ours, retired, now)
		changed = changed || c
		errs = append(errs, err)
	}
	return changed, errors.Join(errs...)
}

// trustIn patches the caBundles of one configuration, retrying on conflicts
// with other writers (other replicas, kubectl). A configuration that does not
// exist is skipped.
func (r *Rotator) trustIn(ctx context.Context, wc webhookConfig, ours []*x509.Certificate, retired map[fingerprint]time.Time, now time.Time) (bool, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("kind", wc.kind, "name", wc.name)
	key := wc.kind + "/" + wc.name
	changed := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		changed = false
		obj := wc.newObj()
		if err := r.opts.Client.Get(ctx, client.ObjectKey{Name: wc.name}, obj); err != nil {
			return err
		}
		base := obj.DeepCopyObject().(client.Object)
		for _, bundle := range caBundles(obj) {
			if merged, differs := mergeBundle(ours, *bundle, retired, now); differs {
				*bundle = merged
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return r.opts.Client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if apierrors.IsNotFound(err) {
		if !r.missing[key] {
			log.Info("Webhook configuration not found; looking for it again on the next check")
			r.missing[key] = true
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("setting the caBundle of %s %s: %w", wc.kind, wc.name, err)
	}
	if r.missing[key] {
		log.Info("Webhook configuration found")
		delete(r.missing, key)
	}
	if changed {
		log.Info("Set the caBundle of every webhook", "cas", len(ours))
	}
	return changed, nil
}
