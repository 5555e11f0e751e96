package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// Node is the part of a host the port matrix needs.
type Node struct {
	Name    string
	Address string
	Roles   hosts.Roles
}

// Topology is everything Resolve needs to turn the matrix into concrete rules.
type Topology struct {
	Nodes            []Node
	AdminAllowlist   []string // CIDRs or addresses
	APIAllowlist     []string // extra Kubernetes API clients (CIDRs or addresses)
	HAProxySourceIPs []string // extra HAProxy source addresses (e.g. SNAT); the HAProxy hosts are always included
	InternalSubnet   string
	WireGuardPort    int // 0: WireGuard disabled
	StatsPort        int // 0: HAProxy stats disabled
}

// Allow is one resolved firewall rule of one host.
type Allow struct {
	Rule  Rule
	Ports PortRange
	// Sources are sorted, de-duplicated addresses/CIDRs. Anywhere is true for public rows; then
	// Sources is empty.
	Sources  []string
	Anywhere bool
}

// String is "id proto/ports from sources", e.g. "ssh tcp/22 from 10.10.250.0/24".
func (a Allow) String() string {
	from := "anywhere"
	if !a.Anywhere {
		from = strings.Join(a.Sources, ",")
		if from == "" {
			from = "nobody"
		}
	}
	if a.Rule.Proto == VRRP {
		return fmt.Sprintf("%s vrrp from %s", a.Rule.ID, from)
	}
	return fmt.Sprintf("%s %s/%s from %s", a.Rule.ID, a.Rule.Proto, a.Ports, from)
}

// Fact is the rule as plain data (component outputs, the policy pack). Its sources are one
// comma-separated string ("" for none), as in String: a host lists every cluster address in
// several rows, and one string per row instead of one element per address keeps the outputs of
// a 300-host stack from growing with the square of the hosts (each element is awaited,
// marshalled and stored on its own).
func (a Allow) Fact() map[string]any {
	return map[string]any{
		"id": a.Rule.ID, "proto": string(a.Rule.Proto), "from": a.Ports.From, "to": a.Ports.To,
		"source": string(a.Rule.From), "sources": strings.Join(a.Sources, ","), "anywhere": a.Anywhere, "public": a.Rule.Public,
	}
}

// Enabled reports whether a feature-gated row applies to this topology.
func (t Topology) Enabled(f Feature) bool {
	switch f {
	case WhenWireGuard:
		return t.WireGuardPort > 0
	case WhenHAProxyStats:
		return t.StatsPort > 0
	case WhenVRRP:
		return len(t.addressesWith(hosts.RoleHAProxy)) > 1
	}
	return true
}

// PortsOf is the effective port range of a row (WireGuard and stats ports come from config).
func (t Topology) PortsOf(r Rule) PortRange {
	switch r.ID {
	case WireGuard:
		return port(t.WireGuardPort)
	case HAProxyStats:
		return port(t.StatsPort)
	}
	return r.Ports
}

func (t Topology) addressesWith(roles ...hosts.Role) []string {
	var out []string
	for _, n := range t.Nodes {
		if n.Roles.Any(roles...) {
			out = append(out, n.Address)
		}
	}
	return out
}

// Sources resolves a Source to its addresses (nil for FromAnywhere).
func (t Topology) Sources(s Source) []string {
	var out []string
	switch s {
	case FromAnywhere:
		return nil
	case FromAdminAllowlist:
		out = append(slices.Clone(t.AdminAllowlist), t.addressesWith(hosts.RoleBastion)...)
	case FromClusterNodes:
		out = t.addressesWith(hosts.RoleMaster, hosts.RoleWorker)
	case FromAPIClients:
		out = append(t.addressesWith(hosts.RoleMaster, hosts.RoleWorker), t.APIAllowlist...)
	case FromHAProxy:
		out = append(t.addressesWith(hosts.RoleHAProxy), t.HAProxySourceIPs...)
	case FromStorageNetwork:
		out = t.addressesWith(hosts.RoleStorage, hosts.RoleMaster, hosts.RoleWorker)
	case FromStorageNodes:
		out = t.addressesWith(hosts.RoleStorage)
	case FromHAProxyHosts:
		out = t.addressesWith(hosts.RoleHAProxy)
	case FromInternalSubnet:
		out = []string{t.InternalSubnet}
	}
	return collapse(sortAddrs(out))
}

// collapse drops entries covered by another entry (nftables refuses overlapping intervals). Each
// entry is parsed once and compared only with the (few) wider prefixes: linear in the list.
func collapse(in []string) []string {
	parsed := make([]netip.Prefix, len(in))
	valid := make([]bool, len(in))
	var wide []netip.Prefix
	for i, a := range in {
		parsed[i], valid[i] = prefixOf(a)
		p := parsed[i]
		if valid[i] && p.Bits() < p.Addr().BitLen() {
			wide = append(wide, p)
		}
	}
	out := make([]string, 0, len(in))
	for i, a := range in {
		covered := false
		for _, w := range wide {
			if valid[i] && w.Bits() < parsed[i].Bits() && w.Contains(parsed[i].Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, a)
		}
	}
	return out
}

// RulesFor resolves the matrix for one host, in matrix order.
func (t Topology) RulesFor(n Node) []Allow {
	var out []Allow
	for _, r := range Matrix {
		if !n.Roles.Any(r.On...) || !t.Enabled(r.When) {
			continue
		}
		a := Allow{Rule: r, Ports: t.PortsOf(r), Anywhere: r.From == FromAnywhere}
		if !a.Anywhere {
			a.Sources = t.Sources(r.From)
			if r.Proto == VRRP { // a host does not need VRRP from itself
				a.Sources = slices.DeleteFunc(a.Sources, func(s string) bool { return s == n.Address })
			}
		}
		out = append(out, a)
	}
	return out
}

// sortAddrs sorts numerically where possible and drops duplicates. Each entry is parsed once
// (a sort that parsed in its comparator would parse O(n log n) times per call).
func sortAddrs(in []string) []string {
	type key struct {
		s  string
		p  netip.Prefix
		ok bool
	}
	keys := make([]key, len(in))
	for i, s := range in {
		p, ok := prefixOf(s)
		keys[i] = key{s, p, ok}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.ok && b.ok {
			if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
				return c
			}
			return a.p.Bits() - b.p.Bits()
		}
		return strings.Compare(a.s, b.s)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.s
	}
	return slices.Compact(out)
}

// prefixOf parses an address (as its host prefix) or a CIDR, without allocating.
func prefixOf(s string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	return p, err == nil
}
