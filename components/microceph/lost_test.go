package microceph

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// TestDoubleLostHost: s3 is gone for good. Its removal runs on the bootstrap host only: each of
// its OSDs marked out and purged, the member removed with --force; nothing runs on s3. A rerun
// changes nothing, and the remaining hosts' steps find nothing to do.
func TestDoubleLostHost(t *testing.T) {
	d := newDouble(t)
	deployAll(d, renderFor(t, d, doublePlan(2, "s1", "s2", "s3")))
	p := doublePlan(2, "s1", "s2", "s3")
	p.Nodes, p.Lost = p.Nodes[:2], p.Nodes[2:]
	r, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	rm, ok := r.Remove["s3"]
	if !ok || len(r.Lost) != 1 || r.Lost[0].Name != "s3" {
		t.Fatalf("no removal script for the lost s3: %v", r.Lost)
	}
	before, _ := os.ReadFile(filepath.Join(d.state, "calls.log"))
	out := d.must("s1", rm.Body, "")
	if strings.Count(out, "marked out and purged") != 2 || !strings.Contains(out, "changed: s3 removed from the MicroCeph cluster") {
		t.Errorf("removal of the lost s3:\n%s", out)
	}
	calls, _ := os.ReadFile(filepath.Join(d.state, "calls.log"))
	calls = calls[len(before):]
	for _, c := range []string{"microceph.ceph osd out osd.4", "microceph.ceph osd out osd.5", "microceph.ceph osd purge 4 --yes-i-really-mean-it",
		"microceph.ceph osd purge 5 --yes-i-really-mean-it", "microceph.ceph mon remove s3", "microceph cluster remove s3 --force"} {
		if !strings.Contains(string(calls), "s1 "+c+"\n") {
			t.Errorf("calls lack %q on s1:\n%s", c, calls)
		}
	}
	if strings.Contains(string(calls), "\ns3 ") || strings.HasPrefix(string(calls), "s3 ") {
		t.Errorf("the removal ran something on s3:\n%s", calls)
	}
	if list := d.must("s1", "microceph cluster list", ""); strings.Contains(list, "s3") {
		t.Errorf("members after s3's removal:\n%s", list)
	}
	if osds := strings.Fields(d.must("s1", "microceph.ceph osd ls", "")); !slices.Equal(osds, []string{"0", "1", "2", "3"}) {
		t.Errorf("OSDs after s3's removal: %v, want s1's and s2's 0..3", osds)
	}
	if out := d.must("s1", rm.Body, ""); !strings.HasSuffix(lastLine(out), ": no change") {
		t.Errorf("second removal: %s", out)
	}
	for _, n := range r.Nodes {
		if out := d.must(n.Node.Name, n.Member.Body, ""); !strings.HasSuffix(lastLine(out), ": no change") {
			t.Errorf("%s's member step after s3's removal: %s", n.Node.Name, lastLine(out))
		}
	}
	if out := d.must("s1", r.Pool.Body, ""); !strings.HasSuffix(lastLine(out), ": no change") {
		t.Errorf("pool after s3's removal: %s", lastLine(out))
	}
	// a removal stopped after the OSDs were purged resumes with the member
	d2 := newDouble(t)
	deployAll(d2, renderFor(t, d2, doublePlan(2, "s1", "s2", "s3")))
	r2 := r
	d2.must("s1", "microceph.ceph osd purge 4 --yes-i-really-mean-it", "")
	if out := d2.must("s1", r2.Remove["s3"].Body, ""); !strings.Contains(out, "osd.4 (") || !strings.Contains(out, "purged already") || !strings.Contains(out, "changed: s3 removed") {
		t.Errorf("resumed removal:\n%s", out)
	}
}

// TestLostHostGraph: a lost storage host is removed from the bootstrap host after every join and
// before the pool; its member and disks steps are registered frozen (inputs ignored, retained on
// delete), its install and add steps not at all, and no other step names it.
func TestLostHostGraph(t *testing.T) {
	lost := testHost("s3", "10.0.0.3", sixDisks()...)
	lost.Lost = true
	hs := []hosts.Host{testHost("s1", "10.0.0.1", sixDisks()...), testHost("s2", "10.0.0.2", sixDisks()...)}
	m, _ := deploy(t, hs, 2, lost)
	rm := m.Named(t, "ceph-s3-remove")
	if connHost(t, rm) != "10.0.0.1" || rm.RetainOnDelete || slices.Contains(rm.IgnoreChanges, "*") {
		t.Errorf("ceph-s3-remove runs on %s (retain %v, ignore %v), want the bootstrap host 10.0.0.1, live", connHost(t, rm), rm.RetainOnDelete, rm.IgnoreChanges)
	}
	if !m.DependsOnTransitively(t, "ceph-s3-remove", "ceph-s2-member") || !m.DependsOn(t, "ceph-pool", "ceph-s3-remove") {
		t.Errorf("the removal is not between the last join and the pool")
	}
	for _, n := range []string{"ceph-s3-member", "ceph-s3-disks"} {
		r := m.Named(t, n)
		if connHost(t, r) != "10.0.0.3" || !r.Frozen() {
			t.Errorf("%s: on %s, retain %v, ignore %v; want frozen on s3", n, connHost(t, r), r.RetainOnDelete, r.IgnoreChanges)
		}
	}
	for _, r := range m.Resources {
		switch r.Name {
		case "ceph-s3-remove", "ceph-s3-member", "ceph-s3-disks":
			continue
		}
		if strings.Contains(r.Name, "s3") || r.RetainOnDelete {
			t.Errorf("%s is registered for the lost s3 or retained", r.Name)
		}
	}
}
