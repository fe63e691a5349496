package library_test

import (
	"context"
	"sync"
	"testing"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/library"
)

// TestEmbeddedCompiledOnce: every embedded condition policy is found, compiles
// on its first lookup, and every lookup after it, however many at once, gets
// that same compiled policy.
func TestEmbeddedCompiledOnce(t *testing.T) {
	l, err := library.New(context.Background(), conditions.NewEngine(conditions.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	for name := range conditions.EmbeddedPolicies() {
		if !l.Has(name) {
			t.Errorf("%s: Has is false", name)
		}
		const lookups = 8
		got := make([]*conditions.Policy, lookups)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				e, ok, err := l.Lookup(name)
				if err != nil || !ok {
					t.Errorf("%s: ok %t, err %v", name, ok, err)
					return
				}
				if e.Source != commonv1alpha1.PolicySourceEmbedded || e.Name != name {
					t.Errorf("%s: entry %s from %s", name, e.Name, e.Source)
				}
				got[i] = e.Policy
			})
		}
		wg.Wait()
		for _, p := range got {
			if p == nil || p != got[0] {
				t.Fatalf("%s: lookups got different or no policies", name)
			}
		}
	}
	if _, ok, err := l.Lookup("no_such_condition"); ok || err != nil {
		t.Errorf("no_such_condition: ok %t, err %v", ok, err)
	}
}
