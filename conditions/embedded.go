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

// EmbeddedPolicies returns the default policy text of each condition type.
func EmbeddedPolicies() map[string]string {
	policies := map[string]string{}
	entries, _ := fs.ReadDir(embeddedFS, "embedded") // the folder is compiled in
	for _, e := range entries {
		data, _ := fs.ReadFile(embeddedFS, path.Join("embedded", e.Name()))
		policies[strings.TrimSuffix(e.Name(), ".rego")] = string(data)
	}
	return policies
}
