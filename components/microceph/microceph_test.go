package microceph

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// sampleExport is what the export step prints on a 3-host cluster (plus the library's lines).
const sampleKey = "AQDsampleADMINkey0000000000000000000000=="

var sampleExport = "unchanged: something\n" + ConfBegin + `
# minimal ceph.conf for 7d3c1f5e-0000-4000-8000-000000000001
[global]
	fsid = 7d3c1f5e-0000-4000-8000-000000000001
	mon_host = [v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] [v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0] [v2:10.0.0.3:3300/0,v1:10.0.0.3:6789/0]
` + ConfEnd + "\n" + KeyringBegin + `
[client.admin]
	key = ` + sampleKey + `
	caps mon = "allow *"
` + KeyringEnd + "\npm4ml: microceph-export: no change\n"

const cmdType = "command:remote:Command"

// runMocks runs fn under the mocktest recorder; every remote.Command answers sampleExport on
// stdout (mocktest.Run cannot preset outputs, so the harness is set up here the same way).
func runMocks(t *testing.T, fn pulumi.RunFunc) *mocktest.Mocks {
	t.Helper()
	t.Setenv(pulumi.EnvConfig, "{}")
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", "[]")
	m := &mocktest.Mocks{Outputs: map[string]resource.PropertyMap{
		cmdType: {"stdout": resource.NewStringProperty(sampleExport)},
	}}
	if err := pulumi.RunErr(fn, pulumi.WithMocks(mocktest.Project, mocktest.Stack, m)); err != nil {
		t.Fatal(err)
	}
	return m
}

func testHost(name, addr string, disks ...string) hosts.Host {
	return hosts.Host{
		Name: name, Address: addr, Roles: hosts.NewRoles(hosts.RoleStorage), CephDisks: disks,
		Conn: remote.ConnectionArgs{Host: pulumi.String(addr), User: pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
		Identity: pulumi.String(addr),
	}
}

func sixDisks() []string {
	return []string{"/dev/sdb", "/dev/sdc", "/dev/sdd", "/dev/sde", "/dev/sdf", "/dev/sdg"}
}

// prep is a stand-in for a host's HostPrep.Ready (a custom resource, as the real one is).
type prep struct{ pulumi.CustomResourceState }

func newPrep(ctx *pulumi.Context, name string) (*prep, error) {
	p := &prep{}
	return p, ctx.RegisterResource("pm4ml:test:Done", name, pulumi.Map{}, p)
}

// script returns the script a command runs: the body inside `bash -c '<body>'`.
func script(t *testing.T, r mocktest.Resource, key string) string {
	t.Helper()
	inv := mocktest.String(r.Inputs, key)
	if inv == "" {
		return ""
	}
	i := strings.Index(inv, "bash -c '")
	if i < 0 {
		t.Fatalf("%s %s: not a bash -c invocation: %.80s", r.Name, key, inv)
	}
	var b strings.Builder
	rest := inv[i+len("bash -c '"):]
	for {
		j := strings.IndexByte(rest, '\'')
		if j < 0 {
			t.Fatalf("%s %s: unterminated quote", r.Name, key)
		}
		b.WriteString(rest[:j])
		rest = rest[j+1:]
		if !strings.HasPrefix(rest, `\''`) {
			return b.String()
		}
		b.WriteByte('\'')
		rest = rest[3:]
	}
}

type result struct {
	cluster                *Cluster
	conf, keyring          string
	confSecret, keySecret  bool
	monitors               []string
	monitorsSecret         bool
	readyIsExport, readyOK bool
}

// deploy registers a cluster of the given hosts (each with a prep stand-in) and the lost ones,
// and captures its outputs.
func deploy(t *testing.T, hs []hosts.Host, size int, lost ...hosts.Host) (*mocktest.Mocks, *result) {
	t.Helper()
	res := &result{}
	m := runMocks(t, func(ctx *pulumi.Context) error {
		after := map[string]pulumi.Resource{}
		for _, h := range hs {
			p, err := newPrep(ctx, "prep-"+h.Name)
			if err != nil {
				return err
			}
			after[h.Name] = p
		}
		c, err := New(ctx, "ceph", &Args{Plan: planOf(hs, size, lost...), Hosts: append(slices.Clone(hs), lost...), After: after, User: "ubuntu"})
		if err != nil {
			return err
		}
		res.cluster = c
		res.readyIsExport = c.Ready == pulumi.Resource(c.Steps["ceph-export"])
		res.confSecret = pulumi.IsSecret(c.CephConf)
		res.keySecret = pulumi.IsSecret(c.Keyring)
		res.monitorsSecret = pulumi.IsSecret(c.Monitors)
		c.CephConf.ApplyT(func(s string) string { res.conf = s; return s })
		c.Keyring.ApplyT(func(s string) string { res.keyring = s; return s })
		c.Monitors.ApplyT(func(s []string) []string { res.monitors = s; return s })
		return nil
	})
	return m, res
}

func names(rs []mocktest.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// connHost is the address a remote.Command connects to.
func connHost(t *testing.T, r mocktest.Resource) string {
	t.Helper()
	v, ok := r.Inputs["connection"]
	if !ok {
		t.Fatalf("%s has no connection", r.Name)
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsObject() {
		t.Fatalf("%s: connection is not an object", r.Name)
	}
	return v.ObjectValue()["host"].StringValue()
}

func TestProdThreeHostsGraph(t *testing.T) {
	hs := []hosts.Host{testHost("s1", "10.0.0.1", sixDisks()...), testHost("s2", "10.0.0.2", sixDisks()...), testHost("s3", "10.0.0.3", sixDisks()...)}
	m, res := deploy(t, hs, 3)

	comp := m.Named(t, "ceph")
	if comp.Type != Token || comp.Custom {
		t.Fatalf("component type %q custom=%v, want %s", comp.Type, comp.Custom, Token)
	}
	want := []string{"ceph-export", "ceph-pool",
		"ceph-s1-disks", "ceph-s1-install", "ceph-s1-member",
		"ceph-s2-add", "ceph-s2-disks", "ceph-s2-install", "ceph-s2-member",
		"ceph-s3-add", "ceph-s3-disks", "ceph-s3-install", "ceph-s3-member"}
	if got := names(m.ChildrenOf(t, "ceph")); !slices.Equal(got, want) {
		t.Fatalf("children of ceph:\n got %v\nwant %v", got, want)
	}
	if got := names(m.ByType(cmdType)); !slices.Equal(got, want) {
		t.Fatalf("every remote command is a child of the component: got %v", got)
	}

	dep := func(a, b string) {
		t.Helper()
		if !m.DependsOn(t, a, b) {
			t.Errorf("%s does not depend on %s", a, b)
		}
	}
	notDep := func(a, b string) {
		t.Helper()
		if m.DependsOnTransitively(t, a, b) {
			t.Errorf("%s must not depend on %s", a, b)
		}
	}
	// installs: after each host's preparation, in series
	for _, h := range []string{"s1", "s2", "s3"} {
		dep("ceph-"+h+"-install", "prep-"+h)
	}
	dep("ceph-s2-install", "ceph-s1-install")
	dep("ceph-s3-install", "ceph-s2-install")
	// bootstrap after every install; joins serial, each through its own add step
	dep("ceph-s1-member", "ceph-s3-install")
	dep("ceph-s2-add", "ceph-s1-member")
	dep("ceph-s2-member", "ceph-s2-add")
	dep("ceph-s2-member", "ceph-s2-install")
	dep("ceph-s3-add", "ceph-s2-member")
	dep("ceph-s3-member", "ceph-s3-add")
	dep("ceph-s3-member", "ceph-s2-member")
	notDep("ceph-s2-member", "ceph-s3-add")
	// disks once every host is a member; pool after every disk; export after the pool
	for _, h := range []string{"s1", "s2", "s3"} {
		dep("ceph-"+h+"-disks", "ceph-s3-member")
		dep("ceph-"+h+"-disks", "ceph-"+h+"-member")
		dep("ceph-pool", "ceph-"+h+"-disks")
	}
	dep("ceph-export", "ceph-pool")
	if !res.readyIsExport {
		t.Error("Ready is not the export step")
	}

	// where each step runs
	on := map[string]string{
		"ceph-s1-install": "10.0.0.1", "ceph-s2-install": "10.0.0.2", "ceph-s3-install": "10.0.0.3",
		"ceph-s1-member": "10.0.0.1", "ceph-s2-member": "10.0.0.2", "ceph-s3-member": "10.0.0.3",
		"ceph-s2-add": "10.0.0.1", "ceph-s3-add": "10.0.0.1",
		"ceph-s1-disks": "10.0.0.1", "ceph-s2-disks": "10.0.0.2", "ceph-s3-disks": "10.0.0.3",
		"ceph-pool": "10.0.0.1", "ceph-export": "10.0.0.1",
	}
	for n, addr := range on {
		if got := connHost(t, m.Named(t, n)); got != addr {
			t.Errorf("%s runs on %s, want %s", n, got, addr)
		}
	}

	create := func(n string) string { return script(t, m.Named(t, n), "create") }
	del := func(n string) string { return script(t, m.Named(t, n), "delete") }
	for n, frag := range map[string]string{
		"ceph-s1-install": "snap install microceph --channel=\"$channel\"",
		"ceph-s1-member":  "microceph cluster bootstrap --microceph-ip '10.0.0.1' --mon-ip '10.0.0.1'",
		"ceph-s2-add":     `microceph cluster add "$name"`,
		"ceph-s2-member":  `microceph cluster join "$token" --microceph-ip '10.0.0.2'`,
		"ceph-s3-member":  `microceph cluster join "$token" --microceph-ip '10.0.0.3'`,
		"ceph-s2-disks":   `microceph disk add "$disk" --wipe`,
		"ceph-pool":       `microceph.ceph osd pool set "$pool" size 3`,
		"ceph-export":     "microceph.ceph auth get client.admin",
	} {
		if !strings.Contains(create(n), frag) {
			t.Errorf("%s create lacks %q", n, frag)
		}
	}
	if !strings.Contains(create("ceph-s1-install"), "channel='squid/stable'") {
		t.Error("install does not pin the channel")
	}
	if !strings.Contains(create("ceph-s2-add"), "name='s2'") || !strings.Contains(create("ceph-s3-add"), "name='s3'") {
		t.Error("add steps do not name their joining host")
	}
	if strings.Contains(create("ceph-pool"), "mon_allow_pool_size_one") || !strings.Contains(create("ceph-pool"), "min_size 2") {
		t.Error("a 3-replica pool must not allow size one and must keep min_size 2")
	}
	for _, h := range []string{"s1", "s2", "s3"} {
		c := create("ceph-" + h + "-disks")
		want := "disks=('/dev/sdb' '/dev/sdc' '/dev/sdd' '/dev/sde' '/dev/sdf' '/dev/sdg')"
		if !strings.Contains(c, want) {
			t.Errorf("%s disks: missing %s", h, want)
		}
		if !strings.Contains(del("ceph-"+h+"-disks"), `microceph disk remove "$id"`) {
			t.Errorf("%s disks: delete does not remove the host's OSDs", h)
		}
		if !strings.Contains(del("ceph-"+h+"-member"), "microceph cluster remove '"+h+"'") {
			t.Errorf("%s member: delete does not leave the cluster", h)
		}
	}
	for _, n := range []string{"ceph-s2-add", "ceph-s3-add", "ceph-pool", "ceph-export"} {
		if d := del(n); d != "" {
			t.Errorf("%s must have no delete command, has one", n)
		}
	}
	// a replaced member leaves (and its OSDs go) before it joins again
	for _, r := range m.ByType(cmdType) {
		want := strings.HasSuffix(r.Name, "-member") || strings.HasSuffix(r.Name, "-disks")
		if r.DeleteBeforeReplace != want {
			t.Errorf("%s: delete-before-replace %v, want %v", r.Name, r.DeleteBeforeReplace, want)
		}
	}

	// secrets: tokens and the keyring only on secret stdin/stdout, never logged
	secretSteps := []string{"ceph-s2-add", "ceph-s3-add", "ceph-s2-member", "ceph-s3-member", "ceph-export"}
	for _, r := range m.ByType(cmdType) {
		secret := slices.Contains(secretSteps, r.Name)
		if got := mocktest.String(r.Inputs, "logging") == "none"; got != secret {
			t.Errorf("%s: logging none = %v, want %v", r.Name, got, secret)
		}
		if got := slices.Contains(r.AdditionalSecretOutputs, "stdout"); got != secret {
			t.Errorf("%s: stdout secret = %v, want %v", r.Name, got, secret)
		}
	}
	for _, n := range []string{"ceph-s2-member", "ceph-s3-member"} {
		r := m.Named(t, n)
		if !mocktest.IsSecret(r.Inputs, "stdin") {
			t.Errorf("%s: stdin (the join token) is not secret", n)
		}
		if !m.DependsOn(t, n, strings.Replace(n, "-member", "-add", 1)) {
			t.Errorf("%s: stdin does not come from its add step", n)
		}
	}
	for _, r := range m.Resources {
		for k, v := range r.Inputs {
			if strings.Contains(fmt.Sprint(v), sampleKey) && !(k == "stdin" && v.ContainsSecrets()) {
				t.Errorf("%s: input %s carries the keyring outside a secret stdin", r.Name, k)
			}
			if k == "create" || k == "delete" {
				if strings.Contains(v.StringValue(), sampleKey) {
					t.Errorf("%s: the keyring is in the command text", r.Name)
				}
			}
		}
	}

	// outputs: split from the export, secret; monitors from the cluster's mon_host, not secret
	wantConf, wantKey, err := ParseExport(sampleExport)
	if err != nil {
		t.Fatal(err)
	}
	if res.conf != wantConf || !res.confSecret {
		t.Errorf("CephConf = %q (secret %v), want %q secret", res.conf, res.confSecret, wantConf)
	}
	if res.keyring != wantKey || !res.keySecret || !strings.Contains(res.keyring, sampleKey) {
		t.Errorf("Keyring = %q (secret %v), want the client.admin keyring, secret", res.keyring, res.keySecret)
	}
	if !slices.Equal(res.monitors, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}) || res.monitorsSecret {
		t.Errorf("Monitors = %v (secret %v)", res.monitors, res.monitorsSecret)
	}
}

func TestStgSingleHost(t *testing.T) {
	m, res := deploy(t, []hosts.Host{testHost("stg-ceph", "10.1.0.5", "/dev/sdb", "/dev/sdc")}, 1)
	want := []string{"ceph-export", "ceph-pool", "ceph-stg-ceph-disks", "ceph-stg-ceph-install", "ceph-stg-ceph-member"}
	if got := names(m.ChildrenOf(t, "ceph")); !slices.Equal(got, want) {
		t.Fatalf("children: got %v, want %v (no add/join on a single host)", got, want)
	}
	pool := script(t, m.Named(t, "ceph-pool"), "create")
	for _, frag := range []string{"microceph.ceph config set global mon_allow_pool_size_one true", `osd pool set "$pool" size 1 --yes-i-really-mean-it`, "min_size 1"} {
		if !strings.Contains(pool, frag) {
			t.Errorf("pool of a single host lacks %q", frag)
		}
	}
	member := m.Named(t, "ceph-stg-ceph-member")
	if !strings.Contains(script(t, member, "create"), "microceph cluster bootstrap") || mocktest.String(member.Inputs, "logging") == "none" {
		t.Error("the single host bootstraps, in a logged (non-secret) step")
	}
	for _, chain := range [][2]string{{"ceph-stg-ceph-install", "prep-stg-ceph"}, {"ceph-stg-ceph-member", "ceph-stg-ceph-install"}, {"ceph-stg-ceph-disks", "ceph-stg-ceph-member"}, {"ceph-pool", "ceph-stg-ceph-disks"}, {"ceph-export", "ceph-pool"}} {
		if !m.DependsOn(t, chain[0], chain[1]) {
			t.Errorf("%s does not depend on %s", chain[0], chain[1])
		}
	}
	if !res.readyIsExport {
		t.Error("Ready is not the export step")
	}
}

// snapshot is what Pulumi diffs per command: the command texts and stdin.
func snapshot(m *mocktest.Mocks) map[string]string {
	out := map[string]string{}
	for _, r := range m.ByType(cmdType) {
		out[r.Name] = mocktest.String(r.Inputs, "create") + "\x00" + mocktest.String(r.Inputs, "delete") + "\x00" + mocktest.String(r.Inputs, "stdin") + "\x00" + connHostNoT(r)
	}
	return out
}

func connHostNoT(r mocktest.Resource) string {
	v := r.Inputs["connection"]
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsObject() {
		return ""
	}
	return v.ObjectValue()["host"].StringValue()
}

func TestRemovingAHostTouchesOnlyItsSteps(t *testing.T) {
	four := []hosts.Host{testHost("s1", "10.0.0.1", "/dev/sdb"), testHost("s2", "10.0.0.2", "/dev/sdb"), testHost("s3", "10.0.0.3", "/dev/sdb"), testHost("s4", "10.0.0.4", "/dev/sdb")}
	before, _ := deploy(t, four, 3)
	after, _ := deploy(t, []hosts.Host{four[0], four[1], four[3]}, 3)
	b, a := snapshot(before), snapshot(after)
	var gone []string
	for n, v := range b {
		av, ok := a[n]
		if !ok {
			gone = append(gone, n)
			continue
		}
		if av != v {
			t.Errorf("%s changes when s3 leaves", n)
		}
	}
	sort.Strings(gone)
	if want := []string{"ceph-s3-add", "ceph-s3-disks", "ceph-s3-install", "ceph-s3-member"}; !slices.Equal(gone, want) {
		t.Errorf("removed: %v, want %v", gone, want)
	}
	if len(a) != len(b)-4 {
		t.Errorf("new resources appeared: %d -> %d", len(b), len(a))
	}
	// what the removal runs: the OSDs leave first (disks depend on the member), then the member
	r := before.Named(t, "ceph-s3-disks")
	if !before.DependsOn(t, "ceph-s3-disks", "ceph-s3-member") || !strings.Contains(mocktest.String(r.Inputs, "delete"), "microceph disk remove") {
		t.Error("s3's OSDs are not removed before s3 leaves")
	}
}

func TestRemovingTheBootstrapHostKeepsTheOthersMembers(t *testing.T) {
	three := []hosts.Host{testHost("s1", "10.0.0.1", "/dev/sdb"), testHost("s2", "10.0.0.2", "/dev/sdb"), testHost("s3", "10.0.0.3", "/dev/sdb")}
	before, _ := deploy(t, three, 2)
	after, _ := deploy(t, three[1:], 2)
	// s2's membership keeps its name (an update, not a delete: no leave runs) and its leave
	// script is the same; it now bootstraps, which is a no-op on a member.
	bm, am := before.Named(t, "ceph-s2-member"), after.Named(t, "ceph-s2-member")
	if script(t, bm, "delete") != script(t, am, "delete") {
		t.Error("s2's leave script changes when s1 leaves")
	}
	if !strings.Contains(script(t, am, "create"), "if is_member 's2'; then") {
		t.Error("s2's bootstrap is not guarded by its membership")
	}
	for _, n := range []string{"ceph-s2-disks", "ceph-s3-disks", "ceph-s3-member", "ceph-s2-install", "ceph-s3-install"} {
		if !after.Has(n) {
			t.Errorf("%s disappeared", n)
		}
	}
	if after.Has("ceph-s2-add") {
		t.Error("s2 still gets a join token although it bootstraps now")
	}
	if got := connHost(t, after.Named(t, "ceph-s3-add")); got != "10.0.0.2" {
		t.Errorf("s3's token now comes from %s, want s2 (10.0.0.2)", got)
	}
}

// planOf is the plan of test machines (stacks builds it from the stack configuration).
func planOf(hs []hosts.Host, size int, lost ...hosts.Host) Plan {
	p := Plan{Channel: "squid/stable", Pool: "rbd-pm4ml", ReplicationSize: size}
	for _, h := range hs {
		p.Nodes = append(p.Nodes, Node{Name: h.Name, Address: h.Address, Disks: h.CephDisks})
	}
	for _, h := range lost {
		p.Lost = append(p.Lost, Node{Name: h.Name, Address: h.Address, Disks: h.CephDisks})
	}
	return p
}

func TestArgsErrors(t *testing.T) {
	h := testHost("s1", "10.0.0.1", "/dev/sdb")
	gone := testHost("s9", "10.0.0.9", "/dev/sdb")
	for name, a := range map[string]*Args{
		"no hosts":                 {Plan: planOf(nil, 1)},
		"size too large":           {Plan: planOf([]hosts.Host{h}, 3), Hosts: []hosts.Host{h}},
		"missing after":            {Plan: planOf([]hosts.Host{h}, 1), Hosts: []hosts.Host{h}, After: map[string]pulumi.Resource{"other": nil}},
		"no machine":               {Plan: planOf([]hosts.Host{h}, 1)},
		"lost host not marked":     {Plan: planOf([]hosts.Host{h}, 1, gone), Hosts: []hosts.Host{h, gone}},
		"no machine for lost host": {Plan: planOf([]hosts.Host{h}, 1, gone), Hosts: []hosts.Host{h}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(pulumi.EnvConfig, "{}")
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "ceph", a)
				return err
			}, pulumi.WithMocks(mocktest.Project, mocktest.Stack, &mocktest.Mocks{}))
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}
