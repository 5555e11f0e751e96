// Package scripts holds the tests of the shell scripts in this directory.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakePulumi is a `pulumi` that reports VERSION, records each call (with whether automatic plugin
// installation was off) in $FAKE_LOG, lists no plugins and succeeds.
const fakePulumi = `#!/bin/bash
printf 'pulumi %s disable=%s\n' "$*" "${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-}" >>"$FAKE_LOG"
case "$1" in
  version) echo vVERSION ;;
  plugin) echo '[]' ;;
esac
exit 0
`

// fakeTools stands in for scripts/tools.sh: it records its arguments and "builds" a CLI
// reporting v3.274.1 (--pulumi) or a language host (--langhost) into $PM4ML_CACHE/bin.
const fakeTools = `#!/bin/bash
printf 'tools.sh %s\n' "$*" >>"$FAKE_LOG"
/bin/mkdir -p "$PM4ML_CACHE/bin"
for a in "$@"; do
  case $a in
    --pulumi) printf '%s' "$FAKE_PULUMI_SRC" >"$PM4ML_CACHE/bin/pulumi"; /bin/chmod +x "$PM4ML_CACHE/bin/pulumi"
              printf '#!/bin/bash\n' >"$PM4ML_CACHE/bin/pulumi-language-go"; /bin/chmod +x "$PM4ML_CACHE/bin/pulumi-language-go" ;;
    --langhost) printf '#!/bin/bash\n' >"$PM4ML_CACHE/bin/pulumi-language-go"; /bin/chmod +x "$PM4ML_CACHE/bin/pulumi-language-go" ;;
  esac
done
`

type previewRun struct {
	out, log string
	code     int
}

// runPreview runs a copy of preview.sh (with pulumi-cli.sh and the fake tools.sh) with a PATH of
// the system tools it needs plus extra (fake executables: name -> content).
func runPreview(t *testing.T, extra map[string]string, args ...string) previewRun {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"scripts", "sys", "fake", "cache"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"preview.sh", "pulumi-cli.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "scripts", f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "scripts", "tools.sh"), fakeTools)
	write(filepath.Join(root, "Pulumi.stg.yaml"), "config:\n  pm4ml:hostSource: existing\n")
	// only these system tools: a real pulumi elsewhere on this machine's PATH must not count
	for _, c := range []string{"bash", "dirname", "head", "sort", "mkdir", "ln", "grep", "python3", "cat"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("%s not on PATH", c)
		}
		if c == "python3" { // the interpreter itself, not a shim (pyenv) that needs more of PATH
			b, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output()
			if err != nil {
				t.Fatalf("python3: %v", err)
			}
			p = strings.TrimSpace(string(b))
		}
		if err := os.Symlink(p, filepath.Join(root, "sys", c)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		write(filepath.Join(root, "fake", name), body)
	}
	log := filepath.Join(root, "calls.log")
	cmd := exec.Command(filepath.Join(root, "sys", "bash"), append([]string{filepath.Join(root, "scripts", "preview.sh")}, args...)...)
	cmd.Env = []string{
		"PATH=" + filepath.Join(root, "fake") + ":" + filepath.Join(root, "sys"),
		"HOME=" + root,
		"FAKE_LOG=" + log,
		"FAKE_PULUMI_SRC=" + strings.ReplaceAll(fakePulumi, "VERSION", "3.274.1"),
		"PM4ML_CACHE=" + filepath.Join(root, "cache"),
		"PULUMI_CONFIG_PASSPHRASE=test",
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	l, _ := os.ReadFile(log)
	return previewRun{out: string(out), log: string(l), code: code}
}

func pulumiVersion(v string) string { return strings.ReplaceAll(fakePulumi, "VERSION", v) }

const langhost = "#!/bin/bash\n"

// TestPreviewChoosesPulumi: preview.sh runs the `pulumi` on PATH when it is recent enough, with
// Pulumi's automatic plugin installation on and no plugin check, and builds nothing; an old or
// absent CLI, or --from-source, selects the air-gapped fallback (tools.sh --pulumi), which it
// announces, with automatic plugin installation off and the plugin check first.
func TestPreviewChoosesPulumi(t *testing.T) {
	t.Run("a recent pulumi on PATH is used, nothing is built", func(t *testing.T) {
		r := runPreview(t, map[string]string{"pulumi": pulumiVersion("3.200.0"), "pulumi-language-go": langhost})
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.out)
		}
		if strings.Contains(r.log, "tools.sh") {
			t.Errorf("tools.sh ran:\n%s", r.log)
		}
		if !strings.Contains(r.out, "using pulumi 3.200.0") {
			t.Errorf("does not say which pulumi:\n%s", r.out)
		}
		if !strings.Contains(r.log, "pulumi preview --diff --stack stg --policy-pack policy disable=\n") {
			t.Errorf("no preview with the policy pack and automatic plugin installation on:\n%s", r.log)
		}
		if strings.Contains(r.log, "pulumi plugin ls") {
			t.Errorf("the plugin check ran although Pulumi installs plugins itself:\n%s", r.log)
		}
	})
	t.Run("a recent pulumi without a language host gets the project's own", func(t *testing.T) {
		r := runPreview(t, map[string]string{"pulumi": pulumiVersion("3.274.1")})
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.out)
		}
		if !strings.Contains(r.log, "tools.sh --langhost\n") || strings.Contains(r.log, "--pulumi") {
			t.Errorf("want only the language host built:\n%s", r.log)
		}
		if !strings.Contains(r.out, "no Go language host") || !strings.Contains(r.log, "pulumi preview") {
			t.Errorf("output:\n%s\nlog:\n%s", r.out, r.log)
		}
	})
	fallback := []struct {
		name   string
		extra  map[string]string
		args   []string
		reason string
	}{
		{"an old pulumi", map[string]string{"pulumi": pulumiVersion("3.100.0")}, nil, "pulumi 3.100.0 on PATH is older than 3.150.0"},
		{"no pulumi", nil, nil, "no pulumi on PATH"},
		{"--from-source", map[string]string{"pulumi": pulumiVersion("3.200.0")}, []string{"--from-source"}, "PM4ML_FROM_SOURCE=1"},
	}
	for _, c := range fallback {
		t.Run(c.name+" selects the air-gapped fallback", func(t *testing.T) {
			r := runPreview(t, c.extra, c.args...)
			if !strings.Contains(r.log, "tools.sh --pulumi\n") {
				t.Errorf("tools.sh --pulumi did not run:\n%s", r.log)
			}
			if !strings.Contains(r.out, c.reason+": using the AIR-GAPPED FALLBACK") {
				t.Errorf("the fallback is not announced with its reason %q:\n%s", c.reason, r.out)
			}
			// automatic plugin installation off: the plugin check stops it, naming the plugins
			if r.code != 3 || !strings.Contains(r.out, "missing Pulumi resource plugin(s) for stack stg: command vault") {
				t.Errorf("exit %d, want 3 from the plugin check:\n%s", r.code, r.out)
			}
			if !strings.Contains(r.log, "pulumi plugin ls --json disable=true") || strings.Contains(r.log, "pulumi preview") {
				t.Errorf("log:\n%s", r.log)
			}
		})
	}
	t.Run("the fallback with the plugins installed previews", func(t *testing.T) {
		r := runPreview(t, map[string]string{"pulumi-resource-command": langhost, "pulumi-resource-vault": langhost})
		if r.code != 0 || !strings.Contains(r.log, "pulumi preview --diff --stack stg --policy-pack policy disable=true") {
			t.Fatalf("exit %d\n%s\nlog:\n%s", r.code, r.out, r.log)
		}
	})
}
