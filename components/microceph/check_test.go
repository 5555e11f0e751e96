package microceph

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/hostsim"
)

// snapshot is the double's state (every file but the call log), to prove check mode changes nothing.
func (d *double) snapshot() string {
	d.t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(d.state, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() == "calls.log" {
			return err
		}
		c, _ := os.ReadFile(p)
		b.WriteString(p + "\n" + string(c) + "\n")
		return nil
	})
	return b.String()
}

// check runs a script in check mode (bash -c BODY STEP CLIENT check, as `pm4ml drift` does) and
// returns its output and summary.
func (d *double) check(host, body string) (string, string) {
	d.t.Helper()
	before := d.snapshot()
	body = strings.ReplaceAll(body, devPrefix, d.devdir+"/")
	out, err := d.runArgs(host, body, "", "check")
	if err != nil {
		d.t.Fatalf("check on %s: %v", host, err)
	}
	if d.snapshot() != before {
		d.t.Errorf("check mode on %s changed the double's state", host)
	}
	if hostsim.ChangedLine.MatchString(out) {
		d.t.Errorf("check mode on %s printed a change:\n%s", host, out)
	}
	m := hostsim.CheckSummary.FindStringSubmatch(out)
	if m == nil {
		d.t.Fatalf("check on %s: no summary:\n%s", host, out)
	}
	return out, m[1]
}

// checkAll checks every create step except the export (an output only); a member step gets no
// stdin (check mode never reads a join token).
func (d *double) checkAll(r Rendered) map[string]string {
	got := map[string]string{}
	boot := r.Bootstrap.Name
	for _, n := range r.Nodes {
		_, got[n.Node.Name+"/install"] = d.check(n.Node.Name, n.Install.Body)
		if n.Add != nil {
			_, got[n.Node.Name+"/add"] = d.check(boot, n.Add.Body)
		}
		_, got[n.Node.Name+"/member"] = d.check(n.Node.Name, n.Member.Body)
	}
	for _, n := range r.Nodes {
		_, got[n.Node.Name+"/disks"] = d.check(n.Node.Name, n.Disks.Body)
	}
	_, got["pool"] = d.check(boot, r.Pool.Body)
	return got
}

func TestCheckMode(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(3, "s1", "s2", "s3"))

	// Fresh hosts: every step that can be checked reports drift, nothing changes.
	for _, n := range r.Nodes {
		out, sum := d.check(n.Node.Name, n.Install.Body)
		if sum == "in sync" || !strings.Contains(out, "drift: microceph snap installed from squid/stable") {
			t.Errorf("%s install on a fresh host: %s\n%s", n.Node.Name, sum, out)
		}
	}

	deployAll(d, r)
	for step, sum := range d.checkAll(r) {
		if sum != "in sync" {
			t.Errorf("%s after the apply: %s", step, sum)
		}
	}

	// Hand-made drift: the snap hold released on s2, the pool's size lowered.
	if err := os.Remove(filepath.Join(d.state, "hosts/s2/snap-held")); err != nil {
		t.Fatal(err)
	}
	d.must("s1", "microceph.ceph osd pool set rbd-pm4ml size 2", "")
	got := d.checkAll(r)
	want := map[string]string{"s2/install": "1 drift(s)", "pool": "1 drift(s)"}
	for step, sum := range got {
		w := want[step]
		if w == "" {
			w = "in sync"
		}
		if sum != w {
			t.Errorf("%s with the hand-made drift: %s, want %s", step, sum, w)
		}
	}
	out, _ := d.check("s1", r.Pool.Body)
	if !strings.Contains(out, "drift: pool rbd-pm4ml size 3 (was 2)") {
		t.Errorf("pool check:\n%s", out)
	}

	// Apply puts it back.
	d.must("s2", r.Nodes[1].Install.Body, "")
	d.must("s1", r.Pool.Body, "")
	for step, sum := range d.checkAll(r) {
		if sum != "in sync" {
			t.Errorf("%s after the repair: %s", step, sum)
		}
	}
}
