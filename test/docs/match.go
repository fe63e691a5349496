package docs

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// MatchOutput checks a command's output against the output a doc states. Each
// non-blank line of want must match a whole line of got, in order; lines of got
// in between are allowed (a doc may show output trimmed). Runs of spaces match
// any run of spaces (column widths change with the content), and "..." matches
// any text (ages, names made up at run time). The error shows the first line
// of want that did not match.
func MatchOutput(want, got string) error {
	gotLines := strings.Split(got, "\n")
	next := 0
	for _, w := range strings.Split(want, "\n") {
		if strings.TrimSpace(w) == "" {
			continue
		}
		re := linePattern(w)
		found := false
		for next < len(gotLines) {
			line := strings.TrimSpace(gotLines[next])
			next++
			if re.MatchString(line) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("no line of the output (after the lines matched before it) matches %q", strings.TrimSpace(w))
		}
	}
	return nil
}

// linePattern is the regular expression of one expected line.
func linePattern(want string) *regexp.Regexp {
	parts := strings.Split(strings.TrimSpace(want), "...")
	for i, p := range parts {
		var words []string
		for _, w := range strings.Fields(p) {
			words = append(words, regexp.QuoteMeta(w))
		}
		re := strings.Join(words, `\s+`)
		if p != strings.TrimLeftFunc(p, unicode.IsSpace) {
			re = `\s*` + re
		}
		if p != strings.TrimRightFunc(p, unicode.IsSpace) {
			re += `\s*`
		}
		parts[i] = re
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}
