package docs

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	md := "# Title\n" +
		"```sh\necho one\n```\n" + // 2
		"<!-- docs: output -->\n" +
		"```text\none\n```\n" + // 6
		"<!-- docs: skip (needs a real registry; and a cluster) -->\n" +
		"```bash\nhelm install x\n```\n" + // 10
		"```yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n```\n" + // 13
		"```yaml\nspec:\n  executionStrategy: {dryRunFirst: true}\n```\n" + // 22
		"```yaml\n- type: a\n```\n" + // 26
		"<!-- docs: apply; timeout 3m -->\n" +
		"```yaml\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n```\n" + // 30
		"<!-- docs: exit 2 -->\n" +
		"```sh\nkubernaut bad\n```\n" + // 36
		"<!-- docs: file policies/a_test.yaml -->\n" +
		"```yaml\ncases: []\n```\n" + // 40
		"<!-- docs: setup\nkubectl create ns y\n-->\n" + // 43
		"```go\nvar x int\n```\n" + // 46
		"1. A list item:\n\n   ```sh\n   echo indented\n   ```\n" // 51
	blocks, err := Parse("x.md", strings.NewReader(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line int
		kind Kind
		body string
	}{
		{2, Shell, "echo one\n"},
		{6, Output, "one\n"},
		{10, Shell, "helm install x\n"},
		{13, Object, ""},
		{22, Fragment, ""},
		{26, Fragment, ""},
		{30, Object, ""},
		{36, Shell, ""},
		{40, File, "cases: []\n"},
		{43, Setup, "kubectl create ns y\n"},
		{46, Other, ""},
		{51, Shell, "echo indented\n"},
	}
	if len(blocks) != len(want) {
		t.Fatalf("got %d blocks, want %d: %+v", len(blocks), len(want), blocks)
	}
	for i, w := range want {
		b := blocks[i]
		if b.Line != w.line || b.Kind != w.kind || (w.body != "" && b.Body != w.body) {
			t.Errorf("block %d: line %d kind %s body %q, want line %d kind %s body %q", i, b.Line, b.Kind, b.Body, w.line, w.kind, w.body)
		}
	}
	if blocks[2].Skip != "needs a real registry; and a cluster" {
		t.Errorf("skip reason %q", blocks[2].Skip)
	}
	if !blocks[6].Apply || blocks[6].Timeout != 3*time.Minute {
		t.Errorf("apply; timeout 3m: got apply %v timeout %s", blocks[6].Apply, blocks[6].Timeout)
	}
	if blocks[7].Exit != 2 {
		t.Errorf("exit 2: got %d", blocks[7].Exit)
	}
	if blocks[8].Path != "policies/a_test.yaml" {
		t.Errorf("file: got %q", blocks[8].Path)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ name, md, want string }{
		{"skip without a reason", "<!-- docs: skip -->\n```sh\nx\n```\n", "skip needs a reason"},
		{"skip with empty parentheses", "<!-- docs: skip () -->\n```sh\nx\n```\n", "skip needs a reason"},
		{"unknown word", "<!-- docs: skipp (x) -->\n```sh\nx\n```\n", `unknown "skipp"`},
		{"marker not before a block", "<!-- docs: exit 1 -->\n\n```sh\nx\n```\n", "not on the line right before a code block"},
		{"marker at the end", "```sh\nx\n```\n<!-- docs: exit 1 -->\n", "not on the line right before a code block"},
		{"output first", "<!-- docs: output -->\n```text\nx\n```\n", "must follow a shell or YAML block that runs"},
		{"output after a skipped block", "<!-- docs: skip (x) -->\n```sh\nx\n```\n<!-- docs: output -->\n```text\nx\n```\n", "must follow"},
		{"output after a fragment", "```yaml\nspec: {}\n```\n<!-- docs: output -->\n```text\nx\n```\n", "must follow"},
		{"exit on a fragment", "<!-- docs: exit 1 -->\n```yaml\nspec: {}\n```\n", "not run"},
		{"apply on a shell block", "<!-- docs: apply -->\n```sh\nx\n```\n", "apply is for YAML blocks"},
		{"bad exit code", "<!-- docs: exit one -->\n```sh\nx\n```\n", "exit needs a code"},
		{"bad timeout", "<!-- docs: timeout 1h -->\n```sh\nx\n```\n", "timeout needs a duration"},
		{"file outside", "<!-- docs: file ../x -->\n```sh\nx\n```\n", "relative path"},
		{"unclosed block", "```sh\nx\n", "not closed"},
		{"unclosed setup", "<!-- docs: setup\nx\n", "not closed"},
		{"YAML that does not parse", "```yaml\na: [\n```\n", "does not parse"},
		{"objects and fragments mixed", "```yaml\napiVersion: v1\nkind: ConfigMap\n---\nspec: {}\n```\n", "mixes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.md", strings.NewReader(c.md))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "x.md:") {
				t.Errorf("the error does not name the file and line: %v", err)
			}
		})
	}
}

func TestMatchOutput(t *testing.T) {
	got := "NAME            PHASE       AGE\nscale-web-app   completed   12s\nother           failed      3m\n"
	for _, c := range []struct {
		name, want string
		ok         bool
	}{
		{"the same", got, true},
		{"other column widths", "NAME PHASE AGE\nscale-web-app completed 12s\n", true},
		{"lines left out", "NAME PHASE AGE\nother failed 3m\n", true},
		{"an ellipsis", "scale-web-app completed ...\n", true},
		{"an ellipsis in a word", "scale-... completed ...\n", true},
		{"out of order", "other failed 3m\nscale-web-app completed 12s\n", false},
		{"a different value", "scale-web-app failed ...\n", false},
		{"part of a line", "scale-web-app\n", false},
		{"regular expression characters are literal", "scale.web.app completed 12s\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := MatchOutput(c.want, got)
			if (err == nil) != c.ok {
				t.Errorf("MatchOutput(%q) = %v, want ok %v", c.want, err, c.ok)
			}
		})
	}
}
