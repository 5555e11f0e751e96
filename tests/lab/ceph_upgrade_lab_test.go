package lab

import (
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The rolling MicroCeph upgrade in the full-stack lab (TestStackLab's 6b-ceph-upgrade): the lab
// stack's pm4ml:ceph.channel squid/stable -> tentacle/stable with the real Pulumi CLI. The preview
// lists the storage hosts' install steps, which run in series; while the doubled cluster reports
// HEALTH_WARN the update refuses at the first storage host and no host refreshes; once it is
// healthy the rerun upgrades h8, h9, h10 one at a time, noout is clear at the end, and a preview
// is then empty.

const (
	cephFrom = "squid/stable"
	cephTo   = "tentacle/stable"
)

var labStorage = []string{"h8", "h9", "h10"}

// cephTracking is the microceph channel each storage host tracks.
func (l *stackLab) cephTracking() map[string]string {
	out := map[string]string{}
	for _, h := range labStorage {
		out[h] = strings.TrimSpace(l.mustSSH(l.addr(h), "snap list microceph | awk 'NR == 2 {print $4}'"))
	}
	return out
}

// nooutSet says whether the doubled cluster's OSD map carries the noout flag.
func (l *stackLab) nooutSet() bool {
	m, _ := filepath.Glob(filepath.Join(l.dir, "shared", "state", "microceph", "clusters", "*", "flags", "noout"))
	return len(m) > 0
}

func (l *stackLab) cephUpgrade() {
	t := l.t
	for h, ch := range l.cephTracking() {
		if ch != cephFrom {
			t.Fatalf("%s tracks %q, want %s", h, ch, cephFrom)
		}
	}
	if out, err := l.pulumi(time.Minute, "", nil, l.stackArgs("config", "set", "--path", "pm4ml:ceph.channel", cephTo)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var order []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		if strings.HasPrefix(n, "microceph-") && strings.HasSuffix(n, "-install") {
			if s.Op != "update" {
				t.Errorf("preview: %s %s (want update)", s.Op, n)
			}
			order = append(order, n)
			continue
		}
		t.Logf("preview also: %s %s", s.Op, n)
	}
	if want := []string{"microceph-h8-install", "microceph-h9-install", "microceph-h10-install"}; !slices.Equal(order, want) {
		t.Errorf("preview: %v, want %v", order, want)
	}

	// An unhealthy cluster: the first storage host's step refuses, nothing is refreshed.
	clearFault := l.fault("ceph-health", "1 osds down (lab fault)")
	out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err == nil {
		t.Fatalf("the upgrade of an unhealthy cluster succeeded:\n%s", tail(out, 40))
	}
	errs := strings.Join(errorLines(out), "\n")
	t.Logf("the up stopped with:\n%s", errs)
	if !strings.Contains(errs, "microceph-h8-install") || !strings.Contains(errs, "refusing to upgrade microceph on h8 from squid/stable to tentacle/stable: the Ceph cluster is not HEALTH_OK (HEALTH_WARN 1 osds down (lab fault))") {
		t.Errorf("the error does not name h8's step and the cluster's health")
	}
	for h, ch := range l.cephTracking() {
		if ch != cephFrom {
			t.Errorf("after the refused upgrade %s tracks %s", h, ch)
		}
	}
	if l.nooutSet() {
		t.Error("noout is set after the refused upgrade")
	}

	// Healthy: the rerun upgrades the storage hosts in order; noout is clear afterwards.
	clearFault()
	out, err = l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err != nil {
		t.Fatalf("the upgrade failed: %v\n%s", err, tail(out, 60))
	}
	for h, ch := range l.cephTracking() {
		if ch != cephTo {
			t.Errorf("after the upgrade %s tracks %s", h, ch)
		}
	}
	if l.nooutSet() {
		t.Error("noout is still set after the upgrade")
	}
	if got := strings.TrimSpace(l.mustSSH(l.addr("h8"), "microceph.ceph health")); got != "HEALTH_OK" {
		t.Errorf("ceph health after the upgrade: %q", got)
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after the upgrade a preview still has changes: %v\n%s", err, tail(out, 40))
	}
}
