package network_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
)

func inNodePortRange(p network.PortRange) bool {
	return p.To >= network.NodePortRangeFrom && p.From <= network.NodePortRangeTo
}

func TestMatrixIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range network.Matrix {
		if r.ID == "" {
			t.Errorf("row without ID: %+v", r)
		}
		if seen[r.ID] {
			t.Errorf("duplicate ID %q", r.ID)
		}
		seen[r.ID] = true
		if got := network.Lookup(r.ID); got.ID != r.ID || got.Ports != r.Ports {
			t.Errorf("Lookup(%q) = %+v", r.ID, got)
		}
	}
}

func TestLookupUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Lookup of an unknown ID did not panic")
		}
	}()
	network.Lookup("no-such-row")
}

func TestMatrixRowsWellFormed(t *testing.T) {
	for _, r := range network.Matrix {
		if r.Purpose == "" || r.Ref == "" || len(r.On) == 0 || r.From == "" {
			t.Errorf("%s: incomplete row %+v", r.ID, r)
		}
		for _, role := range r.On {
			if !role.Valid() {
				t.Errorf("%s: unknown role %q", r.ID, role)
			}
		}
		switch r.Proto {
		case network.TCP, network.UDP:
			if r.Ports.From < 1 || r.Ports.To > 65535 || r.Ports.From > r.Ports.To {
				t.Errorf("%s: bad port range %v", r.ID, r.Ports)
			}
		case network.VRRP:
			if r.Ports != (network.PortRange{}) {
				t.Errorf("%s: VRRP has no ports, got %v", r.ID, r.Ports)
			}
		default:
			t.Errorf("%s: unknown protocol %q", r.ID, r.Proto)
		}
	}
}

// TestOnlyPublicRowsFromAnywhere: guide 1.3.1 is the only public table, and its public rows
// (everything but SSH, which is allowlisted) terminate on HAProxy only.
func TestOnlyPublicRowsFromAnywhere(t *testing.T) {
	anywhere := 0
	for _, r := range network.Matrix {
		if r.From != network.FromAnywhere {
			continue
		}
		anywhere++
		if !r.Public {
			t.Errorf("%s: FromAnywhere on a private row", r.ID)
		}
		if !slices.Equal(r.On, []hosts.Role{hosts.RoleHAProxy}) {
			t.Errorf("%s: FromAnywhere on %v; only HAProxy hosts may be reachable from anywhere", r.ID, r.On)
		}
		if inNodePortRange(r.Ports) {
			t.Errorf("%s: a NodePort reachable from anywhere (guide 1.3.2)", r.ID)
		}
	}
	if anywhere == 0 {
		t.Error("no public row: HTTP/HTTPS must be reachable on HAProxy")
	}
}

func TestNodePortsOnlyFromHAProxy(t *testing.T) {
	var nodePorts []string
	for _, r := range network.Matrix {
		if r.Proto == network.VRRP || !inNodePortRange(r.Ports) {
			continue
		}
		nodePorts = append(nodePorts, r.ID)
		if r.From != network.FromHAProxy {
			t.Errorf("%s: NodePort %v from %s, want %s (guide 1.3.2)", r.ID, r.Ports, r.From, network.FromHAProxy)
		}
		if r.Public {
			t.Errorf("%s: NodePort marked public", r.ID)
		}
		if r.Ports.From < network.NodePortRangeFrom || r.Ports.To > network.NodePortRangeTo {
			t.Errorf("%s: %v straddles the NodePort range", r.ID, r.Ports)
		}
		if !slices.Equal(r.On, []hosts.Role{hosts.RoleWorker}) {
			t.Errorf("%s: NodePort on %v, want the workers (where the gateways run)", r.ID, r.On)
		}
	}
	var fromHelper []string
	for _, r := range network.NodePorts() {
		fromHelper = append(fromHelper, r.ID)
	}
	if !slices.Equal(nodePorts, fromHelper) {
		t.Errorf("NodePorts() = %v, rows in the NodePort range = %v", fromHelper, nodePorts)
	}
	want := []string{network.IstioExtHTTP, network.IstioExtHTTPS, network.IstioExtStatus, network.IstioIntHTTP, network.IstioIntHTTPS, network.IstioIntStatus}
	if !slices.Equal(fromHelper, want) {
		t.Errorf("NodePorts() = %v, want the six Istio gateway ports %v", fromHelper, want)
	}
}

func TestControlPlaneRowsFromClusterNodes(t *testing.T) {
	for _, id := range []string{network.Kubelet, network.ClusterAgent, network.Datastore, network.Dqlite, network.CalicoVXLAN} {
		if r := network.Lookup(id); r.From != network.FromClusterNodes || r.Public {
			t.Errorf("%s: from %s (public %v), want %s (guide 1.3.2 control-plane ports restricted to cluster nodes)", id, r.From, r.Public, network.FromClusterNodes)
		}
	}
	// The Kubernetes API is admitted from the cluster nodes plus the configured API clients;
	// with no API allowlist it is exactly the cluster nodes.
	topo := network.Topology{Nodes: sampleNodes()}
	nodes := topo.Sources(network.FromClusterNodes)
	for _, id := range []string{network.KubeAPI, network.KubeAPIMicroK8s} {
		r := network.Lookup(id)
		if r.Public || r.From == network.FromAnywhere || !slices.Equal(r.On, []hosts.Role{hosts.RoleMaster}) {
			t.Errorf("%s: %+v", id, r)
		}
		if got := topo.Sources(r.From); !slices.Equal(got, nodes) {
			t.Errorf("%s: sources %v without an API allowlist, want the cluster nodes %v", id, got, nodes)
		}
	}
}

func TestCephRowsFromStorageNetwork(t *testing.T) {
	for _, id := range []string{network.CephMonV1, network.CephMonV2, network.CephOSD} {
		r := network.Lookup(id)
		if r.From != network.FromStorageNetwork || r.Public || !slices.Equal(r.On, []hosts.Role{hosts.RoleStorage}) {
			t.Errorf("%s: %+v, want storage hosts from the storage network", id, r)
		}
	}
}

func TestSSHFromAdminAllowlistOnEveryHost(t *testing.T) {
	r := network.Lookup(network.SSH)
	if r.From != network.FromAdminAllowlist || r.Proto != network.TCP || r.Ports != (network.PortRange{From: 22, To: 22}) {
		t.Errorf("ssh row %+v", r)
	}
	if !slices.Equal(r.On, hosts.AllRoles) {
		t.Errorf("ssh on %v, want every role", r.On)
	}
}

// TestGuideTablePortsPresent lists the guide's tables (1.3.1, 1.3.2) literally: this is the spec.
func TestGuideTablePortsPresent(t *testing.T) {
	type want struct {
		proto    network.Proto
		from, to int
	}
	table := []want{
		{network.TCP, 22, 22}, {network.TCP, 80, 80}, {network.TCP, 443, 443}, {network.UDP, 51820, 51820},
		{network.TCP, 6443, 6443}, {network.TCP, 10250, 10250}, {network.TCP, 25000, 25000}, {network.TCP, 12379, 12380},
		{network.TCP, 32080, 32080}, {network.TCP, 32443, 32443}, {network.TCP, 32081, 32081},
		{network.TCP, 31080, 31080}, {network.TCP, 31443, 31443}, {network.TCP, 31081, 31081},
		{network.TCP, 6789, 6789}, {network.TCP, 3300, 3300}, {network.TCP, 6800, 7300},
		{network.TCP, 8404, 8404},
	}
	for _, w := range table {
		found := slices.ContainsFunc(network.Matrix, func(r network.Rule) bool {
			return r.Proto == w.proto && r.Ports == network.PortRange{From: w.from, To: w.to}
		})
		if !found {
			t.Errorf("guide port %d-%d/%s missing from the matrix", w.from, w.to, w.proto)
		}
	}
	if network.DefaultWGPort != 51820 || network.DefaultStatsPort != 8404 {
		t.Errorf("defaults %d %d", network.DefaultWGPort, network.DefaultStatsPort)
	}
	if network.NodePortRangeFrom != 30000 || network.NodePortRangeTo != 32767 {
		t.Errorf("NodePort range %d-%d", network.NodePortRangeFrom, network.NodePortRangeTo)
	}
	checks := map[string]int{
		network.IstioExtHTTP: 32080, network.IstioExtHTTPS: 32443, network.IstioExtStatus: 32081,
		network.IstioIntHTTP: 31080, network.IstioIntHTTPS: 31443, network.IstioIntStatus: 31081,
		network.PublicHTTP: 80, network.PublicHTTPS: 443, network.HAProxyStats: 8404, network.WireGuard: 51820,
		network.KubeAPI: 6443,
	}
	for id, p := range checks {
		if got := network.Lookup(id).Ports; got.From != p || got.To != p {
			t.Errorf("%s: %v, want %d", id, got, p)
		}
	}
}

func TestPortRange(t *testing.T) {
	if s := (network.PortRange{From: 22, To: 22}).String(); s != "22" {
		t.Errorf("single port %q", s)
	}
	r := network.PortRange{From: 6800, To: 7300}
	if r.String() != "6800-7300" || !r.Contains(6800) || !r.Contains(7300) || r.Contains(6799) || r.Contains(7301) {
		t.Errorf("range %v", r)
	}
	if fmt.Sprint(network.Lookup(network.Datastore).Ports) != "12379-12380" {
		t.Error("datastore range")
	}
	if !strings.Contains(network.Lookup(network.SSH).Ref, "1.3.1") {
		t.Error("ssh ref")
	}
}
