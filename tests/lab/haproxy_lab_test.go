// Lab helpers (package lab, test files only): hosts-up.sh/hosts-down.sh around a test, SSH as
// pulumi-command does it, bounded polling. Tests in this directory run only with PM4ML_LAB=1 as
// root; see README.md. Generic: other lab tests of this package may use them.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"

	"golang.org/x/crypto/ssh"
)

// Dir is where hosts-up.sh keeps its runtime state (key, inventory, pid files).
func Dir() string {
	if d := os.Getenv("PM4ML_LAB_DIR"); d != "" {
		return d
	}
	return filepath.Join(cacheDir(), "lab", "run")
}

func cacheDir() string {
	if d := os.Getenv("PM4ML_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "pm4ml-onprem")
}

// Require skips the test unless the lab is enabled (PM4ML_LAB=1) and the test runs as root.
func Require(t *testing.T) {
	t.Helper()
	if os.Getenv("PM4ML_LAB") != "1" {
		t.Skip("lab test: set PM4ML_LAB=1 and run as root (see tests/lab/README.md)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PM4ML_LAB=1 but not root: the lab needs network namespaces, overlayfs and systemd-nspawn")
	}
}

// Host is one lab host.
type Host struct {
	Name    string
	Address string
}

// Up runs hosts-up.sh for n hosts (bounded by timeout) and registers hosts-down.sh as cleanup
// unless PM4ML_LAB_KEEP=1. It returns the hosts in order.
func Up(t *testing.T, n int, timeout time.Duration) []Host {
	t.Helper()
	start := time.Now()
	out, err := Script(t, timeout, "hosts-up.sh", fmt.Sprint(n))
	t.Logf("hosts-up.sh %d (%.1fs):\n%s", n, time.Since(start).Seconds(), out)
	if os.Getenv("PM4ML_LAB_KEEP") != "1" {
		t.Cleanup(func() {
			start := time.Now()
			out, err := Script(t, 2*time.Minute, "hosts-down.sh")
			t.Logf("hosts-down.sh (%.1fs): %v %s", time.Since(start).Seconds(), err, out)
			if err != nil {
				t.Errorf("hosts-down.sh: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("hosts-up.sh: %v", err)
	}
	inv, err := os.ReadFile(filepath.Join(Dir(), "inventory"))
	if err != nil {
		t.Fatal(err)
	}
	var hs []Host
	for _, l := range strings.Split(strings.TrimSpace(string(inv)), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			hs = append(hs, Host{Name: f[0], Address: f[1]})
		}
	}
	if len(hs) < n {
		t.Fatalf("inventory has %d hosts, want %d", len(hs), n)
	}
	return hs[:n]
}

// Script runs one of the lab's shell scripts (beside this file) with a deadline.
func Script(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{name}, args...)...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %s: %w", name, timeout, err)
	}
	return string(out), err
}

// Run executes a command line on a lab host over SSH as root, as pulumi-command's remote.Command
// does (one session, the command line as is, stdin when given), bounded by timeout. It returns
// stdout and stderr.
func Run(h Host, cmdline, stdin string, timeout time.Duration) (string, string, error) {
	key, err := os.ReadFile(filepath.Join(Dir(), "id_ed25519"))
	if err != nil {
		return "", "", err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return "", "", err
	}
	cfg := &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// lab hosts share the image's host keys and live for one test run
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	}
	client, err := ssh.Dial("tcp", net.JoinHostPort(h.Address, "22"), cfg)
	if err != nil {
		return "", "", err
	}
	return runSession(client, h.Name, cmdline, stdin, timeout)
}

// runSession runs one command line in a new session of client (then closed), stdin when given,
// bounded by timeout; it returns stdout and stderr.
func runSession(client *ssh.Client, name, cmdline, stdin string, timeout time.Duration) (string, string, error) {
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", "", err
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != "" {
		sess.Stdin = strings.NewReader(stdin)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmdline) }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		client.Close()
		err = fmt.Errorf("%s: command did not finish within %s", name, timeout)
	}
	return stdout.String(), stderr.String(), err
}

// Poll calls f every interval until it returns true or timeout passes; it reports whether f
// succeeded and how long it took.
func Poll(timeout, interval time.Duration, f func() bool) (bool, time.Duration) {
	start := time.Now()
	for {
		if f() {
			return true, time.Since(start)
		}
		if time.Since(start) > timeout {
			return false, time.Since(start)
		}
		time.Sleep(interval)
	}
}

// Lines returns the lines of s that start with prefix.
func Lines(s, prefix string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// LastLine is the last non-empty line of s.
func LastLine(s string) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return ls[len(ls)-1]
}

// ReadAllTimeout reads from c until EOF or the deadline.
func ReadAllTimeout(c net.Conn, d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestLabScriptsShellcheck lints the lab scripts (always, not only with PM4ML_LAB=1).
func TestLabScriptsShellcheck(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	files, _ := filepath.Glob("*.sh")
	if len(files) < 2 {
		t.Fatalf("lab scripts: %v", files)
	}
	// the e2e library the lab scripts source is an input too: shellcheck without -x follows only
	// files it was given (SC1091 otherwise)
	inputs := append([]string{"-S", "style", "../e2e/lib.sh"}, files...)
	if out, err := exec.Command(sc, inputs...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	for _, f := range files {
		if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, out)
		}
	}
}
