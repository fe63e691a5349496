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
// An embedded condition policy is compiled on its first lookup (1-2 ms, once),
// so that the manager holds compiled only the defaults in use; the safety
// policies, used by every action, are compiled at start.
//
// The ConfigMaps are watched. A change is compiled in the library's own
// reconciler, off the evaluation path, and swapped in at once; readers never
// wait. A version that does not compile is refused whole: the last good set
// stays in use, and the library says why with a Warning Event on the ConfigMap,
// a log line and the kubernaut_policy_library_load_errors_total metric.
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
	"sync"
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
	engine *conditions.Engine
	// embedded are the default condition policies, each compiled on its first
	// lookup: a cluster uses a few of them, and each compiled one holds about
	// 150 KB (55 policies: 9 MB the manager would hold from its start).
	embedded map[string]func() (Entry, error)
	// fromConfigMap holds the compiled entries of the conditions ConfigMap, which
	// override embedded ones of the same name.
	fromConfigMap atomic.Pointer[map[string]Entry]
	// embeddedSafety are the default safety policies; safety is the set in use:
	// them overlaid by the safety ConfigMap's, sorted by name.
	embeddedSafety map[string]Entry
	safety         atomic.Pointer[[]Entry]
}

// New compiles the embedded safety policies, which every action is checked
// against, and prepares the embedded condition policies, which Lookup compiles
// on first use. It fails only if a safety policy does not compile, which is a bug
// of the build.
func New(ctx context.Context, engine *conditions.Engine) (*Library, error) {
	l := &Library{engine: engine, embedded: map[string]func() (Entry, error){}, embeddedSafety: map[string]Entry{}}
	version := managerVersion()
	for name, source := range conditions.EmbeddedPolicies() {
		l.embedded[name] = sync.OnceValues(func() (Entry, error) {
			// Not a caller's context: a compile cancelled with its first caller
			// would stay failed for every later one. It takes a few ms.
			p, err := engine.Compile(context.Background(), name, source)
			if err != nil {
				return Entry{}, err
			}
			return Entry{Name: name, Policy: p, Source: commonv1alpha1.PolicySourceEmbedded, Version: version}, nil
		})
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
// else the embedded default, compiled on its first lookup. ok is false when the
// library has no policy of that type; err is the *conditions.CompileError of an
// embedded policy that does not compile, which only a broken build gives.
func (l *Library) Lookup(conditionType string) (e Entry, ok bool, err error) {
	if e, ok := (*l.fromConfigMap.Load())[conditionType]; ok {
		return e, true, nil
	}
	compiled, ok := l.embedded[conditionType]
	if !ok {
		return Entry{}, false, nil
	}
	e, err = compiled()
	return e, true, err
}

// Has reports whether the library holds a policy for conditionType, without
// compiling it.
func (l *Library) Has(conditionType string) bool {
	if _, ok := (*l.fromConfigMap.Load())[conditionType]; ok {
		return true
	}
	_, ok := l.embedded[conditionType]
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
