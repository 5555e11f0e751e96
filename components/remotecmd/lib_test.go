package remotecmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run executes a wrapped script as the program does (bash -c SCRIPT STEP CLIENT [check]).
func run(t *testing.T, body string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", Wrap("s", body), "s", "192.0.2.1"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The library's helpers serve both modes: apply changes and says "changed:", check changes
// nothing and says "drift:" (a file with a short diff, a secret file without), and the summaries.
func TestLibraryModes(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "conf")
	body := "put_file " + Quote(f) + " 640 <<'X' || true\na\nb\nX\n" +
		"put_file " + Quote(f+".secret") + " 600 secret <<'X' || true\npassword=new\nX\n" +
		"if checking; then say \"mode check\"; fi"

	out, err := run(t, body, "check")
	if err != nil || out != "drift: "+f+" missing\ndrift: "+f+".secret missing\nmode check\npm4ml: s: 2 drift(s)\n" {
		t.Errorf("check on nothing: %v\n%s", err, out)
	}
	if _, err := os.Stat(f); err == nil {
		t.Fatal("check mode wrote the file")
	}
	out, err = run(t, body)
	if err != nil || !strings.HasSuffix(out, "pm4ml: s: 2 change(s)\n") || strings.Contains(out, "drift:") {
		t.Errorf("apply: %v\n%s", err, out)
	}
	if out, err = run(t, body, "check"); err != nil || !strings.HasSuffix(out, "pm4ml: s: in sync\n") {
		t.Errorf("check after apply: %v\n%s", err, out)
	}

	// hand-made drift: content of the file, content of the secret one
	_ = os.WriteFile(f, []byte("a\nB\n"), 0o640)
	_ = os.WriteFile(f+".secret", []byte("password=old\n"), 0o600)
	out, _ = run(t, body, "check")
	for _, w := range []string{"drift: " + f + " content differs (- on the host, + rendered):\n", "  -B\n  +b\n",
		"drift: " + f + ".secret content differs (secret: no diff shown)\n", "pm4ml: s: 2 drift(s)\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("check lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "password") {
		t.Errorf("check shows a secret file's content:\n%s", out)
	}
	if b, _ := os.ReadFile(f); string(b) != "a\nB\n" {
		t.Error("check mode rewrote the file")
	}
	_, _ = run(t, body)
	// the mode
	_ = os.Chmod(f, 0o600)
	if out, _ = run(t, body, "check"); !strings.Contains(out, "drift: "+f+" mode 640 (was 600)\n") {
		t.Errorf("mode drift:\n%s", out)
	}
	_, _ = run(t, body)
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o640 {
		t.Errorf("apply left mode %o", fi.Mode().Perm())
	}

	// mut runs in apply only; unmet_stop dies in apply, reports and ends the step in check
	marker := filepath.Join(dir, "marker")
	body = "mut touch " + Quote(marker) + "\nchanged \"marker\"\nunmet_stop \"not reachable here\"\nsay after"
	out, err = run(t, body, "check")
	if err != nil || out != "drift: marker\ndrift: not reachable here\npm4ml: s: 2 drift(s)\n" {
		t.Errorf("check: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("mut ran in check mode")
	}
	out, err = run(t, body)
	if err == nil || !strings.Contains(out, "pm4ml: s: error: not reachable here") || strings.Contains(out, "after") {
		t.Errorf("apply: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("mut did not run in apply mode")
	}
	if out, err = run(t, "say hi", "verify"); err == nil || !strings.Contains(out, "unknown mode verify") {
		t.Errorf("unknown mode: %v %s", err, out)
	}
}

func TestCheckInvocation(t *testing.T) {
	if got := CheckInvocation("ubuntu", "s", "true"); got != `sudo -n bash -c 'true' s "${SSH_CONNECTION%% *}" check` {
		t.Errorf("%s", got)
	}
	if got := CheckInvocation("root", "s", "true"); got != Invocation("root", "s", "true")+" check" || strings.HasPrefix(got, "sudo") {
		t.Errorf("%s", got)
	}
	// a body with quotes: each becomes '\'' inside the one single-quoted argument
	if got, want := Invocation("ubuntu", "s", "echo 'a' it's"), `sudo -n bash -c 'echo '\''a'\'' it'\''s' s "${SSH_CONNECTION%% *}"`; got != want {
		t.Errorf("Invocation:\n got %s\nwant %s", got, want)
	}
	for _, s := range []string{"", "'", "''", "a'b'c", "no quote"} {
		if got, want := Quote(s), "'"+strings.ReplaceAll(s, "'", `'\''`)+"'"; got != want {
			t.Errorf("Quote(%q) = %s, want %s", s, got, want)
		}
	}
}
