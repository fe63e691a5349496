package catalog

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The one reader of an action's parameters: its target, its facts provider, its
// executor and its inverse all read them through these functions. Parameters reach
// them validated against the action's schema (ValidateParameters); a value of the
// wrong shape still gives an error naming its path under parameters (e.g.
// "parameters.deployment.name is missing"), never a panic.

// lookup returns the value at a dotted path under params (e.g. "deployment.name"),
// and whether it is there (null counts as absent).
func lookup(params map[string]any, path string) (any, bool, error) {
	var value any = params
	walked := "parameters"
	for _, key := range strings.Split(path, ".") {
		obj, ok := value.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("%s must be an object, not %T", walked, value)
		}
		walked += "." + key
		if value, ok = obj[key]; !ok || value == nil {
			return nil, false, nil
		}
	}
	return value, true, nil
}

func missing(path string) error { return fmt.Errorf("parameters.%s is missing", path) }

// stringParam reads a string; "" when absent and not required.
func stringParam(params map[string]any, path string, required bool) (string, error) {
	v, ok, err := lookup(params, path)
	if err != nil || !ok {
		if err == nil && required {
			err = missing(path)
		}
		return "", err
	}
	s, isString := v.(string)
	if !isString {
		return "", fmt.Errorf("parameters.%s must be a string, not %T", path, v)
	}
	if required && s == "" {
		return "", missing(path)
	}
	return s, nil
}

// intParam reads an integer as JSON decoding gives it (float64) or as Go code
// builds it (int, int64, json.Number); ok is false when absent and not required.
func intParam(params map[string]any, path string, required bool) (n int64, ok bool, err error) {
	v, present, err := lookup(params, path)
	if err != nil || !present {
		if err == nil && required {
			err = missing(path)
		}
		return 0, false, err
	}
	if n, ok := integer(v); ok {
		return n, true, nil
	}
	return 0, false, fmt.Errorf("parameters.%s must be an integer, not %v", path, v)
}

// int32Param reads an integer that must fit an int32 field and be at least lo.
func int32Param(params map[string]any, path string, required bool, lo int64) (int32, bool, error) {
	n, ok, err := intParam(params, path, required)
	if err != nil || !ok {
		return 0, ok, err
	}
	if n < lo || n > math.MaxInt32 {
		return 0, false, fmt.Errorf("parameters.%s must be between %d and %d, not %d", path, lo, math.MaxInt32, n)
	}
	return int32(n), true, nil
}

// boolParam reads a boolean; def when absent.
func boolParam(params map[string]any, path string, def bool) (bool, error) {
	v, ok, err := lookup(params, path)
	if err != nil || !ok {
		return def, err
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("parameters.%s must be a boolean, not %v", path, v)
	}
	return b, nil
}

// objectParam reads an object; nil when absent and not required.
func objectParam(params map[string]any, path string, required bool) (map[string]any, error) {
	v, ok, err := lookup(params, path)
	if err != nil || !ok {
		if err == nil && required {
			err = missing(path)
		}
		return nil, err
	}
	obj, isObject := v.(map[string]any)
	if !isObject {
		return nil, fmt.Errorf("parameters.%s must be an object, not %T", path, v)
	}
	return obj, nil
}

// Ref reads the object the target parameter names in params. The error names the
// parameter that is missing or of the wrong shape.
func (t *Target) Ref(params map[string]any) (ObjectRef, error) {
	name, err := stringParam(params, t.Param+".name", true)
	if err != nil {
		return ObjectRef{}, err
	}
	ref := ObjectRef{Kind: t.Kind, Name: name}
	if !t.ClusterScoped {
		if ref.Namespace, err = stringParam(params, t.Param+".namespace", true); err != nil {
			return ObjectRef{}, err
		}
	}
	return ref, nil
}

// Name reads the target's name and namespace from params; namespace is "" for a
// cluster-scoped target. The error names the parameter that is missing.
func (t *Target) Name(params map[string]any) (name, namespace string, err error) {
	ref, err := t.Ref(params)
	return ref.Name, ref.Namespace, err
}

// param reads the object t names in params, as the parameter of an inverse names
// it: {name, namespace}, or {name} for a cluster-scoped object.
func (t *Target) param(params map[string]any) (map[string]any, error) {
	ref, err := t.Ref(params)
	if err != nil {
		return nil, err
	}
	return ref.param(), nil
}

// recorded reads a value the executor recorded before acting; an error when it is
// absent (Act was handed the before values of another action, or of an older
// manager).
func recorded(before map[string]string, key string) (string, error) {
	v, ok := before[key]
	if !ok {
		return "", fmt.Errorf("before[%q] was not recorded: Act needs the before values Capture returned", key)
	}
	return v, nil
}

// recordedInt reads the integer the executor recorded under key; what says what it
// is, for the error.
func recordedInt(before map[string]string, key, what string) (int64, error) {
	raw, ok := before[key]
	if !ok {
		return 0, fmt.Errorf("%s was not recorded (before[%q])", what, key)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s was recorded as %q, not an integer", what, raw)
	}
	return n, nil
}
