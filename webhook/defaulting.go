package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// webhookPath is the path the builder gives a webhook of gvk, verb "mutate" or
// "validate": the one the webhook configurations name.
func webhookPath(verb string, gvk schema.GroupVersionKind) string {
	return "/" + verb + "-" + strings.ReplaceAll(gvk.Group, ".", "-") + "-" + gvk.Version + "-" + strings.ToLower(gvk.Kind)
}

// newDefaultingWebhook is the builder's defaulting webhook (admission.WithDefaulter)
// for T, with the path it would have, and with updates written as the manager
// writes them (canonicalUpdates).
func newDefaultingWebhook[E any, T interface {
	*E
	runtime.Object
}](scheme *runtime.Scheme, defaulter admission.Defaulter[T]) (string, *admission.Webhook, error) {
	gvk, err := apiutil.GVKForObject(T(new(E)), scheme)
	if err != nil {
		return "", nil, err
	}
	wh := admission.WithDefaulter(scheme, defaulter)
	wh.Handler = &canonicalUpdates[E, T]{next: wh.Handler, decoder: admission.NewDecoder(scheme)}
	wh.LogConstructor = logConstructor(gvk)
	return webhookPath("mutate", gvk), wh, nil
}

// canonicalUpdates answers an UPDATE that defaulting left as it was with a patch
// that writes the object as the manager serialises it: "2m0s" where the client
// sent "2m". controller-runtime's defaulter sends no patch when the decoded object
// did not change, so a value that decodes the same but reads differently would be
// stored as sent, and the API server, which compares the JSON, would count a
// re-applied, unchanged manifest as a new generation. Like controller-runtime, it
// removes nothing the client sent (fields the manager's types do not know, or
// leave out when empty).
type canonicalUpdates[E any, T interface {
	*E
	runtime.Object
}] struct {
	next    admission.Handler
	decoder admission.Decoder
}

func (c *canonicalUpdates[E, T]) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp := c.next.Handle(ctx, req)
	if req.Operation != admissionv1.Update || !resp.Allowed || len(resp.Patches) > 0 {
		return resp
	}
	obj := T(new(E))
	if err := c.decoder.Decode(req, obj); err != nil {
		return resp // next decoded it; it cannot fail here
	}
	written, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	canonical := admission.PatchResponseFromRaw(req.Object.Raw, written)
	canonical.Patches = slices.DeleteFunc(canonical.Patches, func(p jsonpatch.JsonPatchOperation) bool { return p.Operation == "remove" })
	if len(canonical.Patches) == 0 {
		return resp
	}
	canonical.Warnings = resp.Warnings
	return canonical
}
