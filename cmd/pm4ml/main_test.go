package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	rc := run(args, &out, &errb)
	return rc, out.String(), errb.String()
}

// TestRenderOutNeverDeletesWhatItDidNotWrite: render writes into a new or empty directory and
// replaces its own earlier output, but refuses a directory holding anything else, and leaves it
// untouched.
func TestRenderOutNeverDeletesWhatItDidNotWrite(t *testing.T) {
	stack := filepath.Join("..", "..", "Pulumi.stg.yaml")
	out := filepath.Join(t.TempDir(), "render")
	if rc, _, e := runCmd("render", "--config", stack, "--out", out); rc != 0 {
		t.Fatalf("first render: rc %d: %s", rc, e)
	}
	if rc, _, e := runCmd("render", "--config", stack, "--out", out); rc != 0 {
		t.Fatalf("render over its own output: rc %d: %s", rc, e)
	}

	// a file render did not write: refused, nothing removed
	stray := filepath.Join(out, "notes.txt")
	if err := os.WriteFile(stray, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, _, e := runCmd("render", "--config", stack, "--out", out)
	if rc == 0 || !strings.Contains(e, "notes.txt") {
		t.Errorf("render over a directory with a foreign file: rc %d, %q", rc, e)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("the foreign file is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "MANIFEST.md")); err != nil {
		t.Errorf("the earlier render was touched: %v", err)
	}

	// a project directory (no MANIFEST.md written by render): refused, nothing removed
	proj := t.TempDir()
	for _, f := range []string{"main.go", "sub/file.txt"} {
		p := filepath.Join(proj, f)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.WriteFile(filepath.Join(proj, "MANIFEST.md"), []byte("# my project's manifest\n"), 0o644)
	rc, _, e = runCmd("render", "--config", stack, "--out", proj)
	if rc == 0 || !strings.Contains(e, "no MANIFEST.md written by pm4ml render") {
		t.Errorf("render into a project directory: rc %d, %q", rc, e)
	}
	for _, f := range []string{"main.go", "sub/file.txt", "MANIFEST.md"} {
		if _, err := os.Stat(filepath.Join(proj, f)); err != nil {
			t.Errorf("%s is gone: %v", f, err)
		}
	}
}

// TestValidateRequiresTheSecretsOfARealStack: a stack file that holds secrets must hold every
// secret its settings require (here the WireGuard key, the one missing); a file without any
// secret validates and lists the secrets to set.
func TestValidateRequiresTheSecretsOfARealStack(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(base), "  pm4ml:wireguard:\n    enabled: false\n", `  pm4ml:wireguard:
    enabled: true
    address: 10.200.0.1/24
    peers:
      - {name: hub, publicKey: "kzhYwJbq2cg/1tkYCKSIivgpXGW9FQxxU+aN+fe+k2E=", allowedIps: [10.201.0.0/24]}
`, 1)
	if text == string(base) {
		t.Fatal("the prod stack's wireguard block changed: update this test")
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "Pulumi.wg.yaml")
	if err := os.WriteFile(plain, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, out, e := runCmd("validate", "--config", plain)
	if rc != 0 || !strings.Contains(out, "pm4ml:wireguardPrivateKey") || !strings.Contains(out, "sets no secret") {
		t.Errorf("validate of a file without secrets: rc %d, out %q, err %q", rc, out, e)
	}

	var secure strings.Builder
	secure.WriteString(text)
	for _, k := range []string{"sshPrivateKey", "mcmClientSecret", "haproxyStatsPassword", "gitopsCredential", "vaultToken"} {
		secure.WriteString("  pm4ml:" + k + ":\n    secure: v1:AAAABBBBCCCC\n")
	}
	withSecrets := filepath.Join(dir, "Pulumi.wgs.yaml")
	if err := os.WriteFile(withSecrets, []byte(secure.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, out, e = runCmd("validate", "--config", withSecrets)
	if rc != 1 || !strings.Contains(e, "pm4ml:wireguardPrivateKey: is not set") {
		t.Errorf("validate with every secret but the WireGuard key: rc %d, out %q, err %q", rc, out, e)
	}
}
