package stacks

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const commandToken = "command:remote:Command"

var stacksUnderTest = []string{"prod", "stg"}

// isTopLevel: the resource's parent is the stack itself.
func isTopLevel(r mocktest.Resource) bool {
	return r.Parent == "" || strings.Contains(r.Parent, "::pulumi:pulumi:Stack::")
}

// TestDeployHosts: one hosts component; for Proxmox one VM per host under it, through the explicit
// provider; for existing hosts no VM. Names, addresses and roles are the stack file's.
func TestDeployHosts(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, src := deployStack(t, stack)
			want := stackFileHosts(t, stack)

			comps := m.ByType(hosts.Token)
			if len(comps) != 1 || comps[0].Name != "hosts" || !isTopLevel(comps[0]) || comps[0].Custom {
				t.Fatalf("want one top-level %s component named hosts, got %+v", hosts.Token, comps)
			}
			hostsURN := comps[0].URN
			vms := m.ByType(hosts.VMLegacyToken)
			providers := m.ByType(hosts.ProxmoxProviderTok)

			if stack == "prod" {
				if len(vms) != 0 || len(providers) != 0 {
					t.Fatalf("existing hosts: %d VMs and %d Proxmox providers registered, want none", len(vms), len(providers))
				}
				return
			}

			if len(providers) != 1 {
				t.Fatalf("%d Proxmox providers, want 1", len(providers))
			}
			prov := providers[0]
			if prov.Name != "hosts-proxmox" || prov.Parent != hostsURN {
				t.Errorf("provider %s has parent %s, want hosts-proxmox under %s", prov.Name, prov.Parent, hostsURN)
			}
			if got := mocktest.String(prov.Inputs, "endpoint"); got != "https://pve.example.org:8006/" {
				t.Errorf("provider endpoint = %q", got)
			}
			if prov.Version != hosts.ProxmoxVersion {
				t.Errorf("provider version = %q, want the pinned %s", prov.Version, hosts.ProxmoxVersion)
			}

			if len(vms) != len(want) {
				t.Fatalf("%d VMs, want one per host (%d)", len(vms), len(want))
			}
			key, _ := src.Get(SecretSSHPrivateKey)
			signer, err := ssh.ParsePrivateKey([]byte(key))
			if err != nil {
				t.Fatal(err)
			}
			authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
			for _, h := range want {
				vm := m.Named(t, "hosts-"+h.Name)
				if vm.Type != hosts.VMLegacyToken {
					t.Errorf("%s is a %s", vm.Name, vm.Type)
					continue
				}
				if vm.Parent != hostsURN {
					t.Errorf("%s: parent %q, want the hosts component", vm.Name, vm.Parent)
				}
				if !strings.HasPrefix(vm.Provider, prov.URN+"::") {
					t.Errorf("%s: provider %q, want the explicit provider %s", vm.Name, vm.Provider, prov.URN)
				}
				in := resource.NewObjectProperty(vm.Inputs)
				checks := map[string][2]any{
					"name":         {prop(in, "name").StringValue(), h.Name},
					"vmId":         {prop(in, "vmId").NumberValue(), float64(h.Proxmox.VMID)},
					"nodeName":     {prop(in, "nodeName").StringValue(), "pve1"},
					"clone.vmId":   {prop(in, "clone", "vmId").NumberValue(), float64(9000)},
					"ipv4.address": {prop(in, "initialization", "ipConfigs", 0, "ipv4", "address").StringValue(), h.Address + "/16"},
					"ipv4.gateway": {prop(in, "initialization", "ipConfigs", 0, "ipv4", "gateway").StringValue(), "10.10.0.1"},
					"username":     {prop(in, "initialization", "userAccount", "username").StringValue(), "ubuntu"},
					"key":          {prop(in, "initialization", "userAccount", "keys", 0).StringValue(), authorized},
				}
				for what, c := range checks {
					if c[0] != c[1] {
						t.Errorf("%s: %s = %v, want %v", vm.Name, what, c[0], c[1])
					}
				}
				var tags []string
				for _, v := range prop(in, "tags").ArrayValue() {
					tags = append(tags, v.StringValue())
				}
				if wantTags := append([]string{"pm4ml"}, h.Roles...); !slices.Equal(tags, wantTags) {
					t.Errorf("%s: tags %v, want %v (the stack file's roles)", vm.Name, tags, wantTags)
				}
			}
		})
	}
}

// TestDeployHostOutputs: the hosts component's outputs and Build's Stack carry the stack file's
// names, addresses and roles, in file order.
func TestDeployHostOutputs(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			_, b := runBuild(t, stackSource(t, stack))
			want := stackFileHosts(t, stack)
			if len(b.Stack.Hosts.Hosts) != len(want) || len(b.Stack.Prep) != len(want) {
				t.Fatalf("%d hosts / %d preps, want %d", len(b.Stack.Hosts.Hosts), len(b.Stack.Prep), len(want))
			}
			wantAddr, wantRoles := map[string]string{}, map[string]string{}
			for i, h := range want {
				wantAddr[h.Name] = h.Address
				wantRoles[h.Name] = strings.Join(h.Roles, "+")
				got := b.Stack.Hosts.Hosts[i]
				if got.Name != h.Name || got.Address != h.Address || got.Roles.String() != wantRoles[h.Name] {
					t.Errorf("hosts[%d] = %s %s %s, want %s %s %s", i, got.Name, got.Address, got.Roles, h.Name, h.Address, wantRoles[h.Name])
				}
			}
			if fmt.Sprint(b.Addresses) != fmt.Sprint(wantAddr) {
				t.Errorf("addresses output = %v, want %v", b.Addresses, wantAddr)
			}
			if fmt.Sprint(b.Roles) != fmt.Sprint(wantRoles) {
				t.Errorf("roles output = %v, want %v", b.Roles, wantRoles)
			}
		})
	}
}

// TestDeployHostPrepChains: per host one HostPrep with exactly the four steps, chained in order;
// on Proxmox the preflight waits for that host's VM (and no other).
func TestDeployHostPrepChains(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, _ := deployStack(t, stack)
			want := stackFileHosts(t, stack)
			if got := len(m.ByType(hostprep.Token)); got != len(want) {
				t.Errorf("%d HostPrep components, want %d", got, len(want))
			}
			prepCmds := 0
			for _, r := range m.ByType(commandToken) {
				if p := m.ParentName(r); strings.HasPrefix(p, "prep-") {
					prepCmds++
				}
			}
			if prepCmds != 4*len(want) {
				t.Errorf("%d host-preparation commands, want 4 per host = %d", prepCmds, 4*len(want))
			}
			for _, h := range want {
				prep := m.Named(t, "prep-"+h.Name)
				if prep.Type != hostprep.Token || !isTopLevel(prep) {
					t.Errorf("%s: type %s parent %q", prep.Name, prep.Type, prep.Parent)
				}
				var names []string
				for _, c := range m.ChildrenOf(t, prep.Name) {
					if c.Type != commandToken {
						t.Errorf("%s has a child %s of type %s", prep.Name, c.Name, c.Type)
					}
					names = append(names, c.Name)
				}
				var wantNames []string
				for _, s := range []string{"preflight", "base", "tuning", "firewall"} {
					wantNames = append(wantNames, "prep-"+h.Name+"-"+s)
				}
				if !slices.Equal(names, wantNames) {
					t.Fatalf("%s children = %v, want %v in that order", prep.Name, names, wantNames)
				}
				for i := 1; i < len(wantNames); i++ {
					if !m.DependsOn(t, wantNames[i], wantNames[i-1]) {
						t.Errorf("%s does not depend on %s", wantNames[i], wantNames[i-1])
					}
					if m.DependsOnTransitively(t, wantNames[i-1], wantNames[i]) {
						t.Errorf("%s depends on the later step %s", wantNames[i-1], wantNames[i])
					}
				}
				preflight := m.Named(t, wantNames[0])
				if stack == "stg" {
					vm := m.Named(t, "hosts-"+h.Name)
					if !m.DependsOn(t, preflight.Name, vm.Name) {
						t.Errorf("%s does not depend on its VM %s", preflight.Name, vm.Name)
					}
					// nothing of another host
					for _, d := range preflight.Deps {
						if d != vm.URN {
							t.Errorf("%s depends on %s besides its VM", preflight.Name, d)
						}
					}
				} else if len(preflight.Deps) != 0 {
					t.Errorf("%s (existing host) depends on %v, want nothing", preflight.Name, preflight.Deps)
				}
				// every step reaches this host, as ssh.user, through the bastion in prod
				for _, n := range wantNames {
					checkConnection(t, m.Named(t, n), h.Address, stack == "prod")
				}
			}
		})
	}
}

func checkConnection(t *testing.T, cmd mocktest.Resource, address string, bastion bool) {
	t.Helper()
	in := resource.NewObjectProperty(cmd.Inputs)
	if got := prop(in, "connection", "host"); !got.IsString() || got.StringValue() != address {
		t.Errorf("%s: connection.host = %v, want %s", cmd.Name, got, address)
	}
	if got := prop(in, "connection", "user"); !got.IsString() || got.StringValue() != "ubuntu" {
		t.Errorf("%s: connection.user = %v, want ubuntu", cmd.Name, got)
	}
	proxy := prop(in, "connection", "proxy", "host")
	switch {
	case bastion && (!proxy.IsString() || proxy.StringValue() != "10.10.0.5"):
		t.Errorf("%s: connection.proxy.host = %v, want the bastion 10.10.0.5", cmd.Name, proxy)
	case !bastion && !proxy.IsNull():
		t.Errorf("%s: connection.proxy.host = %v, want no proxy", cmd.Name, proxy)
	}
	create := mocktest.String(cmd.Inputs, "create")
	if !strings.HasPrefix(create, "sudo -n bash -c '") {
		t.Errorf("%s: create does not run the script under sudo bash: %.60q", cmd.Name, create)
	}
}

// TestDeployNoOrphans: only components sit at the top; every other resource has a recorded
// parent and a name prefixed with its parent's.
func TestDeployNoOrphans(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, err := runStack(t, stackSource(t, stack))
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			urns := map[string]mocktest.Resource{}
			for _, r := range m.Resources {
				if _, dup := urns[r.URN]; dup {
					t.Errorf("URN %s registered twice", r.URN)
				}
				urns[r.URN] = r
			}
			var top []string
			for _, r := range m.Resources {
				if isTopLevel(r) {
					top = append(top, r.Name)
					if r.Custom || !strings.HasPrefix(r.Type, "pm4ml:") {
						t.Errorf("top-level %s %s is not a pm4ml component", r.Type, r.Name)
					}
					continue
				}
				p, ok := urns[r.Parent]
				if !ok {
					t.Errorf("%s %s: parent %s was not registered", r.Type, r.Name, r.Parent)
					continue
				}
				if !strings.HasPrefix(r.Name, p.Name+"-") {
					t.Errorf("%s is not prefixed with its parent's name %s", r.Name, p.Name)
				}
			}
			for _, n := range append([]string{"hosts"}, prepNames(t, stack)...) {
				if !slices.Contains(top, n) {
					t.Errorf("component %s is not at the top level (top: %v)", n, top)
				}
			}
			if len(m.Resources) == len(top) {
				t.Error("no child resources at all")
			}
		})
	}
}

func prepNames(t *testing.T, stack string) []string {
	var out []string
	for _, h := range stackFileHosts(t, stack) {
		out = append(out, "prep-"+h.Name)
	}
	return out
}

// --- firewall ---------------------------------------------------------------------------------

// scriptOf recovers the script a remote command runs from its create line
// (sudo -n bash -c '<script>' <step> "${SSH_CONNECTION%% *}").
func scriptOf(t *testing.T, cmd mocktest.Resource) (step, body string) {
	t.Helper()
	create := mocktest.String(cmd.Inputs, "create")
	const pre = "sudo -n bash -c '"
	const post = ` "${SSH_CONNECTION%% *}"`
	if !strings.HasPrefix(create, pre) || !strings.HasSuffix(create, post) {
		t.Fatalf("%s: unexpected create line %.80q", cmd.Name, create)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(create, pre), post)
	i := strings.LastIndex(inner, "' ")
	if i < 0 {
		t.Fatalf("%s: no step after the script", cmd.Name)
	}
	return inner[i+2:], strings.ReplaceAll(inner[:i], `'\''`, `'`)
}

// rulesetOf extracts the nftables ruleset from a firewall script.
func rulesetOf(t *testing.T, body string) string {
	t.Helper()
	const open = "<<'PM4ML_NFT'\n"
	i := strings.Index(body, open)
	j := strings.Index(body, "\nPM4ML_NFT\n")
	if i < 0 || j < i {
		t.Fatalf("no nftables heredoc in the firewall script")
	}
	return body[i+len(open) : j+1]
}

// fwView is what a host's firewall admits: "tcp/22" -> sorted sources ("*" = anywhere), "vrrp" ->
// sources; and which sources the NodePort pre-filter accepts (nil: none).
type fwView struct {
	Admits       map[string][]string
	NodePortFrom []string
	NodePortDrop bool
}

var (
	setLine     = regexp.MustCompile(`^set (\w+) \{$`)
	elemLine    = regexp.MustCompile(`^elements = \{ (.*) \}$`)
	chainLine   = regexp.MustCompile(`^chain (\w+) \{$`)
	fromSetRule = regexp.MustCompile(`^ip saddr @(\w+) (tcp|udp) dport (\S+) accept( comment ".*")?$`)
	anyRule     = regexp.MustCompile(`^(tcp|udp) dport (\S+) accept( comment ".*")?$`)
	vrrpRule    = regexp.MustCompile(`^ip saddr @(\w+) ip protocol vrrp accept( comment ".*")?$`)
	nodePortAcc = regexp.MustCompile(`^meta l4proto \{ tcp, udp \} th dport (\S+) ip saddr @(\w+) accept( comment ".*")?$`)
	nodePortDrp = regexp.MustCompile(`^meta l4proto \{ tcp, udp \} th dport (\S+) counter drop( comment ".*")?$`)
	// accept lines that admit no port-matrix traffic: return traffic, loopback, pods, ICMP, and
	// (pre-filter) traffic not addressed to this host.
	neutralAccept = []*regexp.Regexp{
		regexp.MustCompile(`^ct state established,related accept$`),
		regexp.MustCompile(`^iif "lo" accept$`),
		regexp.MustCompile(`^iifname "cali\*" accept( comment ".*")?$`),
		regexp.MustCompile(`^iifname "vxlan\.calico" accept( comment ".*")?$`),
		regexp.MustCompile(`^meta l4proto \{ icmp, icmpv6 \} accept$`),
		regexp.MustCompile(`^fib daddr type != local accept$`),
	}
)

// parseRuleset reads the ruleset the host loads; any accept it does not understand fails the test.
func parseRuleset(t *testing.T, host, rs string) fwView {
	t.Helper()
	v := fwView{Admits: map[string][]string{}}
	sets := map[string][]string{}
	cur, chain := "", ""
	nodeRange := fmt.Sprintf("%d-%d", network.NodePortRangeFrom, network.NodePortRangeTo)
	admit := func(k string, srcs []string) {
		if _, dup := v.Admits[k]; dup {
			t.Errorf("%s: %s admitted by two rules", host, k)
		}
		v.Admits[k] = sorted(srcs)
	}
	lookup := func(set string) []string {
		s, ok := sets[set]
		if !ok {
			t.Errorf("%s: rule refers to undefined set @%s", host, set)
		}
		return s
	}
	for _, line := range strings.Split(rs, "\n") {
		line = strings.TrimSpace(line)
		if m := setLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
			continue
		}
		if m := elemLine.FindStringSubmatch(line); m != nil && cur != "" {
			sets[cur] = strings.Split(m[1], ", ")
			cur = ""
			continue
		}
		if m := chainLine.FindStringSubmatch(line); m != nil {
			chain = m[1]
			continue
		}
		if !strings.Contains(line, "accept") || strings.Contains(line, "policy accept;") {
			if m := nodePortDrp.FindStringSubmatch(line); m != nil && chain == "nodeports" && m[1] == nodeRange {
				v.NodePortDrop = true
			}
			continue
		}
		if slices.ContainsFunc(neutralAccept, func(r *regexp.Regexp) bool { return r.MatchString(line) }) {
			continue
		}
		switch m := []([]string){fromSetRule.FindStringSubmatch(line), anyRule.FindStringSubmatch(line),
			vrrpRule.FindStringSubmatch(line), nodePortAcc.FindStringSubmatch(line)}; {
		case chain == "input" && m[0] != nil:
			admit(m[0][2]+"/"+m[0][3], lookup(m[0][1]))
		case chain == "input" && m[1] != nil:
			admit(m[1][1]+"/"+m[1][2], []string{"*"})
		case chain == "input" && m[2] != nil:
			admit("vrrp", lookup(m[2][1]))
		case chain == "nodeports" && m[3] != nil && m[3][1] == nodeRange:
			v.NodePortFrom = sorted(append(v.NodePortFrom, lookup(m[3][2])...))
		default:
			t.Errorf("%s: accept rule not understood (chain %s): %s", host, chain, line)
		}
	}
	return v
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// viewOfRules is the same view computed from the resolved port-matrix rows.
func viewOfRules(rules []network.Allow) map[string][]string {
	out := map[string][]string{}
	for _, a := range rules {
		k := string(a.Rule.Proto) + "/" + a.Ports.String()
		if a.Rule.Proto == network.VRRP {
			k = "vrrp"
		}
		switch {
		case a.Anywhere:
			out[k] = []string{"*"}
		case len(a.Sources) > 0:
			out[k] = sorted(a.Sources)
		}
	}
	return out
}

// expectation is what one host must admit, exactly.
type expectation struct {
	admits   map[string][]string
	nodePort []string // sources the NodePort pre-filter accepts
	k8sNode  bool     // has the NodePort pre-filter chain (dropping the rest)
}

func union(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return sorted(out)
}

// The guide's port numbers are written out here on purpose: this is the independent oracle the
// port matrix is checked against (guide 1.3.1 / 1.3.2).
func expectedFirewall(stack string) map[string]expectation {
	admin := []string{"10.10.250.0/24"}
	var lbs, masters, workers, storage, k8s []string
	var apiAllow []string
	switch stack {
	case "prod":
		admin = append(admin, "10.10.0.5") // the bastion
		lbs = []string{"10.10.0.11", "10.10.0.12"}
		masters = []string{"10.10.1.11", "10.10.1.12", "10.10.1.13"}
		workers = []string{"10.10.2.21", "10.10.2.22", "10.10.2.23"}
		storage = []string{"10.10.3.31", "10.10.3.32", "10.10.3.33"}
	case "stg":
		lbs = []string{"10.10.100.5"}
		masters = []string{"10.10.100.11", "10.10.100.12"}
		workers = masters
		storage = []string{"10.10.100.31"}
	}
	k8s = union(masters, workers)
	apiAllow = []string{"10.10.250.0/24"} // network.apiAllowlist defaults to network.adminAllowlist
	ssh := map[string][]string{"tcp/22": sorted(admin)}
	with := func(base map[string][]string, more map[string][]string) map[string][]string {
		out := map[string][]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	master := map[string][]string{
		"tcp/6443": union(k8s, apiAllow), "tcp/16443": union(k8s, apiAllow),
		"tcp/12379-12380": k8s, "tcp/19001": k8s,
		"tcp/10250": k8s, "tcp/25000": k8s, "udp/4789": k8s,
	}
	worker := map[string][]string{
		"tcp/10250": k8s, "tcp/25000": k8s, "udp/4789": k8s,
		"tcp/32080": sorted(lbs), "tcp/32443": sorted(lbs), "tcp/32081": sorted(lbs),
		"tcp/31080": sorted(lbs), "tcp/31443": sorted(lbs), "tcp/31081": sorted(lbs),
	}
	ceph := map[string][]string{
		"tcp/6789": union(storage, k8s), "tcp/3300": union(storage, k8s), "tcp/6800-7300": union(storage, k8s),
		"tcp/7443": sorted(storage), // the MicroCeph daemon: between the storage nodes only
	}
	lb := map[string][]string{"tcp/80": {"*"}, "tcp/443": {"*"}}

	out := map[string]expectation{}
	switch stack {
	case "prod":
		for i := range masters {
			out[fmt.Sprintf("prod-master-%d", i+1)] = expectation{admits: with(ssh, master), k8sNode: true}
		}
		for i := range workers {
			out[fmt.Sprintf("prod-worker-%d", i+1)] = expectation{admits: with(ssh, worker), nodePort: sorted(lbs), k8sNode: true}
		}
		for i := range storage {
			out[fmt.Sprintf("prod-storage-%d", i+1)] = expectation{admits: with(ssh, ceph)}
		}
		for i := range lbs {
			other := lbs[1-i]
			out[fmt.Sprintf("prod-lb-%d", i+1)] = expectation{admits: with(with(ssh, lb), map[string][]string{
				"tcp/8404": {"10.10.0.0/16"}, "vrrp": {other},
			})}
		}
		out["prod-bastion"] = expectation{admits: ssh}
	case "stg":
		for i := range masters {
			out[fmt.Sprintf("stg-k8s-%d", i+1)] = expectation{admits: with(with(ssh, master), worker), nodePort: sorted(lbs), k8sNode: true}
		}
		out["stg-lb-1"] = expectation{admits: with(ssh, lb)}
		out["stg-storage-1"] = expectation{admits: with(ssh, ceph)}
	}
	return out
}

// TestDeployFirewall: the ruleset each host loads (read back from the firewall command that the
// program registered) admits exactly the guide's traffic from exactly the right sources, and the
// resolved rows agree with it.
func TestDeployFirewall(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			src := stackSource(t, stack)
			m, b := runBuild(t, src)
			exp := expectedFirewall(stack)
			if len(exp) != len(b.Stack.Hosts.Hosts) {
				t.Fatalf("expectations for %d hosts, stack has %d", len(exp), len(b.Stack.Hosts.Hosts))
			}
			plans := b.Stack.Config.PrepPlans()
			for i, h := range b.Stack.Hosts.Hosts {
				want, ok := exp[h.Name]
				if !ok {
					t.Errorf("no expectation for host %s", h.Name)
					continue
				}
				step, body := scriptOf(t, m.Named(t, "prep-"+h.Name+"-firewall"))
				if step != "hostprep-firewall" {
					t.Errorf("%s: firewall command runs step %q", h.Name, step)
				}
				got := parseRuleset(t, h.Name, rulesetOf(t, body))
				if d := diffAdmits(got.Admits, want.admits); d != "" {
					t.Errorf("%s (%s) loaded ruleset:\n%s", h.Name, h.Roles, d)
				}
				if !slices.Equal(got.NodePortFrom, want.nodePort) {
					t.Errorf("%s: NodePorts accepted from %v, want %v", h.Name, got.NodePortFrom, want.nodePort)
				}
				if got.NodePortDrop != want.k8sNode {
					t.Errorf("%s: NodePort drop rule present = %v, want %v", h.Name, got.NodePortDrop, want.k8sNode)
				}
				// no NodePort is admitted on the input chain of a host that is not a worker
				for k := range got.Admits {
					if from, to, ok := portsOf(k); ok && to >= network.NodePortRangeFrom && from <= network.NodePortRangeTo && !h.Roles.Has(hosts.RoleWorker) {
						t.Errorf("%s (%s) admits NodePort %s", h.Name, h.Roles, k)
					}
				}
				// only HAProxy hosts admit anything from anywhere
				for k, srcs := range got.Admits {
					if slices.Contains(srcs, "*") && !h.Roles.Has(hosts.RoleHAProxy) {
						t.Errorf("%s (%s) admits %s from anywhere", h.Name, h.Roles, k)
					}
				}
				// the resolved rows (component output, render) say the same
				if d := diffAdmits(viewOfRules(b.Stack.Prep[i].Rules), want.admits); d != "" {
					t.Errorf("%s HostPrep.Rules:\n%s", h.Name, d)
				}
				r, err := hostprep.Render(plans[i])
				if err != nil {
					t.Fatal(err)
				}
				if d := diffAdmits(viewOfRules(r.Rules), want.admits); d != "" {
					t.Errorf("%s hostprep.Render rules:\n%s", h.Name, d)
				}
			}
		})
	}
}

// TestDeployFirewallAPIAllowlistEmpty: with network.apiAllowlist [] the Kubernetes API is admitted
// from the cluster nodes only, like every other control-plane port.
func TestDeployFirewallAPIAllowlistEmpty(t *testing.T) {
	src := stackSource(t, "prod")
	set("network.apiAllowlist", []any{})(t, src)
	m, _ := runBuild(t, src)
	_, body := scriptOf(t, m.Named(t, "prep-prod-master-2-firewall"))
	got := parseRuleset(t, "prod-master-2", rulesetOf(t, body))
	k8s := []string{"10.10.1.11", "10.10.1.12", "10.10.1.13", "10.10.2.21", "10.10.2.22", "10.10.2.23"}
	for _, p := range []string{"tcp/6443", "tcp/16443", "tcp/12379-12380", "tcp/19001"} {
		if !slices.Equal(got.Admits[p], k8s) {
			t.Errorf("%s admitted from %v, want only the 6 cluster nodes", p, got.Admits[p])
		}
	}
}

// portsOf reads "tcp/6800-7300" as 6800, 7300.
func portsOf(k string) (from, to int, ok bool) {
	_, ports, found := strings.Cut(k, "/")
	if !found {
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(ports, "-")
	if _, err := fmt.Sscanf(a, "%d", &from); err != nil {
		return 0, 0, false
	}
	to = from
	if isRange {
		if _, err := fmt.Sscanf(b, "%d", &to); err != nil {
			return 0, 0, false
		}
	}
	return from, to, true
}

func diffAdmits(got, want map[string][]string) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		g, okg := got[k]
		w, okw := want[k]
		switch {
		case !okw:
			fmt.Fprintf(&b, "  unexpected: %s from %v\n", k, g)
		case !okg:
			fmt.Fprintf(&b, "  missing:    %s from %v\n", k, w)
		case !slices.Equal(g, w):
			fmt.Fprintf(&b, "  %s from %v, want %v\n", k, g, w)
		}
	}
	return b.String()
}

// TestDeployRunsWhatRenderWrites: every script a host runs is byte for byte the render output a
// reviewer reads, and the ruleset inside the firewall script is the rendered nftables.nft.
func TestDeployRunsWhatRenderWrites(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, _ := deployStack(t, stack)
			_, byPath := renderStack(t, stack)
			for _, h := range stackFileHosts(t, stack) {
				for j, s := range hostprep.Steps {
					step, body := scriptOf(t, m.Named(t, "prep-"+h.Name+"-"+s))
					if step != "hostprep-"+s {
						t.Errorf("%s %s: step %q", h.Name, s, step)
					}
					p := fmt.Sprintf("%s/hostprep/%d0-%s.sh", h.Name, j+1, s)
					if art, ok := byPath[p]; !ok {
						t.Errorf("render wrote no %s", p)
					} else if art != body {
						t.Errorf("%s differs from what the program runs", p)
					}
					if s == "firewall" {
						if nft := byPath[h.Name+"/hostprep/nftables.nft"]; nft != rulesetOf(t, body) {
							t.Errorf("%s/hostprep/nftables.nft differs from the ruleset the firewall step loads", h.Name)
						}
					}
				}
			}
		})
	}
}

// --- secrets ----------------------------------------------------------------------------------

// plainStrings calls f for every string in v that is not inside a secret, with its path.
func plainStrings(v resource.PropertyValue, path string, f func(path, s string)) {
	switch {
	case v.IsSecret():
		return
	case v.IsString():
		f(path, v.StringValue())
	case v.IsArray():
		for i, e := range v.ArrayValue() {
			plainStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case v.IsObject():
		for k, e := range v.ObjectValue() {
			plainStrings(e, path+"."+string(k), f)
		}
	case v.IsOutput():
		if o := v.OutputValue(); !o.Secret && o.Known {
			plainStrings(o.Element, path, f)
		}
	}
}

// secretAt reports whether the value at path is marked secret (at it or at an enclosing level).
func secretAt(v resource.PropertyValue, path ...string) bool {
	for _, p := range path {
		if v.ContainsSecrets() && v.IsSecret() {
			return true
		}
		if !v.IsObject() {
			return false
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	return v.IsSecret()
}

// TestDeploySecretsStaySecret: no secret value appears in plain text in any input of any
// resource; the SSH key reaches every command's connection as a secret, the Proxmox API token
// reaches the provider as a secret.
func TestDeploySecretsStaySecret(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, src := deployStack(t, stack)
			needles := map[string]string{}
			for _, k := range requiredSecrets[stack] {
				v, _ := src.Get(k)
				needles[k] = v
				if k == SecretSSHPrivateKey {
					// also each base64 line of the key body, in case it is split or re-wrapped
					for i, l := range strings.Split(v, "\n") {
						if len(l) >= 32 && !strings.HasPrefix(l, "-----") {
							needles[fmt.Sprintf("%s line %d", k, i)] = l
						}
					}
				}
			}
			for _, r := range m.Resources {
				plainStrings(resource.NewObjectProperty(r.Inputs), r.Name, func(path, s string) {
					for what, n := range needles {
						if strings.Contains(s, n) {
							t.Errorf("%s appears in plain text at %s", what, path)
						}
					}
				})
			}
			key, _ := src.Get(SecretSSHPrivateKey)
			cmds := m.ByType(commandToken)
			if len(cmds) == 0 {
				t.Fatal("no commands")
			}
			for _, c := range cmds {
				in := resource.NewObjectProperty(c.Inputs)
				if !secretAt(in, "connection", "privateKey") {
					t.Errorf("%s: connection.privateKey is not secret", c.Name)
				}
				if got := prop(in, "connection", "privateKey"); !got.IsString() || got.StringValue() != key {
					t.Errorf("%s: connection.privateKey is not pm4ml:sshPrivateKey", c.Name)
				}
				if stack == "prod" && !secretAt(in, "connection", "proxy", "privateKey") {
					t.Errorf("%s: connection.proxy.privateKey is not secret", c.Name)
				}
			}
			if stack == "stg" {
				prov := m.Named(t, "hosts-proxmox")
				if !mocktest.IsSecret(prov.Inputs, "apiToken") {
					t.Error("the Proxmox provider's apiToken is not secret")
				}
				if got := mocktest.String(prov.Inputs, "apiToken"); got != fakeSecret(SecretProxmoxAPIToken) {
					t.Errorf("provider apiToken = %q, want pm4ml:proxmoxApiToken", got)
				}
				if !slices.Contains(prov.AdditionalSecretOutputs, "apiToken") {
					t.Errorf("provider additional secret outputs %v lack apiToken", prov.AdditionalSecretOutputs)
				}
			}
		})
	}
}

// TestPeersOf: each host's /etc/hosts block (hostprep Peers) holds itself and the members of
// the clusters it joins by name, so a worker's addition or removal changes only the Kubernetes
// nodes' base step.
func TestPeersOf(t *testing.T) {
	c := loadStack(t, "prod")
	byRole := map[hosts.Role][]string{}
	for _, h := range c.Hosts {
		for _, r := range h.Roles {
			byRole[r] = append(byRole[r], h.Name)
		}
	}
	nodes := append(slices.Clone(byRole[hosts.RoleMaster]), byRole[hosts.RoleWorker]...)
	for _, p := range c.PrepPlans() {
		var got []string
		for _, x := range p.Peers {
			got = append(got, x.Name)
		}
		var want []string
		switch {
		case p.Roles.Has(hosts.RoleMaster) || p.Roles.Has(hosts.RoleWorker):
			want = nodes
		case p.Roles.Has(hosts.RoleStorage):
			want = byRole[hosts.RoleStorage]
		default:
			want = []string{p.Name}
		}
		slices.Sort(got)
		want = slices.Clone(want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s (%v): peers %v, want %v", p.Name, p.Roles, got, want)
		}
	}
}
