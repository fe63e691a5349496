package catalog

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
)

// notify_only acts on nothing: it records a core/v1 Event regarding its own
// KubernetesExecution, in that namespace, of type Normal (severity info) or Warning
// (warning, critical), with the reason NotifyInfo, NotifyWarning or NotifyCritical and
// the parameters' message. A workflow uses it to tell people what it found when no
// action is safe.
//
// Its executor records before["event"], the Event's name, chosen before creating it:
// a retry that finds the Event does not create another. Inverse: nil.
var _ = register(&Action{
	Name:        "notify_only",
	Description: "Records an Event with a message and a severity, regarding its KubernetesExecution; changes nothing else.",
	Parameters: []Field{
		{Name: "message", Type: String, Required: true,
			Description: "what to tell, at most 1024 characters"},
		{Name: "severity", Type: String, Required: true, Enum: []string{"info", "warning", "critical"},
			Description: "info records a Normal Event; warning and critical a Warning Event (reasons NotifyInfo, NotifyWarning, NotifyCritical)"},
	},
	Permissions: []rbacv1.PolicyRule{notifyCreateEvent},

	StepPreConditions: []Suggested{notifyCondMessageValid},
	PreConditions:     []Suggested{notifyCondMessageValid},
	PostConditions:    []Suggested{notifyCondEventRecorded},

	Facts:    []Fact{factNotifyEventName, factNotifyEventFound},
	Provide:  notifyOnlyFacts,
	Safety:   notifyOnlySafety,
	Executor: Executor{Capture: notifyOnlyCapture, Act: notifyOnlyAct},
})

// Facts of notify_only.
var (
	factNotifyEventName  = Fact{"notify_event_name", `string: name of the Event notify_only records, chosen before creating it (before["event"])`}
	factNotifyEventFound = Fact{"notify_event_found", "boolean: that Event exists in the namespace of the KubernetesExecution"}
)

// ExecutionParam is the reserved parameter naming the KubernetesExecution an action
// runs for, {name, uid} (WithExecution adds it): notify_only's Event regards it, so
// kubectl describe shows the Event with it. Like BeforeParam and NamespaceParam, the
// reconciler adds it after validation; no action's schema has a key that starts
// with an underscore. Without it the Event regards no object.
const ExecutionParam = "_execution"

// WithExecution returns a copy of params with ExecutionParam naming the
// KubernetesExecution name, of UID uid.
func WithExecution(params map[string]any, name string, uid types.UID) map[string]any {
	out := maps.Clone(params)
	if out == nil {
		out = map[string]any{}
	}
	out[ExecutionParam] = map[string]any{"name": name, "uid": string(uid)}
	return out
}

// notifySeverities maps a severity to the Event's type and reason.
var notifySeverities = map[string][2]string{
	"info":     {corev1.EventTypeNormal, "NotifyInfo"},
	"warning":  {corev1.EventTypeWarning, "NotifyWarning"},
	"critical": {corev1.EventTypeWarning, "NotifyCritical"},
}

// notifyRequest reads the parameters of notify_only.
func notifyRequest(params map[string]any) (message string, kind [2]string, execution *corev1.ObjectReference, err error) {
	if message, err = stringParam(params, "message", true); err != nil {
		return "", kind, nil, err
	}
	severity, err := stringParam(params, "severity", true)
	if err != nil {
		return "", kind, nil, err
	}
	kind, ok := notifySeverities[severity]
	if !ok {
		return "", kind, nil, fmt.Errorf("parameters.severity must be info, warning or critical, not %q", severity)
	}
	name, err := stringParam(params, ExecutionParam+".name", false)
	if err != nil {
		return "", kind, nil, err
	}
	uid, err := stringParam(params, ExecutionParam+".uid", false)
	if err != nil {
		return "", kind, nil, err
	}
	if name != "" {
		execution = &corev1.ObjectReference{
			APIVersion: kubernetesexecutionv1alpha1.GroupVersion.String(), Kind: "KubernetesExecution",
			Name: name, UID: types.UID(uid),
		}
	}
	return message, kind, execution, nil
}

// notifyOnlyCapture chooses the Event's name, so that a second Act finds the Event
// (AlreadyExists) instead of recording another. before: event.
func notifyOnlyCapture(_ context.Context, call Call) (ObjectRef, map[string]string, error) {
	_, _, execution, err := notifyRequest(call.Params)
	if err != nil {
		return ObjectRef{}, nil, err
	}
	if call.Namespace == "" {
		return ObjectRef{}, nil, fmt.Errorf("notify_only needs the namespace of its KubernetesExecution to record its Event in")
	}
	// Named as client-go's event recorder names Events: <object>.<hex nanoseconds>.
	prefix := "kubernaut-notify"
	if execution != nil {
		prefix = execution.Name
	}
	suffix := fmt.Sprintf(".%x", time.Now().UnixNano())
	if max := validation.DNS1123SubdomainMaxLength - len(suffix); len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-.")
	}
	name := prefix + suffix
	return ObjectRef{Kind: "Event", Namespace: call.Namespace, Name: name}, map[string]string{"event": name}, nil
}

// notifyOnlyAct records the Event in the KubernetesExecution's namespace.
func notifyOnlyAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	message, kind, execution, err := notifyRequest(call.Params)
	if err != nil {
		return nil, err
	}
	name, err := recorded(before, "event")
	if err != nil {
		return nil, err
	}
	t := ObjectRef{Kind: "Event", Namespace: call.Namespace, Name: name}
	involved := corev1.ObjectReference{Namespace: call.Namespace}
	if execution != nil {
		involved = *execution
		involved.Namespace = call.Namespace
	}
	stamp := metav1.Now()
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: call.Namespace},
		InvolvedObject: involved,
		Type:           kind[0],
		Reason:         kind[1],
		Message:        message,
		Source:         corev1.EventSource{Component: "kubernaut"},
		FirstTimestamp: stamp,
		LastTimestamp:  stamp,
		Count:          1,
	}
	if err := call.Client.Create(ctx, event, call.createOptions()...); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("recording %s: %w", t, err)
	}
	return map[string]string{"event": name}, nil
}

// notifyOnlyFacts reads the facts of notify_only: whether the core/v1 Event the executor
// named (before["event"]) exists in the namespace of the KubernetesExecution
// (params["_namespace"]). Before acting no name is chosen yet: notify_event_name is
// left out and notify_event_found is false.
func notifyOnlyFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	before, err := beforeValues(params)
	if err != nil {
		return nil, err
	}
	event := before["event"]
	if event == "" {
		return map[string]any{"notify_event_found": false}, nil
	}
	namespace, err := stringParam(params, NamespaceParam, false)
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		return nil, fmt.Errorf("parameters.%s, the namespace of the KubernetesExecution where Event %s is recorded, is missing", NamespaceParam, event)
	}
	doc := map[string]any{"notify_event_name": event}
	var e corev1.Event
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: event}, &e); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading Event %s/%s: %w", namespace, event, err)
		}
		doc["notify_event_found"] = false
		return doc, nil
	}
	doc["notify_event_found"] = true
	return doc, nil
}

// notifyOnlySafety: notify_only changes nothing but the Event it records in the
// KubernetesExecution's namespace (parameters._namespace, "" when not given), named
// when it is recorded.
func notifyOnlySafety(_ context.Context, _ client.Reader, params map[string]any) (SafetyTarget, error) {
	namespace, err := stringParam(params, NamespaceParam, false)
	if err != nil {
		return SafetyTarget{}, err
	}
	return SafetyTarget{ObjectRef: ObjectRef{Kind: "Event", Namespace: namespace}}, nil
}
