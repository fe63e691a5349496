package executors

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// The readers below take a dotted path under parameters (e.g. "deployment.name")
// and return errors naming it, so that a parameter of the wrong shape, which the
// webhook should have rejected, gives an error rather than a panic.

// lookup returns the value at path, and whether it is there (null counts as absent).
func lookup(params map[string]any, path string) (any, bool, error) {
	var value any = params
	walked := "parameters"
	for _, key := range strings.Split(path, ".") {
		obj, ok := value.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("%s must be an object", walked)
		}
		walked += "." + key
		if value, ok = obj[key]; !ok || value == nil {
			return nil, false, nil
		}
	}
	return value, true, nil
}

func missing(path string) error { return fmt.Errorf("parameters.%s is required", path) }

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
	switch x := v.(type) {
	case int:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case int64:
		return x, true, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true, nil
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, true, nil
		}
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

// namespacedTarget reads the {name, namespace} parameter param naming the object of
// kind an action acts on.
func namespacedTarget(params map[string]any, param, kind string) (Target, error) {
	name, err := stringParam(params, param+".name", true)
	if err != nil {
		return Target{}, err
	}
	namespace, err := stringParam(params, param+".namespace", true)
	if err != nil {
		return Target{}, err
	}
	return Target{Kind: kind, Namespace: namespace, Name: name}, nil
}

// clusterTarget reads the {name} parameter param naming the cluster-scoped object of
// kind an action acts on.
func clusterTarget(params map[string]any, param, kind string) (Target, error) {
	name, err := stringParam(params, param+".name", true)
	if err != nil {
		return Target{}, err
	}
	return Target{Kind: kind, Name: name}, nil
}

// recorded reads a before value Capture records; an error when it is absent (Act
// was handed the before values of another action, or of an older manager).
func recorded(before map[string]string, key string) (string, error) {
	v, ok := before[key]
	if !ok {
		return "", fmt.Errorf("before[%q] was not recorded: Act needs the before values Capture returned", key)
	}
	return v, nil
}
