package webhook

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

func TestSetMatchCondition(t *testing.T) {
	want := admissionregistrationv1.MatchCondition{Name: OwnWritesCondition, Expression: `request.userInfo.username != "m"`}
	other := admissionregistrationv1.MatchCondition{Name: "theirs", Expression: "true"}
	stale := admissionregistrationv1.MatchCondition{Name: OwnWritesCondition, Expression: `request.userInfo.username != "old"`}
	for _, tc := range []struct {
		name        string
		have        []admissionregistrationv1.MatchCondition
		wantChanged bool
		wantAfter   []admissionregistrationv1.MatchCondition
	}{
		{"none yet", nil, true, []admissionregistrationv1.MatchCondition{want}},
		{"beside another's", []admissionregistrationv1.MatchCondition{other}, true, []admissionregistrationv1.MatchCondition{other, want}},
		{"a stale one replaced in place", []admissionregistrationv1.MatchCondition{stale, other}, true, []admissionregistrationv1.MatchCondition{want, other}},
		{"already set", []admissionregistrationv1.MatchCondition{other, want}, false, []admissionregistrationv1.MatchCondition{other, want}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := admissionregistrationv1.ValidatingWebhook{MatchConditions: tc.have}
			if changed := setMatchCondition(&w, want); changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if len(w.MatchConditions) != len(tc.wantAfter) {
				t.Fatalf("conditions %v, want %v", w.MatchConditions, tc.wantAfter)
			}
			for i := range w.MatchConditions {
				if w.MatchConditions[i] != tc.wantAfter[i] {
					t.Errorf("condition %d = %v, want %v", i, w.MatchConditions[i], tc.wantAfter[i])
				}
			}
		})
	}
}

// A username that would need escaping in CEL is refused before anything is read.
func TestSkipOwnStatusWritesRefusesUnquotableUsernames(t *testing.T) {
	for _, user := range []string{`x" || true || "`, "", "a b", "name\n"} {
		_, err := skipOwnStatusWrites(context.Background(), nil, nil, "config", user)
		if err == nil || !strings.Contains(err.Error(), "not one a match condition can quote") {
			t.Errorf("user %q: %v", user, err)
		}
	}
}
