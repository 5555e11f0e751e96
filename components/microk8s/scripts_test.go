package microk8s

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// The rendered scripts run under bash against the command double in testdata/double (snap,
// microk8s, kubectl, getent, id, usermod), which keeps the hosts' and the cluster's state in a
// temporary directory. Only the snap's paths differ from Render's (they point into that
// directory); every line of the scripts is what a host runs.

const labSecret = "lab-join-secret"

type lab struct {
	t    *testing.T
	root string
	bin  string
	r    Rendered
}

func newLab(t *testing.T, p Plan) *lab {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed to run the scripts")
	}
	bin, err := filepath.Abs("testdata/double")
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, root: t.TempDir(), bin: bin}
	l.r, err = render(p, l.paths())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.r.Plan.Nodes {
		for _, d := range []string{"hosts/" + n.Name + "/snapdata/var/lock", "hosts/" + n.Name + "/common", "addr"} {
			if err := os.MkdirAll(filepath.Join(l.root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(l.root, "addr", n.Address), []byte(n.Name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// paths are the snap's paths in the lab: links that runArgs points at the running host.
func (l *lab) paths() Paths {
	return Paths{SnapData: filepath.Join(l.root, "snapdata"), Kubectl: filepath.Join(l.bin, "kubectl"), Common: filepath.Join(l.root, "common")}
}

// run executes a script on a host as pulumi-command would (bash -c BODY STEP CLIENT-ADDRESS).
func (l *lab) run(host, body, stdin string) (string, error) {
	l.t.Helper()
	return l.runArgs(host, body, stdin)
}

// runArgs is run with more arguments after the client address (e.g. "check").
func (l *lab) runArgs(host, body, stdin string, args ...string) (string, error) {
	l.t.Helper()
	for _, d := range []string{"snapdata", "common"} {
		link := filepath.Join(l.root, d)
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(l.root, "hosts", host, d), link); err != nil {
			l.t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", append([]string{"-c", body, "step", "192.0.2.1"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+l.bin+":"+os.Getenv("PATH"), "DOUBLE_ROOT="+l.root, "DOUBLE_HOST="+host)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (l *lab) mustRun(host, body, stdin string) string {
	l.t.Helper()
	out, err := l.run(host, body, stdin)
	if err != nil {
		l.t.Fatalf("script on %s failed: %v\n%s", host, err, out)
	}
	return out
}

func (l *lab) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(l.root, rel))
	return err == nil
}

func (l *lab) read(rel string) string {
	b, _ := os.ReadFile(filepath.Join(l.root, rel))
	return string(b)
}

func (l *lab) log() []string { return strings.Split(strings.TrimSpace(l.read("log")), "\n") }

func (l *lab) clusterNodes(cluster string) []string {
	es, _ := os.ReadDir(filepath.Join(l.root, "clusters", cluster, "nodes"))
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func contains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

func noChange(t *testing.T, what, out string) {
	t.Helper()
	if !strings.Contains(out, ": no change\n") || strings.HasPrefix(out, "changed: ") || strings.Contains(out, "\nchanged: ") {
		t.Errorf("%s: a second run must change nothing and say so:\n%s", what, out)
	}
}

func labPlan() Plan {
	return Plan{Environment: hosts.Prod, Channel: "1.31/stable", User: "ubuntu", DedicatedMasters: true, Nodes: []Node{
		{"m1", "10.0.0.1", hosts.NewRoles(hosts.RoleMaster)},
		{"m2", "10.0.0.2", hosts.NewRoles(hosts.RoleMaster)},
		{"m3", "10.0.0.3", hosts.NewRoles(hosts.RoleMaster)},
		{"w1", "10.0.0.11", hosts.NewRoles(hosts.RoleWorker)},
		{"w2", "10.0.0.12", hosts.NewRoles(hosts.RoleWorker)},
	}}
}

// build runs the whole sequence as the component orders it and returns the admin kubeconfig.
func (l *lab) build() string {
	t := l.t
	t.Helper()
	for _, n := range l.r.Plan.Nodes {
		out := l.mustRun(n.Name, l.r.Install[n.Name].Body, "")
		contains(t, n.Name+" install", out, "changed: microk8s installed from channel 1.31/stable", "changed: microk8s refreshes held",
			"changed: ubuntu added to group microk8s", "pm4ml: microk8s-install: 3 change(s)")
	}
	var kc, admin string
	first := l.r.FirstMaster.Name
	for _, n := range l.r.JoinOrder {
		worker := !slices.Contains(l.r.Masters(), n)
		if worker && kc == "" { // once every master is in, as the component orders it
			kc = l.mustRun(first, l.r.Kubeconfig[first].Body, "")
			var err error
			if admin, err = KubeconfigFromOutput(kc, l.r.APIServer); err != nil {
				t.Fatal(err)
			}
		}
		via := l.r.Via[n]
		tok := JoinToken(labSecret, n)
		out := l.mustRun(via, l.r.Token[n].Body, tok+"\n")
		stdin := tok + "\n"
		if worker {
			stdin += admin
		}
		joined := l.mustRun(n, l.r.Join[n].Body, stdin)
		if n == first { // day 1: the others joined it; its step checks that and marks it a member
			contains(t, n+" token", out, "unchanged: "+n+" is a Ready node of the cluster: no join token needed")
			contains(t, n+" join", joined, "unchanged: "+n+" is a control-plane node of the cluster of "+via, "pm4ml-cluster-member")
		} else {
			contains(t, n+" token", out, "changed: join token for "+n+" registered on "+via+" (valid 900 s)")
			contains(t, n+" join", joined, "changed: "+n+" joined the cluster of "+via)
		}
		noChange(t, n+" drain step", l.mustRun(via, l.r.Drain[n].Body, ""))
		for _, o := range []string{out, joined, kc} {
			if strings.Contains(o, tok) {
				t.Errorf("%s: the token appears in a step's output", n)
			}
		}
	}
	out := l.mustRun("m1", l.r.Finalize.Body, "")
	contains(t, "finalize", out, "all 5 nodes Ready", "changed: addon dns enabled", "changed: m2: taint node-role.kubernetes.io/control-plane:NoSchedule added",
		"changed: w1: label node-role.kubernetes.io/worker added", "unchanged: w1: taint node-role.kubernetes.io/control-plane:NoSchedule absent")
	return admin
}

func TestScriptsFormTheClusterIdempotently(t *testing.T) {
	l := newLab(t, labPlan())
	admin := l.build()
	if got := l.clusterNodes("m1"); !slices.Equal(got, []string{"m1", "m2", "m3", "w1", "w2"}) {
		t.Fatalf("cluster of m1 has %v", got)
	}
	for _, w := range []string{"w1", "w2"} {
		if !l.exists("hosts/" + w + "/snapdata/var/lock/clustered.lock") {
			t.Errorf("%s did not join with --worker", w)
		}
	}
	for _, m := range []string{"m2", "m3"} {
		if l.exists("hosts/"+m+"/snapdata/var/lock/clustered.lock") || strings.TrimSpace(l.read("hosts/"+m+"/cluster")) != "m1" {
			t.Errorf("%s is not a control-plane member of m1's cluster", m)
		}
	}
	for n, want := range map[string][2]string{
		"m1": {"node-role.kubernetes.io/master\n", "node-role.kubernetes.io/control-plane:NoSchedule\n"},
		"m3": {"node-role.kubernetes.io/master\n", "node-role.kubernetes.io/control-plane:NoSchedule\n"},
		"w2": {"node-role.kubernetes.io/worker\n", ""},
	} {
		if got := l.read("clusters/m1/nodes/" + n + "/labels"); got != want[0] {
			t.Errorf("%s labels %q, want %q", n, got, want[0])
		}
		if got := l.read("clusters/m1/nodes/" + n + "/taints"); got != want[1] {
			t.Errorf("%s taints %q, want %q", n, got, want[1])
		}
	}
	for _, a := range DefaultAddons {
		if !l.exists("clusters/m1/addons/" + a) {
			t.Errorf("addon %s not enabled", a)
		}
	}
	// Masters joined one at a time, in order, as control-plane nodes; workers with --worker.
	var joins []string
	for _, line := range l.log() {
		if strings.Contains(line, "microk8s join") {
			joins = append(joins, line)
		}
	}
	want := []string{"m2 microk8s join 10.0.0.1 <token> control-plane", "m3 microk8s join 10.0.0.1 <token> control-plane",
		"w1 microk8s join 10.0.0.1 <token> --worker", "w2 microk8s join 10.0.0.1 <token> --worker"}
	if !slices.Equal(joins, want) {
		t.Errorf("joins %q, want %q", joins, want)
	}

	// Everything again: nothing changes, every step says so, no token is registered.
	before := len(l.log())
	for _, n := range l.r.Plan.Nodes {
		noChange(t, n.Name+" install again", l.mustRun(n.Name, l.r.Install[n.Name].Body, ""))
	}
	for _, n := range l.r.JoinOrder {
		tok := JoinToken(labSecret, n)
		out := l.mustRun(l.r.Via[n], l.r.Token[n].Body, tok+"\n")
		noChange(t, n+" token again", out)
		contains(t, n+" token again", out, n+" is a Ready node of the cluster: no join token needed")
		stdin := tok + "\n"
		if !slices.Contains(l.r.Masters(), n) {
			stdin += admin
		}
		noChange(t, n+" join again", l.mustRun(n, l.r.Join[n].Body, stdin))
	}
	noChange(t, "finalize again", l.mustRun("m1", l.r.Finalize.Body, ""))
	if after := len(l.log()); after != before {
		t.Errorf("the second pass changed something: %q", l.log()[before:])
	}
}

// upgradeStdin is what a node's upgrade step reads (a worker-only node: its join's stdin).
func (l *lab) upgradeStdin(n, admin string) string {
	if slices.Contains(l.r.Masters(), n) {
		return ""
	}
	return JoinToken(labSecret, n) + "\n" + admin
}

// rerender renders the plan with another channel against the same lab.
func (l *lab) rerender(channel string) Rendered {
	l.t.Helper()
	p := labPlan()
	p.Channel = channel
	r, err := render(p, l.paths())
	if err != nil {
		l.t.Fatal(err)
	}
	return r
}

// roll runs the rolling upgrade of r as the component orders it (backup, then each batch) and
// stops at the first failure, returning its output and the node it failed on.
func (l *lab) roll(r Rendered, admin string) (string, string) {
	l.t.Helper()
	if out, err := l.run(r.FirstMaster.Name, r.Backup.Body, ""); err != nil {
		return out, "backup"
	}
	for _, batch := range r.RollOrder {
		for _, n := range batch {
			if out, err := l.run(n, r.Upgrade[n].Body, l.upgradeStdin(n, admin)); err != nil {
				return out, n
			}
		}
	}
	return "", ""
}

// logged are the double's log lines containing any of keys, in order.
func (l *lab) logged(keys ...string) []string {
	var out []string
	for _, line := range l.log() {
		for _, k := range keys {
			if strings.Contains(line, k) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

func (l *lab) write(rel, content string) {
	l.t.Helper()
	if err := os.WriteFile(filepath.Join(l.root, rel), []byte(content), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// A channel change: the install steps no longer refresh; the backup on the first master comes
// first, then each node on its own: cordon, drain (nodes that run workloads), refresh, Ready with
// the new version, uncordon; masters before workers.
func TestScriptsRollingUpgrade(t *testing.T) {
	l := newLab(t, labPlan())
	admin := l.build()
	r := l.rerender("1.32/stable")
	if got := fmt.Sprint(r.RollOrder); got != "[[m1] [m2] [m3] [w1] [w2]]" {
		t.Fatalf("roll order %s", got)
	}
	before := len(l.log())
	for _, n := range r.Plan.Nodes {
		out := l.mustRun(n.Name, r.Install[n.Name].Body, "")
		noChange(t, n.Name+" install with the new channel", out)
		contains(t, n.Name+" install", out, "unchanged: microk8s tracks 1.31/stable; its upgrade step moves it to 1.32/stable")
	}
	if len(l.log()) != before {
		t.Fatalf("the install steps changed something on a channel change: %q", l.log()[before:])
	}
	out := l.mustRun("m1", r.Backup.Body, "")
	contains(t, "backup", out, "changed: datastore backup before the upgrade from 1.31/stable to 1.32/stable: "+r.BackupFile, "backup: "+r.BackupFile)
	if got := BackupFromOutput(out); got != r.BackupFile {
		t.Errorf("BackupFromOutput = %q, want %q", got, r.BackupFile)
	}
	if !l.exists("hosts/m1/common/pm4ml-backups/dqlite-before-1.32-stable.tar.gz") {
		t.Error("no backup file on m1")
	}
	for _, batch := range r.RollOrder {
		for _, n := range batch {
			out := l.mustRun(n, r.Upgrade[n].Body, l.upgradeStdin(n, admin))
			contains(t, n+" upgrade", out, "changed: "+n+" cordoned", "changed: microk8s refreshed from 1.31/stable to 1.32/stable on "+n,
				n+" runs 1.32/stable (v1.32.9), Ready", "changed: "+n+" uncordoned")
			if drained := strings.Contains(out, "changed: "+n+" drained"); drained != strings.HasPrefix(n, "w") {
				t.Errorf("%s drained %v: only the nodes that run workloads (not the tainted masters) are drained\n%s", n, drained, out)
			}
		}
	}
	got := l.logged("dbctl", "snap refresh microk8s", "kubectl cordon", "kubectl uncordon", "kubectl drain")
	var want []string
	want = append(want, "m1 microk8s dbctl backup -o "+r.BackupFile)
	for _, n := range []string{"m1", "m2", "m3", "w1", "w2"} {
		// each node's step runs on the node (a worker's kubectl with the admin kubeconfig)
		want = append(want, n+" kubectl cordon "+n)
		if strings.HasPrefix(n, "w") {
			want = append(want, n+" kubectl drain "+n+" --ignore-daemonsets --delete-emptydir-data --timeout=300s")
		}
		want = append(want, n+" snap refresh microk8s --channel=1.32/stable", n+" kubectl uncordon "+n)
	}
	if !slices.Equal(got, want) {
		t.Errorf("rolling order\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Again: nothing to do anywhere; the backup step reports the backup it took.
	before = len(l.log())
	out = l.mustRun("m1", r.Backup.Body, "")
	noChange(t, "backup again", out)
	contains(t, "backup again", out, "backup: "+r.BackupFile)
	for _, n := range r.Plan.Nodes {
		noChange(t, n.Name+" upgrade again", l.mustRun(n.Name, r.Upgrade[n.Name].Body, l.upgradeStdin(n.Name, admin)))
	}
	if len(l.log()) != before {
		t.Errorf("the second pass changed something: %q", l.log()[before:])
	}
}

// A downgrade and a skipped minor version are refused by the backup step, before any node is
// touched (and by each node's own step).
func TestScriptsUpgradeGate(t *testing.T) {
	l := newLab(t, labPlan())
	admin := l.build()
	before := len(l.log())
	for ch, want := range map[string]string{
		"1.30/stable": "refusing to move m1 from 1.31/stable to 1.30/stable: a downgrade",
		"1.33/stable": "refusing to move m1 from 1.31/stable to 1.33/stable: that skips a minor version (one at a time) -- set pm4ml:microk8s.channel to 1.32/stable first",
		"2.0/stable":  "refusing to move m1 from 1.31/stable to 2.0/stable",
	} {
		r := l.rerender(ch)
		out, failed := l.roll(r, admin)
		if failed != "backup" {
			t.Errorf("%s: the backup step must refuse (failed at %q)\n%s", ch, failed, out)
		}
		contains(t, ch, out, want)
		out, err := l.run("w2", r.Upgrade["w2"].Body, l.upgradeStdin("w2", admin))
		if err == nil || !strings.Contains(out, "refusing to move w2 from 1.31/stable to "+ch) {
			t.Errorf("%s: w2's own step must refuse too: %v\n%s", ch, err, out)
		}
	}
	if len(l.log()) != before {
		t.Errorf("a refused upgrade changed something: %q", l.log()[before:])
	}
	// Another risk of the same minor version is no jump.
	r := l.rerender("1.31/candidate")
	if out, failed := l.roll(r, admin); failed != "" {
		t.Errorf("1.31/stable -> 1.31/candidate refused at %s:\n%s", failed, out)
	}
}

// The first failure stops the rollout: the failing node is named with the stage and the reason,
// uncordoned when Ready (left cordoned when not), the later nodes untouched; a rerun continues.
func TestScriptsUpgradeStopsAtTheFirstFailure(t *testing.T) {
	l := newLab(t, labPlan())
	admin := l.build()
	r := l.rerender("1.32/stable")
	l.write("fail-refresh-m2", "- Download snap \"microk8s\" (8205) from channel \"1.32/stable\" (connection refused)\n")
	out, failed := l.roll(r, admin)
	if failed != "m2" {
		t.Fatalf("failed at %q, want m2:\n%s", failed, out)
	}
	contains(t, "m2 failure", out, "m2: upgrade to 1.32/stable stopped at stage refresh: snap refresh microk8s --channel=1.32/stable:",
		"(connection refused)", "m2 is Ready: uncordoned after the failure")
	if l.exists("clusters/m1/nodes/m2/unschedulable") {
		t.Error("m2 is Ready but was left cordoned")
	}
	for _, n := range []string{"m3", "w1", "w2"} {
		if got := strings.TrimSpace(l.read("hosts/" + n + "/channel")); got != "1.31/stable" {
			t.Errorf("%s tracks %s: the nodes after the failure must stay untouched", n, got)
		}
		if len(l.logged("cordon "+n)) != 0 {
			t.Errorf("%s was cordoned after the failure", n)
		}
	}
	// A refresh that leaves the node NotReady: stopped waiting, left cordoned.
	if err := os.Remove(filepath.Join(l.root, "fail-refresh-m2")); err != nil {
		t.Fatal(err)
	}
	l.write("notready-after-refresh-m2", "")
	readyTimeout = 6 // the wait for Ready runs out
	short := l.rerender("1.32/stable")
	readyTimeout = ReadyTimeout
	out, err := l.run("m2", short.Upgrade["m2"].Body, "")
	if err == nil {
		t.Fatalf("m2 NotReady after its refresh must fail:\n%s", out)
	}
	if !l.exists("clusters/m1/nodes/m2/unschedulable") || !strings.Contains(out, "m2 is not Ready: left cordoned") {
		t.Errorf("a NotReady m2 must stay cordoned:\n%s", out)
	}
	// Fixed (the node Ready again): the rerun of the rollout continues at m2 and finishes.
	if err := os.Remove(filepath.Join(l.root, "notready-after-refresh-m2")); err != nil {
		t.Fatal(err)
	}
	l.write("clusters/m1/nodes/m2/ready", "True\n")
	before := len(l.log())
	if out, failed := l.roll(r, admin); failed != "" {
		t.Fatalf("the rerun failed at %s:\n%s", failed, out)
	}
	for _, line := range l.log()[before:] {
		if strings.HasPrefix(line, "m1 snap refresh") || strings.HasPrefix(line, "m1 microk8s dbctl") {
			t.Errorf("the rerun redid m1: %s", line)
		}
	}
	for _, n := range r.Plan.Nodes {
		if got := strings.TrimSpace(l.read("hosts/" + n.Name + "/channel")); got != "1.32/stable" {
			t.Errorf("%s tracks %s after the rerun", n.Name, got)
		}
		if l.exists("clusters/m1/nodes/" + n.Name + "/unschedulable") {
			t.Errorf("%s left cordoned", n.Name)
		}
	}
}

func TestScriptsRemoveNodes(t *testing.T) {
	l := newLab(t, labPlan())
	admin := l.build()
	w2tok, m3tok := JoinToken(labSecret, "w2"), JoinToken(labSecret, "m3")

	// A worker: its drain step's delete drains it from the first master, its join's delete
	// leaves; then its token step's delete removes it on the first master.
	out := l.mustRun("m1", l.r.Drain["w2"].DeleteBody, "")
	contains(t, "w2 drain", out, "changed: w2 drained")
	out = l.mustRun("w2", l.r.Join["w2"].DeleteBody, w2tok+"\n"+admin)
	contains(t, "w2 leave", out, "changed: w2 left the cluster of m1")
	out = l.mustRun("m1", l.r.Token["w2"].DeleteBody, w2tok+"\n")
	contains(t, "w2 remove", out, "changed: w2 removed from the cluster")
	// A master: drained from the master it joined through (as a worker: its own API may not
	// answer any more), leaves, removed.
	contains(t, "m3 drain", l.mustRun("m1", l.r.Drain["m3"].DeleteBody, ""), "changed: m3 drained")
	out = l.mustRun("m3", l.r.Join["m3"].DeleteBody, m3tok+"\n")
	contains(t, "m3 leave", out, "changed: m3 left the cluster of m1")
	l.mustRun("m1", l.r.Token["m3"].DeleteBody, m3tok+"\n")
	if got := l.clusterNodes("m1"); !slices.Equal(got, []string{"m1", "m2", "w1"}) {
		t.Errorf("after removing w2 and m3 the cluster has %v", got)
	}
	var order []string
	for _, line := range l.log() {
		for _, k := range []string{"kubectl drain", "microk8s leave", "microk8s remove-node"} {
			if strings.Contains(line, k) {
				order = append(order, line)
			}
		}
	}
	want := []string{
		"m1 kubectl drain w2 --ignore-daemonsets --delete-emptydir-data --timeout=600s", "w2 microk8s leave", "m1 microk8s remove-node w2 --force",
		"m1 kubectl drain m3 --ignore-daemonsets --delete-emptydir-data --timeout=600s", "m3 microk8s leave", "m1 microk8s remove-node m3 --force",
	}
	if !slices.Equal(order, want) {
		t.Errorf("removal order %q, want %q", order, want)
	}
	// Deleting again (a retried pulumi up) changes nothing.
	noChange(t, "w2 drain again", l.mustRun("m1", l.r.Drain["w2"].DeleteBody, ""))
	noChange(t, "w2 leave again", l.mustRun("w2", l.r.Join["w2"].DeleteBody, w2tok+"\n"+admin))
	noChange(t, "w2 remove again", l.mustRun("m1", l.r.Token["w2"].DeleteBody, w2tok+"\n"))
	noChange(t, "m3 leave again", l.mustRun("m3", l.r.Join["m3"].DeleteBody, m3tok+"\n"))

	// A drain that fails (a PodDisruptionBudget) stops the removal: w1 stays in the cluster.
	if err := os.WriteFile(filepath.Join(l.root, "block-drain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := l.run("m1", l.r.Drain["w1"].DeleteBody, "")
	if err == nil {
		t.Fatalf("a blocked drain must fail the delete:\n%s", out)
	}
	contains(t, "blocked drain", out, "draining w1 failed", "disruption budget")
	if !l.exists("hosts/w1/snapdata/var/lock/clustered.lock") {
		t.Error("w1 left the cluster although its drain failed")
	}
}

func TestScriptsRefuseAWrongJoinMode(t *testing.T) {
	l := newLab(t, labPlan())
	admin := l.build()
	// w1 joined as a worker, now configured as a master: refuse and say how to fix it.
	p := labPlan()
	p.Nodes[3].Roles = hosts.NewRoles(hosts.RoleMaster)
	r, err := render(p, l.paths())
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.run("w1", r.Join["w1"].Body, JoinToken(labSecret, "w1")+"\n")
	if err == nil {
		t.Fatalf("a worker configured as a master must be refused:\n%s", out)
	}
	contains(t, "wrong mode", out, "w1 is a worker-only node (joined with --worker) but configured as a master", "remove it from pm4ml:hosts")
	// m2 joined as a control-plane node, now configured as a worker only.
	p = labPlan()
	p.Nodes[1].Roles = hosts.NewRoles(hosts.RoleWorker)
	r, err = render(p, l.paths())
	if err != nil {
		t.Fatal(err)
	}
	out, err = l.run("m2", r.Join["m2"].Body, JoinToken(labSecret, "m2")+"\n"+admin)
	if err == nil {
		t.Fatalf("a control-plane node configured as a worker must be refused:\n%s", out)
	}
	contains(t, "wrong mode", out, "m2 is a control-plane node of the cluster but configured as a worker only")
}

// MicroK8s' `status --wait-ready` exits 0 when its timeout passes and says "not running": the
// install step must fail on that text, not go on.
func TestScriptsRefuseAMicroK8sThatIsNotRunning(t *testing.T) {
	l := newLab(t, labPlan())
	l.mustRun("m1", l.r.Install["m1"].Body, "")
	if err := os.WriteFile(filepath.Join(l.root, "hosts", "m1", "not-running"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := l.run("m1", l.r.Install["m1"].Body, "")
	if err == nil {
		t.Fatalf("install must fail when MicroK8s is not running:\n%s", out)
	}
	contains(t, "not running", out, "MicroK8s on m1 is not ready after")
}

func TestScriptsNeedTheirStdin(t *testing.T) {
	l := newLab(t, labPlan())
	for _, n := range []string{"m1", "w1"} {
		l.mustRun(n, l.r.Install[n].Body, "")
	}
	for _, tc := range []struct{ host, body, stdin, want string }{
		{"m1", l.r.Token["w1"].Body, "", "no join token on stdin"},
		{"m1", l.r.Token["w1"].Body, "not-a-token\n", "no join token on stdin"},
		{"w1", l.r.Join["w1"].Body, JoinToken(labSecret, "w1") + "\n", "no cluster kubeconfig on stdin after the join token"},
	} {
		out, err := l.run(tc.host, tc.body, tc.stdin)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("stdin %q: err %v, output %q, want %q", tc.stdin, err, out, tc.want)
		}
	}
}

// without renders the lab plan without the named nodes, against the same lab.
func (l *lab) without(names ...string) Rendered {
	l.t.Helper()
	p := labPlan()
	p.Nodes = slices.DeleteFunc(p.Nodes, func(n Node) bool { return slices.Contains(names, n.Name) })
	r, err := render(p, l.paths())
	if err != nil {
		l.t.Fatal(err)
	}
	return r
}

// rerun runs every membership, kubeconfig and finalize step of r as a `pulumi up` re-runs them
// when their scripts or the host they run on changed, and wants each to change nothing.
func (l *lab) rerun(r Rendered, what string) {
	t := l.t
	t.Helper()
	first := r.FirstMaster.Name
	kc := l.mustRun(first, r.Kubeconfig[first].Body, "")
	admin, err := KubeconfigFromOutput(kc, r.APIServer)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.JoinOrder {
		tok := JoinToken(labSecret, n)
		noChange(t, what+": "+n+" token on "+r.Via[n], l.mustRun(r.Via[n], r.Token[n].Body, tok+"\n"))
		stdin := tok + "\n"
		if !slices.Contains(r.Masters(), n) {
			stdin += admin
		}
		noChange(t, what+": "+n+" join through "+r.Via[n], l.mustRun(n, r.Join[n].Body, stdin))
		noChange(t, what+": "+n+" drain step on "+r.Via[n], l.mustRun(r.Via[n], r.Drain[n].Body, ""))
	}
	noChange(t, what+": finalize on "+first, l.mustRun(first, r.Finalize.Body, ""))
}

// The first master leaves the configuration (issue 13: masters come and go, the first one too).
// As `pulumi up` orders it: the remaining steps first, now on m2 and through the next master
// (each finds nothing to do: no node re-joins, nothing is rebuilt), then the deletes of m1's
// steps: its join's delete on m1 (drain, leave), its token step's delete on m2 (remove-node).
func TestScriptsFirstMasterLeaves(t *testing.T) {
	l := newLab(t, labPlan())
	l.build()
	r := l.without("m1")
	if r.FirstMaster.Name != "m2" || r.Via["m2"] != "m3" || r.Via["w1"] != "m2" {
		t.Fatalf("without m1: first master %s, via %v", r.FirstMaster.Name, r.Via)
	}
	before := len(l.log())
	l.rerun(r, "m1 removed, before its deletes")
	if got := l.log()[before:]; len(got) != 0 {
		t.Errorf("the remaining steps changed something: %q", got)
	}

	m1tok := JoinToken(labSecret, "m1")
	contains(t, "m1 drained on m2", l.mustRun(l.r.Via["m1"], l.r.Drain["m1"].DeleteBody, ""), "changed: m1 drained")
	out := l.mustRun("m1", l.r.Join["m1"].DeleteBody, m1tok+"\n")
	contains(t, "m1 leaves", out, "changed: m1 left the cluster of m2")
	out = l.mustRun(l.r.Via["m1"], l.r.Token["m1"].DeleteBody, m1tok+"\n")
	contains(t, "m1 removed on m2", out, "changed: m1 removed from the cluster")
	cluster := strings.TrimSpace(l.read("hosts/m2/cluster"))
	if got := l.clusterNodes(cluster); !slices.Equal(got, []string{"m2", "m3", "w1", "w2"}) {
		t.Errorf("after m1 left, the cluster of m2 has %v", got)
	}
	if own := strings.TrimSpace(l.read("hosts/m1/cluster")); own == cluster {
		t.Errorf("m1 is still in the cluster %s", cluster)
	}
	if l.exists("hosts/m1/common/pm4ml-cluster-member") {
		t.Error("m1 left but still carries the member marker")
	}
	want := []string{"m2 microk8s join 10.0.0.1 <token> control-plane", "m3 microk8s join 10.0.0.1 <token> control-plane", // day 1
		"w1 microk8s join 10.0.0.1 <token> --worker", "w2 microk8s join 10.0.0.1 <token> --worker",
		"m2 kubectl drain m1 --ignore-daemonsets --delete-emptydir-data --timeout=600s", "m1 microk8s leave", "m2 microk8s remove-node m1 --force"}
	if got := l.logged("kubectl drain", "microk8s leave", "microk8s remove-node", "microk8s join"); !slices.Equal(got, want) {
		t.Errorf("removal %q, want %q", got, want)
	}
	// Later runs use m2: every step again, nothing changes.
	before = len(l.log())
	l.rerun(r, "after m1 left")
	if got := l.log()[before:]; len(got) != 0 {
		t.Errorf("a later run changed something: %q", got)
	}

	// A second master removed in the same update would have its removal run on m1, which left:
	// m1 cannot tell whether m2 is still listed, so it refuses instead of reporting nothing to do.
	out, err := l.run("m1", l.r.Token["m2"].DeleteBody, JoinToken(labSecret, "m2")+"\n")
	if err == nil {
		t.Fatalf("a removal from a master that left must fail:\n%s", out)
	}
	contains(t, "removal from a departed master", out, "m1 is not a member of the cluster any more", "remove one master per pulumi up")

	// Then m2, the new first master, leaves too: m3 stays the only master. Its membership steps
	// stay (now through itself): they change nothing, and their deletes never ran.
	r3 := l.without("m1", "m2")
	if r3.Via["m3"] != "m3" {
		t.Fatalf("the only master joins through %s", r3.Via["m3"])
	}
	l.rerun(r3, "m2 removed, before its deletes")
	seen := len(l.logged("microk8s leave", "microk8s remove-node", "microk8s join"))
	m2tok := JoinToken(labSecret, "m2")
	contains(t, "m2 drained on m3", l.mustRun(r.Via["m2"], r.Drain["m2"].DeleteBody, ""), "changed: m2 drained")
	contains(t, "m2 leaves", l.mustRun("m2", r.Join["m2"].DeleteBody, m2tok+"\n"), "changed: m2 left the cluster of m3")
	contains(t, "m2 removed on m3", l.mustRun(r.Via["m2"], r.Token["m2"].DeleteBody, m2tok+"\n"), "changed: m2 removed from the cluster")
	if got := l.clusterNodes(cluster); !slices.Equal(got, []string{"m3", "w1", "w2"}) {
		t.Errorf("after m2 left, the cluster has %v", got)
	}
	if got := l.logged("microk8s leave", "microk8s remove-node", "microk8s join")[seen:]; !slices.Equal(got, []string{"m2 microk8s leave", "m3 microk8s remove-node m2 --force"}) {
		t.Errorf("m2's removal: %q", got)
	}
	l.rerun(r3, "m3 alone")
	// The only master's own removal step has nowhere to remove it from, and says so.
	contains(t, "only master", l.mustRun("m3", r3.Token["m3"].DeleteBody, JoinToken(labSecret, "m3")+"\n"), "m3 is the only master")
	if got := l.clusterNodes(cluster); !slices.Equal(got, []string{"m3", "w1", "w2"}) {
		t.Errorf("the only master's removal step changed the cluster: %v", got)
	}
}

// A new master listed before the cluster's existing ones: the existing masters would join it
// (a join replaces the joining node's datastore). The first existing master refuses before any
// join and names the fix; the cluster is untouched.
func TestScriptsRefuseJoiningAnEstablishedMaster(t *testing.T) {
	l := newLab(t, labPlan())
	l.build()
	for _, d := range []string{"hosts/m0/snapdata/var/lock", "hosts/m0/common"} {
		if err := os.MkdirAll(filepath.Join(l.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.root, "addr", "10.0.0.9"), []byte("m0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := labPlan()
	p.Nodes = append([]Node{{"m0", "10.0.0.9", hosts.NewRoles(hosts.RoleMaster)}}, p.Nodes...)
	r, err := render(p, l.paths())
	if err != nil {
		t.Fatal(err)
	}
	l.mustRun("m0", r.Install["m0"].Body, "")
	n := r.JoinOrder[0] // m1, through m0
	tok := JoinToken(labSecret, n)
	l.mustRun(r.Via[n], r.Token[n].Body, tok+"\n")
	out, err := l.run(n, r.Join[n].Body, tok+"\n")
	if err == nil {
		t.Fatalf("%s joined the new master %s:\n%s", n, r.Via[n], out)
	}
	contains(t, "established master", out, n+" already belongs to a cluster that does not list m0",
		"A new master goes after the cluster's existing masters in pm4ml:hosts")
	if got := l.logged("microk8s join", "microk8s leave"); len(got) != 4 { // the day-1 joins only
		t.Errorf("joins after the refusal: %q", got)
	}
	if got := l.clusterNodes("m1"); !slices.Equal(got, []string{"m1", "m2", "m3", "w1", "w2"}) {
		t.Errorf("the cluster changed: %v", got)
	}
}
