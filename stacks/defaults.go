package stacks

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

// Defaults the guide implies; applied before validation so that validation sees the effective
// configuration.
const (
	DefaultMicroK8sChannel   = "1.31/stable"
	DefaultMicroCephChannel  = "squid/stable"
	DefaultCephPool          = "rbd-pm4ml"
	DefaultStorageClass      = "ceph-rbd"
	DefaultLocalStorageClass = "local-nvme"
	DefaultLocalStoragePath  = "/var/lib/pm4ml-local"
	DefaultVaultMount        = "secret"
	DefaultVaultKV           = 1
	DefaultHAProxyInterface  = "eth0"
	DefaultStatsUser         = "admin"
	DefaultHAProxyMaxConn    = haproxy.DefaultMaxConn
	// ReservedStorageClass is MicroK8s' own hostpath class (addon hostpath-storage): no class of
	// this program may take its name.
	ReservedStorageClass = grammar.ReservedStorageClass
)

// DefaultDoc is the default of every defaulted key, as the configuration reference shows it. The
// values come from the same constants applyDefaults uses; TestEveryDefaultIsDocumented checks
// that every key applyDefaults fills is here.
var DefaultDoc = map[string]string{
	"ssh.port":                 "22",
	"ssh.bastion.user":         "ssh.user",
	"ssh.bastion.port":         "22",
	"network.apiAllowlist":     "network.adminAllowlist",
	"microk8s.channel":         DefaultMicroK8sChannel,
	"ceph.pool":                DefaultCephPool,
	"ceph.storageClass":        DefaultStorageClass,
	"ceph.localStorageClass":   DefaultLocalStorageClass,
	"ceph.localStoragePath":    DefaultLocalStoragePath,
	"ceph.channel":             DefaultMicroCephChannel,
	"ceph.replicationSize":     "min(3, storage hosts)",
	"haproxy.maxConn":          fmt.Sprint(DefaultHAProxyMaxConn),
	"haproxy.interface":        DefaultHAProxyInterface,
	"haproxy.internalVip":      "the address of the single HAProxy host",
	"haproxy.statsPort":        fmt.Sprint(network.DefaultStatsPort) + " (with statsEnabled)",
	"haproxy.statsUser":        DefaultStatsUser,
	"wireguard.port":           fmt.Sprint(network.DefaultWGPort) + " (when enabled)",
	"gitops.username":          "git (https-token)",
	"vault.address":            "https://vault.<domain>",
	"vault.mount":              DefaultVaultMount,
	"vault.kvVersion":          fmt.Sprint(DefaultVaultKV),
	"proxmox.prefixLength":     "network.internalSubnet's",
	"hosts[].proxmox.node":     "proxmox.node",
	"argocd.version":           DefaultArgoCDVersion,
	"argocd.ha":                "true in prod, false in stg",
	"argocd.namespace":         DefaultArgoCDNamespace,
	"argocd.project":           "default",
	"argocd.appTimeoutSeconds": fmt.Sprint(DefaultAppTimeoutSeconds),
	"argocd.onDelete":          "protect in prod, cascade in stg",
	"argocd.pathPrefix":        DefaultAppsPathPrefix,
	"argocd.manifestUrl":       "the upstream install manifest of argocd.version",
	"waves":                    "the guide's 11 waves (6.1)",
	"waves[].apps[].path":      "<argocd.pathPrefix>/<name>",
	"waves[].apps[].namespace": "the app's name",
	"verify.resolveAddress":    "haproxy.publicVip",
	"verify.attempts":          fmt.Sprint(DefaultVerifyAttempts),
	"verify.intervalSeconds":   fmt.Sprint(DefaultVerifyInterval),

	"microk8s.upgrade.maxUnavailable": fmt.Sprint(microk8s.DefaultMaxUnavailable),
}

func applyDefaults(c *Config) {
	if c.SSH.Port == 0 {
		c.SSH.Port = 22
	}
	if b := c.SSH.Bastion; b != nil {
		if b.User == "" {
			b.User = c.SSH.User
		}
		if b.Port == 0 {
			b.Port = 22
		}
	}
	if c.Network.APIAllowlist == nil {
		c.Network.APIAllowlist = c.Network.AdminAllowlist
	}
	if c.MicroK8s.Channel == "" {
		c.MicroK8s.Channel = DefaultMicroK8sChannel
	}
	if c.MicroK8s.Upgrade.MaxUnavailable == 0 {
		c.MicroK8s.Upgrade.MaxUnavailable = microk8s.DefaultMaxUnavailable
	}
	if c.Ceph.Pool == "" {
		c.Ceph.Pool = DefaultCephPool
	}
	if c.Ceph.StorageClass == "" {
		c.Ceph.StorageClass = DefaultStorageClass
	}
	if c.Ceph.LocalStorageClass == "" {
		c.Ceph.LocalStorageClass = DefaultLocalStorageClass
	}
	if c.Ceph.LocalStoragePath == "" {
		c.Ceph.LocalStoragePath = DefaultLocalStoragePath
	}
	if c.Ceph.Channel == "" {
		c.Ceph.Channel = DefaultMicroCephChannel
	}
	if c.Ceph.ReplicationSize == 0 {
		c.Ceph.ReplicationSize = min(3, max(1, len(c.HostsWith(hosts.RoleStorage))))
	}
	if c.HAProxy.MaxConn == 0 {
		c.HAProxy.MaxConn = DefaultHAProxyMaxConn
	}
	if c.HAProxy.Interface == "" {
		c.HAProxy.Interface = DefaultHAProxyInterface
	}
	if lbs := c.HostsWith(hosts.RoleHAProxy); c.HAProxy.InternalVIP == "" && len(lbs) == 1 && grammar.IsIPv4(lbs[0].Address) {
		c.HAProxy.InternalVIP = lbs[0].Address
	}
	if c.HAProxy.StatsEnabled && c.HAProxy.StatsPort == 0 {
		c.HAProxy.StatsPort = network.DefaultStatsPort
	}
	if c.HAProxy.StatsUser == "" {
		c.HAProxy.StatsUser = DefaultStatsUser
	}
	if c.WireGuard.Enabled && c.WireGuard.Port == 0 {
		c.WireGuard.Port = network.DefaultWGPort
	}
	if c.GitOps.Credentials == "https-token" && c.GitOps.Username == "" {
		c.GitOps.Username = "git"
	}
	if c.Vault.Mount == "" {
		c.Vault.Mount = DefaultVaultMount
	}
	if c.Vault.KV == 0 {
		c.Vault.KV = DefaultVaultKV
	}
	if p := c.Proxmox; p != nil && p.PrefixLength == 0 {
		if pfx, err := netip.ParsePrefix(c.Network.InternalSubnet); err == nil {
			p.PrefixLength = pfx.Bits()
		}
	}
	applyPlatformDefaults(c)
	for i := range c.Hosts {
		// Normalise the order; keep unknown roles so that validation reports them.
		rs := hosts.NewRoles(c.Hosts[i].Roles...)
		for _, r := range c.Hosts[i].Roles {
			if !r.Valid() && !slices.Contains(rs, r) {
				rs = append(rs, r)
			}
		}
		c.Hosts[i].Roles = rs
		if pl := c.Hosts[i].Proxmox; pl != nil && pl.Node == "" && c.Proxmox != nil && grammar.ProxmoxName.OK(c.Proxmox.Node) {
			pl.Node = c.Proxmox.Node
		}
	}
}

// Live are the hosts not marked lost, in config order: every plan is made of them.
func (c *Config) Live() []HostSpec {
	live, _ := c.partition()
	return live
}

// LostHosts are the hosts marked lost, in config order.
func (c *Config) LostHosts() []HostSpec {
	_, lost := c.partition()
	return lost
}

// partition splits the hosts into the live and the lost ones, each in config order.
func (c *Config) partition() (live, lost []HostSpec) {
	for _, h := range c.Hosts {
		if h.Lost {
			lost = append(lost, h)
		} else {
			live = append(live, h)
		}
	}
	return live, lost
}

// HostsWith lists the live hosts that carry role r, in config order.
func (c *Config) HostsWith(r hosts.Role) []HostSpec {
	var out []HostSpec
	for _, h := range c.Live() {
		if slices.Contains(h.Roles, r) {
			out = append(out, h)
		}
	}
	return out
}

// Topology is the port matrix's view of this stack.
func (c *Config) Topology() network.Topology {
	t := network.Topology{
		AdminAllowlist:   c.Network.AdminAllowlist,
		APIAllowlist:     c.Network.APIAllowlist,
		HAProxySourceIPs: c.Network.HAProxySourceIPs,
		InternalSubnet:   c.Network.InternalSubnet,
	}
	if c.WireGuard.Enabled {
		t.WireGuardPort = c.WireGuard.Port
	}
	if c.HAProxy.StatsEnabled {
		t.StatsPort = c.HAProxy.StatsPort
	}
	for _, h := range c.Live() {
		t.Nodes = append(t.Nodes, network.Node{Name: h.Name, Address: h.Address, Roles: hosts.NewRoles(h.Roles...)})
	}
	return t
}

// SizingOf is the effective sizing of a host: the guide's for its roles, raised by overrides.
func (c *Config) SizingOf(h HostSpec) hosts.Sizing {
	s, _ := hosts.SizingFor(c.Environment, hosts.NewRoles(h.Roles...))
	if o := h.Sizing; o != nil {
		s.CPUs = max(s.CPUs, o.CPUs)
		s.MemoryGB = max(s.MemoryGB, o.MemoryGB)
		s.OSDiskGB = max(s.OSDiskGB, o.OSDiskGB)
		if len(o.DataDisksGB) > 0 {
			s.DataDisksGB = o.DataDisksGB
		}
	}
	return s
}
