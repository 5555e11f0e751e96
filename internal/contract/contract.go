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

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

var (
	// the tool in command position (also after lib.sh's `mut`, which runs it in apply mode; a whole
	// word: snap_hold is a function), then up to three plain words (sub-commands)
	toolRe     = regexp.MustCompile(`(?:^\s*|[({|;&!]\s*|\b(?:if|then|else|elif|do|while|until|mut)\s+)((?:snap|microceph(?:\.ceph|\.rbd)?|microk8s)\b(?:[ \t]+[a-z][a-z-]*){0,3})`)
	dquoteRe   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	codeSpanRe = regexp.MustCompile("(?m)^\\| `([^`]+)`") // the command line opening a table row
)

// Verbs are the invocations of snap, microk8s and microceph(.ceph/.rbd) in a script: the tool in
// command position and up to three sub-command words, outside comments and double-quoted
// strings (messages), e.g. "microceph cluster add". The script library (remotecmd.Library) is
// not read as such: a script runs a library function's tools only when it calls the function,
// and then counts them (snap_hold microceph: "snap list", "snap refresh").
func Verbs(script string) map[string]bool {
	out := scan(strings.Replace(script, remotecmd.Library(), "", 1))
	code := strings.Join(codeLines(strings.Replace(script, remotecmd.Library(), "", 1)), "\n")
	for _, f := range libFuncs {
		if f.call.MatchString(code) {
			for v := range f.verbs {
				out[v] = true
			}
		}
	}
	return out
}

// libFunc is a library function that runs a tool: how a call looks, and the tools' Verbs.
type libFunc struct {
	call  *regexp.Regexp
	verbs map[string]bool
}

// libFuncs are the library's functions that run a tool.
var libFuncs = func() map[string]libFunc {
	out := map[string]libFunc{}
	lines := strings.Split(remotecmd.Library(), "\n")
	for i := 0; i < len(lines); i++ {
		m := funcDefRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		body := m[2]
		if !strings.HasSuffix(strings.TrimSpace(body), "}") {
			for i++; i < len(lines) && lines[i] != "}"; i++ {
				body += "\n" + lines[i]
			}
		}
		if v := scan(body); len(v) > 0 {
			out[m[1]] = libFunc{regexp.MustCompile(`(?m)(?:^\s*|[({|;&!]\s*|\b(?:if|then|else|elif|do|while|until|mut)\s+)` + m[1] + `\b`), v}
		}
	}
	return out
}()

var funcDefRe = regexp.MustCompile(`^([a-z_][a-z0-9_]*)\(\) \{(.*)$`)

// codeLines are the lines of a script without comments and with double-quoted strings emptied
// (a string with a command substitution is kept: it runs).
func codeLines(script string) []string {
	var out []string
	for _, line := range strings.Split(script, "\n") {
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ') {
			line = line[:i]
		}
		out = append(out, dquoteRe.ReplaceAllStringFunc(line, func(q string) string {
			if strings.Contains(q, "$(") {
				return q
			}
			return `""`
		}))
	}
	return out
}

// scan finds the tool invocations in the code lines of a script.
func scan(script string) map[string]bool {
	out := map[string]bool{}
	for _, line := range codeLines(script) {
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
