package v1alpha1

import "strings"

// Annotations users write on both kinds.
const (
	// OverrideConditionAnnotation lists condition types to skip, comma-separated.
	// Only users allowed verb override on conditions.kubernaut.io may add or change
	// it (the admission webhook checks).
	OverrideConditionAnnotation = "kubernaut.io/override-condition"
	// InjectConditionsAnnotation set to "false" keeps the catalog's suggested
	// conditions out of an object.
	InjectConditionsAnnotation = "kubernaut.io/inject-conditions"
)

// RequestedByAnnotation records who asked for a run, as the API server
// authenticated them: JSON {username, uid, groups, extra}. The mutating webhook
// writes it on CREATE, replacing whatever the client sent (only the manager may
// pass on another requester, for the executions a workflow creates), and nobody may
// change it afterwards. The manager acts for a run only with the permissions its
// requester holds.
const RequestedByAnnotation = "kubernaut.io/requested-by"

// OverriddenConditions returns the condition types the override annotation lists.
func OverriddenConditions(annotations map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, t := range strings.Split(annotations[OverrideConditionAnnotation], ",") {
		if t = strings.TrimSpace(t); t != "" {
			out[t] = true
		}
	}
	return out
}
