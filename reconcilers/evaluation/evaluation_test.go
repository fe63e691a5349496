package evaluation

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/internal/metricstest"
	"kubernaut.io/stepvalidation/metrics"
	"kubernaut.io/stepvalidation/reconcilers/mode"
)

const (
	allows = "package t.allows\nimport rego.v1\nallow if true\n"
	denies = "package t.denies\nimport rego.v1\nallow if false\nerror_message := \"no\"\n"
)

func service(t *testing.T) *check.Service {
	t.Helper()
	engine := conditions.NewEngine(conditions.Options{})
	lib, err := library.New(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	// Facts of a Deployment that does not exist: the inline policies here read none.
	return &check.Service{Engine: engine, Library: lib, Reader: fake.NewClientBuilder().Build()}
}

func cond(t, rego string, required bool) commonv1alpha1.ValidationCondition {
	return commonv1alpha1.ValidationCondition{Type: t, Rego: rego, Required: ptr.To(required),
		Timeout: &metav1.Duration{Duration: 10 * time.Second}, Interval: &metav1.Duration{Duration: 2 * time.Second}}
}

func round(phase facts.Phase, conds ...commonv1alpha1.ValidationCondition) Round {
	return Round{Round: check.Round{
		Service: metrics.ServiceWorkflow, Action: "scale_deployment", Phase: phase, Conditions: conds,
		Parameters: map[string]any{"deployment": map[string]any{"name": "web", "namespace": "prod", "replicas": 5}},
	}}
}

func types(fs []Failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Type)
	}
	return out
}

func TestPreconditions(t *testing.T) {
	svc := service(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	conds := []commonv1alpha1.ValidationCondition{cond("ok", allows, true), cond("gate", denies, true), cond("hint", denies, false)}

	cases := []struct {
		name          string
		enforcement   Enforcement
		blocking      []string
		warnings      []string
		overridden    string
		warnOnly      []string // the required conditions warn mode made optional
		wantNoResults bool
	}{
		{name: "enforce", enforcement: NewEnforcement(mode.Enforce, nil, nil, now),
			blocking: []string{"gate"}, warnings: []string{"hint"}},
		{name: "warn makes required optional", enforcement: NewEnforcement(mode.Warn, nil, nil, now),
			warnings: []string{"gate", "hint"}, warnOnly: []string{"ok", "gate"}},
		{name: "override annotation skips", enforcement: NewEnforcement(mode.Enforce,
			[]OverrideSource{{Name: "KubernetesExecution/x", Annotations: map[string]string{commonv1alpha1.OverrideConditionAnnotation: "gate, other"}}}, nil, now),
			warnings: []string{"hint"}, overridden: "gate"},
		{name: "conditionOverrides flip required", enforcement: NewEnforcement(mode.Enforce, nil,
			[]commonv1alpha1.ConditionOverride{{Type: "gate", Required: false}, {Type: "hint", Required: true}}, now),
			blocking: []string{"hint"}, warnings: []string{"gate"}},
		{name: "off evaluates nothing", enforcement: NewEnforcement(mode.Off, nil, nil, now), wantNoResults: true},
	}
	blockedBefore := blockedCount(t)
	wantBlocked := 0
	for _, tc := range cases {
		wantBlocked += len(tc.blocking)
		t.Run(tc.name, func(t *testing.T) {
			report, err := Preconditions(ctx, svc, tc.enforcement, round(facts.Pre, conds...), now)
			if err != nil {
				t.Fatal(err)
			}
			if !report.Done {
				t.Fatal("preconditions are evaluated once: the report must be done")
			}
			if tc.wantNoResults {
				if len(report.Results) != 0 || !report.Passed() {
					t.Fatalf("off: results %v, passed %v", report.Results, report.Passed())
				}
				return
			}
			if got := types(report.Blocking); !slices.Equal(got, tc.blocking) {
				t.Errorf("blocking = %v, want %v", got, tc.blocking)
			}
			if got := types(report.Warnings); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings = %v, want %v", got, tc.warnings)
			}
			if report.Passed() != (len(tc.blocking) == 0) {
				t.Errorf("Passed() = %v with blocking %v", report.Passed(), tc.blocking)
			}
			for _, r := range report.Results {
				if r.Overridden != (r.ConditionType == tc.overridden) {
					t.Errorf("%s: overridden = %v", r.ConditionType, r.Overridden)
				}
				if r.WarnOnly != slices.Contains(tc.warnOnly, r.ConditionType) {
					t.Errorf("%s: warnOnly = %v", r.ConditionType, r.WarnOnly)
				}
				if r.Overridden && (!r.Passed || r.Attempts != 0) {
					t.Errorf("%s: an overridden condition passes unevaluated, got %+v", r.ConditionType, r)
				}
				if !r.Overridden && (r.Attempts != 1 || !r.Evaluated) {
					t.Errorf("%s: want one evaluation, got %+v", r.ConditionType, r)
				}
			}
		})
	}
	if got := blockedCount(t) - blockedBefore; got != float64(wantBlocked) {
		t.Errorf("kubernaut_executions_blocked_by_precondition_total rose by %v, want %d: one for each blocking condition", got, wantBlocked)
	}
}

func TestPostconditionsPollUntilPassOrTimeout(t *testing.T) {
	svc := service(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	e := NewEnforcement(mode.Enforce, nil, nil, start)
	r := round(facts.Post, cond("ok", allows, true), cond("never", denies, true))

	report, err := Postconditions(ctx, svc, e, r, nil, start)
	if err != nil {
		t.Fatal(err)
	}
	if report.Done || !report.NextAt.Equal(start.Add(2*time.Second)) {
		t.Fatalf("after the first evaluation: done %v, next at %v; want a retry of never at +2s", report.Done, report.NextAt)
	}
	if report.Blocking != nil {
		t.Fatalf("nothing is final before the timeout, got blocking %v", report.Blocking)
	}

	// Before the interval: nothing is due, nothing is evaluated again.
	early, err := Postconditions(ctx, svc, e, r, report.Results, start.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if early.Results[1].Attempts != 1 {
		t.Fatalf("evaluated before its interval: %+v", early.Results[1])
	}

	// Polls every interval; ok stays verified without being evaluated again.
	results := report.Results
	at := start
	for i := 0; i < 10 && !report.Done; i++ {
		at = report.NextAt
		if report, err = Postconditions(ctx, svc, e, r, results, at); err != nil {
			t.Fatal(err)
		}
		results = report.Results
	}
	if !report.Done || !at.Equal(start.Add(10*time.Second)) {
		t.Fatalf("done %v at %v; want done at the 10s timeout", report.Done, at.Sub(start))
	}
	if got := types(report.Blocking); !slices.Equal(got, []string{"never"}) || !slices.Equal(report.TimedOut, []string{"never"}) {
		t.Fatalf("blocking %v, timed out %v; want never in both", got, report.TimedOut)
	}
	never := results[1]
	if never.Attempts != 6 || never.FirstEvaluationTime == nil || !never.FirstEvaluationTime.Time.Equal(start) {
		t.Fatalf("never: %+v; want 6 attempts (0,2,4,6,8,10s) from %v", never, start)
	}
	if want := "Verification timeout: condition not met within 10s (6 attempts): no"; never.ErrorMessage != want {
		t.Fatalf("message %q, want %q", never.ErrorMessage, want)
	}
	if results[0].Attempts != 1 || !results[0].Passed {
		t.Fatalf("ok: %+v; want passed at the first attempt and left alone", results[0])
	}
}

func TestOverrideExpiry(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sources := []OverrideSource{
		{Name: "WorkflowExecution/w", Annotations: map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "gate",
			commonv1alpha1.OverrideReasonAnnotation:    "false positive",
			commonv1alpha1.OverrideByAnnotation:        "carol",
			commonv1alpha1.OverrideExpiresAnnotation:   now.Add(-time.Minute).Format(time.RFC3339),
		}},
		{Name: "KubernetesExecution/k", Annotations: map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "other",
			commonv1alpha1.OverrideExpiresAnnotation:   now.Add(time.Hour).Format(time.RFC3339),
		}},
		{Name: "KubernetesExecution/bad", Annotations: map[string]string{
			commonv1alpha1.OverrideConditionAnnotation: "third",
			commonv1alpha1.OverrideExpiresAnnotation:   "tomorrow",
		}},
	}
	e := NewEnforcement(mode.Enforce, sources, nil, now)
	if e.Overridden["gate"] || !e.Overridden["other"] || e.Overridden["third"] {
		t.Fatalf("overridden = %v; want only other (gate expired, third has an unreadable expiry)", e.Overridden)
	}
	if len(e.Overrides) != 3 || !e.Overrides[0].Expired || e.Overrides[1].Expired || !e.Overrides[2].Expired {
		t.Fatalf("records = %+v; want three, the first and third expired", e.Overrides)
	}
	if r := e.Overrides[0]; r.By != "carol" || r.Reason != "false positive" || r.Source != "WorkflowExecution/w" || r.Expires == nil {
		t.Fatalf("record = %+v; want who, why, where and when it expires", r)
	}
}

// However often the reconciler runs, a postcondition is evaluated at most
// ceil(timeout/interval)+1 times, at least interval apart but for the last, at the
// timeout: the bound the interval field's documentation gives.
func TestPostconditionsAttemptsBound(t *testing.T) {
	svc := service(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	e := NewEnforcement(mode.Enforce, nil, nil, start)
	c := cond("never", denies, true)
	c.Timeout, c.Interval = &metav1.Duration{Duration: 10 * time.Second}, &metav1.Duration{Duration: 3 * time.Second}
	r := round(facts.Post, c)

	var results []commonv1alpha1.ConditionResult
	var evaluated []time.Duration
	for at := start; ; at = at.Add(100 * time.Millisecond) { // a reconcile every 100ms
		report, err := Postconditions(ctx, svc, e, r, results, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) == 0 || report.Results[0].Attempts != results[0].Attempts {
			evaluated = append(evaluated, at.Sub(start))
		}
		results = report.Results
		if report.Done {
			break
		}
	}
	want := []time.Duration{0, 3 * time.Second, 6 * time.Second, 9 * time.Second, 10 * time.Second} // ceil(10/3)+1 = 5
	if !slices.Equal(evaluated, want) || results[0].Attempts != int32(len(want)) {
		t.Fatalf("evaluated at %v (%d attempts), want %v", evaluated, results[0].Attempts, want)
	}
}

// TestPostconditionsWokenByChange: a change evaluates an undecided postcondition
// before its interval, but records it only when its verdict changed.
func TestPostconditionsWokenByChange(t *testing.T) {
	reader := fake.NewClientBuilder().Build()
	svc := service(t)
	svc.Reader = reader
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	e := NewEnforcement(mode.Enforce, nil, nil, start)
	found := cond("found", "package t.found\nimport rego.v1\nallow if input.deployment_found\n", true)
	r := round(facts.Post, cond("ok", allows, true), found)
	r.Unwritten = &Unwritten{}

	first, err := Postconditions(ctx, svc, e, r, nil, start)
	if err != nil {
		t.Fatal(err)
	}
	if first.Done || first.Results[1].Passed {
		t.Fatalf("found passed without a Deployment: %+v", first.Results[1])
	}

	r.Changed = true
	same, err := Postconditions(ctx, svc, e, r, first.Results, start.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Kept in memory, not recorded; the interval counts from it.
	if !slices.Equal(same.Results, first.Results) || !same.NextAt.Equal(start.Add(2300*time.Millisecond)) {
		t.Fatalf("a change that decided nothing was recorded: %+v, next at %v; want %+v, next at +2.3s",
			same.Results, same.NextAt, first.Results)
	}

	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod"}}
	if err := reader.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	r.Changed = false
	waits, err := Postconditions(ctx, svc, e, r, first.Results, start.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if waits.Done || waits.Results[1].Attempts != 1 {
		t.Fatalf("evaluated before its interval without a change: %+v", waits.Results[1])
	}

	r.Changed = true
	passed, err := Postconditions(ctx, svc, e, r, first.Results, start.Add(600*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	got := passed.Results[1]
	if !passed.Done || !got.Passed || got.Attempts != 3 || !got.EvaluationTime.Time.Equal(start.Add(600*time.Millisecond)) {
		t.Fatalf("after the Deployment appeared: done %v, %+v; want passed at the third attempt (the second kept in memory), at +600ms", passed.Done, got)
	}
	if passed.Results[0].Attempts != 1 {
		t.Fatalf("ok, already verified, was evaluated again: %+v", passed.Results[0])
	}
}

// TestPostconditionsUnwrittenUntilFinal: with Unwritten, the evaluations that fail
// as the last recorded one did are kept in memory; status records the first and
// the final one, which counts them all.
func TestPostconditionsUnwrittenUntilFinal(t *testing.T) {
	svc := service(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	e := NewEnforcement(mode.Enforce, nil, nil, start)
	r := round(facts.Post, cond("never", denies, true))
	r.Unwritten = &Unwritten{}

	report, err := Postconditions(ctx, svc, e, r, nil, start)
	if err != nil {
		t.Fatal(err)
	}
	recorded := report.Results
	for i := 0; i < 10 && !report.Done; i++ {
		if report, err = Postconditions(ctx, svc, e, r, recorded, report.NextAt); err != nil {
			t.Fatal(err)
		}
		if !report.Done && !slices.Equal(report.Results, recorded) {
			t.Fatalf("poll %d was recorded: %+v", i+2, report.Results[0])
		}
	}
	never := report.Results[0]
	if !report.Done || never.Attempts != 6 || !never.EvaluationTime.Time.Equal(start.Add(10*time.Second)) {
		t.Fatalf("done %v, %+v; want the timeout recorded at +10s after 6 attempts", report.Done, never)
	}
	if want := "Verification timeout: condition not met within 10s (6 attempts): no"; never.ErrorMessage != want {
		t.Fatalf("message %q, want %q", never.ErrorMessage, want)
	}
}

// blockedCount sums kubernaut_executions_blocked_by_precondition_total for
// scale_deployment.
func blockedCount(t *testing.T) float64 {
	t.Helper()
	n, err := metricstest.Sum("kubernaut_executions_blocked_by_precondition_total", map[string]string{"action": "scale_deployment"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
