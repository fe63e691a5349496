package workflow

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestChildNames(t *testing.T) {
	long := strings.Repeat("payments-web-frontend.", 11) + "x" // 243 characters
	for _, tc := range []struct {
		workflow, suffix, want string
	}{
		{"scale-web-app", "step-1", "scale-web-app-step-1"},
		{"scale-web-app", "step-2-retry-3", "scale-web-app-step-2-retry-3"},
		{"scale-web-app", "rollback-1", "scale-web-app-rollback-1"},
		{strings.Repeat("a", 56), "step-1", strings.Repeat("a", 56) + "-step-1"}, // exactly 63
	} {
		if got := childName(tc.workflow, tc.suffix); got != tc.want {
			t.Errorf("childName(%q, %q) = %q, want %q", tc.workflow, tc.suffix, got, tc.want)
		}
	}
	seen := map[string]string{}
	for _, workflow := range []string{long, long + "y", strings.Repeat("a", 57), strings.Repeat("b", 253)} {
		for _, suffix := range []string{"step-1", "step-10-retry-10", "rollback-12"} {
			got := childName(workflow, suffix)
			if len(got) > maxChildName || !strings.HasSuffix(got, "-"+suffix) {
				t.Errorf("childName(%d characters, %q) = %q (%d characters)", len(workflow), suffix, got, len(got))
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("childName(%d characters, %q) = %q: %v", len(workflow), suffix, got, errs)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%q names a child of two workflows: %q and %q", got, other, workflow)
			}
			seen[got] = workflow
		}
	}
}
