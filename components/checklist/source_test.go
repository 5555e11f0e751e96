package checklist

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gitRepo makes a repository with two commits: "one" on main (tagged v1), then "two".
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main", ".")
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	git("add", "-A")
	git("commit", "-qm", "one")
	git("tag", "v1")
	write("two")
	git("commit", "-qam", "two")
	return dir
}

func TestCheckoutRevisions(t *testing.T) {
	src := gitRepo(t)
	for rev, want := range map[string]string{"main": "two", "HEAD": "two", "": "two", "v1": "one"} {
		dir, err := Checkout(context.Background(), Repo{URL: src, Revision: rev, Auth: AuthNone}, "")
		if err != nil {
			t.Fatalf("%q: %v", rev, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "file.txt"))
		os.RemoveAll(dir)
		if err != nil || string(b) != want {
			t.Errorf("revision %q: file %q (%v), want %q", rev, b, err, want)
		}
	}
	_, err := Checkout(context.Background(), Repo{URL: src, Revision: "no-such-branch", Auth: AuthNone}, "")
	if err == nil || !strings.Contains(err.Error(), "revision no-such-branch not found") {
		t.Errorf("unknown revision: %v", err)
	}
	_, err = Checkout(context.Background(), Repo{URL: src, Revision: "main", Auth: AuthSSHKey}, "not a key")
	if err == nil || !strings.Contains(err.Error(), "SSH key (pm4ml:gitopsCredential) is not usable") {
		t.Errorf("bad key: %v", err)
	}
}

// The lab serves its GitOps repository with git daemon (git://): clone it over loopback.
func TestCheckoutGitProtocol(t *testing.T) {
	src := gitRepo(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := filepath.Dir(src)
	// git-daemon itself, not `git daemon`: git runs it as a child, which killing git would leave
	// running (holding the test's open files, e.g. CI's lab lock)
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skip("git --exec-path: ", err)
	}
	cmd := exec.Command(filepath.Join(strings.TrimSpace(string(execPath)), "git-daemon"), "--export-all", "--reuseaddr", "--listen=127.0.0.1", "--port="+strconv.Itoa(port), "--base-path="+base, base)
	if err := cmd.Start(); err != nil {
		t.Skip("git daemon: ", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := "git://127.0.0.1:" + strconv.Itoa(port) + "/" + filepath.Base(src)
	var dir string
	for i := 0; i < 50; i++ {
		if dir, err = Checkout(context.Background(), Repo{URL: url, Revision: "v1", Auth: AuthNone}, ""); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "file.txt")); string(b) != "one" {
		t.Errorf("file %q", b)
	}
}
