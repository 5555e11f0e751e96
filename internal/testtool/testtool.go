// Package testtool finds the real validators (shellcheck, nft, haproxy, keepalived, wg, ...) the
// tests run on rendered artifacts. A missing tool FAILS the test, so that a machine without the
// validators cannot pass silently, unless PM4ML_SKIP_VALIDATORS=1 is set explicitly.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Skipping reports whether validators are explicitly turned off (PM4ML_SKIP_VALIDATORS=1).
func Skipping() bool { return os.Getenv("PM4ML_SKIP_VALIDATORS") == "1" }

// Tool returns the path of a validator. Daemons' checkers live in sbin, which a non-root PATH may
// lack, so /usr/sbin and /sbin are searched too.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	if Skipping() {
		t.Skipf("%s not installed (PM4ML_SKIP_VALIDATORS=1)", name)
	}
	t.Fatalf("%s is not installed: run bash scripts/tools.sh --deb (or set PM4ML_SKIP_VALIDATORS=1)", name)
	return ""
}

// Tools checks several validators at once.
func Tools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		Tool(t, n)
	}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
