package microceph

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// The rendered scripts run here against the test double of CONTRACT.md (testdata/fakebin: snap,
// microceph, microceph.ceph, microceph.rbd, plus hostname, lsblk and sleep): state shared by all
// "hosts" lives in a temporary directory, FAKE_HOST says which host a script runs on.

const devPrefix = "/dev/pm4ml-test/"

type double struct {
	t      *testing.T
	state  string
	bin    string
	devdir string
}

func newDouble(t *testing.T) *double {
	t.Helper()
	bin, err := filepath.Abs("testdata/fakebin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is needed by the scripts and the double: install it (scripts/tools.sh --deb)")
	}
	return &double{t: t, state: t.TempDir(), bin: bin, devdir: t.TempDir()}
}

// disk makes a block-device stand-in for a configured disk path under devPrefix.
func (d *double) disk(path string) {
	d.t.Helper()
	p := filepath.Join(d.devdir, strings.TrimPrefix(path, devPrefix))
	if err := syscall.Mknod(p, syscall.S_IFBLK|0o600, int(7<<8|200+len(path))); err != nil {
		d.t.Skipf("cannot create a block-device stand-in (needs CAP_MKNOD): %v", err)
	}
}

// run runs a script body on a host as pulumi-command would (bash -c <body> <step> <client>).
func (d *double) run(host, body, stdin string) (string, error) {
	d.t.Helper()
	return d.runArgs(host, strings.ReplaceAll(body, devPrefix, d.devdir+"/"), stdin)
}

// runArgs runs with more arguments after the client address (e.g. "check").
func (d *double) runArgs(host, body, stdin string, args ...string) (string, error) {
	d.t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", body, "step", ""}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+d.bin+":"+os.Getenv("PATH"), "FAKE_STATE="+d.state, "FAKE_HOST="+host)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%v: %s%s", err, errb.String(), out.String())
	}
	return out.String(), err
}

func (d *double) must(host, body, stdin string) string {
	d.t.Helper()
	out, err := d.run(host, body, stdin)
	if err != nil {
		d.t.Fatalf("on %s: %v", host, err)
	}
	return out
}

func (d *double) calls(substr string) int {
	b, _ := os.ReadFile(filepath.Join(d.state, "calls.log"))
	return strings.Count(string(b), substr)
}

// lastLine is the change summary the library prints last.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

func doublePlan(size int, names ...string) Plan {
	p := Plan{Channel: "squid/stable", Pool: "rbd-pm4ml", ReplicationSize: size}
	for i, n := range names {
		p.Nodes = append(p.Nodes, Node{Name: n, Address: fmt.Sprintf("10.0.0.%d", i+1), Disks: []string{devPrefix + n + "-sdb", devPrefix + n + "-sdc"}})
	}
	return p
}

// deployAll runs every create step in the component's order and returns each step's stdout.
func deployAll(d *double, r Rendered) map[string]string {
	d.t.Helper()
	out := map[string]string{}
	boot := r.Bootstrap.Name
	for _, n := range r.Nodes {
		out[n.Node.Name+"-install"] = d.must(n.Node.Name, n.Install.Body, "")
	}
	for _, n := range r.Nodes {
		stdin := ""
		if n.Add != nil {
			stdin = d.must(boot, n.Add.Body, "")
			out[n.Node.Name+"-add"] = stdin
		}
		out[n.Node.Name+"-member"] = d.must(n.Node.Name, n.Member.Body, stdin)
	}
	for _, n := range r.Nodes {
		out[n.Node.Name+"-disks"] = d.must(n.Node.Name, n.Disks.Body, "")
	}
	out["pool"] = d.must(boot, r.Pool.Body, "")
	out["export"] = d.must(boot, r.Export.Body, "")
	return out
}

func renderFor(t *testing.T, d *double, p Plan) Rendered {
	t.Helper()
	r, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Nodes {
		for _, disk := range n.Disks {
			d.disk(disk)
		}
	}
	return r
}

func TestDoubleThreeHostsIdempotent(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(3, "s1", "s2", "s3"))

	first := deployAll(d, r)
	for step, out := range first {
		if step == "export" {
			continue
		}
		if !strings.HasSuffix(lastLine(out), "change(s)") {
			t.Errorf("first run of %s: %q, want changes", step, lastLine(out))
		}
	}
	for _, h := range []string{"s2", "s3"} {
		if !strings.Contains(first[h+"-add"], "PM4ML_JOIN_TOKEN=") {
			t.Errorf("%s-add issued no token", h)
		}
	}

	second := deployAll(d, r)
	for step, out := range second {
		if !strings.HasSuffix(lastLine(out), ": no change") {
			t.Errorf("second run of %s: %q, want no change", step, lastLine(out))
		}
		if strings.Contains(out, "PM4ML_JOIN_TOKEN=") {
			t.Errorf("second run of %s issued a token", step)
		}
	}
	for call, want := range map[string]int{
		"snap install microceph": 3, "snap refresh --hold": 3, "microceph cluster bootstrap": 1,
		"microceph cluster add": 2, "microceph cluster join": 2, "microceph disk add": 6,
		"microceph.ceph osd pool create": 1, "microceph.rbd pool init": 1,
	} {
		if got := d.calls(call); got != want {
			t.Errorf("%q ran %d time(s), want %d", call, got, want)
		}
	}
	conf, key, err := ParseExport(second["export"])
	if err != nil {
		t.Fatal(err)
	}
	if got := Monitors(conf); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
		t.Errorf("monitors %v", got)
	}
	if !strings.Contains(key, "[client.admin]") {
		t.Errorf("keyring %q", key)
	}
	if !strings.Contains(first["pool"], "pool rbd-pm4ml size 3") || !strings.Contains(first["pool"], "min_size 2") {
		t.Errorf("pool: %s", first["pool"])
	}
}

func TestDoubleSingleHostPoolSizeOne(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(1, "stg-ceph"))
	first := deployAll(d, r)
	if !strings.Contains(first["pool"], "changed: mon_allow_pool_size_one true") || !strings.Contains(first["pool"], "size 1 (was 3)") {
		t.Errorf("pool: %s", first["pool"])
	}
	second := deployAll(d, r)
	for step, out := range second {
		if !strings.HasSuffix(lastLine(out), ": no change") {
			t.Errorf("second run of %s: %q", step, lastLine(out))
		}
	}
	// the last member keeps its data on delete (pulumi destroy)
	n := r.Nodes[0]
	if out := d.must("stg-ceph", n.Disks.DeleteBody, ""); !strings.Contains(out, "only member: its OSDs and data are left in place") {
		t.Errorf("disks delete on the only member: %s", out)
	}
	if out := d.must("stg-ceph", n.Member.DeleteBody, ""); !strings.Contains(out, "last member") {
		t.Errorf("leave of the last member: %s", out)
	}
	if d.calls("disk remove") != 0 || d.calls("cluster remove") != 0 {
		t.Error("the only member removed its OSDs or itself")
	}
}

func TestDoublePendingTokenIsReplaced(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(2, "s1", "s2"))
	for _, n := range r.Nodes {
		d.must(n.Node.Name, n.Install.Body, "")
	}
	d.must("s1", r.Nodes[0].Member.Body, "")
	stale := d.must("s1", r.Nodes[1].Add.Body, "") // the run stopped before the join
	fresh := d.must("s1", r.Nodes[1].Add.Body, "")
	if stale == fresh || !strings.Contains(fresh, "PM4ML_JOIN_TOKEN=") {
		t.Fatalf("no fresh token: %q", fresh)
	}
	if d.calls("cluster sql DELETE FROM core_token_records WHERE name = 's2'") != 1 {
		t.Error("the pending token was not revoked")
	}
	if _, err := d.run("s2", r.Nodes[1].Member.Body, stale); err == nil {
		t.Error("the revoked token still joins")
	}
	if out := d.must("s2", r.Nodes[1].Member.Body, fresh); !strings.Contains(out, "changed: s2 joined the cluster of s1") {
		t.Errorf("join: %s", out)
	}
}

func TestDoubleJoinWithoutTokenFails(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(2, "s1", "s2"))
	for _, n := range r.Nodes {
		d.must(n.Node.Name, n.Install.Body, "")
	}
	d.must("s1", r.Nodes[0].Member.Body, "")
	_, err := d.run("s2", r.Nodes[1].Member.Body, "unchanged: s2 is already a member: no token issued\n")
	if err == nil || !strings.Contains(err.Error(), "no join token came on stdin") {
		t.Fatalf("err = %v", err)
	}
}

func TestDoubleHostnameMismatchFails(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(1, "s1"))
	d.must("s1", r.Nodes[0].Install.Body, "")
	d.must("other", r.Nodes[0].Install.Body, "")
	_, err := d.run("other", r.Nodes[0].Member.Body, "")
	if err == nil || !strings.Contains(err.Error(), "the host name is other, expected s1") {
		t.Fatalf("err = %v", err)
	}
}

func TestDoubleNewFirstHostIsRefused(t *testing.T) {
	d := newDouble(t)
	old := renderFor(t, d, doublePlan(2, "s1", "s2"))
	deployAll(d, old)
	// s0 is inserted before s1: it bootstraps a cluster of its own, and s1's join must refuse
	// rather than leave two clusters side by side silently.
	p := doublePlan(2, "s0", "s1", "s2")
	r := renderFor(t, d, Plan{Nodes: p.Nodes[:1], Channel: p.Channel, Pool: p.Pool, ReplicationSize: 1})
	d.must("s0", r.Nodes[0].Install.Body, "")
	d.must("s0", r.Nodes[0].Member.Body, "")
	r2, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.run("s1", r2.Nodes[1].Member.Body, "")
	if err == nil || !strings.Contains(err.Error(), "keep the existing first storage host first") {
		t.Fatalf("err = %v", err)
	}
}

func TestDoubleRemovingAHost(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(2, "s1", "s2", "s3"))
	deployAll(d, r)
	s3 := r.Nodes[2]
	// Pulumi deletes the disks step first (it depends on the member step), then the member.
	if out := d.must("s3", s3.Disks.DeleteBody, ""); strings.Count(out, "changed: osd.") != 2 {
		t.Errorf("disks delete: %s", out)
	}
	if out := d.must("s3", s3.Member.DeleteBody, ""); !strings.Contains(out, "changed: s3 removed from the MicroCeph cluster") {
		t.Errorf("leave: %s", out)
	}
	list := d.must("s1", "microceph cluster list", "")
	if strings.Contains(list, "s3") || !strings.Contains(list, "s1") || !strings.Contains(list, "s2") {
		t.Errorf("members after s3 left:\n%s", list)
	}
	disks := d.must("s1", "microceph disk list --json", "")
	if strings.Contains(disks, `"location":"s3"`) || strings.Count(disks, `"osd"`) != 4 {
		t.Errorf("OSDs after s3 left: %s", disks)
	}
	// running the delete scripts again changes nothing
	for _, body := range []string{s3.Disks.DeleteBody, s3.Member.DeleteBody} {
		if out := d.must("s3", body, ""); !strings.HasSuffix(lastLine(out), ": no change") {
			t.Errorf("second delete: %s", out)
		}
	}
	// the remaining hosts' steps are no-ops
	for _, n := range r.Nodes[:2] {
		for _, s := range []remotecmd.Script{n.Install, n.Member, n.Disks} {
			if out := d.must(n.Node.Name, s.Body, ""); !strings.HasSuffix(lastLine(out), ": no change") {
				t.Errorf("%s %s after s3 left: %s", n.Node.Name, s.Step, lastLine(out))
			}
		}
	}
}

func TestDoubleMountedDiskIsNotWiped(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(1, "s1"))
	if err := os.MkdirAll(filepath.Join(d.state, "mounts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.state, "mounts", "s1-sdc"), []byte("/srv/data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.must("s1", r.Nodes[0].Install.Body, "")
	d.must("s1", r.Nodes[0].Member.Body, "")
	_, err := d.run("s1", r.Nodes[0].Disks.Body, "")
	if err == nil || !strings.Contains(err.Error(), "is mounted: refusing to wipe it") {
		t.Fatalf("err = %v", err)
	}
	if d.calls("disk add "+d.devdir+"/s1-sdc") != 0 {
		t.Error("the mounted disk was added")
	}
}

func TestDoubleChannelChangeRefreshes(t *testing.T) {
	d := newDouble(t)
	r := renderFor(t, d, doublePlan(1, "s1"))
	deployAll(d, r)
	p := doublePlan(1, "s1")
	p.Channel = "tentacle/stable"
	r2, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	out := d.must("s1", r2.Nodes[0].Install.Body, "")
	if !strings.Contains(out, "changed: microceph snap refreshed to tentacle/stable") || d.calls("snap refresh microceph --channel=tentacle/stable") != 1 {
		t.Errorf("install after a channel change: %s", out)
	}
	if out := d.must("s1", r2.Nodes[0].Install.Body, ""); !strings.HasSuffix(lastLine(out), ": no change") {
		t.Errorf("second install: %s", out)
	}
}

// fault makes the double fail as named (FAKE_STATE/faults/NAME holds the reason).
func (d *double) fault(name, reason string) {
	d.t.Helper()
	dir := filepath.Join(d.state, "faults")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(reason), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

func (d *double) clearFault(name string) {
	d.t.Helper()
	if err := os.Remove(filepath.Join(d.state, "faults", name)); err != nil {
		d.t.Fatal(err)
	}
}

// cephCalls are the calls of the rolling upgrade in calls.log, in order, as "HOST CALL".
func (d *double) cephCalls() []string {
	b, _ := os.ReadFile(filepath.Join(d.state, "calls.log"))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, c := range []string{"microceph.ceph osd set noout", "microceph.ceph osd unset noout", "snap refresh microceph --channel="} {
			if strings.Contains(l, c) {
				out = append(out, strings.Fields(l)[0]+" "+c)
			}
		}
	}
	return out
}

func (d *double) noout() bool {
	m, _ := filepath.Glob(filepath.Join(d.state, "clusters", "*", "noout"))
	return len(m) > 0
}

// A channel change of a running cluster is a rolling upgrade: host by host (the install steps
// run in series), each only from HEALTH_OK, with noout set around its refresh and unset before
// the next host starts; an unhealthy cluster refuses to start, a failed refresh stops with noout
// unset and a rerun continues.
func TestDoubleRollingCephUpgrade(t *testing.T) {
	d := newDouble(t)
	hosts := []string{"s1", "s2", "s3"}
	r := renderFor(t, d, doublePlan(3, hosts...))
	deployAll(d, r)
	p := doublePlan(3, hosts...)
	p.Channel = "tentacle/stable"
	r2, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	install := func(i int) (string, error) { return d.run(hosts[i], r2.Nodes[i].Install.Body, "") }

	// an unhealthy cluster: the first host's step refuses and touches nothing
	d.fault("unhealthy", "1 osds down")
	out, err := install(0)
	if err == nil || !strings.Contains(err.Error(), "not HEALTH_OK (HEALTH_WARN 1 osds down)") {
		t.Fatalf("upgrade of an unhealthy cluster: %v %s", err, out)
	}
	if c := d.cephCalls(); len(c) != 0 || d.noout() {
		t.Fatalf("the refused upgrade ran %v (noout %v)", c, d.noout())
	}
	d.clearFault("unhealthy")

	// s1 upgrades; the refresh of s2 fails: noout is unset again, s3 (after it) is not reached
	if out, err := install(0); err != nil || !strings.Contains(out, "noout unset") {
		t.Fatalf("s1: %v %s", err, out)
	}
	d.fault("refresh-s2", "download failed")
	if _, err := install(1); err == nil || !strings.Contains(err.Error(), "download failed") {
		t.Fatalf("s2 with a failing refresh: %v", err)
	}
	if d.noout() {
		t.Error("noout stays set after the failed refresh of s2")
	}
	// the rerun (pulumi up again): s1 has nothing to do, s2 and s3 upgrade in turn
	d.clearFault("refresh-s2")
	if out, err := install(0); err != nil || !strings.HasSuffix(lastLine(out), ": no change") {
		t.Fatalf("s1 rerun: %v %s", err, out)
	}
	for i := 1; i < 3; i++ {
		if out, err := install(i); err != nil || !strings.Contains(out, "changed: microceph snap refreshed to tentacle/stable") {
			t.Fatalf("%s: %v %s", hosts[i], err, out)
		}
	}
	want := []string{
		"s1 microceph.ceph osd set noout", "s1 snap refresh microceph --channel=", "s1 microceph.ceph osd unset noout",
		"s2 microceph.ceph osd set noout", "s2 snap refresh microceph --channel=", "s2 microceph.ceph osd unset noout",
		"s2 microceph.ceph osd set noout", "s2 snap refresh microceph --channel=", "s2 microceph.ceph osd unset noout",
		"s3 microceph.ceph osd set noout", "s3 snap refresh microceph --channel=", "s3 microceph.ceph osd unset noout",
	}
	if got := d.cephCalls(); !slices.Equal(got, want) {
		t.Errorf("rolling order:\n got %q\nwant %q", got, want)
	}
	if d.noout() {
		t.Error("noout is set after the upgrade")
	}
	for i := range hosts {
		if out, err := install(i); err != nil || !strings.HasSuffix(lastLine(out), ": no change") {
			t.Errorf("%s after the upgrade: %v %s", hosts[i], err, out)
		}
	}
}
