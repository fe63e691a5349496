package v1alpha1

import (
	"strings"
	"time"
)

// Annotations users write on both kinds.
const (
	// OverrideConditionAnnotation lists condition types to skip, comma-separated.
	// Only users allowed verb override on conditions.kubernaut.io, in the object's
	// namespace and in every namespace its actions target, may add or change it
	// (the admission webhook checks), and only with OverrideReasonAnnotation.
	OverrideConditionAnnotation = "kubernaut.io/override-condition"
	// OverrideReasonAnnotation says why the conditions are overridden. Required
	// with OverrideConditionAnnotation.
	OverrideReasonAnnotation = "kubernaut.io/override-reason"
	// OverrideExpiresAnnotation is an optional RFC 3339 time, at most 7 days after
	// it is set, after which the override no longer applies to new evaluations.
	OverrideExpiresAnnotation = "kubernaut.io/override-expires"
	// OverrideByAnnotation and OverrideAtAnnotation record who set the override
	// and when. The mutating webhook writes them; nobody else can.
	OverrideByAnnotation = "kubernaut.io/override-by"
	OverrideAtAnnotation = "kubernaut.io/override-at"
	// InjectConditionsAnnotation set to "false" keeps the catalog's suggested
	// conditions out of an object. It weakens validation, so it needs the same
	// permission as an override.
	InjectConditionsAnnotation = "kubernaut.io/inject-conditions"
)

// RequestedByAnnotation records who asked for a run, as the API server
// authenticated them: JSON {username, uid, groups, extra}. The mutating webhook
// writes it on CREATE, replacing whatever the client sent (only the manager may
// pass on another requester, for the executions a workflow creates), and nobody may
// change it afterwards. The manager acts for a run only with the permissions its
// requester holds.
const RequestedByAnnotation = "kubernaut.io/requested-by"

// Pause switches. An administrator stops new actions cluster-wide with the
// ConfigMap PauseConfigMap in the manager's namespace (its data key PauseReasonKey
// says why), or in one namespace with PauseAnnotation on the Namespace (its value
// says why). Actions already taken go on being verified.
const (
	PauseConfigMap  = "kubernaut-pause"
	PauseReasonKey  = "reason"
	PauseAnnotation = "kubernaut.io/paused"
)

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

// Override is the override an object's annotations set, if any.
//
// +kubebuilder:object:generate=false
type Override struct {
	Conditions map[string]bool
	By, Reason string
	// At and Expires are zero when not set. An Expires that is not RFC 3339 reads
	// as long past.
	At, Expires time.Time
}

// OverrideOf reads the override annotations; ok is false when none is set.
func OverrideOf(annotations map[string]string) (o Override, ok bool) {
	o.Conditions = OverriddenConditions(annotations)
	if len(o.Conditions) == 0 {
		return Override{}, false
	}
	o.By, o.Reason = annotations[OverrideByAnnotation], annotations[OverrideReasonAnnotation]
	o.At, _ = time.Parse(time.RFC3339, annotations[OverrideAtAnnotation])
	if v, set := annotations[OverrideExpiresAnnotation]; set {
		var err error
		if o.Expires, err = time.Parse(time.RFC3339, v); err != nil {
			// The webhook admits only RFC 3339; anything else fails closed.
			o.Expires = time.Unix(0, 0)
		}
	}
	return o, true
}

// ExpiredAt reports whether the override no longer applies at now.
func (o Override) ExpiredAt(now time.Time) bool {
	return !o.Expires.IsZero() && !now.Before(o.Expires)
}
