package hostprep_test

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
)

type hostDef struct {
	name, addr string
	roles      hosts.Roles
	cephDisks  []string
}

var prodHosts = []hostDef{
	{"m1", "10.20.1.11", hosts.NewRoles(hosts.RoleMaster), nil},
	{"w1", "10.20.2.21", hosts.NewRoles(hosts.RoleWorker), nil},
	{"w2", "10.20.2.22", hosts.NewRoles(hosts.RoleWorker), nil},
	{"lb1", "10.20.0.11", hosts.NewRoles(hosts.RoleHAProxy), nil},
	{"lb2", "10.20.0.12", hosts.NewRoles(hosts.RoleHAProxy), nil},
	{"s1", "10.20.3.31", hosts.NewRoles(hosts.RoleStorage), []string{"/dev/sdb", "/dev/sdc", "/dev/sdd"}},
	{"bastion", "10.20.0.5", hosts.NewRoles(hosts.RoleBastion), nil},
}

// plans builds the plans of a stack of hosts the way the stack does: one topology, every host a
// peer of every other.
func plans(t *testing.T, env hosts.Environment, defs []hostDef, lab bool) map[string]hostprep.Plan {
	t.Helper()
	topo := network.Topology{
		AdminAllowlist: []string{"10.20.250.0/24"},
		InternalSubnet: "10.20.0.0/16",
		StatsPort:      network.DefaultStatsPort,
	}
	var peers []hostprep.Peer
	for _, d := range defs {
		topo.Nodes = append(topo.Nodes, network.Node{Name: d.name, Address: d.addr, Roles: d.roles})
		peers = append(peers, hostprep.Peer{Name: d.name, Address: d.addr})
	}
	out := map[string]hostprep.Plan{}
	for _, d := range defs {
		s, err := hosts.SizingFor(env, d.roles)
		if err != nil {
			t.Fatal(err)
		}
		out[d.name] = hostprep.Plan{Name: d.name, Address: d.addr, Roles: d.roles, Sizing: s, CephDisks: d.cephDisks,
			Lab: lab, Peers: peers, NTPServers: []string{"10.20.0.2", "10.20.0.3"}, Topology: topo}
	}
	return out
}

func render(t *testing.T, p hostprep.Plan) hostprep.Rendered {
	t.Helper()
	r, err := hostprep.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func script(t *testing.T, r hostprep.Rendered, step string) string {
	t.Helper()
	i := slices.Index(hostprep.Steps, step)
	if i < 0 || i >= len(r.Scripts) {
		t.Fatalf("no %s script", step)
	}
	return r.Scripts[i].Body
}

// body is the part of a script after the shared library.
func body(t *testing.T, s string) string {
	t.Helper()
	_, b, ok := strings.Cut(s, "# --- end of library\n")
	if !ok {
		t.Fatal("script without the shared library")
	}
	return b
}

func TestRenderFourScriptsInOrder(t *testing.T) {
	if !slices.Equal(hostprep.Steps, []string{"preflight", "base", "tuning", "firewall"}) {
		t.Fatalf("steps %v", hostprep.Steps)
	}
	for name, p := range plans(t, hosts.Prod, prodHosts, false) {
		r := render(t, p)
		if len(r.Scripts) != 4 {
			t.Fatalf("%s: %d scripts", name, len(r.Scripts))
		}
		for i, s := range r.Scripts {
			if s.Step != "hostprep-"+hostprep.Steps[i] {
				t.Errorf("%s: script %d is %s", name, i, s.Step)
			}
			if !strings.HasPrefix(s.Body, "#!/usr/bin/env bash\n") || !strings.Contains(s.Body, "\nset -euo pipefail\n") || !strings.HasSuffix(s.Body, "\nfinish\n") {
				t.Errorf("%s/%s: not a complete script (shebang, strict mode, summary)", name, s.Step)
			}
			if s.Secret || s.DeleteBody != "" {
				t.Errorf("%s/%s: host preparation carries no secret and has no delete step", name, s.Step)
			}
			if strings.Contains(s.Body, "{{") || strings.Contains(s.Body, "<no value>") {
				t.Errorf("%s/%s: template residue", name, s.Step)
			}
		}
		if !slices.EqualFunc(r.Rules, p.Topology.RulesFor(network.Node{Name: p.Name, Address: p.Address, Roles: p.Roles}),
			func(a, b network.Allow) bool { return a.String() == b.String() }) {
			t.Errorf("%s: rendered rules differ from the port matrix resolution", name)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	p := plans(t, hosts.Prod, prodHosts, false)["w1"]
	a, b := render(t, p), render(t, p)
	for i := range a.Scripts {
		if a.Scripts[i].Body != b.Scripts[i].Body {
			t.Errorf("%s renders differently twice", a.Scripts[i].Step)
		}
	}
	if a.Ruleset != b.Ruleset {
		t.Error("ruleset renders differently twice")
	}
}

func TestPreflightEmbedsRoleSizing(t *testing.T) {
	ps := plans(t, hosts.Prod, prodHosts, false)
	cases := []struct {
		host            string
		cpus, memGB     int
		disks           int
		rolesInMessages string
	}{
		{"m1", 8, 32, 2, "master"},
		{"w1", 16, 64, 2, "worker"},
		{"lb1", 4, 16, 1, "haproxy"},
		{"s1", 16, 64, 4, "storage"},
		{"bastion", 2, 8, 1, "bastion"},
	}
	for _, tc := range cases {
		pre := body(t, script(t, render(t, ps[tc.host]), "preflight"))
		minKB := tc.memGB * 1024 * 1024 * 93 / 100
		for _, want := range []string{
			fmt.Sprintf(`at_least "$cpus" %d `, tc.cpus),
			fmt.Sprintf(`at_least "$mem_kb" %d `, minKB),
			fmt.Sprintf(`at_least "$disk_count" %d `, tc.disks),
			fmt.Sprintf("the guide sizes %s with %d (guide 4)", tc.rolesInMessages, tc.cpus),
			fmt.Sprintf("the guide sizes %s with %d GB (guide 4)", tc.rolesInMessages, tc.memGB),
			`[ "${ID:-}" = ubuntu ] && [ "${VERSION_ID:-}" = "24.04" ]`,
		} {
			if !strings.Contains(pre, want) {
				t.Errorf("%s preflight lacks %q", tc.host, want)
			}
		}
		if strings.Contains(pre, "debian") {
			t.Errorf("%s: Debian accepted without pm4ml:lab", tc.host)
		}
	}
	// Stg sizing differs: a stg master+worker is 8 CPUs / 16 GB.
	stg := plans(t, hosts.Stg, []hostDef{{"k1", "10.20.1.1", hosts.NewRoles(hosts.RoleMaster, hosts.RoleWorker), nil}}, false)
	pre := script(t, render(t, stg["k1"]), "preflight")
	if !strings.Contains(pre, `at_least "$cpus" 8 `) || !strings.Contains(pre, fmt.Sprintf(`at_least "$mem_kb" %d `, 16*1024*1024*93/100)) {
		t.Error("stg master+worker sizing not embedded")
	}
}

func TestPreflightLabAcceptsDebianWithoutSizing(t *testing.T) {
	for name, p := range plans(t, hosts.Prod, prodHosts, true) {
		pre := body(t, script(t, render(t, p), "preflight"))
		if !strings.Contains(pre, `elif [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = "12" ]; then`) {
			t.Errorf("%s: lab preflight does not accept Debian 12", name)
		}
		if !strings.Contains(pre, `[ "${ID:-}" = ubuntu ] && [ "${VERSION_ID:-}" = "24.04" ]`) {
			t.Errorf("%s: lab preflight no longer accepts Ubuntu 24.04", name)
		}
		if strings.Contains(pre, "at_least") {
			t.Errorf("%s: lab preflight enforces sizing", name)
		}
		if !strings.Contains(pre, "sizing minimums not enforced") {
			t.Errorf("%s: lab preflight does not say sizing is not enforced", name)
		}
	}
}

func TestPreflightChecksCephDisksOfStorageHosts(t *testing.T) {
	ps := plans(t, hosts.Prod, prodHosts, false)
	pre := body(t, script(t, render(t, ps["s1"]), "preflight"))
	for _, d := range []string{"/dev/sdb", "/dev/sdc", "/dev/sdd"} {
		for _, want := range []string{
			fmt.Sprintf("if [ ! -b '%s' ]; then", d),
			fmt.Sprintf("lsblk -nro MOUNTPOINT '%s'", d),
			fmt.Sprintf(`say "ok: Ceph disk %s"`, d),
		} {
			if !strings.Contains(pre, want) {
				t.Errorf("storage preflight lacks %q", want)
			}
		}
	}
	if n := strings.Count(pre, "if [ ! -b "); n != 3 {
		t.Errorf("storage preflight checks %d disks, want 3", n)
	}
	for _, h := range []string{"m1", "w1", "lb1"} {
		if strings.Contains(script(t, render(t, ps[h]), "preflight"), "Ceph disk") {
			t.Errorf("%s checks Ceph disks", h)
		}
	}
}

// The base step pins the plan's peers in /etc/hosts and then checks each resolves to its
// address (its own name may also resolve to loopback), by reading the pinned block as data: one
// check in the script, not one per peer. The check is run here with a stand-in getent. The
// preflight carries no peer list (a peer change must not re-run it).
func TestBasePinsAndChecksPeerResolution(t *testing.T) {
	ps := plans(t, hosts.Prod, prodHosts, false)
	r := render(t, ps["w1"])
	base, pre := script(t, r, "base"), script(t, r, "preflight")
	for _, d := range prodHosts {
		if !strings.Contains(base, fmt.Sprintf("\n%s %s\n", d.addr, d.name)) {
			t.Errorf("base does not pin %s %s in /etc/hosts", d.addr, d.name)
		}
		if strings.Contains(pre, d.addr+" ") || strings.Contains(pre, "getent ahostsv4 "+d.name) {
			t.Errorf("preflight mentions peer %s", d.name)
		}
	}
	if n := strings.Count(base, "getent ahostsv4"); n != 1 {
		t.Errorf("base resolves names in %d places, want one loop over the pinned block", n)
	}
	block := regexp.MustCompile(`(?s)block=\$\(cat <<'PM4ML_HOSTS'\n.*?\nPM4ML_HOSTS\n\)\n`).FindString(base)
	loop := regexp.MustCompile(`(?s)while read -r addr name; do\n.*?\ndone <<<"\$block"\n`).FindString(base)
	if block == "" || loop == "" {
		t.Fatalf("base has no pinned block or no resolution loop:\n%s", base)
	}
	// resolve runs the block and the loop with getent answering from table (name address).
	resolve := func(table map[string]string) []string {
		var tab strings.Builder
		for n, a := range table {
			fmt.Fprintf(&tab, "%s %s\n", n, a)
		}
		prog := "set -euo pipefail\nunmet() { printf '%s\\n' \"$*\"; }\n" +
			"getent() { [ \"$1\" = ahostsv4 ] || exit 9; awk -v n=\"$2\" '$1 == n {print $2 \"  STREAM \" n}' <<<\"$TABLE\"; }\n" + block + loop
		cmd := exec.Command("bash", "-c", prog)
		cmd.Env = append(os.Environ(), "TABLE="+tab.String())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("resolution check: %v\n%s", err, out)
		}
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), " ", "_"))
	}
	right := map[string]string{}
	for _, d := range prodHosts {
		right[d.name] = d.addr
	}
	msg := func(name, got, want string) string {
		return strings.ReplaceAll(fmt.Sprintf("%s resolves to %s, not %s, although /etc/hosts pins it: make /etc/nsswitch.conf consult files before dns", name, got, want), " ", "_")
	}
	with := func(name, addr string) map[string]string {
		m := maps.Clone(right)
		if addr == "" {
			delete(m, name)
		} else {
			m[name] = addr
		}
		return m
	}
	for _, c := range []struct {
		table map[string]string
		want  []string
	}{
		{right, nil},
		{with("w1", "127.0.1.1"), nil}, // its own name may resolve to loopback
		{with("w2", "10.20.2.99"), []string{msg("w2", "10.20.2.99", "10.20.2.22")}},
		{with("m1", "127.0.1.1"), []string{msg("m1", "127.0.1.1", "10.20.1.11")}}, // another host's may not
		{with("s1", ""), []string{msg("s1", "nothing", "10.20.3.31")}},
	} {
		if got := resolve(c.table); !slices.Equal(got, c.want) {
			t.Errorf("with %v:\n got %v\nwant %v", c.table, got, c.want)
		}
	}
}

// sysctls parses the sysctl.d file the tuning script writes.
func sysctls(t *testing.T, tuning string) map[string]string {
	t.Helper()
	m := regexp.MustCompile(`(?s)put_file /etc/sysctl.d/90-pm4ml.conf 644 <<'PM4ML_SYSCTL' \|\| true\n(.*?)\nPM4ML_SYSCTL\n`).FindStringSubmatch(tuning)
	if m == nil {
		t.Fatal("tuning script writes no sysctl.d file")
	}
	out := map[string]string{}
	for _, line := range strings.Split(m[1], "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("sysctl line %q", line)
		}
		out[k] = v
	}
	// Every key written is also applied now, with the same value.
	for k, v := range out {
		if !strings.Contains(tuning, fmt.Sprintf("sysctl -q -w %s='%s'", k, v)) {
			t.Errorf("sysctl %s is written but not applied", k)
		}
	}
	return out
}

func modules(t *testing.T, tuning string) []string {
	t.Helper()
	m := regexp.MustCompile(`\nmodules=\(([^)]*)\)\n`).FindStringSubmatch(tuning)
	if m == nil {
		t.Fatal("tuning script has no module list")
	}
	return strings.Fields(m[1])
}

func TestTuningPerRole(t *testing.T) {
	ps := plans(t, hosts.Prod, prodHosts, false)
	k8s := script(t, render(t, ps["w1"]), "tuning")
	lb := script(t, render(t, ps["lb1"]), "tuning")
	st := script(t, render(t, ps["s1"]), "tuning")
	ks, ls, ss := sysctls(t, k8s), sysctls(t, lb), sysctls(t, st)

	for k, v := range map[string]string{"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1", "fs.inotify.max_user_watches": "1048576"} {
		if ks[k] != v {
			t.Errorf("k8s node: %s = %q, want %q", k, ks[k], v)
		}
	}
	if km := modules(t, k8s); !slices.Contains(km, "br_netfilter") || !slices.Contains(km, "overlay") || !slices.Contains(km, "rbd") {
		t.Errorf("k8s node modules %v", km)
	}
	if ls["net.ipv4.ip_nonlocal_bind"] != "1" {
		t.Errorf("haproxy: ip_nonlocal_bind %q (keepalived VIP bind before failover)", ls["net.ipv4.ip_nonlocal_bind"])
	}
	if _, ok := ks["net.ipv4.ip_nonlocal_bind"]; ok {
		t.Error("k8s node gets ip_nonlocal_bind")
	}
	for _, k := range []string{"net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"} {
		if _, ok := ls[k]; ok {
			t.Errorf("haproxy gets %s", k)
		}
		if _, ok := ss[k]; ok {
			t.Errorf("storage gets %s", k)
		}
	}
	if lm := modules(t, lb); slices.Contains(lm, "br_netfilter") {
		t.Errorf("haproxy modules %v", lm)
	}
	if ss["vm.min_free_kbytes"] == "" {
		t.Error("storage tuning lacks vm.min_free_kbytes")
	}
	// Common settings on every role, and the lists differ per role.
	for name, m := range map[string]map[string]string{"k8s": ks, "lb": ls, "storage": ss} {
		if m["fs.file-max"] == "" || m["vm.swappiness"] == "" {
			t.Errorf("%s lacks the common sysctls: %v", name, m)
		}
	}
	if fmt.Sprint(ks) == fmt.Sprint(ls) || fmt.Sprint(ls) == fmt.Sprint(ss) {
		t.Error("tuning does not differ per role")
	}
	for _, s := range []string{k8s, lb, st} {
		if !strings.Contains(s, "swapoff -a") || !strings.Contains(s, "/etc/security/limits.d/90-pm4ml.conf") {
			t.Error("tuning lacks swap off or limits")
		}
	}
	// Keys that differ per role keep a stable order (rendered output is deterministic).
	if strings.Index(k8s, "fs.file-max = ") > strings.Index(k8s, "net.ipv4.ip_forward = ") {
		t.Error("common sysctls are not first")
	}
}

func TestBaseHostsBlockListsEveryHost(t *testing.T) {
	ps := plans(t, hosts.Prod, prodHosts, false)
	base := script(t, render(t, ps["lb1"]), "base")
	m := regexp.MustCompile(`(?s)\n# BEGIN pm4ml-onprem \(managed; edit the stack config instead\)\n(.*?)\n# END pm4ml-onprem\n`).FindStringSubmatch(base)
	if m == nil {
		t.Fatal("no managed /etc/hosts block")
	}
	var want []string
	for _, d := range prodHosts {
		want = append(want, d.addr+" "+d.name)
	}
	if got := strings.Split(m[1], "\n"); !slices.Equal(got, want) {
		t.Errorf("/etc/hosts block %q, want %q", got, want)
	}
	for _, w := range []string{"hostnamectl set-hostname 'lb1'", "ensure_packages ca-certificates chrony curl jq nftables",
		"put_file /etc/chrony/sources.d/pm4ml.sources 644 < <(printf 'server %s iburst\\n' '10.20.0.2' '10.20.0.3')"} {
		if !strings.Contains(base, w) {
			t.Errorf("base lacks %q", w)
		}
	}
	// Without NTP servers chrony keeps the distribution's sources.
	p := ps["lb1"]
	p.NTPServers = nil
	if strings.Contains(script(t, render(t, p), "base"), "sources.d/pm4ml.sources") {
		t.Error("NTP sources written without pm4ml:network.ntpServers")
	}
}

func TestFirewallScriptEmbedsTheRuleset(t *testing.T) {
	for name, p := range plans(t, hosts.Prod, prodHosts, false) {
		r := render(t, p)
		fw := script(t, r, "firewall")
		if !strings.Contains(fw, "cat >\"$tmp\" <<'PM4ML_NFT'\n"+r.Ruleset+"PM4ML_NFT\n") {
			t.Errorf("%s: firewall script does not embed the ruleset byte for byte", name)
		}
		if !strings.HasPrefix(r.Ruleset, "#!/usr/sbin/nft -f\n") || !strings.Contains(r.Ruleset, "table inet pm4ml {}\ndelete table inet pm4ml\ntable inet pm4ml {") {
			t.Errorf("%s: ruleset without the idempotent delete-then-define preamble", name)
		}
		if !strings.Contains(fw, "ssh_sources=(10.20.0.5 10.20.250.0/24)") {
			t.Errorf("%s: lockout guard without the SSH sources", name)
		}
	}
}

func TestFirewallRulesetPerRole(t *testing.T) {
	ps := plans(t, hosts.Prod, prodHosts, false)
	w := render(t, ps["w1"]).Ruleset
	for _, want := range []string{
		"chain nodeports {",
		"th dport 30000-32767 ip saddr @haproxy accept",
		"th dport 30000-32767 counter drop",
		"elements = { 10.20.0.11, 10.20.0.12 }",
		fmt.Sprintf("ip saddr @haproxy tcp dport %d accept", network.Lookup(network.IstioExtHTTPS).Ports.From),
		fmt.Sprintf("ip saddr @cluster_nodes tcp dport %d accept", network.Lookup(network.Kubelet).Ports.From),
		"policy drop;",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("worker ruleset lacks %q", want)
		}
	}
	lb := render(t, ps["lb1"]).Ruleset
	for _, want := range []string{
		fmt.Sprintf("\n\t\ttcp dport %d accept", network.Lookup(network.PublicHTTPS).Ports.From),
		fmt.Sprintf("ip saddr @internal_subnet tcp dport %d accept", network.DefaultStatsPort),
		"set vrrp_peers {", "elements = { 10.20.0.12 }", "ip saddr @vrrp_peers ip protocol vrrp accept",
	} {
		if !strings.Contains(lb, want) {
			t.Errorf("lb ruleset lacks %q", want)
		}
	}
	if strings.Contains(lb, "nodeports") || strings.Contains(lb, "cali") {
		t.Error("lb ruleset has Kubernetes chains")
	}
	// Nothing but HAProxy accepts from anywhere: every other accept rule names a source set.
	for _, h := range []string{"m1", "w1", "s1", "bastion"} {
		rs := render(t, ps[h]).Ruleset
		for _, line := range strings.Split(rs, "\n") {
			l := strings.TrimSpace(line)
			if strings.Contains(l, " dport ") && strings.HasSuffix(strings.SplitN(l, " comment ", 2)[0], "accept") && !strings.Contains(l, "ip saddr @") {
				t.Errorf("%s: rule accepts from anywhere: %q", h, l)
			}
		}
	}
	s := render(t, ps["s1"]).Ruleset
	if !strings.Contains(s, "ip saddr @storage_network tcp dport 6800-7300 accept") || strings.Contains(s, "nodeports") {
		t.Errorf("storage ruleset:\n%s", s)
	}
}
