// Package text holds string helpers shared by the packages that copy user-controlled
// text (policy messages, errors) into status, Events and admission warnings.
package text

import (
	"strings"
	"unicode/utf8"
)

// Marker ends a string that Truncate cut.
const Marker = "… (truncated)"

// MaxMessageBytes caps every message the manager writes to status (status.message,
// step messages, condition messages, check and condition results) or to an Event. An
// Event's note may not exceed 1 KiB (the API server refuses a longer one), and the
// messages quote text a requester controls (policy messages, refusals), so one cap
// keeps every copy of it small and the status far from etcd's object size limit.
const MaxMessageBytes = 1024

// CapMessage cuts s to MaxMessageBytes of valid UTF-8, as Truncate does.
func CapMessage(s string) string { return Truncate(s, MaxMessageBytes) }

// Truncate returns s as valid UTF-8 of at most n bytes. A string that fits is returned
// as is; a longer one is cut on a rune boundary and ends with Marker, within the n
// bytes (when n is too small for Marker, the cut has none). Invalid bytes become
// U+FFFD, as encoding/json would write them: status, Events and warnings are JSON,
// and a cut inside a rune must not leave half of it behind. It reads at most about
// n bytes of s, so a huge message costs no more than a short one.
func Truncate(s string, n int) string {
	if len(s) <= n && utf8.ValidString(s) {
		return s
	}
	if n <= 0 {
		return ""
	}
	if whole, more := validPrefix(s, n); !more {
		return whole // only invalid bytes had to be replaced
	}
	keep, marker := n-len(Marker), Marker
	if keep < 0 {
		keep, marker = n, ""
	}
	cut, _ := validPrefix(s, keep)
	return cut + marker
}

// replacementWidth is the size in bytes of U+FFFD, which replaces an invalid byte.
const replacementWidth = len(string(utf8.RuneError))

// validPrefix returns the longest prefix of s, invalid bytes replaced by U+FFFD, that
// fits in n bytes, and whether some of s did not fit.
func validPrefix(s string, n int) (string, bool) {
	var b strings.Builder
	b.Grow(min(len(s), n))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		invalid := r == utf8.RuneError && size == 1
		width := size
		if invalid {
			width = replacementWidth
		}
		if b.Len()+width > n {
			return b.String(), true
		}
		if invalid {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String(), false
}
