package authority_test

import (
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
)

func TestRequesterRoundTrip(t *testing.T) {
	u := authenticationv1.UserInfo{
		Username: "system:serviceaccount:team-a:agent", UID: "u-1",
		Groups: []string{"system:serviceaccounts", "system:authenticated"},
		Extra:  map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"agent-0"}},
	}
	r := authority.FromUserInfo(u)
	got, err := authority.Recorded(map[string]string{commonv1alpha1.RequestedByAnnotation: r.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(r) {
		t.Errorf("decoded %+v, want %+v", got, r)
	}
	other := r
	other.Groups = []string{"system:masters"}
	if got.Equal(other) {
		t.Error("requesters with other groups are equal")
	}
}

func TestRecordedRejects(t *testing.T) {
	for name, annotations := range map[string]map[string]string{
		"absent":      nil,
		"not JSON":    {commonv1alpha1.RequestedByAnnotation: "alice"},
		"no username": {commonv1alpha1.RequestedByAnnotation: `{"groups":["system:masters"]}`},
	} {
		if _, err := authority.Recorded(annotations); err == nil {
			t.Errorf("%s: Recorded accepted %v", name, annotations)
		}
	}
}
