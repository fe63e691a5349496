package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// Pure tests: no API server. The executors against a real one are in suite_test.go.

func TestEveryActionHasAnExecutorAndAProvider(t *testing.T) {
	for _, name := range Names() {
		a, _ := Lookup(name)
		if a.Executor.Capture == nil || a.Executor.Act == nil {
			t.Errorf("action %s has no executor", name)
		}
		if a.Provide == nil {
			t.Errorf("action %s has no facts provider", name)
		}
	}
}

func TestIdentities(t *testing.T) {
	scale, _ := Lookup("scale_deployment")
	if got := scale.ServiceAccountName(); got != "scale-deployment-sa" {
		t.Errorf("ServiceAccountName = %q", got)
	}
	drain, _ := Lookup("drain_node")
	if got := drain.Username("kubernaut-system"); got != "system:serviceaccount:kubernaut-system:drain-node-sa" {
		t.Errorf("Username = %q", got)
	}
	notify, _ := Lookup("notify_only")
	if got := notify.ClusterRoleName(); got != "kubernaut-action-notify-only" {
		t.Errorf("ClusterRoleName = %q", got)
	}
}

// capturedKeys are the before keys each Capture records (documented beside each
// action in the catalog, plus those Act reuses). The API server tests check that
// Capture records exactly these.
var capturedKeys = map[string][]string{
	"scale_deployment":    {"replicas"},
	"scale_statefulset":   {"replicas"},
	"rollout_restart":     {"revision", "restarted_at"},
	"restart_daemonset":   {"restarted_at"},
	"restart_statefulset": {"restarted_at"},
	"increase_resources":  {"requests.cpu", "limits.memory"}, // for the sample parameters below
	"rollback_deployment": {"revision", "to_revision", "to_replicaset"},
	"update_image":        {"image"},
	"patch_deployment":    {"revision"},
	"update_hpa":          {"min_replicas", "max_replicas"},
	"update_configmap":    {"data"},
	"restart_pod":         {"uid", "owner_kind", "owner_name", "recorded_at"},
	"delete_pod":          {"uid"},
	"quarantine_pod":      {"uid", "owner_kind", "owner_name", "recorded_at", "labels"},
	"expand_pvc":          {"request", "capacity"},
	"notify_only":         {"event"},
	"cordon_node":         {"unschedulable"},
	"uncordon_node":       {"unschedulable"},
	"drain_node":          {"unschedulable"},
	"taint_node":          {"taint_present", "taint_value"}, // taint_value only when present
	"untaint_node":        {"taint_present", "taint_value"},
}

// sampleParams are valid parameters of each action.
var sampleParams = map[string]map[string]any{
	"scale_deployment":    {"deployment": map[string]any{"name": "web", "namespace": "prod", "replicas": float64(5)}},
	"scale_statefulset":   {"statefulset": map[string]any{"name": "db", "namespace": "prod", "replicas": float64(3)}},
	"rollout_restart":     {"deployment": map[string]any{"name": "web", "namespace": "prod"}},
	"restart_daemonset":   {"daemonset": map[string]any{"name": "agent", "namespace": "prod"}},
	"restart_statefulset": {"statefulset": map[string]any{"name": "db", "namespace": "prod"}},
	"increase_resources":  {"deployment": map[string]any{"name": "web", "namespace": "prod"}, "container": "web", "requests": map[string]any{"cpu": "500m"}, "limits": map[string]any{"memory": "1Gi"}},
	"rollback_deployment": {"deployment": map[string]any{"name": "web", "namespace": "prod"}},
	"update_image":        {"deployment": map[string]any{"name": "web", "namespace": "prod"}, "container": "web", "image": "registry.example/web:2"},
	"patch_deployment":    {"deployment": map[string]any{"name": "web", "namespace": "prod"}, "patch": map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"tier": "gold"}}}}}},
	"update_hpa":          {"hpa": map[string]any{"name": "web", "namespace": "prod"}, "minReplicas": float64(2), "maxReplicas": float64(10)},
	"update_configmap":    {"configmap": map[string]any{"name": "settings", "namespace": "prod"}, "data": map[string]any{"mode": "safe"}},
	"restart_pod":         {"pod": map[string]any{"name": "web-1", "namespace": "prod"}},
	"delete_pod":          {"pod": map[string]any{"name": "web-1", "namespace": "prod"}, "gracePeriodSeconds": float64(0)},
	"quarantine_pod":      {"pod": map[string]any{"name": "web-1", "namespace": "prod"}},
	"expand_pvc":          {"pvc": map[string]any{"name": "data", "namespace": "prod", "size": "20Gi"}},
	"notify_only":         {"message": "disk almost full", "severity": "warning"},
	"cordon_node":         {"node": map[string]any{"name": "n1"}},
	"uncordon_node":       {"node": map[string]any{"name": "n1"}},
	"drain_node":          {"node": map[string]any{"name": "n1", "ignoreDaemonSets": true}},
	"taint_node":          {"node": map[string]any{"name": "n1"}, "taint": map[string]any{"key": "example.com/maintenance", "value": "yes", "effect": "NoSchedule"}},
	"untaint_node":        {"node": map[string]any{"name": "n1"}, "taint": map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}},
}

// sampleBefore are plausible recorded values of each before key.
var sampleBefore = map[string]string{
	"replicas": "3", "revision": "2", "restarted_at": "2026-01-02T03:04:05Z", "to_revision": "1", "to_replicaset": "web-5d4f",
	"requests.cpu": "250m", "limits.memory": "", "image": "registry.example/web:1", "min_replicas": "1", "max_replicas": "5",
	"data": `{"mode":"fast"}`, "uid": "0d4c1f1e-2c3b-4f6e-8a2b-5c1d2e3f4a5b", "owner_kind": "ReplicaSet", "owner_name": "web-5d4f",
	"recorded_at": "2026-01-02T03:04:05Z", "labels": `{"app":"web"}`, "request": "10Gi", "capacity": "10Gi",
	"event": "kubernaut-notify.1", "unschedulable": "false", "taint_present": "true", "taint_value": "no",
}

// TestInverseReadsWhatCaptureRecords checks, for every action with an inverse, that
// the inverse finds what it needs among the keys Capture records, and that the
// rollback it builds is a catalog action with valid parameters. (The API server
// tests run those rollbacks and check they restore the object.)
func TestInverseReadsWhatCaptureRecords(t *testing.T) {
	for _, name := range Names() {
		a, _ := Lookup(name)
		params, ok := sampleParams[name]
		if !ok {
			t.Errorf("%s: no sample parameters", name)
			continue
		}
		if errs := a.ValidateParameters(params, field.NewPath("parameters")); len(errs) > 0 {
			t.Errorf("%s: the sample parameters are invalid: %v", name, errs.ToAggregate())
		}
		keys, ok := capturedKeys[name]
		if !ok {
			t.Errorf("%s: its captured keys are not listed", name)
			continue
		}
		if a.Inverse == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			before := map[string]string{}
			for _, k := range keys {
				v, ok := sampleBefore[k]
				if !ok {
					t.Fatalf("no sample value of before[%q]", k)
				}
				before[k] = v
			}
			rollback, err := a.Inverse(params, before)
			if err != nil {
				t.Fatalf("the inverse does not find what it needs in the keys Capture records %v: %v", keys, err)
			}
			undo, ok := Lookup(rollback.Action)
			if !ok {
				t.Fatalf("the inverse is %s, not a catalog action", rollback.Action)
			}
			if errs := undo.ValidateParameters(rollback.Parameters, field.NewPath("parameters")); len(errs) > 0 {
				t.Errorf("the inverse's parameters are invalid: %v", errs.ToAggregate())
			}
			// Every key the inverse reads is one Capture records: removing any other
			// key changes nothing, and at least one recorded key matters.
			matters := 0
			for _, k := range keys {
				without := maps.Clone(before)
				delete(without, k)
				if again, err := a.Inverse(params, without); err != nil || fmt.Sprint(again) != fmt.Sprint(rollback) {
					matters++
				}
			}
			if matters == 0 {
				t.Errorf("the inverse reads none of the keys Capture records %v", keys)
			}
		})
	}
}

// failingClient fails every call: the shape checks must reject bad parameters before
// any request.
type failingClient struct{ client.Client }

var errNoServer = errors.New("no API server in this test")

func (failingClient) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errNoServer
}
func (failingClient) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errNoServer
}
func (failingClient) Create(context.Context, client.Object, ...client.CreateOption) error {
	return errNoServer
}
func (failingClient) Delete(context.Context, client.Object, ...client.DeleteOption) error {
	return errNoServer
}
func (failingClient) Patch(context.Context, client.Object, client.Patch, ...client.PatchOption) error {
	return errNoServer
}
func (failingClient) Update(context.Context, client.Object, ...client.UpdateOption) error {
	return errNoServer
}
func (failingClient) SubResource(string) client.SubResourceClient { return failingSubResource{} }

type failingSubResource struct{ client.SubResourceClient }

func (failingSubResource) Get(context.Context, client.Object, client.Object, ...client.SubResourceGetOption) error {
	return errNoServer
}
func (failingSubResource) Create(context.Context, client.Object, client.Object, ...client.SubResourceCreateOption) error {
	return errNoServer
}
func (failingSubResource) Patch(context.Context, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
	return errNoServer
}
func (failingSubResource) Update(context.Context, client.Object, ...client.SubResourceUpdateOption) error {
	return errNoServer
}

// TestWrongShapes hands every executor parameters of the wrong shape: each returns
// an error naming the field, and makes no request.
func TestWrongShapes(t *testing.T) {
	for _, name := range Names() {
		e, _ := Lookup(name)
		valid := sampleParams[name]
		for field, value := range valid {
			for _, wrong := range []any{"text", float64(1.5), true, map[string]any{"name": float64(7)}, []any{"x"}} {
				if fmt.Sprint(wrong) == fmt.Sprint(value) {
					continue
				}
				params := maps.Clone(valid)
				params[field] = wrong
				check := func(step string, err error) {
					if errors.Is(err, errNoServer) {
						return // the wrong value is acceptable for this field (e.g. a string where one is optional)
					}
					if err == nil {
						if _, isObject := value.(map[string]any); isObject {
							t.Errorf("%s %s with %s = %#v: no error", name, step, field, wrong)
						}
						return
					}
					if !strings.Contains(err.Error(), "parameters."+field) {
						t.Errorf("%s %s with %s = %#v: the error does not name the field: %v", name, step, field, wrong, err)
					}
				}
				_, _, err := e.Capture(context.Background(), failingClient{}, params, "ns")
				check("Capture", err)
				_, err = e.Act(context.Background(), failingClient{}, params, sampleBefore, "ns", false)
				check("Act", err)
			}
		}
		if _, _, err := e.Capture(context.Background(), failingClient{}, nil, "ns"); err == nil || errors.Is(err, errNoServer) {
			t.Errorf("%s Capture without parameters: %v", name, err)
		}
		if _, err := e.Act(context.Background(), failingClient{}, nil, nil, "ns", false); err == nil || errors.Is(err, errNoServer) {
			t.Errorf("%s Act without parameters: %v", name, err)
		}
	}
}

// FuzzExecutors hands every executor decoded JSON as parameters and before values:
// none may panic.
func FuzzExecutors(f *testing.F) {
	for _, name := range Names() {
		params, _ := json.Marshal(sampleParams[name])
		before, _ := json.Marshal(sampleBefore)
		f.Add(params, before)
	}
	f.Add([]byte(`{"deployment":{"name":"a","namespace":"b","replicas":1e300}}`), []byte(`{}`))
	f.Add([]byte(`{"node":{"name":"n","gracePeriodSeconds":-1}}`), []byte(`{"uid":""}`))
	f.Fuzz(func(t *testing.T, rawParams, rawBefore []byte) {
		var params map[string]any
		if json.Unmarshal(rawParams, &params) != nil {
			return
		}
		var before map[string]string
		_ = json.Unmarshal(rawBefore, &before)
		for _, name := range Names() {
			e, _ := Lookup(name)
			_, _, _ = e.Capture(context.Background(), failingClient{}, params, "ns")
			_, _ = e.Act(context.Background(), failingClient{}, params, before, "ns", true)
		}
	})
}

func TestRetryLaterError(t *testing.T) {
	var err error = &RetryLaterError{Doing: "draining Node n1", Reason: "budgets refuse", Waiting: []string{"a/p1", "a/p2"}}
	wrapped := fmt.Errorf("step 2: %w", err)
	if !errors.Is(wrapped, ErrRetryLater) {
		t.Error("errors.Is(err, ErrRetryLater) is false")
	}
	var retry *RetryLaterError
	if !errors.As(wrapped, &retry) || len(retry.Waiting) != 2 {
		t.Error("errors.As does not find the RetryLaterError")
	}
	if want := "draining Node n1: budgets refuse (a/p1, a/p2); retry later"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if errors.Is(errors.New("other"), ErrRetryLater) {
		t.Error("any error is ErrRetryLater")
	}
}

// TestDrainPods: the one filter of a drain, which its executor evicts by and its
// facts count by.
func TestDrainPods(t *testing.T) {
	daemonSet := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: ptr(true)}
	replicaSet := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", Controller: ptr(true)}
	pod := func(name string, mutate func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		mutate(&p)
		return p
	}
	emptyDir := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pods := []corev1.Pod{
		pod("web", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{replicaSet} }),
		pod("bare", func(*corev1.Pod) {}),
		pod("agent", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{daemonSet} }),
		pod("static", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }),
		pod("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
		pod("cache", func(p *corev1.Pod) { p.Spec.Volumes = emptyDir }),
		// Going already: waited for, not evicted again, and no longer stopping the drain.
		pod("leaving", func(p *corev1.Pod) {
			p.Spec.Volumes = emptyDir
			p.DeletionTimestamp = &metav1.Time{}
		}),
		pod("elsewhere", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }),
	}
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	for _, tc := range []struct {
		o            drainOptions
		evict, local []string
	}{
		{drainOptions{ignoreDaemonSets: true}, []string{"web", "bare", "leaving"}, []string{"cache"}},
		{drainOptions{ignoreDaemonSets: false}, []string{"web", "bare", "agent", "leaving"}, []string{"cache"}},
		{drainOptions{ignoreDaemonSets: true, deleteEmptyDirData: true}, []string{"web", "bare", "cache", "leaving"}, nil},
	} {
		evict, local := drainPods(pods, "n1", tc.o)
		if !slices.Equal(names(evict), tc.evict) || !slices.Equal(names(local), tc.local) {
			t.Errorf("%+v: evict %v, local storage %v; want %v, %v", tc.o, names(evict), names(local), tc.evict, tc.local)
		}
	}
}

func TestReplicaSetOfRevision(t *testing.T) {
	rs := func(name, revision string) appsv1.ReplicaSet {
		return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{revisionAnnotation: revision}}}
	}
	sets := []appsv1.ReplicaSet{rs("a", "3"), rs("b", "5"), rs("c", "4"), rs("d", "junk"), rs("e", "")}
	for _, tc := range []struct {
		sets     []appsv1.ReplicaSet
		revision int64
		want     string
		found    int64
	}{
		{sets, 0, "c", 4}, // the previous revision
		{sets, 3, "a", 3},
		{sets, 5, "b", 5},
		{sets, 9, "", 0},
		{sets[1:2], 0, "", 0}, // no previous revision
		{nil, 0, "", 0},
	} {
		got, found, _, err := replicaSetOfRevision(tc.sets, tc.revision)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("revision %d of %d ReplicaSets: found %s, want an error", tc.revision, len(tc.sets), got.Name)
		case tc.want != "" && (err != nil || got.Name != tc.want || found != tc.found):
			t.Errorf("revision %d: %v, %d, %v; want %s, %d", tc.revision, got, found, err, tc.want, tc.found)
		}
	}
}

// TestDrainNodeFactsCountWhatTheDrainMustRemove: node_evictable_pods counts by the
// drain's own filter: what it evicts, and the pods with emptyDir data that stop it.
func TestDrainNodeFactsCountWhatTheDrainMustRemove(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	daemonSet := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: ptr(true)}
	pod := func(name string, mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		mutate(p)
		return p
	}
	c := fake.NewClientBuilder().WithObjects(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: ready}},
		pod("web", func(*corev1.Pod) {}),
		pod("agent", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{daemonSet} }),
		pod("cache", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}),
		pod("elsewhere", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }),
	).Build()
	drain, _ := Lookup("drain_node")
	for _, tc := range []struct {
		node map[string]any
		want int
	}{
		{map[string]any{"name": "n1"}, 2},
		{map[string]any{"name": "n1", "deleteEmptyDirData": true}, 2},
		{map[string]any{"name": "n1", "ignoreDaemonSets": false}, 3},
	} {
		doc, err := drain.Provide(context.Background(), c, map[string]any{"node": tc.node}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if doc["node_evictable_pods"] != tc.want {
			t.Errorf("%v: node_evictable_pods %v, want %d", tc.node, doc["node_evictable_pods"], tc.want)
		}
	}
}
