package runview

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// now is the clock of every golden file.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// load reads a recorded run: a WorkflowExecution and its KubernetesExecutions as
// YAML documents.
func load(t *testing.T, path string) (*workflowv1alpha1.WorkflowExecution, []kev1alpha1.KubernetesExecution) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wfe *workflowv1alpha1.WorkflowExecution
		kes []kev1alpha1.KubernetesExecution
	)
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		switch head.Kind {
		case "WorkflowExecution":
			wfe = &workflowv1alpha1.WorkflowExecution{}
			if err := yaml.UnmarshalStrict([]byte(doc), wfe); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		case "KubernetesExecution":
			var ke kev1alpha1.KubernetesExecution
			if err := yaml.UnmarshalStrict([]byte(doc), &ke); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			kes = append(kes, ke)
		default:
			t.Fatalf("%s: unexpected kind %q", path, head.Kind)
		}
	}
	if wfe == nil {
		t.Fatalf("%s has no WorkflowExecution", path)
	}
	return wfe, kes
}

// TestGolden renders each recorded run in testdata and compares it with its
// .txt; go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	fixtures, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, fixture := range fixtures {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			wfe, kes := load(t, fixture)
			var out bytes.Buffer
			if err := Render(&out, wfe, kes, now, false); err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(fixture, ".yaml") + ".txt"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", fixture, golden, out.String(), want)
			}
		})
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestColor checks that colour adds ANSI codes and nothing else, and that
// without it there are none.
func TestColor(t *testing.T) {
	wfe, kes := load(t, "testdata/running.yaml")
	var plain, colored bytes.Buffer
	if err := Render(&plain, wfe, kes, now, false); err != nil {
		t.Fatal(err)
	}
	if err := Render(&colored, wfe, kes, now, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b") {
		t.Errorf("color=false wrote an escape:\n%q", plain.String())
	}
	if !ansi.MatchString(colored.String()) {
		t.Errorf("color=true wrote no ANSI codes:\n%s", colored.String())
	}
	if got := ansi.ReplaceAllString(colored.String(), ""); got != plain.String() {
		t.Errorf("color=true differs from color=false by more than ANSI codes:\n%s\n---\n%s", got, plain.String())
	}
}

func TestResult(t *testing.T) {
	for _, tt := range []struct {
		r       *commonv1alpha1.ConditionResult
		polling bool
		want    string
	}{
		{nil, false, ResultPending},
		{&commonv1alpha1.ConditionResult{Evaluated: true, Passed: true}, false, ResultPassed},
		{&commonv1alpha1.ConditionResult{Evaluated: true, Passed: true, Overridden: true}, false, ResultOverridden},
		{&commonv1alpha1.ConditionResult{Evaluated: true}, true, ResultWaiting},
		{&commonv1alpha1.ConditionResult{Evaluated: true}, false, ResultFailed},
		{&commonv1alpha1.ConditionResult{}, true, ResultError},
		{&commonv1alpha1.ConditionResult{}, false, ResultError},
		{&commonv1alpha1.ConditionResult{Inconclusive: true}, true, ResultInconclusive},
		{&commonv1alpha1.ConditionResult{Inconclusive: true}, false, ResultInconclusive},
	} {
		if got := Result(tt.r, tt.polling); got != tt.want {
			t.Errorf("Result(%+v, %v) = %s, want %s", tt.r, tt.polling, got, tt.want)
		}
	}
}
