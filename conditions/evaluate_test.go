package conditions

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"kubernaut.io/stepvalidation/internal/text"
)

// A policy's message is the requester's text (inline Rego in a CR), copied into
// status, Events and warnings: whatever a policy writes, a Result carries at most
// MaxMessageBytes of valid UTF-8.
func TestEvaluateCapsPolicyMessages(t *testing.T) {
	cases := []struct {
		name   string
		source string
		safety bool
	}{
		{name: "error_message of 99 KB", source: `package p
allow if input.x == 1
error_message := concat("", array.concat(["é"], [s | some _ in numbers.range(1, 99000); s := "a"]))`},
		{name: "message of 100 KB of 3-byte runes", source: `package p
allow if input.x == 1
message := concat("", [s | some _ in numbers.range(1, 34000); s := "€"])`},
		{name: "a deny set of 2000 long messages", source: `package p
allow if count(deny) == 0
deny contains sprintf("%05d %s", [i, concat("", [s | some _ in numbers.range(1, 50); s := "😀"])]) if some i in numbers.range(1, 2000)`},
		{name: "a safety policy's deny set", safety: true, source: `package p
deny contains sprintf("%05d %s", [i, concat("", [s | some _ in numbers.range(1, 50); s := "😀"])]) if some i in numbers.range(1, 2000)`},
	}
	e := NewEngine(Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p *Policy
			var err error
			if c.safety {
				p, err = e.CompileSafety(context.Background(), "huge", c.source)
			} else {
				p, err = e.Compile(context.Background(), "huge", c.source)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := e.Evaluate(context.Background(), p, map[string]any{"x": 2})
			if got.Outcome != Failed {
				t.Fatalf("got %s (%s: %.100q), want Failed", got.Outcome, got.Reason, got.Message)
			}
			if len(got.Message) > MaxMessageBytes {
				t.Errorf("the message is %d bytes, more than %d", len(got.Message), MaxMessageBytes)
			}
			if !utf8.ValidString(got.Message) {
				t.Errorf("the message is not valid UTF-8: ...%q", got.Message[len(got.Message)-20:])
			}
			if !strings.HasSuffix(got.Message, text.Marker) {
				t.Errorf("the message does not say it was cut: ...%q", got.Message[len(got.Message)-20:])
			}
			if len(got.Message) < MaxMessageBytes-len(text.Marker)-utf8.UTFMax {
				t.Errorf("the message is cut to %d bytes, shorter than it needs", len(got.Message))
			}
		})
	}
}

// A deny set that fits is joined whole, without a marker.
func TestJoinSortedKeepsWhatFits(t *testing.T) {
	if got := joinSorted([]any{"b", "a"}); got != "a; b" {
		t.Errorf("got %q", got)
	}
	exact := strings.Repeat("x", MaxMessageBytes-3)
	if got := CapMessage(joinSorted([]any{exact, "y"})); got != exact+"; y" {
		t.Errorf("a deny set of exactly %d bytes was cut: %d bytes", MaxMessageBytes, len(got))
	}
}
