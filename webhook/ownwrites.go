package webhook

import (
	"context"
	"fmt"
	"regexp"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// StatusWebhookName is the status guard's name in the ValidatingWebhookConfiguration.
const StatusWebhookName = "vstatus.kubernaut.io"

// OwnWritesCondition names the match condition that leaves the manager's own
// status writes out of the status guard.
const OwnWritesCondition = "not-the-manager"

// plainUsername is what a username must look like to be quoted into a CEL
// expression as is: a ServiceAccount's or a certificate's common name.
var plainUsername = regexp.MustCompile(`^[A-Za-z0-9._@:-]+$`)

// skipOwnStatusWrites makes the API server leave the manager's own status
// writes out of the status guard, which admits them anyway: a match condition
// on the guard, set by the manager because only it knows for certain who it
// authenticates as (the install's namespace, a Helm release, a local cluster).
// Each run writes its status about six times, each a webhook call the API server
// and the manager pay for under load. Anyone else's status write still goes to
// the guard, which refuses it; a wrong or missing condition only costs calls.
func skipOwnStatusWrites(ctx context.Context, reader client.Reader, writer client.Client, config, user string) (changed bool, err error) {
	if !plainUsername.MatchString(user) {
		return false, fmt.Errorf("the manager's username %q is not one a match condition can quote", user)
	}
	want := admissionregistrationv1.MatchCondition{
		Name:       OwnWritesCondition,
		Expression: fmt.Sprintf("request.userInfo.username != %q", user),
	}
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		changed = false
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := reader.Get(ctx, client.ObjectKey{Name: config}, &vwc); err != nil {
			return err
		}
		base := vwc.DeepCopy()
		found := false
		for i := range vwc.Webhooks {
			if vwc.Webhooks[i].Name != StatusWebhookName {
				continue
			}
			found = true
			changed = setMatchCondition(&vwc.Webhooks[i], want) || changed
		}
		if !found {
			return fmt.Errorf("ValidatingWebhookConfiguration %s has no webhook %s", config, StatusWebhookName)
		}
		if !changed {
			return nil
		}
		return writer.Patch(ctx, &vwc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	return changed, err
}

// setMatchCondition puts want among w's match conditions, in place of one of
// the same name, and says whether that changed anything.
func setMatchCondition(w *admissionregistrationv1.ValidatingWebhook, want admissionregistrationv1.MatchCondition) bool {
	for i, mc := range w.MatchConditions {
		if mc.Name == want.Name {
			if mc == want {
				return false
			}
			w.MatchConditions[i] = want
			return true
		}
	}
	w.MatchConditions = append(w.MatchConditions, want)
	return true
}

// skipOwnStatusWritesAtStart sets the condition once the manager runs. A failure
// is logged, not fatal: the guard still admits the manager, one call at a time.
func (w *Webhooks) skipOwnStatusWritesAtStart(mgr ctrl.Manager) error {
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		log := ctrl.LoggerFrom(ctx).WithValues("validatingWebhookConfiguration", w.StatusConfiguration, "webhook", StatusWebhookName)
		// Read around the cache: the manager may get this one configuration, not list them all.
		changed, err := skipOwnStatusWrites(ctx, mgr.GetAPIReader(), mgr.GetClient(), w.StatusConfiguration, w.ManagerUsername)
		switch {
		case err != nil:
			log.Error(err, "The API server will call the status webhook for the manager's own status writes too")
		case changed:
			log.Info("The API server no longer calls the status webhook for the manager's own status writes", "user", w.ManagerUsername)
		}
		return nil
	}))
}
