package lab

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// lostStep: a step the loss of the worker h5 may change on another host: the configurations that
// list the workers (HAProxy backends, firewall sources, the /etc/hosts of the other Kubernetes
// nodes, the node set finalize checks), and the verification, whose trigger is its checks' hash.
var lostStep = regexp.MustCompile(`^(haproxy-h[67]-config|prep-h\d+-firewall|prep-h[1-4]-base|microk8s-finalize|verify-checks)$`)

// lostWorker (TestStackLab's 9-lost-worker, issue 13 item 4): the worker h5 is gone for good (its
// machine killed, as a power cut would, and never back) and marked `lost: true`. The preview
// creates h5's removal (on the first master) and deletes h5's steps that have no delete script;
// the steps whose delete would reach h5 or drain it (its join, token and drain) are neither
// updated nor deleted; other hosts only get the configurations that list the workers. `up`
// succeeds without reaching h5 (a step that tried would fail: the machine is down), the node is
// gone, and a preview is empty. Then the entry is removed: `up` only forgets h5's steps, reaching
// nothing, and a preview is empty again.
func (l *stackLab) lostWorker() {
	t := l.t
	pidFile := filepath.Join(l.dir, "run", "h5.pid")
	nspawn := readPID(t, pidFile)
	if err := syscall.Kill(l.containerInit("h5"), syscall.SIGKILL); err != nil {
		t.Fatalf("power off h5: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for syscall.Kill(nspawn, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("h5's systemd-nspawn (%d) still runs a minute after its container's init was killed", nspawn)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// h5 never comes back: the teardown has no process of it to stop (and never a reused PID)
	if err := os.Remove(pidFile); err != nil {
		t.Fatal(err)
	}
	for _, err := l.ssh(l.addr("h5"), "true", "", 10*time.Second); err == nil; _, err = l.ssh(l.addr("h5"), "true", "", 10*time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("h5 still answers on SSH a minute after its machine was killed")
		}
		time.Sleep(time.Second)
	}
	line := "    - {name: h5, address: 10.77.0.15, roles: [worker]}\n"
	l.editStack(line, "    - {name: h5, address: 10.77.0.15, roles: [worker], lost: true}\n")

	var planned []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		planned = append(planned, s.Op+" "+n)
		switch {
		case n == "microk8s-h5-remove":
			if s.Op != "create" {
				t.Errorf("preview: %s %s, want create", s.Op, n)
			}
		case regexp.MustCompile(`^microk8s-h5-(join|token|drain)$`).MatchString(n):
			t.Errorf("preview: %s %s (a step whose delete reaches or drains h5 must stay as it is)", s.Op, n)
		case strings.Contains(n, "h5"):
			if s.Op != "delete" {
				t.Errorf("preview: %s %s (h5's other steps are only forgotten)", s.Op, n)
			}
		case lostStep.MatchString(n) && (s.Op == "update" || s.Op == "replace" || s.Op == "create-replacement" || s.Op == "delete-replaced"):
		default:
			t.Errorf("preview: %s %s (not h5's, not a configuration listing the workers)", s.Op, n)
		}
	}
	t.Logf("preview with h5 lost: %v", planned)
	if !slices.Contains(planned, "create microk8s-h5-remove") {
		t.Errorf("preview lacks h5's removal")
	}

	out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err != nil {
		t.Fatalf("up with h5 lost: %v\n%s", err, tail(out, 80))
	}
	t.Logf("up with h5 lost: %s", summary(out))
	if out, err := l.kubectl("get", "nodes", "-o", "name"); err != nil || strings.Contains(out, "node/h5") {
		t.Errorf("nodes after h5 was marked lost: %v %q (h5 must be gone)", err, out)
	}
	retained := 0
	for _, r := range l.export() {
		if regexp.MustCompile(`^microk8s-h5-(join|token|drain)$`).MatchString(resName(r.URN)) {
			if !r.RetainOnDelete {
				t.Errorf("%s is not retained on delete in the state", r.URN)
			}
			retained++
		}
	}
	if retained != 3 {
		t.Errorf("%d of h5's join, token and drain steps in the state, want 3", retained)
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after h5 was removed as lost a preview still has changes: %v\n%s", err, tail(out, 40))
	}

	// The entry goes: the update forgets h5's steps (retained: their deletes do not run).
	l.editStack("    - {name: h5, address: 10.77.0.15, roles: [worker], lost: true}\n", "")
	var gone []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		gone = append(gone, s.Op+" "+n)
		if !strings.Contains(n, "h5") || s.Op != "delete" {
			t.Errorf("preview without h5's entry: %s %s (only h5's steps are deleted)", s.Op, n)
		}
	}
	t.Logf("preview without h5's entry: %v", gone)
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...); err != nil {
		t.Fatalf("up without h5's entry: %v\n%s", err, tail(out, 80))
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after h5's entry left a preview still has changes: %v\n%s", err, tail(out, 40))
	}
}

// editStack replaces old by new in the lab stack file (old must be there).
func (l *stackLab) editStack(old, new string) {
	l.t.Helper()
	b, err := os.ReadFile(l.cfgFile)
	if err != nil || !strings.Contains(string(b), old) {
		l.t.Fatalf("the lab stack file has no %q: %v", old, err)
	}
	if err := os.WriteFile(l.cfgFile, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		l.t.Fatal(err)
	}
}
