package network_test

import (
	"slices"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
)

func sampleNodes() []network.Node {
	return []network.Node{
		{Name: "m1", Address: "10.1.0.11", Roles: hosts.NewRoles(hosts.RoleMaster)},
		{Name: "mw", Address: "10.1.0.12", Roles: hosts.NewRoles(hosts.RoleMaster, hosts.RoleWorker)},
		{Name: "w1", Address: "10.1.0.9", Roles: hosts.NewRoles(hosts.RoleWorker)},
		{Name: "lb1", Address: "10.1.0.5", Roles: hosts.NewRoles(hosts.RoleHAProxy)},
		{Name: "lb2", Address: "10.1.0.6", Roles: hosts.NewRoles(hosts.RoleHAProxy)},
		{Name: "s1", Address: "10.1.0.31", Roles: hosts.NewRoles(hosts.RoleStorage)},
		{Name: "b1", Address: "10.1.9.2", Roles: hosts.NewRoles(hosts.RoleBastion)},
	}
}

func sampleTopology() network.Topology {
	return network.Topology{
		Nodes:            sampleNodes(),
		AdminAllowlist:   []string{"192.0.2.0/24", "10.1.9.0/28"},
		APIAllowlist:     []string{"198.51.100.7"},
		HAProxySourceIPs: []string{"10.1.0.200"},
		InternalSubnet:   "10.1.0.0/16",
		WireGuardPort:    51999,
		StatsPort:        9000,
	}
}

func node(t *testing.T, topo network.Topology, name string) network.Node {
	t.Helper()
	for _, n := range topo.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return network.Node{}
}

func ids(as []network.Allow) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Rule.ID
	}
	return out
}

func find(as []network.Allow, id string) (network.Allow, bool) {
	for _, a := range as {
		if a.Rule.ID == id {
			return a, true
		}
	}
	return network.Allow{}, false
}

func TestSourcesPerKind(t *testing.T) {
	topo := sampleTopology()
	cases := map[network.Source][]string{
		network.FromAnywhere: nil,
		// the bastion 10.1.9.2 is inside 10.1.9.0/28: collapsed into the CIDR
		network.FromAdminAllowlist: {"10.1.9.0/28", "192.0.2.0/24"},
		// numeric order: 10.1.0.9 before 10.1.0.11
		network.FromClusterNodes:   {"10.1.0.9", "10.1.0.11", "10.1.0.12"},
		network.FromAPIClients:     {"10.1.0.9", "10.1.0.11", "10.1.0.12", "198.51.100.7"},
		network.FromHAProxy:        {"10.1.0.5", "10.1.0.6", "10.1.0.200"},
		network.FromStorageNetwork: {"10.1.0.9", "10.1.0.11", "10.1.0.12", "10.1.0.31"},
		network.FromInternalSubnet: {"10.1.0.0/16"},
	}
	for src, want := range cases {
		if got := topo.Sources(src); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", src, got, want)
		}
	}
	// The bastion is admitted when it is not covered by the allowlist.
	topo.AdminAllowlist = []string{"192.0.2.0/24"}
	if got := topo.Sources(network.FromAdminAllowlist); !slices.Equal(got, []string{"10.1.9.2", "192.0.2.0/24"}) {
		t.Errorf("admin allowlist with bastion: %v", got)
	}
}

func TestSourcesCollapseAndDeduplicate(t *testing.T) {
	topo := network.Topology{AdminAllowlist: []string{
		"10.2.3.4", "10.0.0.0/8", "10.2.0.0/16", "192.0.2.1", "192.0.2.1", "172.16.5.0/24", "172.16.0.0/12", "198.51.100.0/24",
	}}
	got := topo.Sources(network.FromAdminAllowlist)
	want := []string{"10.0.0.0/8", "172.16.0.0/12", "192.0.2.1", "198.51.100.0/24"}
	if !slices.Equal(got, want) {
		t.Errorf("collapse: %v, want %v", got, want)
	}
	// Overlapping entries never survive together (nftables refuses overlapping intervals).
	for i, a := range got {
		for j, b := range got {
			if i != j && (a == b) {
				t.Errorf("duplicate %s", a)
			}
		}
	}
}

func TestRulesForRolesInMatrixOrder(t *testing.T) {
	topo := sampleTopology()
	matrixIndex := func(id string) int {
		return slices.IndexFunc(network.Matrix, func(r network.Rule) bool { return r.ID == id })
	}
	for _, n := range topo.Nodes {
		got := topo.RulesFor(n)
		for i := 1; i < len(got); i++ {
			if matrixIndex(got[i-1].Rule.ID) >= matrixIndex(got[i].Rule.ID) {
				t.Errorf("%s: rules out of matrix order: %v", n.Name, ids(got))
			}
		}
		for _, a := range got {
			if !n.Roles.Any(a.Rule.On...) {
				t.Errorf("%s (%s) got %s meant for %v", n.Name, n.Roles, a.Rule.ID, a.Rule.On)
			}
			if a.Anywhere != (a.Rule.From == network.FromAnywhere) || (a.Anywhere && len(a.Sources) > 0) {
				t.Errorf("%s: %s anywhere=%v sources=%v", n.Name, a.Rule.ID, a.Anywhere, a.Sources)
			}
			if !a.Anywhere && len(a.Sources) == 0 && a.Rule.Proto != network.VRRP {
				t.Errorf("%s: %s resolves to nobody", n.Name, a.Rule.ID)
			}
		}
		if _, ok := find(got, network.SSH); !ok {
			t.Errorf("%s: no SSH rule", n.Name)
		}
	}
	if got := ids(topo.RulesFor(node(t, topo, "b1"))); !slices.Equal(got, []string{network.SSH}) {
		t.Errorf("bastion rules %v, want only ssh", got)
	}
	w := ids(topo.RulesFor(node(t, topo, "w1")))
	for _, id := range []string{network.Kubelet, network.ClusterAgent, network.IstioExtHTTPS, network.IstioIntStatus} {
		if !slices.Contains(w, id) {
			t.Errorf("worker lacks %s: %v", id, w)
		}
	}
	for _, id := range []string{network.KubeAPI, network.Datastore, network.CephOSD, network.PublicHTTPS} {
		if slices.Contains(w, id) {
			t.Errorf("worker has %s: %v", id, w)
		}
	}
	m := ids(topo.RulesFor(node(t, topo, "m1")))
	if !slices.Contains(m, network.KubeAPI) || slices.Contains(m, network.IstioExtHTTPS) {
		t.Errorf("master rules %v", m)
	}
	// A master+worker gets both sets.
	mw := ids(topo.RulesFor(node(t, topo, "mw")))
	if !slices.Contains(mw, network.KubeAPI) || !slices.Contains(mw, network.IstioExtHTTPS) {
		t.Errorf("master+worker rules %v", mw)
	}
	s := ids(topo.RulesFor(node(t, topo, "s1")))
	if !slices.Equal(s, []string{network.SSH, network.CephMonV1, network.CephMonV2, network.CephOSD, network.MicroCephCluster}) {
		t.Errorf("storage rules %v", s)
	}
	lb := topo.RulesFor(node(t, topo, "lb1"))
	for _, id := range []string{network.PublicHTTP, network.PublicHTTPS, network.WireGuard} {
		if a, ok := find(lb, id); !ok || !a.Anywhere {
			t.Errorf("lb: %s missing or not public: %+v", id, a)
		}
	}
}

func TestFeatureGates(t *testing.T) {
	topo := sampleTopology()
	lb := topo.RulesFor(node(t, topo, "lb1"))
	wg, ok := find(lb, network.WireGuard)
	if !ok || wg.Ports != (network.PortRange{From: 51999, To: 51999}) || wg.Rule.Proto != network.UDP {
		t.Errorf("WireGuard on the configured port: %+v", wg)
	}
	stats, ok := find(lb, network.HAProxyStats)
	if !ok || stats.Ports != (network.PortRange{From: 9000, To: 9000}) || !slices.Equal(stats.Sources, []string{"10.1.0.0/16"}) {
		t.Errorf("stats on the configured port from the internal subnet: %+v", stats)
	}
	if !topo.Enabled(network.WhenVRRP) || !topo.Enabled(network.WhenWireGuard) || !topo.Enabled(network.WhenHAProxyStats) || !topo.Enabled(network.Always) {
		t.Error("features of the full topology")
	}

	topo.WireGuardPort, topo.StatsPort = 0, 0
	lb = topo.RulesFor(node(t, topo, "lb1"))
	for _, id := range []string{network.WireGuard, network.HAProxyStats} {
		if _, ok := find(lb, id); ok {
			t.Errorf("%s present while disabled", id)
		}
	}

	// VRRP needs two HAProxy hosts.
	single := network.Topology{Nodes: slices.DeleteFunc(sampleNodes(), func(n network.Node) bool { return n.Name == "lb2" })}
	if single.Enabled(network.WhenVRRP) {
		t.Error("VRRP enabled with one HAProxy host")
	}
	if _, ok := find(single.RulesFor(node(t, single, "lb1")), network.KeepalivedVRRP); ok {
		t.Error("VRRP rule with one HAProxy host")
	}
}

func TestVRRPExcludesSelf(t *testing.T) {
	topo := sampleTopology()
	topo.HAProxySourceIPs = nil
	for self, peer := range map[string]string{"lb1": "10.1.0.6", "lb2": "10.1.0.5"} {
		a, ok := find(topo.RulesFor(node(t, topo, self)), network.KeepalivedVRRP)
		if !ok {
			t.Fatalf("%s: no VRRP rule with two HAProxy hosts", self)
		}
		if !slices.Equal(a.Sources, []string{peer}) {
			t.Errorf("%s: VRRP from %v, want only the peer %s", self, a.Sources, peer)
		}
		if a.Rule.Proto != network.VRRP || a.Anywhere || a.String() != "vrrp vrrp from "+peer {
			t.Errorf("%s: %+v %q", self, a, a.String())
		}
	}
	// Other rows from HAProxy keep both HAProxy hosts (self is not dropped there).
	a, _ := find(topo.RulesFor(node(t, topo, "w1")), network.IstioExtHTTPS)
	if !slices.Equal(a.Sources, []string{"10.1.0.5", "10.1.0.6"}) {
		t.Errorf("NodePort sources %v", a.Sources)
	}
}

func TestAllowString(t *testing.T) {
	topo := sampleTopology()
	lb := topo.RulesFor(node(t, topo, "lb1"))
	want := map[string]string{
		network.SSH:          "ssh tcp/22 from 10.1.9.0/28,192.0.2.0/24",
		network.PublicHTTPS:  "public-https tcp/443 from anywhere",
		network.WireGuard:    "wireguard udp/51999 from anywhere",
		network.HAProxyStats: "haproxy-stats tcp/9000 from 10.1.0.0/16",
	}
	for id, w := range want {
		a, ok := find(lb, id)
		if !ok {
			t.Fatalf("lb: no %s", id)
		}
		if a.String() != w {
			t.Errorf("%s: %q, want %q", id, a.String(), w)
		}
	}
	s, _ := find(topo.RulesFor(node(t, topo, "s1")), network.CephOSD)
	if s.String() != "ceph-osd tcp/6800-7300 from 10.1.0.9,10.1.0.11,10.1.0.12,10.1.0.31" {
		t.Errorf("ceph-osd: %q", s.String())
	}
	nobody := network.Allow{Rule: network.Lookup(network.SSH), Ports: network.Lookup(network.SSH).Ports}
	if nobody.String() != "ssh tcp/22 from nobody" {
		t.Errorf("empty sources: %q", nobody.String())
	}
}
