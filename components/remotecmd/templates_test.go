package remotecmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// TestTemplatesAutoSafe: every action that does not end in quote, raw or words is made safe by
// Templates, wherever it is (plain, in quotes, in if/range/with, in a defined template); a hostile
// value fails the render, a plain word renders unchanged, quote quotes.
func TestTemplatesAutoSafe(t *testing.T) {
	fsys := fstest.MapFS{
		"scripts/a.sh.tmpl": {Data: []byte(`plain={{.V}}
dq="x {{.V}} y"
sq='{{.V}}'
{{if .On}}in-if {{.V}}{{else}}in-else {{.V}}{{end}}
{{range .L}}item {{.}}{{end}}
{{with .V}}with {{.}}{{end}}
{{template "helper" .}}
q={{quote .V}}
w={{words .L " "}}
n={{len .L}}
{{$x := .V}}decl-not-output
`)},
		"scripts/helper.tmpl": {Data: []byte(`{{define "helper"}}helper {{.V}}{{end}}`)},
	}
	tmpl := Templates("t", fsys, "scripts/*.tmpl")
	render := func(v string, l []string, on bool) (string, error) {
		var b strings.Builder
		err := tmpl.ExecuteTemplate(&b, "a.sh.tmpl", map[string]any{"V": v, "L": l, "On": on})
		return b.String(), err
	}
	out, err := render("node-1", []string{"a", "b"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plain=node-1", `dq="x node-1 y"`, "in-if node-1", "item aitem b", "with node-1", "helper node-1", "q='node-1'", "w=a b", "n=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	for _, hostile := range []string{`x'y`, `x"y`, "$(touch /tmp/p)", "`id`", "a;b", "a\nb", `a\b`, "a b", "a|b", "a&b", "a>b", "a*", "a#b", "${x}"} {
		for _, on := range []bool{true, false} {
			if _, err := render(hostile, []string{"a"}, on); err == nil || !strings.Contains(err.Error(), "cannot be written unquoted") {
				t.Errorf("value %q (if=%v) rendered: %v", hostile, on, err)
			}
		}
		if _, err := render("ok", []string{hostile}, true); err == nil {
			t.Errorf("list element %q rendered", hostile)
		}
	}
	// quote alone: a hostile value through quote is one inert word
	q := Templates("q", fstest.MapFS{"s.tmpl": {Data: []byte(`x={{quote .}}`)}}, "s.tmpl")
	var b strings.Builder
	if err := q.ExecuteTemplate(&b, "s.tmpl", `a'b$(c)`); err != nil || b.String() != `x='a'\''b$(c)'` {
		t.Errorf("quote: %q, %v", b.String(), err)
	}
}

// rawAllowed are the fields a shell template may write with raw: text the program builds itself
// from typed, validated data (configuration files embedded through quoted heredocs, constants of
// the port matrix and of the tuning tables). Each new use of raw must be reviewed and added here.
var rawAllowed = map[string]bool{
	"haproxy.cfg.tmpl: .HealthCheck":              true, // constant GET path
	"config.sh.tmpl: .HAProxyCfg":                 true, // rendered haproxy.cfg in a quoted heredoc
	"config.sh.tmpl: .DropIn":                     true, // rendered systemd drop-in in a quoted heredoc
	"keepalived.conf.tmpl: .TrackScript":          true, // constant command
	"keepalived.sh.tmpl: .KeepalivedConf":         true, // rendered keepalived.conf in a quoted heredoc
	"firewall.sh.tmpl: .Ruleset":                  true, // rendered nftables ruleset in a quoted heredoc
	"nftables.nft.tmpl: .Match":                   true, // built from the port matrix and validated addresses
	"nftables.nft.tmpl: (printf \"%q\" .Comment)": true, // port matrix constant
	"tuning.sh.tmpl: .Value":                      true, // tuning table constant
	"storageclasses.sh.tmpl: .Manifest":           true, // rendered StorageClass in a quoted heredoc
	"wg.conf.tmpl: .Placeholder":                  true, // constant comment
	"wireguard.sh.tmpl: .Config":                  true, // rendered wg conf in a quoted heredoc
	"wireguard.sh.tmpl: .State":                   true, // rendered state file in a quoted heredoc
}

// TestNoTemplateFieldInsideHandWrittenQuotes is the lint over every component's templates: no
// action inside a hand-written single-quoted string (a quote in the value would end it), no quote
// inside a double-quoted one (it would add literal quotes), and raw only where reviewed.
func TestNoTemplateFieldInsideHandWrittenQuotes(t *testing.T) {
	files, err := filepath.Glob("../*/scripts/*.tmpl")
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d templates (%v)", len(files), err)
	}
	rawRe := regexp.MustCompile(`\{\{-?\s*raw\s+(.*?)\s*-?\}\}`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range rawRe.FindAllStringSubmatch(string(b), -1) {
			if k := filepath.Base(f) + ": " + m[1]; !rawAllowed[k] {
				t.Errorf("%s: raw %s is not a reviewed use of raw (add it to rawAllowed only if the program builds it from typed data)", f, m[1])
			}
		}
		if !strings.Contains(f, ".sh.tmpl") && !strings.HasSuffix(f, "helpers.tmpl") {
			continue // configuration files: no shell quoting context
		}
		for _, p := range shellQuoteProblems(string(b)) {
			t.Errorf("%s: %s", f, p)
		}
	}
}

// TestLintFindsHandWrittenQuotes: the lint can fail.
func TestLintFindsHandWrittenQuotes(t *testing.T) {
	for src, want := range map[string]int{
		`printf '%s\n' 'server {{.}} iburst'`:                           1,
		`echo "{{quote .X}}"`:                                           1,
		`echo "{{.X}}" '{{.Y}}'`:                                        1,
		`# it's fine: {{.X}} in a comment` + "\n" + `echo {{quote .X}}`: 0,
		"cat <<'EOF'\n'{{.X}}'\nEOF\necho ok":                           0,
		`x=$'\n'{{.X}}`:                                                 0,
		`echo "it's {{.X}}"`:                                            0,
		`x="$(ls {{quote .X}} | grep -v '^$')"`:                         0,
		`x="$(echo '{{.X}}')"`:                                          1,
	} {
		if got := len(shellQuoteProblems(src)); got != want {
			t.Errorf("%q: %d problem(s), want %d: %v", src, got, want, shellQuoteProblems(src))
		}
	}
}

// shellQuoteProblems scans a shell template and reports actions inside single quotes and quote
// calls inside double quotes. It follows comments, escapes, $'...' strings and heredocs.
func shellQuoteProblems(src string) []string {
	var out []string
	const (
		none = iota
		single
		double
	)
	state := none
	line := 1
	type frame struct{ state, parens int }
	var stack []frame // $( ... ) opens a new quoting context, also inside double quotes
	parens := 0
	var heredoc string // terminator while inside a heredoc body
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' {
			line++
			if heredoc != "" {
				end := strings.IndexByte(src[i+1:], '\n')
				if end < 0 {
					end = len(src) - i - 1
				}
				next := src[i+1 : i+1+end]
				if strings.HasSuffix(strings.TrimSpace(regexp.MustCompile(`\{\{.*?\}\}`).ReplaceAllString(next, "")), heredoc) {
					heredoc = ""
				}
				continue
			}
		}
		if heredoc != "" {
			continue
		}
		if strings.HasPrefix(src[i:], "{{") {
			end := strings.Index(src[i:], "}}")
			if end < 0 {
				break
			}
			action := src[i : i+end+2]
			isOutput := !regexp.MustCompile(`^\{\{-?\s*(if|else|end|range|with|define|template|block|/\*)`).MatchString(action) && !strings.Contains(action, ":=")
			switch {
			case isOutput && state == single:
				out = append(out, "line "+itoa(line)+": "+action+" inside hand-written single quotes: use quote, outside the quotes")
			case isOutput && state == double && regexp.MustCompile(`^\{\{-?\s*quote\b`).MatchString(action):
				out = append(out, "line "+itoa(line)+": "+action+" inside double quotes would add literal quotes")
			}
			i += end + 1
			continue
		}
		if (state == none || state == double) && strings.HasPrefix(src[i:], "$(") {
			stack = append(stack, frame{state, parens})
			state, parens = none, 0
			i++
			continue
		}
		switch state {
		case none:
			switch {
			case c == '(':
				parens++
			case c == ')' && parens > 0:
				parens--
			case c == ')' && len(stack) > 0:
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				state, parens = top.state, top.parens
			case c == '#' && (i == 0 || strings.ContainsRune(" \t\n;", rune(src[i-1]))):
				for i+1 < len(src) && src[i+1] != '\n' {
					i++
				}
			case c == '\\':
				i++
			case c == '$' && i+1 < len(src) && src[i+1] == '\'':
				i++ // $'...' (ANSI-C): skip to its unescaped end
				for i+1 < len(src) && src[i+1] != '\'' {
					if src[i+1] == '\\' {
						i++
					}
					i++
				}
				i++
			case c == '\'':
				state = single
			case c == '"':
				state = double
			case c == '<' && strings.HasPrefix(src[i:], "<<") && !strings.HasPrefix(src[i:], "<<<"):
				m := regexp.MustCompile(`^<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`).FindStringSubmatch(src[i:])
				if m != nil {
					heredoc = m[1]
					i += len(m[0]) - 1
				}
			}
		case single:
			if c == '\'' {
				state = none
			}
		case double:
			switch c {
			case '\\':
				i++
			case '"':
				state = none
			}
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSafeWordTable: the byte table Safe checks with admits exactly what the safeWord pattern
// admits, for every single byte and for multi-byte and mixed strings.
func TestSafeWordTable(t *testing.T) {
	var cases []string
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	cases = append(cases, "", "node-1", "10.0.0.1/24", "[2001:db8::1]:51820", "é", "x\u00a0y", "a\x00b")
	for _, s := range cases {
		if got, want := isSafeWord(s), safeWord.MatchString(s); got != want {
			t.Errorf("isSafeWord(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	if _, err := Safe(8080); err != nil {
		t.Errorf("Safe(8080): %v", err)
	}
}

// TestTable: one line per row, fields joined by one blank; a field that is not a plain word
// (blank, quote, newline, `$`...) or is empty fails, so a data line cannot split or inject.
func TestTable(t *testing.T) {
	got, err := Table([][]string{{"10.0.0.1", "node-1"}, {"10.0.0.2", "node-2"}})
	if err != nil || got != "10.0.0.1 node-1\n10.0.0.2 node-2\n" {
		t.Errorf("Table = %q, %v", got, err)
	}
	if got, err := Table(nil); err != nil || got != "" {
		t.Errorf("Table(nil) = %q, %v", got, err)
	}
	for _, bad := range []string{"", "a b", "a\nb", "x'y", "$(id)", "PM4ML_X\n"} {
		if _, err := Table([][]string{{"ok", bad}}); err == nil {
			t.Errorf("field %q accepted", bad)
		}
	}
	tmpl := Templates("t", fstest.MapFS{"s.tmpl": {Data: []byte("{{table .}}end")}}, "s.tmpl")
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, "s.tmpl", [][]string{{"a", "b"}}); err != nil || b.String() != "a b\nend" {
		t.Errorf("template table: %q, %v", b.String(), err)
	}
}
