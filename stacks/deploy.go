package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// Secrets are the stack's secret values, as Pulumi secrets. Unset optional secrets are empty
// secret strings.
type Secrets struct {
	SSHPrivateKey     pulumi.StringOutput
	BastionPrivateKey pulumi.StringOutput
	ProxmoxAPIToken   pulumi.StringOutput
	HAProxyStatsPass  pulumi.StringOutput
	GitOpsCredential  pulumi.StringOutput
	VaultToken        pulumi.StringOutput
	MCMClientSecret   pulumi.StringOutput
	WireGuardKey      pulumi.StringOutput
}

// ReadSecrets reads every secret key as a Pulumi secret.
func ReadSecrets(ctx *pulumi.Context) Secrets {
	get := func(k string) pulumi.StringOutput { return config.GetSecret(ctx, Namespace+":"+k) }
	return Secrets{
		SSHPrivateKey:     get(SecretSSHPrivateKey),
		BastionPrivateKey: get(SecretBastionKey),
		ProxmoxAPIToken:   get(SecretProxmoxAPIToken),
		HAProxyStatsPass:  get(SecretHAProxyStatsPass),
		GitOpsCredential:  get(SecretGitOpsCredential),
		VaultToken:        get(SecretVaultToken),
		MCMClientSecret:   get(SecretMCMClientSecret),
		WireGuardKey:      get(SecretWireGuardKey),
	}
}

// Deploy is the Pulumi program: load and validate the whole configuration first (nothing is
// registered when it has problems), then build the stack.
func Deploy(ctx *pulumi.Context) error {
	cfg, err := Load(PulumiSource{Ctx: ctx})
	if err != nil {
		return err
	}
	_, err = Build(ctx, cfg, ReadSecrets(ctx))
	return err
}

// Stack is what Build registered, for tests and for the layers that follow.
type Stack struct {
	Config *Config
	Hosts  *hosts.Hosts
	Prep   []*hostprep.HostPrep // in host order
	// Cluster is the cluster layer (MicroK8s, MicroCeph, storage classes, HAProxy, WireGuard).
	Cluster *Cluster
	// Platform is guide section 6 (Argo CD, waves, Vault secret, verification).
	Platform *Platform
	// Facts are the stack-level settings the policy pack reads (environment, riskAcceptance...).
	Facts *Facts
}

// Build registers the resources of a validated configuration. Data flows one way: config ->
// hosts -> host preparation -> (cluster layers).
func Build(ctx *pulumi.Context, cfg *Config, sec Secrets) (*Stack, error) {
	st := &Stack{Config: cfg}
	var err error
	if st.Facts, err = NewFacts(ctx, FactsName, cfg); err != nil {
		return nil, err
	}
	hs, err := hosts.New(ctx, "hosts", cfg.HostsArgs(sec))
	if err != nil {
		return nil, err
	}
	st.Hosts = hs
	plans := cfg.PrepPlans()
	for i, h := range hs.Hosts {
		p, err := hostprep.New(ctx, "prep-"+h.Name, &hostprep.Args{Host: h, Plan: plans[i], User: cfg.SSH.User})
		if err != nil {
			return nil, err
		}
		st.Prep = append(st.Prep, p)
	}
	done := map[string]pulumi.Resource{}
	for i, h := range hs.Hosts {
		done[h.Name] = st.Prep[i].Ready
	}
	if st.Cluster, err = buildCluster(ctx, cfg, sec, hs.Hosts, hs.Lost, done); err != nil {
		return nil, err
	}
	ctx.Export("kubeconfig", st.Cluster.MicroK8s.Kubeconfig)
	ctx.Export("kubernetesApi", st.Cluster.MicroK8s.APIServer)
	ctx.Export("storageClasses", st.Cluster.Storage.StorageClasses)
	if st.Platform, err = buildPlatform(ctx, cfg, sec, st.Cluster, selectHosts(hs.Hosts, withRole(hosts.RoleHAProxy))); err != nil {
		return nil, err
	}
	ctx.Export("argocdUrl", st.Platform.ArgoCD.ServerURL)
	ctx.Export("urls", st.Platform.Verification.URLs)
	ctx.Export("verification", st.Platform.Verification.Summary)
	ctx.Export("environment", pulumi.String(string(cfg.Environment)))
	ctx.Export("hosts", hs.Addresses)
	ctx.Export("roles", hs.RolesByHost)
	fw := pulumi.Map{}
	for i, p := range st.Prep {
		fw[hs.Hosts[i].Name] = p.FirewallRules
	}
	ctx.Export("firewallRules", fw)
	return st, nil
}

// HostsArgs maps the configuration onto the hosts component.
func (c *Config) HostsArgs(sec Secrets) *hosts.Args {
	a := &hosts.Args{
		Source: hosts.Source(c.HostSource),
		SSH: hosts.SSH{
			User:       c.SSH.User,
			Port:       c.SSH.Port,
			PrivateKey: sec.SSHPrivateKey,
			HostKeys:   c.SSH.HostKeys,
		},
	}
	if b := c.SSH.Bastion; b != nil {
		key := sec.SSHPrivateKey
		if c.Secrets[SecretBastionKey].Set {
			key = sec.BastionPrivateKey
		}
		a.SSH.Bastion = &hosts.Bastion{Host: b.Host, User: b.User, Port: b.Port, PrivateKey: key}
	}
	if p := c.Proxmox; p != nil && c.HostSource == SourceProxmox {
		a.Proxmox = &hosts.ProxmoxArgs{
			Endpoint: p.Endpoint, Insecure: p.Insecure, APIToken: sec.ProxmoxAPIToken,
			TemplateVMID: p.TemplateVMID, TemplateNode: p.Node, Datastore: p.Datastore, Bridge: p.Bridge,
			VLAN: p.VLAN, PrefixLength: p.PrefixLength, Gateway: c.Network.Gateway,
			DNSServers: c.Network.DNSServers, SearchDomain: c.Network.SearchDomain,
		}
	}
	for _, h := range c.Hosts {
		s := hosts.Spec{Name: h.Name, Address: h.Address, Roles: hosts.NewRoles(h.Roles...), Sizing: c.SizingOf(h), CephDisks: h.CephDisks, Lost: h.Lost}
		if h.Proxmox != nil {
			s.ProxmoxNode, s.VMID = h.Proxmox.Node, h.Proxmox.VMID
		}
		a.Specs = append(a.Specs, s)
	}
	return a
}

// PrepPlans are the host-preparation plans of the live hosts, in host order (Hosts.Hosts' order).
// The render command uses the same.
func (c *Config) PrepPlans() []hostprep.Plan {
	topo := c.Topology()
	live := c.Live()
	peers := peerLists(live)
	out := make([]hostprep.Plan, 0, len(live))
	for _, h := range live {
		out = append(out, hostprep.Plan{
			Name: h.Name, Address: h.Address, Roles: hosts.NewRoles(h.Roles...), Sizing: c.SizingOf(h),
			CephDisks: h.CephDisks, Lab: c.Lab, Peers: peers(h), NTPServers: c.Network.NTPServers, Topology: topo,
		})
	}
	return out
}

// peerLists gives the hosts each of live resolves by name (its /etc/hosts block): itself and
// the members of the clusters it belongs to, which join by name: the Kubernetes nodes (masters,
// workers) for a node, the storage hosts for a storage host. An HAProxy host or bastion needs
// only itself (its configurations carry addresses). So adding or removing a worker touches the
// /etc/hosts of the Kubernetes nodes only. The list of a node or storage host depends only on
// those two roles, so each such list is built once and shared: O(n) for the stack, not O(n^2).
func peerLists(live []HostSpec) func(HostSpec) []hostprep.Peer {
	class := func(x HostSpec) (node, storage bool) {
		r := hosts.NewRoles(x.Roles...)
		return r.IsKubernetesNode(), r.Has(hosts.RoleStorage)
	}
	shared := map[[2]bool][]hostprep.Peer{}
	return func(h HostSpec) []hostprep.Peer {
		node, storage := class(h)
		key := [2]bool{node, storage}
		if l, ok := shared[key]; ok {
			return l
		}
		var peers []hostprep.Peer
		for _, x := range live {
			xn, xs := class(x)
			if x.Name == h.Name || (node && xn) || (storage && xs) {
				peers = append(peers, hostprep.Peer{Name: x.Name, Address: x.Address})
			}
		}
		if node || storage {
			shared[key] = peers
		}
		return peers
	}
}
