package check

import (
	"context"
	"errors"
	"testing"
	"time"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/metrics"
)

func newService(t testing.TB) *Service {
	t.Helper()
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Engine: engine, Library: lib}
}

// healthyScale is the facts document of a healthy Deployment scaled from 3 to 5
// replicas that already run.
func healthyScale() map[string]any {
	return map[string]any{
		"action": "scale_deployment", "phase": "post", "deployment_found": true, "deployment_name": "web",
		"namespace": "prod", "current_replicas": 5, "expected_baseline": 3, "target_replicas": 5,
		"additional_replicas": 0, "available_cpu": "2000m", "available_memory": "4096Mi",
		"required_cpu_per_pod": "100m", "required_memory_per_pod": "128Mi", "running_pods": 5, "ready_pods": 5,
		"conditions":               map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false},
		"pods":                     []any{map[string]any{"name": "web-1", "status": "Running", "throttled": false, "oom_killed": false}},
		"image_pull_secrets_exist": true, "image_pull_secrets_valid": true, "matching_nodes": 2, "ready_nodes": 2,
	}
}

func TestResolve(t *testing.T) {
	s := newService(t)
	ctx := context.Background()

	inline, err := s.Resolve(ctx, &commonv1alpha1.ValidationCondition{Type: "deployment_exists", Rego: "package mine\nallow := true"})
	if err != nil || inline.Source != commonv1alpha1.PolicySourceInline || inline.Policy.Package != "mine" {
		t.Errorf("inline rego must win over the library: %+v, %v", inline, err)
	}
	fromLibrary, err := s.Resolve(ctx, &commonv1alpha1.ValidationCondition{Type: "deployment_exists"})
	if err != nil || fromLibrary.Source != commonv1alpha1.PolicySourceEmbedded || fromLibrary.Version == "" {
		t.Errorf("a condition without rego uses the library's policy: %+v, %v", fromLibrary, err)
	}
	_, err = s.Resolve(ctx, &commonv1alpha1.ValidationCondition{Type: "made_up"})
	var noPolicy *NoPolicyError
	if !errors.As(err, &noPolicy) || noPolicy.ConditionType != "made_up" {
		t.Errorf("want a NoPolicyError, got %v", err)
	}
	_, err = s.Resolve(ctx, &commonv1alpha1.ValidationCondition{Type: "broken", Rego: "package p\nallow if {"})
	var compileErr *conditions.CompileError
	if !errors.As(err, &compileErr) {
		t.Errorf("want a CompileError, got %v", err)
	}
}

func TestEvaluateKeepsOrderAndReportsEveryCondition(t *testing.T) {
	s := newService(t)
	s.Parallelism = 3
	optional := false
	round := Round{
		Service: metrics.ServiceWorkflow, Action: "scale_deployment", Phase: facts.Post,
		Conditions: []commonv1alpha1.ValidationCondition{
			{Type: "desired_replicas_running"},
			{Type: "deployment_health_check"},
			{Type: "no_crashloop_pods"},
			{Type: "made_up"},
			{Type: "inline_false", Rego: "package p\ndefault allow := false\nmessage := \"never\"", Required: &optional},
			{Type: "current_replicas_match", Required: &optional},
		},
	}
	outcomes := s.Evaluate(context.Background(), round, healthyScale())
	want := []struct {
		outcome conditions.Outcome
		source  commonv1alpha1.PolicySource
	}{
		{conditions.Passed, commonv1alpha1.PolicySourceEmbedded},
		{conditions.Passed, commonv1alpha1.PolicySourceEmbedded},
		{conditions.Passed, commonv1alpha1.PolicySourceEmbedded},
		{conditions.Errored, ""},
		{conditions.Failed, commonv1alpha1.PolicySourceInline},
		{conditions.Failed, commonv1alpha1.PolicySourceEmbedded}, // 5 replicas, baseline 3
	}
	if len(outcomes) != len(want) {
		t.Fatalf("got %d outcomes, want %d", len(outcomes), len(want))
	}
	for i, w := range want {
		o := outcomes[i]
		if o.Condition.Type != round.Conditions[i].Type || o.Outcome != w.outcome || o.Source != w.source {
			t.Errorf("%d: got %s %s from %q (%s), want %s from %q", i, o.Condition.Type, o.Outcome, o.Source, o.Message, w.outcome, w.source)
		}
	}

	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	status := outcomes[4].Status(now, 2)
	if status.ConditionType != "inline_false" || !status.Evaluated || status.Passed || status.Required ||
		status.ErrorMessage != "never" || status.Attempts != 2 || status.PolicySource != commonv1alpha1.PolicySourceInline ||
		!status.EvaluationTime.Time.Equal(now) {
		t.Errorf("status of a failed optional inline condition: %+v", status)
	}
	if s := outcomes[3].Status(now, 1); s.Evaluated || s.Passed || s.ErrorMessage == "" {
		t.Errorf("a condition without a policy is reported as not evaluated, with why: %+v", s)
	}
}

func TestWantedIsWhatTheRoundsPoliciesRead(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	readsReady := commonv1alpha1.ValidationCondition{Type: "mine", Rego: "package mine\nallow if input.ready_pods > 0"}

	want := wanted(s.resolveAll(ctx, []commonv1alpha1.ValidationCondition{readsReady, {Type: "made_up"}}))
	if !want.Has("ready_pods") || want.Has("available_cpu") || want.Has("deployment_found") {
		t.Errorf("an inline policy reading ready_pods (and one without a policy) want %v", want)
	}
	want = wanted(s.resolveAll(ctx, []commonv1alpha1.ValidationCondition{readsReady, {Type: "cluster_capacity_available"}}))
	if !want.Has("ready_pods") || !want.Has("available_cpu") {
		t.Errorf("with the library's capacity policy, want %v", want)
	}
	want = wanted(s.resolveAll(ctx, []commonv1alpha1.ValidationCondition{readsReady,
		{Type: "any", Rego: "package any\nallow if { some k; input[k] == 1 }"}}))
	if want != nil {
		t.Errorf("a policy that may read any key wants every key, got %v", want)
	}
}
