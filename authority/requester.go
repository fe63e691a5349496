package authority

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

// Requester is who asked for a run, as the API server authenticated them: what a
// SubjectAccessReview needs to ask about them again later.
type Requester struct {
	Username string              `json:"username"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// FromUserInfo is the requester an admission request names.
func FromUserInfo(u authenticationv1.UserInfo) Requester {
	r := Requester{Username: u.Username, UID: u.UID, Groups: slices.Clone(u.Groups)}
	if len(u.Extra) > 0 {
		r.Extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			r.Extra[k] = slices.Clone(v)
		}
	}
	return r
}

// Encode is the requester as the annotation holds it.
func (r Requester) Encode() string {
	b, err := json.Marshal(r)
	if err != nil {
		// Strings, slices and maps of strings always marshal.
		panic(fmt.Sprintf("authority: encoding a requester: %v", err))
	}
	return string(b)
}

// Equal says whether two requesters are the same identity.
func (r Requester) Equal(o Requester) bool {
	return r.Username == o.Username && r.UID == o.UID && slices.Equal(r.Groups, o.Groups) &&
		maps.EqualFunc(r.Extra, o.Extra, slices.Equal)
}

// String is the user name, as messages show it.
func (r Requester) String() string { return r.Username }

// Decode reads a requester from the annotation's value.
func Decode(value string) (Requester, error) {
	var r Requester
	if err := json.Unmarshal([]byte(value), &r); err != nil {
		return Requester{}, fmt.Errorf("annotation %s is not a requester: %w", commonv1alpha1.RequestedByAnnotation, err)
	}
	if r.Username == "" {
		return Requester{}, fmt.Errorf("annotation %s names no username", commonv1alpha1.RequestedByAnnotation)
	}
	return r, nil
}

// Recorded reads the requester an object's annotations record. An object without
// one was not admitted by our webhooks (or predates them): nobody is authorized to
// have it run.
func Recorded(annotations map[string]string) (Requester, error) {
	value, ok := annotations[commonv1alpha1.RequestedByAnnotation]
	if !ok {
		return Requester{}, fmt.Errorf("no requester is recorded (annotation %s): the run was not admitted by the kubernaut webhooks; create it again",
			commonv1alpha1.RequestedByAnnotation)
	}
	return Decode(value)
}
