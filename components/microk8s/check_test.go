package microk8s

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/hostsim"
)

// check runs a script in check mode (the word "check" after the client address, as `pm4ml drift`
// runs it) and returns its output and summary ("in sync" or "N drift(s)"). The double's log of
// mutating calls must not grow.
func (l *lab) check(host, body, stdin string) (string, string) {
	l.t.Helper()
	before := l.read("log")
	out, err := l.runArgs(host, body, stdin, "check")
	if err != nil {
		l.t.Fatalf("check on %s failed: %v\n%s", host, err, out)
	}
	if after := l.read("log"); after != before {
		l.t.Errorf("check mode on %s changed the double:\n%s", host, strings.TrimPrefix(after, before))
	}
	if hostsim.ChangedLine.MatchString(out) {
		l.t.Errorf("check mode on %s printed a change:\n%s", host, out)
	}
	m := hostsim.CheckSummary.FindStringSubmatch(out)
	if m == nil {
		l.t.Fatalf("check on %s: no summary line:\n%s", host, out)
	}
	return out, m[1]
}

// checkAll checks every step of the cluster as `pm4ml drift` does (same stdin as under Pulumi)
// and returns the summaries by step.
func (l *lab) checkAll(admin string) map[string]string {
	l.t.Helper()
	got := map[string]string{}
	for _, n := range l.r.Plan.Nodes {
		_, got[n.Name+"/install"] = l.check(n.Name, l.r.Install[n.Name].Body, "")
	}
	for _, n := range l.r.JoinOrder {
		tok := JoinToken(labSecret, n) + "\n"
		_, got[n+"/token"] = l.check("m1", l.r.Token[n].Body, tok)
		stdin := tok
		if !slices.Contains(l.r.Masters(), n) {
			stdin += admin
		}
		_, got[n+"/join"] = l.check(n, l.r.Join[n].Body, stdin)
		if d, ok := l.r.Drain[n]; ok {
			_, got[n+"/drain"] = l.check("m1", d.Body, "")
		}
	}
	_, got["finalize"] = l.check("m1", l.r.Finalize.Body, "")
	_, got["backup"] = l.check("m1", l.r.Backup.Body, "")
	for _, n := range l.r.Plan.Nodes {
		_, got[n.Name+"/upgrade"] = l.check(n.Name, l.r.Upgrade[n.Name].Body, l.upgradeStdin(n.Name, admin))
	}
	return got
}

func TestCheckMode(t *testing.T) {
	l := newLab(t, labPlan())

	// A fresh double: nothing installed; every install check reports drift and changes nothing.
	for _, n := range l.r.Plan.Nodes {
		out, sum := l.check(n.Name, l.r.Install[n.Name].Body, "")
		if sum == "in sync" || !strings.Contains(out, "drift: microk8s installed from channel 1.31/stable") {
			t.Errorf("%s: a fresh host must drift:\n%s", n.Name, out)
		}
	}
	if l.exists("hosts/m1/installed") {
		t.Fatal("check mode installed the snap")
	}

	admin := l.build()
	for step, sum := range l.checkAll(admin) {
		if sum != "in sync" {
			t.Errorf("%s after the apply: %s", step, sum)
		}
	}

	// Hand-made drift: the refresh hold released on w1, the worker label removed from w2, the
	// control-plane taint removed from m2.
	if err := os.Remove(filepath.Join(l.root, "hosts/w1/held")); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(l.root, "clusters/m1/nodes/w2/labels")
	if err := os.WriteFile(labels, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.root, "clusters/m1/nodes/m2/taints"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := l.checkAll(admin)
	want := map[string]string{"w1/install": "1 drift(s)", "finalize": "2 drift(s)"}
	for step, sum := range got {
		if w := want[step]; w != "" && sum != w || w == "" && sum != "in sync" {
			t.Errorf("%s with the hand-made drift: %s (want %s)", step, sum, map[bool]string{true: w, false: "in sync"}[w != ""])
		}
	}
	out, _ := l.check("w1", l.r.Install["w1"].Body, "")
	contains(t, "w1 install check", out, "drift: microk8s refreshes held (snap refresh --hold=forever)")
	out, _ = l.check("m1", l.r.Finalize.Body, "")
	contains(t, "finalize check", out, "drift: w2: label node-role.kubernetes.io/worker missing",
		"drift: m2: taint node-role.kubernetes.io/control-plane:NoSchedule missing")

	// Apply (what `pm4ml drift --repair` runs) puts it back; the check is then clean.
	l.mustRun("w1", l.r.Install["w1"].Body, "")
	l.mustRun("m1", l.r.Finalize.Body, "")
	for step, sum := range l.checkAll(admin) {
		if sum != "in sync" {
			t.Errorf("%s after the repair: %s", step, sum)
		}
	}

	// A configured channel the hosts do not run yet: the backup and every upgrade step report
	// the pending upgrade (changing nothing), the install steps do not refresh; a refused
	// downgrade is a drift too, not an error.
	r := l.rerender("1.32/stable")
	out, sum := l.check("m1", r.Backup.Body, "")
	if sum != "1 drift(s)" || !strings.Contains(out, "drift: datastore backup before the upgrade from 1.31/stable to 1.32/stable") {
		t.Errorf("backup check with a pending upgrade: %s\n%s", sum, out)
	}
	for _, n := range r.Plan.Nodes {
		out, sum := l.check(n.Name, r.Upgrade[n.Name].Body, l.upgradeStdin(n.Name, admin))
		contains(t, n.Name+" upgrade check", out, "drift: "+n.Name+": the upgrade to 1.32/stable is pending or unfinished (tracks 1.31/stable)")
		if sum != "1 drift(s)" {
			t.Errorf("%s upgrade check: %s", n.Name, sum)
		}
		if _, sum := l.check(n.Name, r.Install[n.Name].Body, ""); sum != "in sync" {
			t.Errorf("%s install check with a new channel: %s", n.Name, sum)
		}
	}
	out, sum = l.check("m1", l.rerender("1.30/stable").Backup.Body, "")
	if sum != "1 drift(s)" || !strings.Contains(out, "drift: refusing to move m1 from 1.31/stable to 1.30/stable: a downgrade") {
		t.Errorf("backup check of a downgrade: %s\n%s", sum, out)
	}
}
