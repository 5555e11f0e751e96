// Package contract reads the command contracts of the components' scripts (for tests): which
// tool invocations a rendered script makes, and which ones a CONTRACT.md lists, so a test can
// hold the two equal.
package contract

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// the tool in command position (also after lib.sh's `mut`, which runs it in apply mode), then
	// up to three plain words (sub-commands)
	toolRe     = regexp.MustCompile(`(?:^\s*|[({|;&!]\s*|\b(?:if|then|else|elif|do|while|until|mut)\s+)((?:snap|microceph(?:\.ceph|\.rbd)?|microk8s)(?:[ \t]+[a-z][a-z-]*){0,3})`)
	dquoteRe   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	codeSpanRe = regexp.MustCompile("(?m)^\\| `([^`]+)`") // the command line opening a table row
)

// Verbs are the invocations of snap, microk8s and microceph(.ceph/.rbd) in a script: the tool in
// command position and up to three sub-command words, outside comments and double-quoted
// strings (messages), e.g. "microceph cluster add".
func Verbs(script string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(script, "\n") {
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ') {
			line = line[:i]
		}
		line = dquoteRe.ReplaceAllStringFunc(line, func(q string) string {
			if strings.Contains(q, "$(") {
				return q // a command substitution runs
			}
			return `""`
		})
		for _, m := range toolRe.FindAllStringSubmatch(line, -1) {
			out[strings.Join(strings.Fields(m[1]), " ")] = true
		}
	}
	return out
}

// Listed are the Verbs of the command lines a CONTRACT.md lists (the code spans opening its
// table rows) that start with one of tools.
func Listed(t testing.TB, path string, tools ...string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range codeSpanRe.FindAllStringSubmatch(string(b), -1) {
		f := strings.Fields(m[1])
		if len(f) < 2 || !slices.Contains(tools, f[0]) {
			continue
		}
		for v := range Verbs(m[1]) {
			out[v] = true
		}
	}
	return out
}
