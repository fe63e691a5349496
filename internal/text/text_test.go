package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	long := strings.Repeat("a", 40)
	cases := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "empty", in: "", n: 10, want: ""},
		{name: "ASCII that fits", in: "short", n: 10, want: "short"},
		{name: "exactly n bytes", in: strings.Repeat("a", 20), n: 20, want: strings.Repeat("a", 20)},
		{name: "one byte too long", in: strings.Repeat("a", 21), n: 20, want: "aaaaa" + Marker},
		{name: "ASCII cut", in: long, n: 30, want: strings.Repeat("a", 30-len(Marker)) + Marker},
		{name: "multi-byte runes that fit exactly", in: "ééé", n: 6, want: "ééé"},
		// The marker takes 15 bytes and leaves 5: two é (4 bytes); the third would straddle.
		{name: "rune straddling the cut", in: "ééééééééééé", n: 20, want: "éé" + Marker},
		// 4-byte runes: 6 bytes leave room for one, not two.
		{name: "4-byte rune at the boundary", in: "😀😀😀😀😀😀", n: 6 + len(Marker), want: "😀" + Marker},
		{name: "3-byte rune ending exactly at the boundary", in: "€€€€€€€€", n: 6 + len(Marker), want: "€€" + Marker},
		{name: "invalid bytes that fit are replaced", in: "a\xffb", n: 10, want: "a\uFFFDb"},
		{name: "a truncated rune at the end is replaced", in: "ab\xe2\x82", n: 10, want: "ab\uFFFD\uFFFD"},
		{name: "replacing pushes it over n", in: "a\xff\xffb", n: 5, want: "a\uFFFD"},
		{name: "invalid input cut", in: strings.Repeat("\xff", 40), n: 30, want: strings.Repeat("\uFFFD", 5) + Marker},
		{name: "n too small for the marker", in: "héllo world", n: 2, want: "h"},
		{name: "n zero", in: "abc", n: 0, want: ""},
		{name: "n negative", in: "abc", n: -1, want: ""},
		{name: "U+FFFD in valid input is kept", in: "\uFFFD", n: 3, want: "\uFFFD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Truncate(c.in, c.n)
			if got != c.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
			}
			if c.n >= 0 && len(got) > c.n {
				t.Errorf("Truncate(%q, %d) is %d bytes, more than %d", c.in, c.n, len(got), c.n)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q is not valid UTF-8", c.in, c.n, got)
			}
		})
	}
}

// Every cut of a mix of 1- to 4-byte runes and invalid bytes is valid UTF-8 within n.
func TestTruncateAnyLength(t *testing.T) {
	in := strings.Repeat("aé€😀\xff", 30)
	for n := 0; n <= len(in)+10; n++ {
		got := Truncate(in, n)
		if len(got) > n || !utf8.ValidString(got) {
			t.Fatalf("Truncate(_, %d) = %q (%d bytes)", n, got, len(got))
		}
	}
}

func BenchmarkTruncateHuge(b *testing.B) {
	huge := strings.Repeat("é", 50<<20)
	for b.Loop() {
		Truncate(huge, 1024)
	}
}

func TestCapMessage(t *testing.T) {
	if got := CapMessage("short"); got != "short" {
		t.Errorf("CapMessage(short) = %q", got)
	}
	got := CapMessage(strings.Repeat("é", MaxMessageBytes))
	if len(got) > MaxMessageBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, Marker) {
		t.Errorf("CapMessage of %d bytes = %d bytes, valid UTF-8 %v, ends with the marker %v",
			2*MaxMessageBytes, len(got), utf8.ValidString(got), strings.HasSuffix(got, Marker))
	}
}
