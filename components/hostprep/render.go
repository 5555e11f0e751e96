// Package hostprep prepares each host (guide 1.3, 1.4, 2 and playbook 6.system-tuning): a
// read-only preflight, base packages and time sync, system tuning, and the host firewall
// (nftables) generated from the port matrix. Steps run in that order, per host.
package hostprep

import (
	"embed"
	"fmt"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("hostprep", files, "scripts/*.tmpl")

// Steps in execution order.
var Steps = []string{"preflight", "base", "tuning", "firewall"}

// Peer is another host of the stack (for /etc/hosts and resolution checks).
type Peer struct{ Name, Address string }

// Plan is everything the scripts of one host are rendered from.
type Plan struct {
	Name       string
	Address    string
	Roles      hosts.Roles
	Sizing     hosts.Sizing
	CephDisks  []string
	Lab        bool
	Peers      []Peer
	NTPServers []string
	Topology   network.Topology
}

// Component names the package's directory in the render output (<host>/hostprep/...).
const Component = "hostprep"

// Rendered is what one host receives.
type Rendered struct {
	Host    string
	Scripts []remotecmd.Script // in Steps order
	Ruleset string             // the nftables ruleset (also inside the firewall script)
	Rules   []network.Allow    // the resolved port-matrix rows (for tests, outputs and policies)
}

// Render renders the scripts of one host.
func Render(p Plan) (Rendered, error) {
	out := Rendered{Host: p.Name, Rules: p.Topology.RulesFor(network.Node{Name: p.Name, Address: p.Address, Roles: p.Roles})}
	fw := firewallData(p, out.Rules)
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, "nftables.nft.tmpl", fw); err != nil {
		return out, fmt.Errorf("render nftables for %s: %w", p.Name, err)
	}
	out.Ruleset = b.String()
	fw.Ruleset = out.Ruleset
	data := map[string]any{
		"preflight": preflightData(p),
		"base":      baseData(p),
		"tuning":    tuningData(p),
		"firewall":  fw,
	}
	for _, step := range Steps {
		s, err := remotecmd.Render("hostprep-"+step, tmpl.Lookup(step+".sh.tmpl"), data[step])
		if err != nil {
			return out, err
		}
		out.Scripts = append(out.Scripts, s)
	}
	return out, nil
}

// Files are what the render command writes for the host: the scripts in Steps order
// ("10-preflight.sh" ... "40-firewall.sh"), then the ruleset the firewall step loads.
func (r Rendered) Files() []remotecmd.File {
	var out []remotecmd.File
	for i, s := range r.Scripts {
		out = append(out, remotecmd.ScriptFiles(r.Host, Component, remotecmd.NumberedName(i, Steps[i]), s)...)
	}
	return append(out, remotecmd.ConfigFile(r.Host, Component, "nftables.nft", r.Ruleset, remotecmd.ConfigMode))
}

type preflight struct {
	Plan
	DiskCount int
	MinMemKB  int
}

func preflightData(p Plan) preflight {
	return preflight{Plan: p, DiskCount: 1 + len(p.Sizing.DataDisksGB), MinMemKB: p.Sizing.MemoryGB * 1024 * 1024 * 93 / 100}
}

type base struct {
	Plan
	Packages []string
	// PeerRows are the /etc/hosts lines, "address name" (remotecmd.Table).
	PeerRows [][]string
}

// Packages every host gets; the cluster layers install their own (snaps, haproxy, ...).
var basePackages = []string{"ca-certificates", "chrony", "curl", "jq", "nftables"}

func baseData(p Plan) base {
	flat := make([]string, 0, 2*len(p.Peers))
	rows := make([][]string, len(p.Peers))
	for i, pe := range p.Peers {
		flat = append(flat, pe.Address, pe.Name)
		rows[i] = flat[2*i : 2*i+2 : 2*i+2]
	}
	return base{Plan: p, Packages: basePackages, PeerRows: rows}
}

// Sysctl is one kernel setting.
type Sysctl struct{ Key, Value string }

type tuning struct {
	Plan
	Modules []string
	Sysctls []Sysctl
	NoFile  int
	NProc   int
}

// Tuning per role: what MicroK8s (bridged pod traffic, many watches), Ceph clients (rbd),
// OpenSearch-style workloads (max_map_count) and HAProxy (VIP bind before failover, backlog) need.
func tuningData(p Plan) tuning {
	t := tuning{Plan: p, NoFile: 1048576, NProc: 65535}
	t.Sysctls = []Sysctl{
		{"fs.file-max", "2097152"},
		{"net.core.somaxconn", "32768"},
		{"net.ipv4.tcp_max_syn_backlog", "8192"},
		{"vm.swappiness", "1"},
	}
	if p.Roles.IsKubernetesNode() {
		t.Modules = append(t.Modules, "overlay", "br_netfilter", "rbd", "nf_conntrack")
		t.Sysctls = append(t.Sysctls,
			Sysctl{"net.ipv4.ip_forward", "1"},
			Sysctl{"net.bridge.bridge-nf-call-iptables", "1"},
			Sysctl{"net.bridge.bridge-nf-call-ip6tables", "1"},
			Sysctl{"fs.inotify.max_user_instances", "8192"},
			Sysctl{"fs.inotify.max_user_watches", "1048576"},
			Sysctl{"vm.max_map_count", "262144"},
			Sysctl{"net.netfilter.nf_conntrack_max", "1048576"},
		)
	}
	if p.Roles.Has(hosts.RoleStorage) {
		t.Sysctls = append(t.Sysctls, Sysctl{"vm.min_free_kbytes", "262144"}, Sysctl{"kernel.pid_max", "4194304"})
	}
	if p.Roles.Has(hosts.RoleHAProxy) {
		t.Modules = append(t.Modules, "nf_conntrack")
		t.Sysctls = append(t.Sysctls,
			Sysctl{"net.ipv4.ip_nonlocal_bind", "1"},
			Sysctl{"net.ipv4.ip_local_port_range", "1024 65000"},
		)
	}
	if len(t.Modules) == 0 {
		t.Modules = []string{"nf_conntrack"}
	}
	return t
}

// nftSet is a named source set of the ruleset.
type nftSet struct {
	Name     string
	Elements []string
}

// nftRule is one accept rule.
type nftRule struct{ Match, Comment string }

type firewall struct {
	Plan
	Sets                 []nftSet
	Rules                []nftRule
	SSHSources           []string
	KubernetesNode       bool
	NodePortsFromHAProxy bool
	NodePortRange        string
	Ruleset              string
}

func setName(s network.Source) string { return strings.ReplaceAll(string(s), "-", "_") }

func firewallData(p Plan, allows []network.Allow) firewall {
	f := firewall{Plan: p, KubernetesNode: p.Roles.IsKubernetesNode(),
		NodePortRange: fmt.Sprintf("%d-%d", network.NodePortRangeFrom, network.NodePortRangeTo)}
	sets := map[network.Source][]string{}
	order := []network.Source{}
	for _, a := range allows {
		if a.Anywhere {
			f.Rules = append(f.Rules, nftRule{Match: fmt.Sprintf("%s dport %s", a.Rule.Proto, a.Ports), Comment: comment(a)})
			continue
		}
		if len(a.Sources) == 0 {
			continue // nobody may connect: nothing to accept
		}
		name := setName(a.Rule.From)
		if a.Rule.Proto == network.VRRP {
			// the peer set differs per host (a host does not list itself)
			name = "vrrp_peers"
		}
		src := network.Source(name)
		if _, ok := sets[src]; !ok {
			order = append(order, src)
			sets[src] = a.Sources
		}
		match := fmt.Sprintf("ip saddr @%s %s dport %s", name, a.Rule.Proto, a.Ports)
		if a.Rule.Proto == network.VRRP {
			match = fmt.Sprintf("ip saddr @%s ip protocol vrrp", name)
		}
		f.Rules = append(f.Rules, nftRule{Match: match, Comment: comment(a)})
		if a.Rule.ID == network.SSH {
			f.SSHSources = a.Sources
		}
		if a.Rule.From == network.FromHAProxy && a.Rule.Proto == network.TCP {
			f.NodePortsFromHAProxy = true
		}
	}
	for _, s := range order {
		f.Sets = append(f.Sets, nftSet{Name: string(s), Elements: sets[s]})
	}
	return f
}

// comment names the matrix row and its source; nftables caps comments at 128 bytes.
func comment(a network.Allow) string {
	c := fmt.Sprintf("%s (%s)", a.Rule.ID, a.Rule.Ref)
	if len(c) > 120 {
		c = c[:117] + "..."
	}
	return c
}
