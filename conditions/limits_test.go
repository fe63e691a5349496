package conditions

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// chain writes rules s1..sn, each built from the one before by step (a Rego
// expression over prev), from s0 := start, then allow.
func chain(start, step string, n int, allow string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package p\nimport rego.v1\ns0 := %s\n", start)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "s%d := %s\n", i, strings.ReplaceAll(step, "prev", "s"+strconv.Itoa(i-1)))
	}
	b.WriteString(allow + "\n")
	return b.String()
}

const pad = `"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`

// hostile are policies that try to take the manager's memory, each in its own way.
var hostile = map[string]string{
	"a string doubled by concat":       chain(pad, `concat("", [prev, prev])`, 40, "allow if count(s40) > 0"),
	"a string doubled by sprintf":      chain(pad, `sprintf("%s%s", [prev, prev])`, 40, "allow if count(s40) > 0"),
	"a string squared by replace":      chain(`"aa"`, `replace(prev, "a", prev)`, 8, "allow if count(s8) > 0"),
	"a string squared by replace_n":    chain(`"aa"`, `strings.replace_n({"a": prev}, prev)`, 8, "allow if count(s8) > 0"),
	"an array doubled by array.concat": chain(`[1, 2, 3, 4]`, `array.concat(prev, prev)`, 40, "allow if count(s40) > 0"),
	"a shared tree marshaled":          chain(`[1, 2, 3, 4]`, `[prev, prev]`, 40, "allow if count(json.marshal(s40)) > 0"),
	"a shared tree flattened":          chain(`[1, 2, 3, 4]`, `[prev, prev]`, 40, "allow if count(array.flatten(s40)) > 0"),
	"a number squared by mul":          chain(`99999999999`, `prev * prev`, 40, "allow if s40 > 0"),
	"a string split into runes":        chain(pad, `concat("", [prev, prev])`, 12, `allow if count(split(s12, "")) > 0`),
	"a document unmarshaled":           chain(`"[0,"`, `concat("", [prev, prev])`, 18, `allow if count(json.unmarshal(concat("", [s18, "0]"]))) > 0`),
	"a shared tree walked":             chain(`[1]`, `[prev, prev]`, 24, "paths := [p | walk(s24, [p, _])]\nallow if count(paths) > 0"),
	"a range of a billion":             "package p\nimport rego.v1\nallow if count(numbers.range(1, 1000000000)) > 0\n",
	"a width of a billion":             "package p\nimport rego.v1\nallow if count(sprintf(\"%0999999999d\", [1])) > 0\n",
	"a shift of a billion bits":        "package p\nimport rego.v1\nallow if bits.lsh(1, 1000000000) > 0\n",
	"a cross product held in an array": "package p\nimport rego.v1\nr := numbers.range(1, 20000)\nallow if count([[i, j] | some i in r; some j in r]) > 0\n",
	"a set of long strings":            "package p\nimport rego.v1\nallow if count({sprintf(\"%d %s\", [i, " + pad + "]) | some i in numbers.range(1, 100000)}) > 0\n",
	"an object of long values":         "package p\nimport rego.v1\nallow if count({k: v | some i in numbers.range(1, 100000); k := sprintf(\"%d\", [i]); v := concat(\"\", [" + pad + ", k, " + pad + "])}) > 0\n",
	"a huge deny set, as explanation":  "package p\nimport rego.v1\nallow if false\ndeny contains sprintf(\"%d %s %s\", [i, " + pad + ", " + pad + "]) if some i in numbers.range(1, 100000)\n",
}

// TestHostilePoliciesStopAtTheLimits runs each hostile policy against the real
// engine and checks that it ends with ResourceLimit and that the process's peak
// resident memory rose by at most the engine's 64 MiB.
func TestHostilePoliciesStopAtTheLimits(t *testing.T) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		t.Skip("needs Linux /proc to measure resident memory")
	}
	e := NewEngine(Options{EvalDeadline: 20 * time.Second})
	for name, source := range hostile {
		t.Run(name, func(t *testing.T) {
			p, err := e.Compile(context.Background(), "bomb", source)
			if err != nil {
				t.Fatal(err)
			}
			growth, got := peakGrowth(t, func() Result { return e.Evaluate(context.Background(), p, map[string]any{}) })
			if got.Outcome != Errored || got.Reason != ReasonResourceLimit {
				t.Errorf("got %s (%s: %.200q) after %s, want Errored (%s)", got.Outcome, got.Reason, got.Message, got.Duration, ReasonResourceLimit)
			}
			t.Logf("%s in %s; peak resident memory +%d MiB", got.Reason, got.Duration.Round(time.Millisecond), growth>>20)
			if growth > DefaultMaxEvalMemory {
				t.Errorf("peak resident memory rose by %d MiB, more than %d MiB", growth>>20, DefaultMaxEvalMemory>>20)
			}
		})
	}
}

// TestConcurrentHostilePolicies runs twice as many bombs as there are evaluation
// slots at once: together they may not take more than the slots times the bound.
func TestConcurrentHostilePolicies(t *testing.T) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		t.Skip("needs Linux /proc to measure resident memory")
	}
	e := NewEngine(Options{EvalDeadline: 20 * time.Second})
	p, err := e.Compile(context.Background(), "bomb", hostile["a set of long strings"])
	if err != nil {
		t.Fatal(err)
	}
	n := 2 * DefaultMaxConcurrentEvals
	results := make([]Result, n)
	growth, _ := peakGrowth(t, func() Result {
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.Evaluate(context.Background(), p, map[string]any{})
			}()
		}
		wg.Wait()
		return Result{}
	})
	// The bound is on what the bombs hold together. One that begins while
	// another still holds its memory sees that memory in its starting point, and
	// now and then completes (known gap: the governor measures the process's
	// heap); most are stopped.
	limited := 0
	for i, r := range results {
		switch {
		case r.Reason == ReasonResourceLimit:
			limited++
		case r.Outcome != Passed:
			t.Errorf("bomb %d: got %s (%s: %.200q), want %s", i, r.Outcome, r.Reason, r.Message, ReasonResourceLimit)
		}
	}
	if limited < n/2 {
		t.Errorf("%d of %d bombs stopped with %s, want at least half", limited, n, ReasonResourceLimit)
	}
	t.Logf("%d bombs, %d slots: %d stopped, peak resident memory +%d MiB", n, DefaultMaxConcurrentEvals, limited, growth>>20)
	if limit := uint64(DefaultMaxConcurrentEvals) * DefaultMaxEvalMemory; growth > limit {
		t.Errorf("peak resident memory rose by %d MiB, more than %d MiB", growth>>20, limit>>20)
	}
}

// peakGrowth runs f and returns how far the process's peak resident memory rose
// above what it was before.
func peakGrowth(t *testing.T, f func() Result) (uint64, Result) {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	// Writing 5 resets the peak (VmHWM) to the current resident size.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak resident memory: %v", err)
	}
	before := procStatus(t, "VmRSS")
	r := f()
	peak := procStatus(t, "VmHWM")
	if peak < before {
		return 0, r
	}
	return peak - before, r
}

// procStatus reads a memory line of /proc/self/status, in bytes.
func procStatus(t *testing.T, key string) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), key+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", key)
	return 0
}

// TestOneTenantLeavesOthersSlots fills every slot one tenant may hold with
// policies that run until their deadline: another tenant's evaluation still runs
// at once and decides while they are running.
func TestOneTenantLeavesOthersSlots(t *testing.T) {
	e := NewEngine(Options{EvalDeadline: 3 * time.Second, MaxConcurrentEvals: 4})
	slow, err := e.Compile(context.Background(), "slow",
		"package p\nimport rego.v1\nallow if {\n\tsome i in numbers.range(1, 100000)\n\tsome j in numbers.range(1, 100000)\n\ti == j + 1000000\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	quick, err := e.Compile(context.Background(), "quick", "package q\nimport rego.v1\nallow if input.ok\n")
	if err != nil {
		t.Fatal(err)
	}
	noisy := WithTenant(context.Background(), "noisy")
	var wg sync.WaitGroup
	var noisyDone sync.WaitGroup
	done := make(chan struct{})
	for range 8 { // four times its share, twice all the slots
		wg.Add(1)
		noisyDone.Add(1)
		go func() {
			defer wg.Done()
			defer noisyDone.Done()
			e.Evaluate(noisy, slow, map[string]any{})
		}()
	}
	go func() { noisyDone.Wait(); close(done) }()
	time.Sleep(100 * time.Millisecond) // let the noisy tenant take what it may
	got := e.Evaluate(WithTenant(context.Background(), "quiet"), quick, map[string]any{"ok": true})
	select {
	case <-done:
		t.Fatal("the noisy tenant's evaluations ended first: the test proves nothing")
	default:
	}
	if !got.Passed() {
		t.Fatalf("the quiet tenant's policy: %s (%s: %s)", got.Outcome, got.Reason, got.Message)
	}
	wg.Wait()
}
