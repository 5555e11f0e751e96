package storage

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/hostsim"
)

func (d *double) snapshot() string {
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

// checkAll runs every step in check mode (no stdin: check never reads the Ceph bundle) and
// returns the summaries in step order.
func (d *double) checkAll(r Rendered) []string {
	d.t.Helper()
	var sums []string
	for _, s := range r.Scripts {
		before := d.snapshot()
		out, err := d.run(s.Body, "", "check")
		if err != nil {
			d.t.Fatalf("check %s: %v", s.Step, err)
		}
		if d.snapshot() != before {
			d.t.Errorf("check mode of %s changed the double", s.Step)
		}
		if hostsim.ChangedLine.MatchString(out) {
			d.t.Errorf("check mode of %s printed a change:\n%s", s.Step, out)
		}
		m := hostsim.CheckSummary.FindStringSubmatch(out)
		if m == nil {
			d.t.Fatalf("check %s: no summary:\n%s", s.Step, out)
		}
		sums = append(sums, m[1])
	}
	return sums
}

func TestCheckMode(t *testing.T) {
	d := newDouble(t)
	r, err := Render(plan("ceph-rbd"))
	if err != nil {
		t.Fatal(err)
	}
	for i, sum := range d.checkAll(r) {
		if sum == "in sync" {
			t.Errorf("%s on a fresh master: in sync", Steps[i])
		}
	}
	d.all(r, Bundle(testConf, testKeyring))
	for i, sum := range d.checkAll(r) {
		if sum != "in sync" {
			t.Errorf("%s after the apply: %s", Steps[i], sum)
		}
	}
	// Hand-made drift: the local class no longer the default.
	if _, err := d.run("microk8s kubectl patch storageclass local-nvme --type merge -p '{\"metadata\":{\"annotations\":{\"storageclass.kubernetes.io/is-default-class\":\"false\"}}}'", ""); err != nil {
		t.Fatal(err)
	}
	sums := d.checkAll(r)
	if sums[0] != "in sync" || sums[1] != "in sync" || sums[2] == "in sync" {
		t.Errorf("with the default annotation removed: %v", sums)
	}
	d.all(r, "")
	for i, sum := range d.checkAll(r) {
		if sum != "in sync" {
			t.Errorf("%s after the repair: %s", Steps[i], sum)
		}
	}
}
