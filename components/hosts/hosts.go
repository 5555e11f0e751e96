// Package hosts provides the stack's machines: VMs cloned on Proxmox VE from a cloud-init
// template, or existing hosts adopted by address. Either way the result is the same []Host that
// every later component consumes.
package hosts

import (
	"fmt"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Source says where hosts come from (pm4ml:hostSource).
type Source string

const (
	Existing Source = "existing"
	Proxmox  Source = "proxmox"
)

// Spec is one host as configured.
type Spec struct {
	Name      string
	Address   string
	Roles     Roles
	Sizing    Sizing
	CephDisks []string
	// ProxmoxNode and VMID place the VM (Source Proxmox only).
	ProxmoxNode string
	VMID        int
	// Lost marks a machine gone for good (pm4ml:hosts[i].lost): it is never reached again. It is
	// not among Hosts.Hosts (so in no peer list, configuration or rolling order) but in
	// Hosts.Lost, whose steps are frozen (remotecmd.Run); on Proxmox its VM is no longer managed
	// (deleted through the Proxmox API, which does not reach the machine).
	Lost bool
}

// SSH is how every host is reached.
type SSH struct {
	User       string
	Port       int
	PrivateKey pulumi.StringInput // a Pulumi secret
	Bastion    *Bastion
	// HostKeys pins host keys by host name (optional).
	HostKeys map[string]string
}

// Bastion is an optional jump host.
type Bastion struct {
	Host       string
	User       string
	Port       int
	PrivateKey pulumi.StringInput // a Pulumi secret
}

// Args of the Hosts component.
type Args struct {
	Source  Source
	Specs   []Spec
	SSH     SSH
	Proxmox *ProxmoxArgs // required for Source Proxmox
}

// Host is a machine ready to be reached over SSH: what every later component takes.
type Host struct {
	Name      string
	Address   string
	Roles     Roles
	Sizing    Sizing
	CephDisks []string
	// Conn is the SSH connection (private key kept secret) for pulumi-command.
	Conn remote.ConnectionInput
	// Ready are the resources that must exist before the host can be reached (its VM); empty
	// for existing hosts. Steps on the host depend on them.
	Ready []pulumi.Resource
	// Identity changes when the machine is replaced (the VM id, or the address of an existing
	// host): steps use it as a trigger so a new machine is prepared again.
	Identity pulumi.StringInput
	// Lost: the machine is gone for good (Spec.Lost). A step on it, or about it, is registered
	// frozen and retained (remotecmd.Run): it never runs again, and leaving the state never
	// runs its delete.
	Lost bool
}

// Hosts is the component: pm4ml:hosts:Hosts.
type Hosts struct {
	pulumi.ResourceState

	// Hosts in configuration order, the lost ones excepted.
	Hosts []Host
	// Lost are the hosts marked lost, in configuration order: no resource of theirs is created
	// here (Identity is the address, Ready empty); the components that removed them from their
	// clusters register the memberships they held, frozen.
	Lost []Host
	// Addresses by host name (registered output).
	Addresses pulumi.StringMapOutput `pulumi:"addresses"`
	// RolesByHost by host name, e.g. "master+worker" (registered output).
	RolesByHost pulumi.StringMapOutput `pulumi:"roles"`
	// LostHosts are the names of the lost hosts (registered output).
	LostHosts pulumi.StringArrayOutput `pulumi:"lost"`
}

// Token is the component's type token.
const Token = "pm4ml:hosts:Hosts"

// New provides the hosts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Hosts, error) {
	c := &Hosts{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	var provider pulumi.ProviderResource
	if args.Source == Proxmox {
		if args.Proxmox == nil {
			return nil, fmt.Errorf("hosts: source proxmox without Proxmox settings")
		}
		p, err := newProxmoxProvider(ctx, name+"-proxmox", args.Proxmox, pulumi.Parent(c))
		if err != nil {
			return nil, err
		}
		provider = p
	}
	addrs, roles := pulumi.StringMap{}, pulumi.StringMap{}
	lost := pulumi.StringArray{}
	for _, s := range args.Specs {
		h := Host{Name: s.Name, Address: s.Address, Roles: s.Roles, Sizing: s.Sizing, CephDisks: s.CephDisks}
		if s.Lost {
			h.Lost, h.Identity, h.Conn = true, pulumi.String(s.Address), connection(s, args.SSH)
			c.Lost = append(c.Lost, h)
			lost = append(lost, pulumi.String(s.Name))
			continue
		}
		switch args.Source {
		case Proxmox:
			vm, err := newVM(ctx, name+"-"+s.Name, s, args.Proxmox, args.SSH, pulumi.Parent(c), pulumi.Provider(provider))
			if err != nil {
				return nil, err
			}
			h.Ready = []pulumi.Resource{vm}
			h.Identity = vm.ID().ToStringOutput()
		case Existing:
			h.Identity = pulumi.String(s.Address)
		default:
			return nil, fmt.Errorf("hosts: unknown source %q", args.Source)
		}
		h.Conn = connection(s, args.SSH)
		c.Hosts = append(c.Hosts, h)
		addrs[s.Name] = pulumi.String(s.Address)
		roles[s.Name] = pulumi.String(s.Roles.String())
	}
	c.Addresses = addrs.ToStringMapOutput()
	c.RolesByHost = roles.ToStringMapOutput()
	c.LostHosts = lost.ToStringArrayOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"addresses": c.Addresses, "roles": c.RolesByHost, "lost": c.LostHosts})
}

// connection builds the pulumi-command SSH connection of a host.
func connection(s Spec, ssh SSH) remote.ConnectionInput {
	conn := remote.ConnectionArgs{
		Host:           pulumi.String(s.Address),
		Port:           pulumi.Float64(float64(ssh.Port)),
		User:           pulumi.String(ssh.User),
		PrivateKey:     pulumi.ToSecret(ssh.PrivateKey).(pulumi.StringOutput),
		DialErrorLimit: pulumi.Int(30), // a freshly cloned VM needs a while before sshd answers
		PerDialTimeout: pulumi.Int(10),
	}
	if k, ok := ssh.HostKeys[s.Name]; ok {
		conn.HostKey = pulumi.String(k)
	}
	if b := ssh.Bastion; b != nil {
		conn.Proxy = remote.ProxyConnectionArgs{
			Host:       pulumi.String(b.Host),
			Port:       pulumi.Float64(float64(b.Port)),
			User:       pulumi.String(b.User),
			PrivateKey: pulumi.ToSecret(b.PrivateKey).(pulumi.StringOutput),
		}
	}
	return conn
}
