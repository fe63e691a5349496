package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Type is the JSON type of a parameter.
type Type string

const (
	String  Type = "string"
	Integer Type = "integer"
	Boolean Type = "boolean"
	Object  Type = "object" // with the Fields listed
	// StringMap is an object of string values with any keys, e.g. ConfigMap data.
	StringMap Type = "map[string]string"
	// AnyObject is an object of any shape, e.g. a patch.
	AnyObject Type = "any object"
)

// Format constrains a string parameter beyond its type.
type Format string

const (
	// DNSLabel: a namespace or container name.
	DNSLabel Format = "dns-1123-label"
	// DNSSubdomain: the name of most objects.
	DNSSubdomain Format = "dns-1123-subdomain"
	// Quantity: a resource quantity such as 500m or 10Gi.
	Quantity Format = "quantity"
	// Image: a container image reference.
	Image Format = "image"
	// LabelKey: a label or taint key, such as node.kubernetes.io/unschedulable.
	LabelKey Format = "label-key"
	// LabelValue: a label or taint value.
	LabelValue Format = "label-value"
)

// Field is one parameter.
type Field struct {
	Name        string
	Type        Type
	Required    bool
	Description string
	// Min and Max bound an Integer.
	Min, Max *int64
	// Enum lists the values a String may take.
	Enum []string
	// Format constrains a String.
	Format Format
	// Fields are the members of an Object; members not listed are rejected.
	Fields []Field
	// Nullable lets a value of a StringMap be null, as in a JSON merge patch: the key
	// is to be removed. An inverse needs it to undo a key the action added.
	Nullable bool
}

// ValidateParameters checks params against the action's schema and returns every
// problem, each at its path under path (e.g. spec.parameters.deployment.replicas).
func (a *Action) ValidateParameters(params map[string]any, path *field.Path) field.ErrorList {
	return validateObject(a.Parameters, params, path)
}

// DecodeParameters turns the raw JSON of a parameters field into a map; empty means
// no parameters.
func DecodeParameters(raw []byte) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, fmt.Errorf("parameters are not a JSON object: %w", err)
	}
	if params == nil {
		params = map[string]any{}
	}
	return params, nil
}

func validateObject(fields []Field, obj map[string]any, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range fields {
		v, ok := obj[f.Name]
		if !ok || v == nil {
			if f.Required {
				errs = append(errs, field.Required(path.Child(f.Name), f.Description))
			}
			continue
		}
		errs = append(errs, validateValue(f, v, path.Child(f.Name))...)
	}
	known := make([]string, len(fields))
	for i, f := range fields {
		known[i] = f.Name
	}
	for _, name := range sortedKeys(obj) {
		if !slices.Contains(known, name) {
			errs = append(errs, field.NotSupported(path.Child(name), name, known))
		}
	}
	return errs
}

func validateValue(f Field, v any, path *field.Path) field.ErrorList {
	switch f.Type {
	case Object, StringMap, AnyObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return field.ErrorList{field.Invalid(path, v, "must be an object")}
		}
		switch f.Type {
		case Object:
			return validateObject(f.Fields, obj, path)
		case StringMap:
			var errs field.ErrorList
			for _, k := range sortedKeys(obj) {
				if _, ok := obj[k].(string); ok || (f.Nullable && obj[k] == nil) {
					continue
				}
				if f.Nullable {
					errs = append(errs, field.Invalid(path.Key(k), obj[k], "must be a string, or null to remove the key"))
				} else {
					errs = append(errs, field.Invalid(path.Key(k), obj[k], "must be a string"))
				}
			}
			return errs
		}
		return nil
	case Boolean:
		if _, ok := v.(bool); !ok {
			return field.ErrorList{field.Invalid(path, v, "must be a boolean")}
		}
		return nil
	case Integer:
		n, ok := integer(v)
		if !ok {
			return field.ErrorList{field.Invalid(path, v, "must be an integer")}
		}
		if (f.Min != nil && n < *f.Min) || (f.Max != nil && n > *f.Max) {
			return field.ErrorList{field.Invalid(path, n, rangeMessage(f.Min, f.Max))}
		}
		return nil
	case String:
		s, ok := v.(string)
		if !ok {
			return field.ErrorList{field.Invalid(path, v, "must be a string")}
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return field.ErrorList{field.NotSupported(path, s, f.Enum)}
		}
		return validateFormat(f.Format, s, path)
	}
	return field.ErrorList{field.InternalError(path, fmt.Errorf("catalog: field %s has unknown type %q", f.Name, f.Type))}
}

// integer accepts the numbers JSON decoding yields (float64) when they are whole,
// and the integers Go code builds.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func rangeMessage(lo, hi *int64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("must be between %d and %d", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf("must be at least %d", *lo)
	default:
		return fmt.Sprintf("must be at most %d", *hi)
	}
}

func validateFormat(format Format, s string, path *field.Path) field.ErrorList {
	var problems []string
	switch format {
	case DNSLabel:
		problems = validation.IsDNS1123Label(s)
	case DNSSubdomain:
		problems = validation.IsDNS1123Subdomain(s)
	case LabelKey:
		problems = validation.IsQualifiedName(s)
	case LabelValue:
		problems = validation.IsValidLabelValue(s)
	case Quantity:
		if q, err := resource.ParseQuantity(s); err != nil {
			problems = []string{"must be a quantity such as 500m, 2 or 10Gi"}
		} else if q.Sign() <= 0 {
			problems = []string{"must be positive"}
		}
	case Image:
		if s == "" || strings.ContainsAny(s, " \t\n") {
			problems = []string{"must be a container image reference such as registry.example/web:1.2"}
		}
	}
	if len(problems) > 0 {
		return field.ErrorList{field.Invalid(path, s, strings.Join(problems, "; "))}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ptr[T any](v T) *T { return &v }

// namespacedTarget is the parameter naming the namespaced object an action acts on,
// e.g. deployment: {name, namespace, ...extra}.
func namespacedTarget(param, kind string, extra ...Field) Field {
	return Field{Name: param, Type: Object, Required: true, Description: "the " + kind + " to act on",
		Fields: append([]Field{
			{Name: "name", Type: String, Required: true, Format: DNSSubdomain, Description: "name of the " + kind},
			{Name: "namespace", Type: String, Required: true, Format: DNSLabel, Description: "namespace of the " + kind},
		}, extra...)}
}

// clusterTarget is the parameter naming the cluster-scoped object an action acts on,
// e.g. node: {name, ...extra}.
func clusterTarget(param, kind string, extra ...Field) Field {
	return Field{Name: param, Type: Object, Required: true, Description: "the " + kind + " to act on",
		Fields: append([]Field{
			{Name: "name", Type: String, Required: true, Format: DNSSubdomain, Description: "name of the " + kind},
		}, extra...)}
}
