package mode

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestFor(t *testing.T) {
	reader := fake.NewClientBuilder().WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "warned", Labels: map[string]string{NamespaceLabel: "warn"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "typo", Labels: map[string]string{NamespaceLabel: "enforced"}}},
	).Build()
	ctx := context.Background()

	cases := []struct {
		name      string
		resolver  Resolver
		namespace string
		want      Mode
		wantErr   string
	}{
		{"flag applies", Resolver{Default: Warn, CanaryPercent: 100}, "plain", Warn, ""},
		{"empty flag enforces", Resolver{CanaryPercent: 100}, "plain", Enforce, ""},
		{"label wins over flag", Resolver{Default: Enforce, CanaryPercent: 100}, "warned", Warn, ""},
		{"label wins over canary", Resolver{Default: Enforce, CanaryPercent: 0}, "warned", Warn, ""},
		{"outside the canary is off", Resolver{Default: Enforce, CanaryPercent: 0}, "plain", Off, ""},
		{"bad label is an error", Resolver{Default: Enforce, CanaryPercent: 100}, "typo", "", `label kubernaut.io/validation-mode: validation mode "enforced" is not one of enforce, warn, off`},
		{"missing namespace is an error", Resolver{Default: Enforce, CanaryPercent: 100}, "gone", "", "reading namespace gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.resolver.Reader = reader
			got, err := tc.resolver.For(ctx, tc.namespace, "uid-1")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("For = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestInCanary checks the canary splits UIDs near the percentage asked for, and
// that a UID stays on its side as the percentage grows.
func TestInCanary(t *testing.T) {
	const n = 10000
	for _, percent := range []int{0, 10, 50, 90, 100} {
		in := 0
		for i := range n {
			if InCanary(types.UID(fmt.Sprintf("uid-%d", i)), percent) {
				in++
			}
		}
		got := in * 100 / n
		if got < percent-3 || got > percent+3 {
			t.Errorf("percent %d: %d%% of UIDs in the canary", percent, got)
		}
	}
	for i := range 1000 {
		uid := types.UID(fmt.Sprintf("uid-%d", i))
		if InCanary(uid, 20) && !InCanary(uid, 30) {
			t.Fatalf("%s is in a 20%% canary but not in a 30%% one", uid)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"enforce", "warn", "off"} {
		if m, err := Parse(s); err != nil || string(m) != s {
			t.Errorf("Parse(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := Parse("Enforce"); err == nil {
		t.Error("Parse(Enforce) accepted a mode spelled differently from the flag's")
	}
}
