// Package library holds the named policies conditions may use without inline Rego,
// and the safety policies every action must pass before it runs:
//
//   - condition policies: the defaults built into the manager
//     (conditions.EmbeddedPolicies), overlaid by the ConfigMap
//     kubernaut-workflow-conditions;
//   - safety policies: the defaults built into the manager
//     (conditions.EmbeddedSafetyPolicies: protected_namespaces, no_scale_to_zero,
//     replica_ceiling, last_schedulable_node), overlaid by the ConfigMap
//     kubernaut-safety-policies. Each decides on the document facts.SafetyInput
//     builds, whose keys facts.SafetyKeys lists; a non-empty deny set refuses the
//     action.
//
// In both ConfigMaps a key <name>.rego whose name is a default's replaces that
// default, and any other key adds a policy. To switch a default safety policy off,
// replace it with one that never denies, e.g. last_schedulable_node.rego:
//
//	package safety.last_schedulable_node
//	deny := set()
//
// The ConfigMaps are watched. A change is compiled in the library's own reconciler,
// off the evaluation path, and swapped in at once; readers never wait. A version
// that does not compile is refused whole: the last good set stays in use, and the
// library says why with a Warning Event on the ConfigMap, a log line and the
// kubernaut_policy_library_load_errors_total metric.
package library

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
)

// Names of the library's ConfigMaps and of their version label.
const (
	DefaultNamespace    = "kubernaut-system"
	ConditionsConfigMap = "kubernaut-workflow-conditions"
	SafetyConfigMap     = "kubernaut-safety-policies"
	VersionLabel        = "version"
)

// Entry is a compiled policy of the library.
type Entry struct {
	// Name is the condition type, or the safety policy's name: the ConfigMap key
	// without .rego.
	Name   string
	Policy *conditions.Policy
	// Source is library (a ConfigMap) or embedded.
	Source commonv1alpha1.PolicySource
	// Version is the ConfigMap's version label, or the manager's version.
	Version string
}

// Library is safe for concurrent use: lookups read an immutable set through an
// atomic pointer.
type Library struct {
	engine   *conditions.Engine
	embedded map[string]Entry
	// fromConfigMap holds the compiled entries of the conditions ConfigMap, which
	// override embedded ones of the same name.
	fromConfigMap atomic.Pointer[map[string]Entry]
	// embeddedSafety are the default safety policies; safety is the set in use:
	// them overlaid by the safety ConfigMap's, sorted by name.
	embeddedSafety map[string]Entry
	safety         atomic.Pointer[[]Entry]
}

// New compiles the embedded policies, conditions and safety. It fails only if one
// of them does not compile, which is a bug of the build.
func New(ctx context.Context, engine *conditions.Engine) (*Library, error) {
	l := &Library{engine: engine, embedded: map[string]Entry{}, embeddedSafety: map[string]Entry{}}
	version := managerVersion()
	for name, source := range conditions.EmbeddedPolicies() {
		p, err := engine.Compile(ctx, name, source)
		if err != nil {
			return nil, fmt.Errorf("embedded policy: %w", err)
		}
		l.embedded[name] = Entry{Name: name, Policy: p, Source: commonv1alpha1.PolicySourceEmbedded, Version: version}
	}
	for name, source := range conditions.EmbeddedSafetyPolicies() {
		p, err := engine.CompileSafety(ctx, name, source)
		if err != nil {
			return nil, fmt.Errorf("embedded safety policy: %w", err)
		}
		l.embeddedSafety[name] = Entry{Name: name, Policy: p, Source: commonv1alpha1.PolicySourceEmbedded, Version: version}
	}
	l.fromConfigMap.Store(&map[string]Entry{})
	l.apply(true, nil)
	return l, nil
}

// Lookup returns the policy of a condition type: the ConfigMap's if it has one,
// else the embedded default.
func (l *Library) Lookup(conditionType string) (Entry, bool) {
	if e, ok := (*l.fromConfigMap.Load())[conditionType]; ok {
		return e, true
	}
	e, ok := l.embedded[conditionType]
	return e, ok
}

// Has reports whether the library holds a policy for conditionType.
func (l *Library) Has(conditionType string) bool {
	_, ok := l.Lookup(conditionType)
	return ok
}

// SafetyPolicies returns the safety policies in use, sorted by name: the embedded
// defaults, each replaced by the safety ConfigMap's policy of the same name, and the
// ConfigMap's other policies. The slice is shared: do not modify it.
func (l *Library) SafetyPolicies() []Entry {
	return *l.safety.Load()
}

// configMapKey is the form of a policy's key: <name>.rego, name in snake_case.
var configMapKey = regexp.MustCompile(`^([a-z][a-z0-9_]*)\.rego$`)

// compileConfigMap compiles every policy of cm, as conditions or as safety
// policies. All problems are returned together; any problem refuses the whole
// ConfigMap, so a half-applied set is never in use.
func (l *Library) compileConfigMap(ctx context.Context, cm *corev1.ConfigMap, safety bool) ([]Entry, error) {
	version := cm.Labels[VersionLabel]
	if version == "" {
		version = "rv-" + cm.ResourceVersion
	}
	var entries []Entry
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
		m := configMapKey.FindStringSubmatch(key)
		if m == nil {
			errs = append(errs, fmt.Errorf("key %q: want <name>.rego with name in snake_case", key))
			continue
		}
		compile := l.engine.Compile
		if safety {
			compile = l.engine.CompileSafety
		}
		p, err := compile(ctx, m[1], cm.Data[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("key %q: %w", key, err))
			continue
		}
		entries = append(entries, Entry{Name: m[1], Policy: p, Source: commonv1alpha1.PolicySourceLibrary, Version: version})
	}
	return entries, errors.Join(errs...)
}

// apply swaps in the entries of a ConfigMap that compiled; nil entries (the
// ConfigMap is gone) fall back to the embedded set. Safety entries are overlaid on
// the embedded safety policies.
func (l *Library) apply(safety bool, entries []Entry) {
	if safety {
		byName := maps.Clone(l.embeddedSafety)
		for _, e := range entries {
			byName[e.Name] = e
		}
		merged := make([]Entry, 0, len(byName))
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			merged = append(merged, byName[name])
		}
		l.safety.Store(&merged)
		return
	}
	byName := make(map[string]Entry, len(entries))
	for _, e := range entries {
		byName[e.Name] = e
	}
	l.fromConfigMap.Store(&byName)
}

// managerVersion is the version embedded policies report: the module version the
// manager was built at, or "devel".
func managerVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return strings.TrimPrefix(info.Main.Version, "v")
	}
	return "devel"
}
