package executors

import (
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Helpers the executors share to talk to the API server.

// key is the client.ObjectKey of t.
func (t Target) key() client.ObjectKey { return client.ObjectKey{Namespace: t.Namespace, Name: t.Name} }

// meta is the ObjectMeta that names t, for a patch or a delete.
func (t Target) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name}
}

// fieldOwner names the action in the managedFields of what it writes, so that
// kubectl get --show-managed-fields tells which action changed a field.
func fieldOwner(action string) client.FieldOwner {
	return client.FieldOwner("kubernaut-" + strings.ReplaceAll(action, "_", "-"))
}

// patchOptions are the options of an action's patches: its field owner and, with
// dryRun, a server-side dry run.
func patchOptions(action string, dryRun bool) []client.PatchOption {
	opts := []client.PatchOption{fieldOwner(action)}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	return opts
}

// subResourcePatchOptions are patchOptions for a subresource (scale), whose answer
// is decoded into body.
func subResourcePatchOptions(action string, dryRun bool, body client.Object) []client.SubResourcePatchOption {
	opts := []client.SubResourcePatchOption{fieldOwner(action), client.WithSubResourceBody(body)}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	return opts
}

// mergePatch is a JSON merge patch of v, marshalled.
func mergePatch(v any) (client.Patch, error) {
	return rawPatch(types.MergePatchType, v)
}

// strategicPatch is a strategic merge patch of v, marshalled.
func strategicPatch(v any) (client.Patch, error) {
	return rawPatch(types.StrategicMergePatchType, v)
}

func rawPatch(pt types.PatchType, v any) (client.Patch, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshalling the patch: %w", err)
	}
	return client.RawPatch(pt, data), nil
}

// obj is a shorthand for the nested maps of a patch.
type obj = map[string]any

// jsonString marshals a map of strings, sorted by key, for a before or after value.
func jsonString(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	data, _ := json.Marshal(m) // a map of strings always marshals
	return string(data)
}
