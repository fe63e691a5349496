package crd_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestNoInternalReferences keeps the project's internal identifiers out of what
// users read: kubectl explain shows the CRDs' descriptions, and the docs ship
// with a clone that has no design notes beside it.
func TestNoInternalReferences(t *testing.T) {
	internal := regexp.MustCompile(`\bBR-[A-Z]+-[0-9]+\b|\.\./shared/|\bseed 00[0-9]\b`)
	var files []string
	for _, pattern := range []string{"../../config/crd/bases/*.yaml", "../../README.md", "../../docs/*.md"} {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range internal.FindAll(data, -1) {
			t.Errorf("%s: %q is an internal reference; say what it means instead", f, m)
		}
	}
}
