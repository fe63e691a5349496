// Package docs runs the code blocks of README.md and docs/*.md against a local
// cluster (docs_test.go), so that a doc that no longer matches the software fails
// make test. This file reads the blocks and the markers that say how to run them.
//
// A marker is an HTML comment, invisible on GitHub, on the line right before a
// fenced block; several are separated by ";":
//
//	<!-- docs: skip (needs a real registry) -->   not run; the reason is required
//	<!-- docs: exit 1 -->                          the block must exit with this code
//	<!-- docs: output -->                          this block is the expected output of the block before
//	<!-- docs: apply -->                           a YAML block is created, not only dry-run
//	<!-- docs: file workflow.yaml -->              a block is written to this file for later blocks,
//	                                               and not run
//	<!-- docs: timeout 3m -->                      the block's time limit (default 90s)
//
// Blocks run in order, each file in a working folder of its own that links to
// the repository's files (so ./cmd/kubernaut and config/ are there as in a
// clone) and takes the files the blocks write; a block that changes the
// repository itself fails. Its .kubernaut-local is the suite's local cluster,
// as `kubernaut local up` leaves it in a clone: state.json (the processes and
// their ports) and logs/ (the manager's log among them).
//
// A hidden setup block, also an HTML comment, runs a shell script the doc
// assumes but does not show (e.g. a run waiting for approval):
//
//	<!-- docs: setup
//	kubectl ...
//	-->
//
// Shell blocks are sh, bash and shell; YAML blocks are yaml and yml. A YAML block
// whose every document has apiVersion and kind is a Kubernetes object and is
// applied with a server-side dry run; one without them is a fragment (a piece
// of a spec) and is not run. Other blocks (text, go, diagrams) are not run
// unless marked as output.
package docs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Kind says what the runner does with a block.
type Kind string

const (
	Shell    Kind = "shell"    // run with bash
	Object   Kind = "object"   // Kubernetes objects: kubectl apply (--dry-run=server unless marked apply)
	Fragment Kind = "fragment" // YAML that is not a whole object: not run
	Output   Kind = "output"   // the expected output of the block before
	File     Kind = "file"     // written to a file for later blocks
	Setup    Kind = "setup"    // a hidden shell script in an HTML comment
	Other    Kind = "other"    // a language the runner does not run
)

// Block is one fenced block (or hidden setup) of a Markdown file.
type Block struct {
	File string
	// Line is the line of the opening fence (of the comment for a setup), from 1.
	Line int
	// Lang is the fence's language, e.g. sh or yaml.
	Lang string
	Body string
	Kind Kind

	// Skip is why the block is not run; empty runs it.
	Skip string
	// Exit is the exit code the block must end with.
	Exit int
	// Apply creates a YAML block's objects instead of a dry run.
	Apply bool
	// Path is where a File block is written, relative to the working folder.
	Path string
	// Timeout bounds the block's run; zero is the default.
	Timeout time.Duration
}

// Name is how a failure names the block: file, line and language.
func (b Block) Name() string {
	lang := b.Lang
	if lang == "" {
		lang = "plain"
	}
	return fmt.Sprintf("%s:%d (%s)", b.File, b.Line, lang)
}

// Limits of what Parse reads: docs are small, and a block that big is a mistake.
const (
	maxFile  = 1 << 20
	maxBlock = 64 << 10
)

const markerPrefix = "<!-- docs:"

// Parse reads the blocks of a Markdown file in order, with their markers. A
// marker that is not right before a block, an unknown marker, a skip without a
// reason or an output block with nothing run before it is an error naming its
// line.
func Parse(file string, r io.Reader) ([]Block, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("%s: over %d bytes", file, maxFile)
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var (
		blocks  []Block
		errs    []error
		pending *marker // the marker on the line before, if any
	)
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if pending != nil && !isFence(trimmed) {
			fail(pending.line, "marker %q is not on the line right before a code block", pending.text)
			pending = nil
		}
		switch {
		case strings.HasPrefix(trimmed, markerPrefix+" setup") && !strings.HasSuffix(trimmed, "-->"):
			start := i
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "-->"; i++ {
				body = append(body, lines[i])
			}
			if i == len(lines) {
				fail(start+1, "setup comment is not closed by a line with -->")
				break
			}
			blocks = append(blocks, Block{File: file, Line: start + 1, Lang: "sh", Kind: Setup, Body: strings.Join(body, "\n") + "\n"})
		case strings.HasPrefix(trimmed, markerPrefix):
			m, err := parseMarker(trimmed)
			if err != nil {
				fail(i+1, "%v", err)
				break
			}
			m.line = i + 1
			pending = &m
		case isFence(trimmed):
			indent := len(line) - len(strings.TrimLeft(line, " "))
			fence := trimmed[:fenceLen(trimmed)]
			lang, _, _ := strings.Cut(strings.TrimSpace(trimmed[len(fence):]), " ")
			start := i
			var body []string
			for i++; i < len(lines); i++ {
				t := strings.TrimSpace(lines[i])
				if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
					break
				}
				body = append(body, dedent(lines[i], indent))
			}
			if i == len(lines) {
				fail(start+1, "code block is not closed")
				break
			}
			b := Block{File: file, Line: start + 1, Lang: lang, Body: strings.Join(body, "\n") + "\n"}
			if len(b.Body) > maxBlock {
				fail(b.Line, "block over %d bytes", maxBlock)
			}
			if err := classify(&b, pending, blocks); err != nil {
				fail(b.Line, "%v", err)
			}
			pending = nil
			blocks = append(blocks, b)
		}
	}
	if pending != nil {
		fail(pending.line, "marker %q is not on the line right before a code block", pending.text)
	}
	return blocks, errors.Join(errs...)
}

func isFence(trimmed string) bool { return fenceLen(trimmed) >= 3 }

// fenceLen is the number of leading backticks or tildes.
func fenceLen(s string) int {
	if s == "" || (s[0] != '`' && s[0] != '~') {
		return 0
	}
	n := 0
	for n < len(s) && s[n] == s[0] {
		n++
	}
	return n
}

// dedent removes up to n leading spaces: a fence inside a list item is indented,
// and so are its lines.
func dedent(line string, n int) string {
	for i := 0; i < n && strings.HasPrefix(line, " "); i++ {
		line = line[1:]
	}
	return line
}

// marker is a parsed <!-- docs: ... --> comment.
type marker struct {
	line    int
	text    string
	skip    string
	exit    *int
	output  bool
	apply   bool
	path    string
	timeout time.Duration
}

func parseMarker(text string) (marker, error) {
	m := marker{text: text}
	inner, ok := strings.CutSuffix(strings.TrimPrefix(text, markerPrefix), "-->")
	if !ok {
		return m, fmt.Errorf("marker %q must end with --> on the same line", text)
	}
	for _, part := range splitOutside(inner) {
		word, arg, _ := strings.Cut(strings.TrimSpace(part), " ")
		arg = strings.TrimSpace(arg)
		switch word {
		case "skip":
			reason := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(arg, "("), ")"))
			if reason == "" {
				return m, fmt.Errorf("marker %q: skip needs a reason, e.g. skip (needs a real registry)", text)
			}
			m.skip = reason
		case "exit":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 || n > 255 {
				return m, fmt.Errorf("marker %q: exit needs a code from 0 to 255", text)
			}
			m.exit = &n
		case "output", "apply":
			if arg != "" {
				return m, fmt.Errorf("marker %q: %s takes no argument", text, word)
			}
			m.output = m.output || word == "output"
			m.apply = m.apply || word == "apply"
		case "file":
			if arg == "" || strings.HasPrefix(arg, "/") || strings.Contains(arg, "..") {
				return m, fmt.Errorf("marker %q: file needs a relative path inside the working folder", text)
			}
			m.path = arg
		case "timeout":
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 || d > 10*time.Minute {
				return m, fmt.Errorf("marker %q: timeout needs a duration up to 10m, e.g. timeout 3m", text)
			}
			m.timeout = d
		default:
			return m, fmt.Errorf("marker %q: unknown %q (known: skip, exit, output, apply, file, timeout, setup)", text, word)
		}
	}
	return m, nil
}

// splitOutside splits a marker at the semicolons outside parentheses, so that a
// skip's reason may hold them.
func splitOutside(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case r == ';' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// classify decides the block's kind from its language, its content and its marker.
func classify(b *Block, m *marker, before []Block) error {
	switch b.Lang {
	case "sh", "bash", "shell":
		b.Kind = Shell
	case "yaml", "yml":
		whole, err := wholeObjects(b.Body)
		if err != nil {
			return err
		}
		b.Kind = Fragment
		if whole {
			b.Kind = Object
		}
	default:
		b.Kind = Other
	}
	if m == nil {
		return nil
	}
	b.Skip = m.skip
	if m.timeout != 0 {
		b.Timeout = m.timeout
	}
	switch {
	case m.output:
		if m.exit != nil || m.apply || m.path != "" {
			return fmt.Errorf("an output block takes no other marker")
		}
		if len(before) == 0 || !runs(before[len(before)-1]) {
			return fmt.Errorf("an output block must follow a shell or YAML block that runs")
		}
		b.Kind = Output
	case m.path != "":
		if m.exit != nil || m.apply {
			return fmt.Errorf("a file block is not run: exit and apply do not apply")
		}
		b.Kind, b.Path = File, m.path
	case b.Kind == Other || b.Kind == Fragment:
		if m.exit != nil || m.apply || m.timeout != 0 {
			return fmt.Errorf("a %s block is not run, so exit, apply and timeout do not apply", b.Kind)
		}
	}
	if m.exit != nil {
		b.Exit = *m.exit
	}
	if m.apply {
		if b.Kind != Object {
			return fmt.Errorf("apply is for YAML blocks with apiVersion and kind")
		}
		b.Apply = true
	}
	return nil
}

// runs is true for a block the runner executes (so that output can follow it).
func runs(b Block) bool {
	return b.Skip == "" && (b.Kind == Shell || b.Kind == Object || b.Kind == Setup)
}

// wholeObjects is true when every YAML document of body has apiVersion and kind,
// false when none does (a fragment); a mix is an error, and so is YAML that
// does not parse.
func wholeObjects(body string) (bool, error) {
	var with, without int
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), maxBlock)
	var doc bytes.Buffer
	flush := func() error {
		defer doc.Reset()
		var v any
		if err := yaml.Unmarshal(doc.Bytes(), &v); err != nil {
			return fmt.Errorf("YAML does not parse: %w", err)
		}
		m, _ := v.(map[string]any)
		switch {
		case v == nil:
		case m["apiVersion"] != nil && m["kind"] != nil:
			with++
		default:
			without++
		}
		return nil
	}
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			if err := flush(); err != nil {
				return false, err
			}
			continue
		}
		doc.WriteString(sc.Text() + "\n")
	}
	if err := flush(); err != nil {
		return false, err
	}
	if with > 0 && without > 0 {
		return false, fmt.Errorf("YAML mixes Kubernetes objects and documents without apiVersion and kind")
	}
	return with > 0, nil
}
