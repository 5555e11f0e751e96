package stacks

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

var (
	// placeholders are refused wherever a real value is needed (guide 6.3 "no placeholder").
	placeholderRe = regexp.MustCompile(`(?i)^(changeme|change-me|todo|tbd|xxx+|<.*>|example)$`)
)

// v collects problems.
type v struct{ errs []error }

func (x *v) add(k, problem, fix string) { x.errs = append(x.errs, fieldErr(k, problem, fix)) }

// Validate checks a defaulted Config against the guide and returns every problem found.
func Validate(c *Config) []error {
	x := &v{}
	x.checkGrammar(c)
	x.basics(c)
	subnet := x.network(c)
	x.hosts(c, subnet)
	x.environmentPolicy(c)
	x.ssh(c, subnet)
	x.proxmox(c)
	x.clusterSettings(c)
	x.haproxy(c, subnet)
	x.wireguard(c)
	x.gitops(c)
	x.vault(c)
	x.platform(c)
	x.checklist(c)
	x.secrets(c)
	return x.errs
}

func (x *v) basics(c *Config) {
	switch c.Environment {
	case hosts.Prod, hosts.Stg:
	case "":
		x.add(key("environment"), "is not set", "pulumi config set pm4ml:environment prod|stg")
	default:
		x.add(key("environment"), fmt.Sprintf("%q is not an environment of the guide", c.Environment), "set it to prod or stg")
	}
	if c.Domain == "" {
		x.add(key("domain"), "is not set", "set the DNS zone PM4ML is served under, e.g. pm4ml.example.org (guide 1.2)")
	}
	if c.PM4MLID == "" {
		x.add(key("pm4mlId"), "is not set", "set the PM4ML id the hub operator assigned (it names the Vault path secret/<pm4mlId>/, guide 6.5)")
	}
	switch c.HostSource {
	case SourceExisting, SourceProxmox:
	case "":
		x.add(key("hostSource"), "is not set", "set it to existing (hosts reached over SSH) or proxmox (VMs cloned from a template)")
	default:
		x.add(key("hostSource"), fmt.Sprintf("%q is not a host source", c.HostSource), "set it to existing or proxmox")
	}
	if c.Lab && c.Environment == hosts.Prod {
		x.add(key("lab"), "is true in a prod stack", "remove pm4ml:lab; it is only for the test lab")
	}
}

func validDomain(d string) bool { return grammar.IsDomain(d) }

func (x *v) network(c *Config) netip.Prefix {
	n := c.Network
	subnet, err := netip.ParsePrefix(n.InternalSubnet)
	switch {
	case n.InternalSubnet == "":
		x.add(key("network.internalSubnet"), "is not set", "set the dedicated internal subnet, e.g. 10.10.0.0/16 (guide 1.2)")
	case err != nil || !subnet.Addr().Is4():
		x.add(key("network.internalSubnet"), fmt.Sprintf("%q is not an IPv4 CIDR", n.InternalSubnet), "use a CIDR such as 10.10.0.0/16")
		subnet = netip.Prefix{}
	case subnet.Masked() != subnet:
		x.add(key("network.internalSubnet"), fmt.Sprintf("%q has host bits set", n.InternalSubnet), "use the network address, "+subnet.Masked().String())
	case !subnet.Addr().IsPrivate():
		x.add(key("network.internalSubnet"), fmt.Sprintf("%q is not a private range", n.InternalSubnet), "the internal subnet must be private (RFC 1918), e.g. 10.10.0.0/16")
	}
	if n.Gateway != "" {
		x.addrIn(key("network.gateway"), n.Gateway, subnet)
	}
	if len(n.AdminAllowlist) == 0 {
		x.add(key("network.adminAllowlist"), "is empty: SSH would be admitted from nowhere and the program could not reach the hosts",
			"list the admin CIDRs SSH is admitted from, e.g. [10.10.250.0/24] (guide 1.3.1)")
	}
	x.allowlist("network.adminAllowlist", n.AdminAllowlist, "SSH", "list only the admin networks (guide 1.3.1: SSH restricted by IP whitelist)")
	if !slices.Equal(n.APIAllowlist, n.AdminAllowlist) { // defaulted from the admin allowlist: already checked there
		x.allowlist("network.apiAllowlist", n.APIAllowlist, "the Kubernetes API", "list only the networks pulumi up and kubectl run from")
	}
	for i, a := range n.HAProxySourceIPs {
		x.addrIn(key("network.haproxySourceIps[%d]", i), a, subnet)
	}
	return subnet
}

// allowlist checks a list of admitted sources: each an IPv4 CIDR, none broader than /8, and all
// together not a large part of the Internet (0.0.0.0/1 + 128.0.0.0/1 is "anywhere" too).
func (x *v) allowlist(field string, list []string, what, fix string) {
	var ok []netip.Prefix
	for i, a := range list {
		k := key("%s[%d]", field, i)
		p, valid := x.cidr(k, a)
		switch {
		case !valid:
		case p.Bits() == 0:
			x.add(k, fmt.Sprintf("%q admits %s from anywhere", a, what), fix)
		case p.Bits() < MinAllowlistBits:
			x.add(k, fmt.Sprintf("%q admits %s from %d addresses", a, what, uint64(1)<<(32-p.Bits())), fmt.Sprintf("%s; an entry is at most a /%d", fix, MinAllowlistBits))
		default:
			ok = append(ok, p)
		}
	}
	if n := coverage(ok); n > MaxAllowlistAddrs {
		x.add(key("%s", field), fmt.Sprintf("admits %s from %d addresses together (more than %d)", what, n, MaxAllowlistAddrs), fix)
	}
}

// Bounds of an allowlist: no entry broader than a /8, at most four /8s in all.
const (
	MinAllowlistBits  = 8
	MaxAllowlistAddrs = 4 << 24
)

// coverage counts the addresses a set of prefixes covers (overlaps counted once).
func coverage(ps []netip.Prefix) uint64 {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var total uint64
	var end uint64 // first address after the last counted range
	for _, p := range ps {
		b := p.Addr().As4()
		start := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		stop := start + uint64(1)<<(32-p.Bits())
		if stop <= end {
			continue
		}
		total += stop - max(start, end)
		end = stop
	}
	return total
}

func (x *v) cidr(k, s string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		x.add(k, fmt.Sprintf("%q is not an IPv4 address or CIDR", s), "use e.g. 10.10.250.0/24")
		return p, false
	}
	if p.Masked() != p {
		x.add(k, fmt.Sprintf("%q has host bits set", s), "use "+p.Masked().String())
		return p, false
	}
	return p, true
}

// addrIn checks an IPv4 address inside the internal subnet (when the subnet is valid).
func (x *v) addrIn(k, s string, subnet netip.Prefix) bool {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		x.add(k, fmt.Sprintf("%q is not an IPv4 address", s), "use a static IPv4 address of the internal subnet (guide 1.2)")
		return false
	}
	if subnet.IsValid() && !subnet.Contains(a) {
		x.add(k, fmt.Sprintf("%s is outside the internal subnet %s", s, subnet), "use an address of pm4ml:network.internalSubnet or widen the subnet")
		return false
	}
	if subnet.IsValid() && (a == subnet.Masked().Addr() || a == lastAddr(subnet)) {
		x.add(k, fmt.Sprintf("%s is the network or broadcast address of %s", s, subnet), "use a host address")
		return false
	}
	return true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (x *v) hosts(c *Config, subnet netip.Prefix) {
	if len(c.Hosts) == 0 {
		x.add(key("hosts"), "is empty", "list every host with name, address and roles (see Pulumi.stg.yaml)")
		return
	}
	names, addrs := map[string]int{}, map[string]int{}
	for i, h := range c.Hosts {
		k := func(f string) string { return key("hosts[%d].%s", i, f) }
		switch {
		case h.Name == "":
			x.add(k("name"), "is not set", "give the host its hostname, e.g. prod-master-1")
		default:
			if j, dup := names[h.Name]; dup {
				x.add(k("name"), fmt.Sprintf("%q is also the name of hosts[%d]", h.Name, j), "give every host a unique name")
			}
			names[h.Name] = i
		}
		if h.Address == "" {
			x.add(k("address"), "is not set", "set the host's static IPv4 address (guide 1.2)")
		} else if x.addrIn(k("address"), h.Address, subnet) && !h.Lost {
			// a lost host is never reached: a live host may take its address
			if j, dup := addrs[h.Address]; dup {
				x.add(k("address"), fmt.Sprintf("%s is also the address of hosts[%d]", h.Address, j), "give every host its own address")
			}
			addrs[h.Address] = i
		}
		if len(h.Roles) == 0 {
			x.add(k("roles"), "is empty", "give the host one of: master, worker, haproxy, storage, bastion")
		}
		for _, r := range h.Roles {
			if !r.Valid() {
				x.add(k("roles"), fmt.Sprintf("%q is not a role", r), "use master, worker, haproxy, storage or bastion")
			}
		}
		x.roleCombination(c, i, h)
		storageHost := slices.Contains(h.Roles, hosts.RoleStorage)
		if storageHost && len(h.CephDisks) == 0 {
			x.add(k("cephDisks"), "is empty on a storage host", "list the data disks MicroCeph may wipe and take, e.g. [/dev/sdb, /dev/sdc]")
		}
		if !storageHost && len(h.CephDisks) > 0 {
			x.add(k("cephDisks"), "is set on a host without the storage role", "remove it, or add the storage role")
		}
		seen := map[string]bool{}
		for j, d := range h.CephDisks {
			if seen[d] {
				x.add(k(fmt.Sprintf("cephDisks[%d]", j)), fmt.Sprintf("%q is listed twice", d), "list each disk once")
			}
			seen[d] = true
		}
		if c.HostSource == SourceProxmox && h.Proxmox == nil {
			x.add(k("proxmox"), "is not set while pm4ml:hostSource is proxmox", "set proxmox: {vmId: <unique VM id>} (and optionally node)")
		}
		if c.HostSource == SourceExisting && h.Proxmox != nil {
			x.add(k("proxmox"), "is set while pm4ml:hostSource is existing", "remove it, or set pm4ml:hostSource to proxmox")
		}
		if s := h.Sizing; s != nil {
			vals := append([]int{s.CPUs, s.MemoryGB, s.OSDiskGB}, s.DataDisksGB...)
			if slices.ContainsFunc(vals, func(n int) bool { return n < 0 || n > grammar.SizingMax }) {
				x.add(k("sizing"), "has a negative or absurd value", fmt.Sprintf("use numbers 0..%d (they can only raise the guide's sizing)", grammar.SizingMax))
			}
		}
	}
}

// roleCombination: guide 4.3/4.4. HAProxy and bastion hosts are dedicated everywhere (they face
// the public side or the admins); prod keeps every role dedicated, except master+worker under a
// formal risk acceptance; stg may combine master, worker and storage.
func (x *v) roleCombination(c *Config, i int, h HostSpec) {
	rs := hosts.NewRoles(h.Roles...)
	if len(rs) < 2 {
		return
	}
	k := key("hosts[%d].roles", i)
	for _, dedicated := range []hosts.Role{hosts.RoleHAProxy, hosts.RoleBastion} {
		if rs.Has(dedicated) {
			x.add(k, fmt.Sprintf("%s combines %s with other roles", rs, dedicated),
				fmt.Sprintf("give %s a host of its own (it faces the public side or the admins)", dedicated))
			return
		}
	}
	if c.Environment != hosts.Prod {
		return
	}
	if rs.Has(hosts.RoleStorage) {
		x.add(k, fmt.Sprintf("%s combines storage with Kubernetes roles in prod", rs),
			"give the storage nodes their own hosts (guide 4.1: dedicated cold storage cluster)")
		return
	}
	if rs.Has(hosts.RoleMaster) && rs.Has(hosts.RoleWorker) && c.RiskAcceptance == "" {
		x.add(k, "combines master and worker in prod without a formal risk acceptance",
			"use dedicated masters (guide 4.4), or set pm4ml:riskAcceptance to the approved risk-acceptance reference")
	}
}

// environmentPolicy: guide 1.1, 4.1, 4.3 (prod) and 4.2 (stg).
func (x *v) environmentPolicy(c *Config) {
	count := func(r hosts.Role) int { return len(c.HostsWith(r)) }
	masters, workers, lbs, storage, bastions := count(hosts.RoleMaster), count(hosts.RoleWorker), count(hosts.RoleHAProxy), count(hosts.RoleStorage), count(hosts.RoleBastion)
	k := key("hosts")
	// the counts are of the live hosts: with lost ones, every fix says so
	add := x.add
	if lost := c.LostHosts(); len(lost) > 0 {
		add = func(k, problem, fix string) {
			x.add(k, problem+fmt.Sprintf(" (the %d lost host(s) do not count)", len(lost)), fix+"; a lost host is replaced by a new entry")
		}
	}
	if bastions > 1 {
		add(k, fmt.Sprintf("has %d bastion hosts", bastions), "keep at most one bastion (guide 4.1)")
	}
	if c.Environment == hosts.Prod {
		if masters != 3 {
			add(k, fmt.Sprintf("has %d master(s); prod needs exactly 3 dedicated masters", masters), "give three hosts the master role (guide 4.1, 4.4)")
		}
		if workers < 3 {
			add(k, fmt.Sprintf("has %d worker(s); prod needs at least 3", workers), "give at least three hosts the worker role (guide 4.1)")
		}
		if lbs != 2 {
			add(k, fmt.Sprintf("has %d HAProxy host(s); prod needs 2 for high availability", lbs), "give two hosts the haproxy role (guide 4.1, 5.5)")
		}
		if storage < 3 {
			add(k, fmt.Sprintf("has %d storage host(s); prod needs at least 3", storage), "give at least three hosts the storage role (guide 4.1)")
		}
		if c.RiskAcceptance != "" && placeholderRe.MatchString(c.RiskAcceptance) {
			x.add(key("riskAcceptance"), fmt.Sprintf("%q is a placeholder", c.RiskAcceptance), "set the reference of the approved risk acceptance")
		}
		return
	}
	if masters < 1 {
		add(k, "has no master", "give at least one host the master role")
	}
	if workers < 1 {
		add(k, "has no worker", "give at least one host the worker role (stg may combine master+worker, guide 4.2)")
	}
	if lbs < 1 || lbs > 2 {
		add(k, fmt.Sprintf("has %d HAProxy hosts", lbs), "give one (stg) or two hosts the haproxy role")
	}
	if storage < 1 {
		add(k, "has no storage host", "give at least one host the storage role (guide 4.2)")
	}
}

func (x *v) ssh(c *Config, subnet netip.Prefix) {
	if c.SSH.User == "" {
		x.add(key("ssh.user"), "is not set", "set the login user of the hosts (e.g. ubuntu); it needs passwordless sudo")
	}
	if c.SSH.Port < grammar.PortMin || c.SSH.Port > grammar.PortMax {
		x.add(key("ssh.port"), fmt.Sprintf("%d is not a port", c.SSH.Port), "use 1-65535 (default 22)")
	}
	if b := c.SSH.Bastion; b != nil {
		if b.Host == "" {
			x.add(key("ssh.bastion.host"), "is not set", "set the bastion's address, or remove pm4ml:ssh.bastion")
		}
		if b.Port < grammar.PortMin || b.Port > grammar.PortMax {
			x.add(key("ssh.bastion.port"), fmt.Sprintf("%d is not a port", b.Port), "use 1-65535 (default 22)")
		}
	}
	for name := range c.SSH.HostKeys {
		if !slices.ContainsFunc(c.Hosts, func(h HostSpec) bool { return h.Name == name }) {
			x.add(key("ssh.hostKeys.%s", name), "names no host of pm4ml:hosts", "remove it or correct the host name")
		}
	}
}

func (x *v) proxmox(c *Config) {
	if c.HostSource != SourceProxmox {
		if c.Proxmox != nil {
			x.add(key("proxmox"), "is set while pm4ml:hostSource is not proxmox", "remove it, or set pm4ml:hostSource to proxmox")
		}
		return
	}
	p := c.Proxmox
	if p == nil {
		x.add(key("proxmox"), "is not set while pm4ml:hostSource is proxmox", "set endpoint, node, templateVmId, datastore and bridge (see README)")
		return
	}
	if p.Endpoint == "" {
		x.add(key("proxmox.endpoint"), "is not set", "set the Proxmox VE API URL, e.g. https://pve.example.org:8006/")
	}
	if p.Node == "" {
		x.add(key("proxmox.node"), "is not set", "set the Proxmox node VMs are created on by default")
	}
	if p.TemplateVMID < grammar.VMIDMin {
		x.add(key("proxmox.templateVmId"), "is not set or below 100", "set the VM id of the Ubuntu 24.04 cloud-init template")
	}
	if p.Datastore == "" {
		x.add(key("proxmox.datastore"), "is not set", "set the datastore for VM disks, e.g. local-lvm")
	}
	if p.Bridge == "" {
		x.add(key("proxmox.bridge"), "is not set", "set the bridge of the internal network, e.g. vmbr0")
	}
	if p.VLAN != 0 && (p.VLAN < grammar.VLANMin || p.VLAN > grammar.VLANMax) {
		x.add(key("proxmox.vlan"), fmt.Sprintf("%d is not a VLAN id", p.VLAN), "use 1-4094, or leave it unset")
	}
	if c.Network.Gateway == "" {
		x.add(key("network.gateway"), "is not set while VMs get static addresses from cloud-init", "set the internal subnet's gateway")
	}
	ids := map[int]int{}
	for i, h := range c.Hosts {
		if h.Proxmox == nil {
			continue
		}
		if h.Proxmox.VMID < grammar.VMIDMin || h.Proxmox.VMID == p.TemplateVMID {
			x.add(key("hosts[%d].proxmox.vmId", i), fmt.Sprintf("%d is not a usable VM id", h.Proxmox.VMID), "use a unique id >= 100 other than the template's")
		}
		if j, dup := ids[h.Proxmox.VMID]; dup {
			x.add(key("hosts[%d].proxmox.vmId", i), fmt.Sprintf("%d is also the VM id of hosts[%d]", h.Proxmox.VMID, j), "give every VM its own id")
		}
		ids[h.Proxmox.VMID] = i
	}
}

func (x *v) clusterSettings(c *Config) {
	if grammar.MicroK8sChannel.OK(c.MicroK8s.Channel) && c.Environment == hosts.Prod && !strings.HasSuffix(c.MicroK8s.Channel, "/stable") {
		x.add(key("microk8s.channel"), fmt.Sprintf("%q is not a stable channel", c.MicroK8s.Channel), "prod runs a stable channel, e.g. 1.31/stable")
	}
	// A rolling upgrade keeps at least one worker-only node serving (when there are two or more).
	workerOnly := 0
	for _, h := range c.Live() {
		if slices.Contains(h.Roles, hosts.RoleWorker) && !slices.Contains(h.Roles, hosts.RoleMaster) {
			workerOnly++
		}
	}
	if mu, most := c.MicroK8s.Upgrade.MaxUnavailable, max(1, workerOnly-1); mu < 1 || mu > most {
		x.add(key("microk8s.upgrade.maxUnavailable"), fmt.Sprintf("%d does not fit %d worker-only node(s)", mu, workerOnly),
			fmt.Sprintf("use 1..%d (a rolling upgrade keeps at least one worker serving), or leave it unset for 1", most))
	}
	switch c.Ceph.LocalStorageClass {
	case c.Ceph.StorageClass:
		x.add(key("ceph.localStorageClass"), "equals pm4ml:ceph.storageClass", "give the local high-performance class its own name (guide 1.4 keeps transaction-critical data off Ceph)")
	case ReservedStorageClass:
		x.add(key("ceph.localStorageClass"), fmt.Sprintf("%q is MicroK8s' own hostpath class", ReservedStorageClass), "give the local high-performance class its own name, e.g. local-nvme")
	}
	if c.Ceph.StorageClass == ReservedStorageClass {
		x.add(key("ceph.storageClass"), fmt.Sprintf("%q is MicroK8s' own hostpath class", ReservedStorageClass), "give the Ceph class its own name, e.g. ceph-rbd")
	}
	storage := len(c.HostsWith(hosts.RoleStorage))
	if c.Ceph.ReplicationSize < 1 || (storage > 0 && c.Ceph.ReplicationSize > storage) {
		x.add(key("ceph.replicationSize"), fmt.Sprintf("%d does not fit %d storage host(s)", c.Ceph.ReplicationSize, storage), "use 1..number of storage hosts (default min(3, storage hosts))")
	} else if c.Environment == hosts.Prod && c.Ceph.ReplicationSize < 3 {
		x.add(key("ceph.replicationSize"), fmt.Sprintf("%d replicas in prod", c.Ceph.ReplicationSize), "prod keeps 3 replicas (guide 4.1 resiliency)")
	}
}

func (x *v) haproxy(c *Config, subnet netip.Prefix) {
	h := c.HAProxy
	lbs := c.HostsWith(hosts.RoleHAProxy)
	if h.PublicVIP == "" {
		x.add(key("haproxy.publicVip"), "is not set", "set the private address the perimeter firewall NATs the public IP to (guide 5.7)")
	} else if x.addrIn(key("haproxy.publicVip"), h.PublicVIP, subnet) {
		for i, host := range c.Hosts {
			if host.Address == h.PublicVIP && !host.Lost && !(len(lbs) == 1 && lbs[0].Name == host.Name) {
				x.add(key("haproxy.publicVip"), fmt.Sprintf("%s is the address of hosts[%d] (%s)", h.PublicVIP, i, host.Name),
					"use a free address for the VIP (with one HAProxy host it may be that host's address, then set pm4ml:haproxy.internalVip to another address)")
			}
		}
	}
	switch {
	case h.InternalVIP == "" && len(lbs) == 1:
		// defaulted from the single LB's address, which is reported where it is written
	case h.InternalVIP == "":
		x.add(key("haproxy.internalVip"), "is not set", "set the private-side address of the internal frontend (a second VIP with two HAProxy hosts)")
	case h.InternalVIP == h.PublicVIP:
		x.add(key("haproxy.internalVip"), "equals pm4ml:haproxy.publicVip", "use a separate private address: public and internal frontends both listen on 443")
	default:
		if x.addrIn(key("haproxy.internalVip"), h.InternalVIP, subnet) && len(lbs) > 1 {
			for i, host := range c.Hosts {
				if host.Address == h.InternalVIP && !host.Lost {
					x.add(key("haproxy.internalVip"), fmt.Sprintf("%s is the address of hosts[%d] (%s)", h.InternalVIP, i, host.Name), "with two HAProxy hosts use a free address (a VRRP VIP)")
				}
			}
		}
	}
	if h.MaxConn < grammar.MaxConnMin || h.MaxConn > grammar.MaxConnMax {
		x.add(key("haproxy.maxConn"), fmt.Sprintf("%d is out of range", h.MaxConn), fmt.Sprintf("use %d..%d, or leave it unset for %d (guide 4.1 sizing)", grammar.MaxConnMin, grammar.MaxConnMax, DefaultHAProxyMaxConn))
	}
	if h.StatsEnabled {
		if h.StatsPort < grammar.StatsPortMin || h.StatsPort > grammar.PortMax || slices.Contains([]int{80, 443}, h.StatsPort) {
			x.add(key("haproxy.statsPort"), fmt.Sprintf("%d is not usable for stats", h.StatsPort), "use an unprivileged free port, default 8404")
		}
	} else if h.StatsPort != 0 {
		x.add(key("haproxy.statsPort"), "is set but pm4ml:haproxy.statsEnabled is not", "set pm4ml:haproxy.statsEnabled true, or remove the port")
	}
}

func (x *v) wireguard(c *Config) {
	w := c.WireGuard
	if !w.Enabled {
		if len(w.Peers) > 0 {
			x.add(key("wireguard.peers"), "are set but WireGuard is disabled", "set pm4ml:wireguard.enabled true, or remove the peers")
		}
		return
	}
	if w.Port < grammar.PortMin || w.Port > grammar.PortMax {
		x.add(key("wireguard.port"), fmt.Sprintf("%d is not a port", w.Port), "use the UDP port of the firewall mapping, default 51820 (guide 1.3.1)")
	}
	if p, err := netip.ParsePrefix(w.Address); err != nil || !p.Addr().Is4() || p.Bits() == 32 {
		x.add(key("wireguard.address"), fmt.Sprintf("%q is not an interface address with prefix", w.Address), "use e.g. 10.200.0.1/24 (outside the internal subnet)")
	}
	if len(w.Peers) == 0 {
		x.add(key("wireguard.peers"), "is empty while WireGuard is enabled", "list the peers (name, publicKey, allowedIps)")
	}
	names, keys := map[string]int{}, map[string]int{}
	routed := map[netip.Prefix]int{} // allowed IP -> peer: WireGuard routes a prefix to one peer only
	for i, p := range w.Peers {
		switch j, dup := names[p.Name]; {
		case p.Name == "":
			x.add(key("wireguard.peers[%d].name", i), "is not set", "give each peer a unique lower-case name")
		case dup:
			x.add(key("wireguard.peers[%d].name", i), fmt.Sprintf("%q is also the name of peers[%d]", p.Name, j), "give each peer a unique lower-case name")
		}
		names[p.Name] = i
		switch j, dup := keys[p.PublicKey]; {
		case p.PublicKey == "":
			x.add(key("wireguard.peers[%d].publicKey", i), "is not set", "paste the peer's key from `wg pubkey` (44 characters of base64)")
		case dup:
			x.add(key("wireguard.peers[%d].publicKey", i), fmt.Sprintf("is also the key of peers[%d]", j), "each peer has its own key pair")
		}
		keys[p.PublicKey] = i
		if len(p.AllowedIPs) == 0 {
			x.add(key("wireguard.peers[%d].allowedIps", i), "is empty", "list the CIDRs routed to this peer")
		}
		for j, a := range p.AllowedIPs {
			pfx, err := netip.ParsePrefix(a)
			if err != nil {
				continue // reported by its grammar
			}
			if other, dup := routed[pfx.Masked()]; dup && other != i {
				x.add(key("wireguard.peers[%d].allowedIps[%d]", i, j), fmt.Sprintf("%s is already routed to peers[%d]", pfx.Masked(), other), "route each CIDR to one peer only (WireGuard keeps the last one)")
			}
			routed[pfx.Masked()] = i
		}
	}
}

func (x *v) gitops(c *Config) {
	g := c.GitOps
	if g.RepoURL == "" {
		x.add(key("gitops.repoUrl"), "is not set", "set the customer's GitOps repository URL (guide 6), https://... or ssh://... / git@host:path")
	} else if placeholderRe.MatchString(g.RepoURL) || strings.Contains(g.RepoURL, "<") {
		x.add(key("gitops.repoUrl"), fmt.Sprintf("%q is a placeholder", g.RepoURL), "set the real repository")
	}
	if g.Revision == "" {
		x.add(key("gitops.revision"), "is not set", "set the branch or tag Argo CD follows (guide 6: branch or tag strategy), e.g. main or v1.4.0")
	}
	urlOK := grammar.GitURL.OK(g.RepoURL) // a bad URL is reported once, by its grammar
	switch g.Credentials {
	case "https-token":
		if urlOK && !strings.HasPrefix(g.RepoURL, "https://") {
			x.add(key("gitops.credentials"), "is https-token for a repository URL that is not https://", "use ssh-key for an SSH URL, or an https:// URL")
		}
	case "ssh-key":
		if urlOK && !strings.HasPrefix(g.RepoURL, "ssh://") && strings.Contains(g.RepoURL, "://") {
			x.add(key("gitops.credentials"), "is ssh-key for a repository URL that is not SSH", "use https-token for an https URL, or an SSH URL (ssh://... or git@host:path)")
		}
	case "none":
	case "":
		x.add(key("gitops.credentials"), "is not set", "set https-token, ssh-key or none (guide 6: secure credential management)")
	default:
		x.add(key("gitops.credentials"), fmt.Sprintf("%q is not a credential type", g.Credentials), "use https-token, ssh-key or none")
	}
}

func (x *v) vault(c *Config) {
	if c.Vault.KV != 1 && c.Vault.KV != 2 {
		x.add(key("vault.kvVersion"), fmt.Sprintf("%d is not a KV engine version", c.Vault.KV), "use 1 (the reference deployment mounts secret/ as KV v1) or 2")
	}
	if a := c.Vault.Address; a != "" {
		if grammar.HTTPURL.OK(a) && strings.HasPrefix(a, "http://") && c.Environment == hosts.Prod {
			x.add(key("vault.address"), "uses plain http in prod", "use https (guide 1.3: TLS enforced where applicable)")
		}
	}
}

// RequiredSecrets are the secret keys this configuration needs, each with how to set it.
func RequiredSecrets(c *Config) map[string]string {
	required := map[string]string{
		SecretSSHPrivateKey:   "the SSH private key of pm4ml:ssh.user: pulumi config set --secret pm4ml:sshPrivateKey < ~/.ssh/id_ed25519",
		SecretMCMClientSecret: "the MCM client secret from the hub operator (guide 6.5): pulumi config set --secret pm4ml:mcmClientSecret",
	}
	if c.HostSource == SourceProxmox {
		required[SecretProxmoxAPIToken] = "a Proxmox API token: pulumi config set --secret pm4ml:proxmoxApiToken 'user@pam!id=uuid'"
	}
	if c.WireGuard.Enabled {
		required[SecretWireGuardKey] = "the WireGuard server key, shared by the HAProxy hosts so a VIP failover keeps the identity: wg genkey | pulumi config set --secret pm4ml:wireguardPrivateKey"
	}
	if c.HAProxy.StatsEnabled {
		required[SecretHAProxyStatsPass] = "the stats password: pulumi config set --secret pm4ml:haproxyStatsPassword"
	}
	switch c.GitOps.Credentials {
	case "https-token":
		required[SecretGitOpsCredential] = "the repository token: pulumi config set --secret pm4ml:gitopsCredential"
	case "ssh-key":
		required[SecretGitOpsCredential] = "the repository deploy key: pulumi config set --secret pm4ml:gitopsCredential < deploy_key"
	}
	{
		required[SecretVaultToken] = "a Vault token allowed to write " + c.Vault.Mount + "/" + c.PM4MLID + "/: pulumi config set --secret pm4ml:vaultToken"
	}
	return required
}

// secrets: required secrets are set, and stored as secrets.
func (x *v) secrets(c *Config) {
	required := RequiredSecrets(c)
	for _, name := range SecretKeys {
		st := c.Secrets[name]
		how, req := required[name]
		switch {
		case req && !st.Set:
			x.add(key("%s", name), "is not set", how)
		case st.Set && !st.IsSecret:
			x.add(key("%s", name), "is stored in plain text", fmt.Sprintf("pulumi config rm %s:%s, then set it again with --secret", Namespace, name))
		}
	}
	if c.Secrets[SecretBastionKey].Set && c.SSH.Bastion == nil {
		x.add(key("%s", SecretBastionKey), "is set but pm4ml:ssh.bastion is not", "remove it, or configure the bastion")
	}
}
