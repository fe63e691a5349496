package conditions

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// embeddedFS holds the default policies shipped with the manager, one file per
// condition type: embedded/<condition_type>.rego.
//
//go:embed embedded/*.rego
var embeddedFS embed.FS

// embeddedSafetyFS holds the default safety policies shipped with the manager, one
// file per policy: embedded/safety/<name>.rego. Each defines a deny set of messages
// over the safety input document (facts.SafetyInput).
//
//go:embed embedded/safety/*.rego
var embeddedSafetyFS embed.FS

// EmbeddedPolicies returns the default policy text of each condition type.
func EmbeddedPolicies() map[string]string {
	return readPolicies(embeddedFS, "embedded")
}

// EmbeddedSafetyPolicies returns the default safety policy text by name; compile
// them with Engine.CompileSafety.
func EmbeddedSafetyPolicies() map[string]string {
	return readPolicies(embeddedSafetyFS, "embedded/safety")
}

// readPolicies reads the .rego files of dir in fsys, by name without .rego.
func readPolicies(fsys embed.FS, dir string) map[string]string {
	policies := map[string]string{}
	entries, _ := fs.ReadDir(fsys, dir) // the folder is compiled in
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".rego") {
			continue
		}
		data, _ := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		policies[strings.TrimSuffix(e.Name(), ".rego")] = string(data)
	}
	return policies
}
