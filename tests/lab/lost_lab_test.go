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

// lostCase is one host gone for good: its entry in the lab stack file, the steps whose deletes
// would reach it (kept frozen), its removal steps (created, on a survivor), and the steps of
// other hosts its loss may change (the configurations that list it).
type lostCase struct {
	host, entry string
	frozen      *regexp.Regexp
	removals    []string
	others      *regexp.Regexp
	// edit is an extra change of the stack file in the same update (nil: none).
	edit func()
}

// lostWorker (TestStackLab's 9-lost-worker, issue 13 item 4): the worker h5 is gone for good and
// marked lost; the first master removes it (remove-node --force).
func (l *stackLab) lostWorker() {
	l.loseHost(lostCase{
		host: "h5", entry: "    - {name: h5, address: 10.77.0.15, roles: [worker]}\n",
		frozen:   regexp.MustCompile(`^microk8s-h5-(join|token|drain)$`),
		removals: []string{"microk8s-h5-remove"},
		// the configurations that list the workers (HAProxy backends, firewall sources, the
		// /etc/hosts of the other Kubernetes nodes, the node set finalize checks), and the
		// verification, whose trigger is its checks' hash
		others: regexp.MustCompile(`^(haproxy-h[67]-config|prep-h\d+-firewall|prep-h[1-4]-base|microk8s-finalize|verify-checks)$`),
	})
	if out, err := l.kubectl("get", "nodes", "-o", "name"); err != nil || strings.Contains(out, "node/h5") {
		l.t.Errorf("nodes after h5 was marked lost: %v %q (h5 must be gone)", err, out)
	}
}

// lostStorageHost (TestStackLab's 10-lost-storage-host): the storage host h10 is gone for good and
// marked lost; the bootstrap host h8 removes it (its OSD out and purged, its monitor and member
// removed with --force). The pool's default replication follows the live storage hosts (2).
func (l *stackLab) lostStorageHost() {
	l.loseHost(lostCase{
		host: "h10", entry: "    - {name: h10, address: 10.77.0.20, roles: [storage], cephDisks: [/dev/sdb]}\n",
		frozen:   regexp.MustCompile(`^microceph-h10-(member|disks)$`),
		removals: []string{"microceph-h10-remove"},
		// the firewalls that admit the storage hosts, the /etc/hosts of the other storage hosts,
		// the pool (its size follows the live storage hosts), the storage classes and
		// verification that read the monitors, and the verification
		others: regexp.MustCompile(`^(prep-h\d+-firewall|prep-h(8|9)-base|microceph-(pool|export)|storage-.*|verify-checks)$`),
	})
	out := l.mustSSH(l.addr("h8"), "microceph cluster list; microceph.ceph osd ls; microceph.ceph mon dump -f json")
	if strings.Contains(out, "h10") {
		l.t.Errorf("the MicroCeph cluster still knows h10:\n%s", out)
	}
	l.t.Logf("MicroCeph after h10 was removed as lost:\n%s", out)
}

// loseHost: c.host's machine is killed (as a power cut would) and never comes back; its entry is
// marked lost. The preview creates the removals and deletes the host's steps that have no delete
// script; the frozen steps (whose deletes would reach it) are neither updated nor deleted; other
// hosts only get the configurations that list it. `up` succeeds without reaching the host (a
// step that tried would fail: the machine is down), the frozen steps are retained in the state,
// and a preview is empty. Then the entry is removed: `up` only forgets the host's steps, and a
// preview is empty again.
func (l *stackLab) loseHost(c lostCase) {
	t := l.t
	pidFile := filepath.Join(l.dir, "run", c.host+".pid")
	nspawn := readPID(t, pidFile)
	if err := syscall.Kill(l.containerInit(c.host), syscall.SIGKILL); err != nil {
		t.Fatalf("power off %s: %v", c.host, err)
	}
	deadline := time.Now().Add(time.Minute)
	for syscall.Kill(nspawn, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s's systemd-nspawn (%d) still runs a minute after its container's init was killed", c.host, nspawn)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// it never comes back: the teardown has no process of it to stop (and never a reused PID)
	if err := os.Remove(pidFile); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ssh(l.addr(c.host), "true", "", 10*time.Second); err == nil {
		t.Fatalf("%s still answers on SSH after its machine was killed", c.host)
	}
	lostEntry := strings.TrimSuffix(c.entry, "}\n") + ", lost: true}\n"
	l.editStack(c.entry, lostEntry)
	own := regexp.MustCompile(`(^|-)` + c.host + `(-|$)`)

	var planned []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		planned = append(planned, s.Op+" "+n)
		switch {
		case slices.Contains(c.removals, n):
			if s.Op != "create" {
				t.Errorf("preview: %s %s, want create", s.Op, n)
			}
		case c.frozen.MatchString(n):
			t.Errorf("preview: %s %s (a step whose delete would reach %s must stay as it is)", s.Op, n, c.host)
		case own.MatchString(n):
			if s.Op != "delete" {
				t.Errorf("preview: %s %s (%s's other steps are only forgotten)", s.Op, n, c.host)
			}
		case c.others.MatchString(n) && (s.Op == "update" || s.Op == "replace" || s.Op == "create-replacement" || s.Op == "delete-replaced"):
		default:
			t.Errorf("preview: %s %s (not %s's, not a configuration listing it)", s.Op, n, c.host)
		}
	}
	t.Logf("preview with %s lost: %v", c.host, planned)
	for _, r := range c.removals {
		if !slices.Contains(planned, "create "+r) {
			t.Errorf("preview lacks %s", r)
		}
	}

	out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err != nil {
		t.Fatalf("up with %s lost: %v\n%s", c.host, err, tail(out, 80))
	}
	t.Logf("up with %s lost: %s", c.host, summary(out))
	frozen := 0
	for _, r := range l.export() {
		if c.frozen.MatchString(resName(r.URN)) {
			if !r.RetainOnDelete {
				t.Errorf("%s is not retained on delete in the state", r.URN)
			}
			frozen++
		}
	}
	if frozen == 0 {
		t.Errorf("none of %s's frozen steps (%s) is in the state", c.host, c.frozen)
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after %s was removed as lost a preview still has changes: %v\n%s", c.host, err, tail(out, 40))
	}

	// The entry goes: the update forgets the host's steps (retained: their deletes do not run).
	l.editStack(lostEntry, "")
	var gone []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		gone = append(gone, s.Op+" "+n)
		if !own.MatchString(n) || s.Op != "delete" {
			t.Errorf("preview without %s's entry: %s %s (only its steps are deleted)", c.host, s.Op, n)
		}
	}
	t.Logf("preview without %s's entry: %v", c.host, gone)
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...); err != nil {
		t.Fatalf("up without %s's entry: %v\n%s", c.host, err, tail(out, 80))
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after %s's entry left a preview still has changes: %v\n%s", c.host, err, tail(out, 40))
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
