package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"

	"github.com/pm4ml/pm4ml-onprem/components/checklist"
)

// TestEveryStringSettingHasAGrammar: every string leaf of the configuration has a grammar or a
// named hand-written check (stringFields), and every entry of stringFields is a real setting, so a
// new field cannot reach a host unchecked and a renamed one cannot leave a stale rule.
func TestEveryStringSettingHasAGrammar(t *testing.T) {
	var leaves []string
	stringLeaves(reflect.TypeOf(Config{}), "", &leaves)
	sort.Strings(leaves)
	for _, l := range leaves {
		if _, ok := stringFields[l]; !ok {
			t.Errorf("string setting pm4ml:%s has no grammar: add it to stringFields (stacks/fields.go)", l)
		}
	}
	for k := range stringFields {
		if !slices.Contains(leaves, k) {
			t.Errorf("stringFields names pm4ml:%s, which is not a string setting", k)
		}
	}
	if len(leaves) < 60 {
		t.Errorf("only %d string settings found: the walk is broken", len(leaves))
	}
}

// maximalStacks are the shipped stacks with every optional string setting set, so that the
// hostile-values test reaches every field.
func maximalStacks(t *testing.T) map[string]*FileSource {
	wg := wgEnabled(newWGKey(t))
	peer0(wg)["endpoint"] = "vpn.example.org:51820"
	common := all(
		set("wireguard", wg), setSecret(SecretWireGuardKey, fakeSecret(SecretWireGuardKey)),
		set("verify", map[string]any{
			"endpoints":      []any{map[string]any{"name": "portal", "url": "https://portal.pm4ml.example.org/", "expectStatus": []any{200}}},
			"internalChecks": []any{"http://pm4ml-ui.pm4ml.svc:8080/health"},
			"resolveAddress": "10.10.0.10", "caCertFile": "/etc/pm4ml/ca.pem",
		}),
		set("network.searchDomain", "example.org"),
		set("checklist", map[string]any{"repoDir": "/srv/gitops", "mode": "enforce", "acknowledged": []any{map[string]any{"item": checklist.ManualIDs()[0], "by": "Jane Doe", "ref": "CHG-1234"}}}),
		set("network.ntpServers", []any{"ntp.example.org"}),
		set("network.haproxySourceIps", []any{"10.10.0.7"}),
	)
	prod := stackSource(t, "prod")
	all(common,
		set("ssh.bastion.user", "jump"),
		set("ssh.hostKeys", map[string]any{"prod-master-1": sshHostKey(t)}),
		set("hosts[0].roles", []any{"master", "worker"}), set("riskAcceptance", "RISK-2026-014"),
		set("gitops.username", "fsp-bot"),
		set("vault.address", "https://vault.example.org"), set("vault.mount", "kv/pm4ml"), setSecret(SecretVaultToken, "t"),
		set("argocd", map[string]any{"manifestUrl": "https://mirror.example.org/install.yaml", "project": "pm4ml", "pathPrefix": "envs/prod"}),
		set("waves", []any{map[string]any{"name": "core", "apps": []any{map[string]any{"name": "vault", "path": "apps/vault", "namespace": "vault"}}}}),
	)(t, prod)
	stg := stackSource(t, "stg")
	all(common,
		set("hosts[0].proxmox.node", "pve2"),
		set("verify.resolveAddress", "10.10.100.10"),
	)(t, stg)
	for name, src := range map[string]*FileSource{"prod": prod, "stg": stg} {
		if _, err := Load(src); err != nil {
			t.Fatalf("maximal %s stack does not load: %v", name, err)
		}
	}
	return map[string]*FileSource{"prod": prod, "stg": stg}
}

// stringLeaf is one string value of a loaded Config: its concrete path, its pattern, and where
// it is.
type stringLeaf struct {
	path, pattern string
	v             reflect.Value
}

func concreteLeaves(c *Config) []stringLeaf {
	var out []stringLeaf
	var walk func(v reflect.Value, path, pattern string)
	walk = func(v reflect.Value, path, pattern string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path, pattern)
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if n := jsonName(f); n != "" && f.IsExported() {
					walk(v.Field(i), join(path, n), join(pattern, n))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), pattern+"[]")
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				out = append(out, stringLeaf{path + "." + k.String(), pattern + ".*", v.MapIndex(k)})
			}
		case reflect.String:
			out = append(out, stringLeaf{path, pattern, v})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "", "")
	return out
}

// setLeaf sets the string at path of c (re-walking so map entries are written back).
func setLeaf(c *Config, path, value string) bool {
	var walk func(v reflect.Value, p string) bool
	walk = func(v reflect.Value, p string) bool {
		switch v.Kind() {
		case reflect.Pointer:
			return !v.IsNil() && walk(v.Elem(), p)
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if n := jsonName(f); n != "" && f.IsExported() && walk(v.Field(i), join(p, n)) {
					return true
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				if walk(v.Index(i), fmt.Sprintf("%s[%d]", p, i)) {
					return true
				}
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				if p+"."+k.String() == path {
					v.SetMapIndex(k, reflect.ValueOf(value))
					return true
				}
			}
		case reflect.String:
			if p == path {
				v.SetString(value)
				return true
			}
		}
		return false
	}
	return walk(reflect.ValueOf(c).Elem(), "")
}

// hostilePayloads each try to run `: >MARKER` (create the marker file) by leaving the place the
// value is written: quotes, command substitution, backticks, a separator, a newline, a backslash.
func hostilePayloads(marker string) []string {
	cmd := ": >" + marker
	return []string{
		"x'; " + cmd + "; '",
		`x"; ` + cmd + `; "`,
		"$(" + cmd + ")",
		"`" + cmd + "`",
		"x; " + cmd,
		"x\n" + cmd + "\n",
		`x\'; ` + cmd + " #",
		"x && " + cmd,
	}
}

// TestHostileValues: for every string setting of the maximal stacks and every hostile payload,
//   - validation (Load, what the program runs first) refuses it, or
//   - if it were accepted, and also when validation is bypassed altogether (the value set straight
//     into the loaded Config, to test the render layer on its own), every rendered script either
//     fails to render (safe refuses the value) or passes bash -n and carries the payload only as
//     inert text: single-quoted, double-quoted without expansion, in a quoted heredoc or a
//     comment (checked on the parsed script), and running the script as nobody in a sandbox
//     without network never creates the marker.
func TestHostileValues(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir, err := os.MkdirTemp("", "pm4ml-hostile-") // directly under /tmp: the sandbox user reaches it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "pwned")
	payloads := hostilePayloads(marker)
	seen := map[string]bool{}
	accepted, rendered, sandboxed := 0, 0, 0
	for name, base := range maximalStacks(t) {
		cfg, err := Load(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, leaf := range concreteLeaves(cfg) {
			key := name + " " + leaf.pattern
			if seen[key] {
				continue // one concrete instance of each pattern per stack
			}
			seen[key] = true
			for pi, p := range payloads {
				value := leaf.v.String() + p
				// 1. validation
				src := cloneSource(base)
				if !setSourceLeaf(t, src, leaf, value) {
					continue
				}
				if _, err := Load(src); err == nil {
					accepted++
					t.Errorf("%s: pm4ml:%s = %q (payload %d) is accepted by validation", name, leaf.path, value, pi)
				}
				// 2. the render layer on its own
				c, _ := Load(base)
				if !setLeaf(c, leaf.path, value) {
					t.Fatalf("cannot set %s", leaf.path)
				}
				arts, err := Render(c)
				if err != nil {
					continue // safe (or a typed parse) refused it
				}
				for _, a := range arts {
					if !strings.Contains(a.Content, marker) {
						continue
					}
					rendered++
					if strings.HasSuffix(a.Path, ".sh") {
						checkInert(t, a.Path+" with pm4ml:"+leaf.path, a.Content, marker)
						sandboxed += sandboxRun(t, a.Content, marker)
					} else if a.Path != "MANIFEST.md" && p != payloads[0] && p != payloads[1] && strings.ContainsAny(value, "\n") {
						t.Errorf("%s: the newline of pm4ml:%s reached the configuration file %s", name, leaf.path, a.Path)
					}
				}
			}
		}
	}
	for pattern := range stringFields {
		if !seen["prod "+pattern] && !seen["stg "+pattern] {
			t.Errorf("pm4ml:%s is not set in the maximal stacks: the hostile test does not reach it", pattern)
		}
	}
	t.Logf("%d patterns x %d payloads: %d accepted by validation, %d scripts/files carried a quoted payload, %d sandbox runs", len(seen), len(payloads), accepted, rendered, sandboxed)
}

func cloneSource(f *FileSource) *FileSource {
	c := &FileSource{values: map[string]string{}, secrets: map[string]bool{}, kinds: map[string]string{}, foreign: map[string]string{}}
	for k, v := range f.values {
		c.values[k] = v
	}
	for k, v := range f.secrets {
		c.secrets[k] = v
	}
	return c
}

// setSourceLeaf sets a concrete config path in a stack file; false when the path came from a
// default (not written in the file), where the stack file cannot carry the value the same way.
func setSourceLeaf(t *testing.T, src *FileSource, leaf stringLeaf, value string) bool {
	if m, k, isMap := strings.Cut(leaf.pattern, ".*"); isMap && k == "" {
		set(m, map[string]any{strings.TrimPrefix(leaf.path, m+"."): value})(t, src)
		return true
	}
	top, segs := splitPath(t, leaf.path)
	raw, present := src.Get(top)
	if !present {
		return false
	}
	if len(segs) > 0 { // every list on the way must be written in the file (not defaulted)
		var node any
		if json.Unmarshal([]byte(raw), &node) != nil {
			return false
		}
		for _, sg := range segs {
			switch n := node.(type) {
			case map[string]any:
				node = n[sg.field]
			case []any:
				if sg.field != "" || sg.index >= len(n) {
					return false
				}
				node = n[sg.index]
			default:
				if sg.field == "" {
					return false
				}
				node = nil
			}
		}
	}
	set(leaf.path, value)(t, src)
	return true
}

// checkInert parses a script and fails unless every occurrence of marker is inert text.
func checkInert(t *testing.T, what, script, marker string) {
	t.Helper()
	if out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput(); err != nil {
		t.Errorf("%s: bash -n: %v %s", what, err, out)
		return
	}
	f, err := syntax.NewParser(syntax.KeepComments(true)).Parse(strings.NewReader(script), what)
	if err != nil {
		t.Errorf("%s: does not parse: %v", what, err)
		return
	}
	inert := 0
	var stack []syntax.Node
	syntax.Walk(f, func(n syntax.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		parent := syntax.Node(nil)
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		switch x := n.(type) {
		case *syntax.SglQuoted:
			inert += strings.Count(x.Value, marker)
		case *syntax.Comment:
			inert += strings.Count(x.Text, marker)
		case *syntax.Lit:
			if _, dq := parent.(*syntax.DblQuoted); dq || quotedHeredocBody(stack) {
				inert += strings.Count(x.Value, marker)
			}
		}
		stack = append(stack, n)
		return true
	})
	if total := strings.Count(script, marker); inert != total {
		t.Errorf("%s: the payload appears %d time(s), only %d inert:\n%s", what, total, inert, excerpt(script, marker))
	}
}

// quotedHeredocBody: the innermost Word on the stack is the body of a heredoc whose delimiter is
// quoted (its body is not expanded).
func quotedHeredocBody(stack []syntax.Node) bool {
	for i := len(stack) - 1; i > 0; i-- {
		if r, ok := stack[i-1].(*syntax.Redirect); ok && r.Hdoc != nil && stack[i] == syntax.Node(r.Hdoc) {
			return r.Word != nil && slices.ContainsFunc(r.Word.Parts, isQuoted)
		}
	}
	return false
}

func isQuoted(p syntax.WordPart) bool {
	switch p.(type) {
	case *syntax.SglQuoted, *syntax.DblQuoted:
		return true
	}
	return false
}

func excerpt(script, marker string) string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, marker) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// sandboxRun runs a script as nobody, without network, with no external command reachable (every
// command not found succeeds without doing anything), stdin empty, for at most 5 s; it fails the
// test if the marker appears. It returns 1 when it ran, 0 when the sandbox is not available.
func sandboxRun(t *testing.T, script, marker string) int {
	t.Helper()
	if os.Geteuid() != 0 {
		return 0
	}
	env := filepath.Join(filepath.Dir(marker), "bash_env")
	// Every command not found succeeds doing nothing; set -e is undone and exit does nothing, so
	// the script runs on past failures (as nobody, most writes fail) and reaches every line.
	const prelude = "command_not_found_handle() { return 0; }\nset() { builtin set \"$@\"; builtin set +e; }\nexit() { :; }\n"
	if err := os.WriteFile(env, []byte(prelude), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("timeout", "5", "unshare", "-n", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "-i", "PATH=/nonexistent", "BASH_ENV="+env, "/bin/bash", "-c", script, "step", "127.0.0.1")
	cmd.Dir = filepath.Dir(marker)
	_ = cmd.Run() // the script stops early or late: only the marker matters
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the payload ran: %s exists after running the script", marker)
		_ = os.Remove(marker)
	}
	return 1
}
