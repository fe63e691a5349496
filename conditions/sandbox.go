package conditions

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// forbiddenBuiltin says why a built-in function is removed from the capabilities
// condition policies compile against, or "" when it is allowed. Policies come from
// CRs that users write and run inside the manager: they decide from the input they
// are given, and may not reach the network, the manager's runtime or its files.
func forbiddenBuiltin(name string) string {
	switch {
	case name == "http.send":
		return "it makes HTTP requests"
	case strings.HasPrefix(name, "net."):
		return "net.* functions are not available to condition policies"
	case name == "opa.runtime":
		return "it exposes the manager's environment and configuration"
	case name == "json.verify_schema" || name == "json.match_schema":
		return "a schema may reference remote documents"
	}
	return removedBuiltin(name)
}

// sandbox is the capability set condition policies compile against: this OPA
// version's built-ins without the forbidden ones, and no network hosts.
var sandbox = func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if forbiddenBuiltin(b.Name) == "" {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	caps.AllowNet = []string{}
	return caps
}()
