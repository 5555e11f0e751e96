package stacks

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/components/wireguard"
)

// The cluster layer's plans, shared by Build (via the components' Args) and Render.

// kubernetesNodes are the live masters and workers in configuration order.
func (c *Config) kubernetesNodes() []HostSpec {
	var out []HostSpec
	for _, h := range c.Live() {
		if hosts.NewRoles(h.Roles...).IsKubernetesNode() {
			out = append(out, h)
		}
	}
	return out
}

// MicroK8sPlan is the cluster plan of this configuration.
func (c *Config) MicroK8sPlan() microk8s.Plan {
	p := microk8s.Plan{Environment: c.Environment, Channel: c.MicroK8s.Channel,
		DedicatedMasters: c.Environment == hosts.Prod, User: c.SSH.User, MaxUnavailable: c.MicroK8s.Upgrade.MaxUnavailable}
	for _, h := range c.kubernetesNodes() {
		p.Nodes = append(p.Nodes, microk8s.Node{Name: h.Name, Address: h.Address, Roles: hosts.NewRoles(h.Roles...)})
	}
	for _, h := range c.LostHosts() {
		if rs := hosts.NewRoles(h.Roles...); rs.IsKubernetesNode() {
			p.Lost = append(p.Lost, microk8s.Node{Name: h.Name, Address: h.Address, Roles: rs})
		}
	}
	return p
}

// MicroCephPlan is the storage cluster plan.
func (c *Config) MicroCephPlan() microceph.Plan {
	p := microceph.Plan{Channel: c.Ceph.Channel, Pool: c.Ceph.Pool, ReplicationSize: c.Ceph.ReplicationSize}
	for _, h := range c.HostsWith(hosts.RoleStorage) {
		p.Nodes = append(p.Nodes, microceph.Node{Name: h.Name, Address: h.Address, Disks: h.CephDisks})
	}
	for _, h := range c.LostHosts() {
		if slices.Contains(h.Roles, hosts.RoleStorage) {
			p.Lost = append(p.Lost, microceph.Node{Name: h.Name, Address: h.Address, Disks: h.CephDisks})
		}
	}
	return p
}

// StoragePlan is the storage-class plan; it runs on the first master.
func (c *Config) StoragePlan() storage.Plan {
	return storage.Plan{Master: c.firstMaster().Name, Pool: c.Ceph.Pool, StorageClass: c.Ceph.StorageClass,
		LocalStorageClass: c.Ceph.LocalStorageClass, LocalStoragePath: c.Ceph.LocalStoragePath}
}

func (c *Config) firstMaster() HostSpec {
	if ms := c.HostsWith(hosts.RoleMaster); len(ms) > 0 {
		return ms[0]
	}
	return HostSpec{}
}

// WireGuardPlan is the VPN plan: the settings and the HAProxy hosts it runs on (live and lost).
func (c *Config) WireGuardPlan() wireguard.Plan {
	p := wireguard.Plan{Enabled: c.WireGuard.Enabled, Hosts: c.haproxyNames(),
		Settings: wireguard.Settings{Port: c.WireGuard.Port, Address: c.WireGuard.Address}}
	for _, peer := range c.WireGuard.Peers {
		p.Settings.Peers = append(p.Settings.Peers, wireguard.Peer{Name: peer.Name, PublicKey: peer.PublicKey, AllowedIPs: peer.AllowedIPs, Endpoint: peer.Endpoint})
	}
	for _, h := range c.LostHosts() {
		if slices.Contains(h.Roles, hosts.RoleHAProxy) {
			p.Lost = append(p.Lost, h.Name)
		}
	}
	return p
}

// HAProxyPlan is the load-balancer plan: its haproxy hosts and backends are the topology's.
func (c *Config) HAProxyPlan() haproxy.Plan {
	return haproxy.Plan{
		PublicVIP: c.HAProxy.PublicVIP, InternalVIP: c.HAProxy.InternalVIP, Interface: c.HAProxy.Interface,
		Stats:    haproxy.StatsSettings{Enabled: c.HAProxy.StatsEnabled, User: c.HAProxy.StatsUser},
		Topology: c.Topology(), MaxConn: c.HAProxy.MaxConn,
	}
}

// Cluster is what buildCluster registered.
type Cluster struct {
	MicroK8s  *microk8s.Cluster
	MicroCeph *microceph.Cluster
	Storage   *storage.Storage
	WireGuard *wireguard.VPN
	HAProxy   *haproxy.LoadBalancer
}

// selectHosts keeps the hosts whose roles match, in configuration order.
func selectHosts(hs []hosts.Host, match func(hosts.Roles) bool) []hosts.Host {
	var out []hosts.Host
	for _, h := range hs {
		if match(h.Roles) {
			out = append(out, h)
		}
	}
	return out
}

// withRole matches hosts that carry r.
func withRole(r hosts.Role) func(hosts.Roles) bool {
	return func(rs hosts.Roles) bool { return rs.Has(r) }
}

// buildCluster registers the cluster layer: MicroK8s and MicroCeph on their prepared hosts, the
// storage classes once both are ready, and the optional VPN.
func buildCluster(ctx *pulumi.Context, c *Config, sec Secrets, hs, lost []hosts.Host, done map[string]pulumi.Resource) (*Cluster, error) {
	k8sNodes := selectHosts(hs, hosts.Roles.IsKubernetesNode)
	storageNodes := selectHosts(hs, withRole(hosts.RoleStorage))
	lbs := selectHosts(hs, withRole(hosts.RoleHAProxy))
	plan := c.MicroK8sPlan()

	cl := &Cluster{}
	var err error
	cl.MicroK8s, err = microk8s.New(ctx, "microk8s", &microk8s.Args{
		Plan: plan, Hosts: slices.Concat(k8sNodes, selectHosts(lost, hosts.Roles.IsKubernetesNode)),
		// Join tokens are derived (HMAC) from the SSH key, a secret the program already holds:
		// stable across runs, never random, never in a script.
		JoinSecret: sec.SSHPrivateKey, After: done,
	})
	if err != nil {
		return nil, fmt.Errorf("microk8s: %w", err)
	}
	cl.MicroCeph, err = microceph.New(ctx, "microceph", &microceph.Args{
		Plan: c.MicroCephPlan(), Hosts: slices.Concat(storageNodes, selectHosts(lost, withRole(hosts.RoleStorage))),
		After: done, User: c.SSH.User,
	})
	if err != nil {
		return nil, fmt.Errorf("microceph: %w", err)
	}
	master := selectHosts(k8sNodes, withRole(hosts.RoleMaster))[0] // validation guarantees one
	cl.Storage, err = storage.New(ctx, "storage", &storage.Args{
		Plan: c.StoragePlan(), Host: master, CephConf: cl.MicroCeph.CephConf, Keyring: cl.MicroCeph.Keyring,
		DependsOn: []pulumi.Resource{cl.MicroK8s.Ready, cl.MicroCeph.Ready}, User: c.SSH.User,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	cl.HAProxy, err = haproxy.New(ctx, "haproxy", &haproxy.Args{
		Plan: c.HAProxyPlan(), Hosts: lbs, StatsPassword: sec.HAProxyStatsPass, After: done, User: c.SSH.User,
	})
	if err != nil {
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	cl.WireGuard, err = wireguard.New(ctx, "wireguard", &wireguard.Args{
		Plan: c.WireGuardPlan(), Hosts: slices.Concat(lbs, selectHosts(lost, withRole(hosts.RoleHAProxy))),
		PrivateKey: sec.WireGuardKey, After: done, User: c.SSH.User,
	})
	if err != nil {
		return nil, fmt.Errorf("wireguard: %w", err)
	}
	return cl, nil
}
