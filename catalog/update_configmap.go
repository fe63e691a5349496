package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// update_configmap sets keys of a ConfigMap's data and removes those set to null; with
// replace, the data becomes exactly the given keys. Pods that read the ConfigMap see
// the change as their kubelet or the application reloads it; restarting them is
// another step.
//
// Its executor records before["data"]: a JSON object of only the keys the action
// changes (those of parameters.data; with replace, also the keys replace removes),
// each with its value before the update, or null when the key did not exist. Status
// and the policies' input carry that record, so it never holds a key the action
// leaves alone (SECURITY.md, invariant 3). The inverse sets each recorded key back:
// its previous value, or null to remove a key the action added.
var _ = register(&Action{
	Name:        "update_configmap",
	Target:      configMapTarget,
	Description: "Sets keys of a ConfigMap's data, keeping the others unless replace is true.",
	Parameters: []Field{
		namespacedTarget("configmap", "ConfigMap"),
		{Name: "data", Type: StringMap, Nullable: true, Required: true,
			Description: "the keys to set, with their values; a key whose value is null is removed"},
		{Name: "replace", Type: Boolean, Description: "true to replace the whole data, removing the keys not given; default false"},
	},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.configMapExists},
	StepPostConditions: []Suggested{workloadChecks.configMapApplied},
	PreConditions:      []Suggested{workloadChecks.configMapMutable},
	PostConditions:     []Suggested{workloadChecks.configMapApplied},

	Facts:    []Fact{factConfigMapFound, factConfigMapName, factNamespace, factConfigMapImmutable, factConfigMapData},
	Provide:  updateConfigMapFacts,
	Executor: Executor{Capture: updateConfigMapCapture, Act: updateConfigMapAct},
	Inverse:  updateConfigMapInverse,
})

// Facts of update_configmap.
var (
	factConfigMapFound     = Fact{"configmap_found", "boolean: the ConfigMap exists"}
	factConfigMapName      = Fact{"configmap_name", "string: the ConfigMap's name"}
	factConfigMapImmutable = Fact{"configmap_immutable", "boolean: the ConfigMap is immutable (immutable: true)"}
	factConfigMapData      = Fact{"configmap_data", "object of strings: the keys of the ConfigMap's data that the action changes, with their values now: " +
		"those of parameters.data, and with parameters.replace every key (replace removes the others); " +
		"a key that does not exist is absent. Other keys are never read"}
)

// updateConfigMapCapture records the values of the keys the action changes. before:
// data, a JSON object of only those keys (those of parameters.data; with replace,
// also the keys it removes), each with its value, or null when the key does not
// exist.
func updateConfigMapCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	data, err := configMapDataParam(call.Params)
	if err != nil {
		return ObjectRef{}, nil, err
	}
	replace, err := boolParam(call.Params, "replace", false)
	if err != nil {
		return ObjectRef{}, nil, err
	}
	t, err := configMapTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var cm corev1.ConfigMap
	if err := call.Client.Get(ctx, t.key(), &cm); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	keys := slices.Collect(maps.Keys(data))
	if replace {
		keys = append(keys, slices.Collect(maps.Keys(cm.Data))...) // the keys replace removes
	}
	return t, map[string]string{"data": configMapValues(cm.Data, keys)}, nil
}

// updateConfigMapAct sets the keys given and removes those set to null or, with
// replace, makes the data exactly the keys given. after: data, as before records it.
func updateConfigMapAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	data, err := configMapDataParam(call.Params)
	if err != nil {
		return nil, err
	}
	replace, err := boolParam(call.Params, "replace", false)
	if err != nil {
		return nil, err
	}
	t, err := configMapTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	keys := slices.Collect(maps.Keys(data))
	var patch client.Patch
	if replace {
		// The keys replace removed are those recorded before beside data's: after, they
		// are recorded as gone.
		if raw, ok := before["data"]; ok {
			var previous map[string]*string
			if err := json.Unmarshal([]byte(raw), &previous); err != nil {
				return nil, fmt.Errorf("the recorded data of %s (before[\"data\"]) is not a JSON object of strings and nulls: %w", t, err)
			}
			keys = append(keys, slices.Collect(maps.Keys(previous))...)
		}
		// "add" sets /data whether or not it exists: the data becomes exactly the keys
		// given; one set to null is just not among them.
		kept := map[string]string{}
		for k, v := range data {
			if v != nil {
				kept[k] = *v
			}
		}
		patch, err = rawPatch(types.JSONPatchType, []any{obj{"op": "add", "path": "/data", "value": kept}})
	} else {
		// A merge patch sets the keys with a value and removes those with null.
		patch, err = mergePatch(obj{"data": data})
	}
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: t.meta()}
	if err := call.Client.Patch(ctx, cm, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("updating the data of %s: %w", t, err)
	}
	return map[string]string{"data": configMapValues(cm.Data, keys)}, nil
}

// updateConfigMapInverse sets each recorded key back: its previous value, or null
// to remove a key the action added.
func updateConfigMapInverse(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := configMapTarget.param(params)
	if err != nil {
		return Rollback{}, err
	}
	raw, ok := before["data"]
	if !ok {
		return Rollback{}, fmt.Errorf("the data of the ConfigMap before the update was not recorded (before[\"data\"])")
	}
	var previous map[string]*string
	if err := json.Unmarshal([]byte(raw), &previous); err != nil {
		return Rollback{}, fmt.Errorf("the recorded data of the ConfigMap (before[\"data\"]) is not a JSON object of strings and nulls: %w", err)
	}
	data, err := configMapDataParam(params)
	if err != nil {
		return Rollback{}, err
	}
	replace, err := boolParam(params, "replace", false)
	if err != nil {
		return Rollback{}, err
	}
	// A key of data that the record lacks did not exist (a record of the whole
	// data, as older executors wrote, lists only the keys that existed).
	keys := slices.Collect(maps.Keys(data))
	if replace {
		keys = append(keys, slices.Collect(maps.Keys(previous))...)
	}
	restored := map[string]any{}
	for _, key := range keys {
		if value := previous[key]; value != nil {
			restored[key] = *value
		} else {
			restored[key] = nil // a merge patch's null: the key goes
		}
	}
	return Rollback{Action: "update_configmap", Parameters: map[string]any{"configmap": target, "data": restored}}, nil
}

// configMapDataParam reads parameters.data of update_configmap: a string value sets
// its key, null removes it (nil here).
func configMapDataParam(params map[string]any) (map[string]*string, error) {
	obj, err := objectParam(params, "data", true)
	if err != nil {
		return nil, err
	}
	data := make(map[string]*string, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			data[k] = &v
		case nil:
			data[k] = nil
		default:
			return nil, fmt.Errorf("parameters.data[%q] must be a string, or null to remove the key, not %T", k, v)
		}
	}
	return data, nil
}

// configMapValues renders the values of keys in data as a JSON object sorted by key,
// null for a key data lacks. Only these keys are read, whatever else data holds.
func configMapValues(data map[string]string, keys []string) string {
	values := make(map[string]*string, len(keys))
	for _, k := range keys {
		if v, ok := data[k]; ok {
			values[k] = &v
		} else {
			values[k] = nil
		}
	}
	out, _ := json.Marshal(values) // strings and nulls always marshal
	return string(out)
}

// updateConfigMapFacts reads the facts of update_configmap. configmap_data holds
// only the keys the action changes: those of parameters.data, and with
// parameters.replace every key, since replace removes the others. A key the action
// leaves alone is never copied: the input reaches messages and status, and the
// requester need not be able to read it (SECURITY.md, invariant 3). binaryData is
// left out.
func updateConfigMapFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, namespace, err := configMapTarget.Name(params)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"configmap_name": name, "namespace": namespace}

	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			doc["configmap_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, name, err)
	}
	doc["configmap_found"] = true
	doc["configmap_immutable"] = cm.Immutable != nil && *cm.Immutable
	changes, err := configMapDataParam(params)
	if err != nil {
		return nil, err
	}
	replace, err := boolParam(params, "replace", false)
	if err != nil {
		return nil, err
	}
	data := map[string]any{}
	for k, v := range cm.Data {
		if _, changed := changes[k]; changed || replace {
			data[k] = v
		}
	}
	doc["configmap_data"] = data
	return doc, nil
}
