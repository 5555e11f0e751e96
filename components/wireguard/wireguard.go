package wireguard

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:wireguard:VPN"

// Args of the WireGuard component: the plan (the one stacks renders), the machines it names
// (live and lost, by name), the secret key and the ordering input.
type Args struct {
	Plan Plan
	// Hosts are the machines of Plan.Hosts and Plan.Lost: how to reach them. A live one must have
	// the role haproxy; a lost one must be marked lost (hosts.Host.Lost).
	Hosts []hosts.Host
	// PrivateKey is the secret pm4ml:wireguardPrivateKey: ONE server key for every host, so that
	// a VIP failover keeps the server identity. It reaches the hosts on stdin only.
	PrivateKey pulumi.StringInput
	// After maps a host name to the resource its step must follow (hostprep's Ready: packages
	// and the host firewall that opens the port). Nil: no ordering; otherwise every live host
	// needs an entry.
	After map[string]pulumi.Resource
	// User is the SSH user (sudo is used unless it is root).
	User string
}

// VPN is the component.
type VPN struct {
	pulumi.ResourceState

	// Steps are the per-host remote commands, by host name (empty when disabled).
	Steps map[string]*remote.Command
	// Ready lists the steps, in host order, for layers that must follow the VPN.
	Ready []pulumi.Resource

	Enabled pulumi.BoolOutput `pulumi:"enabled"`
	// PublicKey is the server public key, derived in Go from the secret private key; not secret:
	// it is what the peers put in their [Peer] PublicKey. "" when disabled.
	PublicKey pulumi.StringOutput      `pulumi:"publicKey"`
	Port      pulumi.IntOutput         `pulumi:"port"`
	Address   pulumi.StringOutput      `pulumi:"address"`
	Interface pulumi.StringOutput      `pulumi:"interface"`
	PeerCount pulumi.IntOutput         `pulumi:"peers"`
	Hosts     pulumi.StringArrayOutput `pulumi:"hosts"`
}

// New registers the VPN: one secret step per HAProxy host, each after args.After[host].
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*VPN, error) {
	c := &VPN{Steps: map[string]*remote.Command{}}
	if !args.Plan.Enabled {
		if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
			return nil, err
		}
		c.Enabled = pulumi.Bool(false).ToBoolOutput()
		c.PublicKey = pulumi.String("").ToStringOutput()
		c.Port = pulumi.Int(0).ToIntOutput()
		c.Address = pulumi.String("").ToStringOutput()
		c.Interface = pulumi.String("").ToStringOutput()
		c.PeerCount = pulumi.Int(0).ToIntOutput()
		c.Hosts = pulumi.StringArray{}.ToStringArrayOutput()
		return c, c.register(ctx)
	}

	// Everything is checked (all problems at once) before anything is registered.
	var errs []error
	if args.PrivateKey == nil {
		errs = append(errs, errors.New("pm4ml:wireguardPrivateKey: is not set while WireGuard is enabled; fix: wg genkey | pulumi config set --secret pm4ml:wireguardPrivateKey"))
	}
	byName, lost, merrs := remotecmd.Machines("wireguard", args.Hosts, args.Plan.Hosts, args.Plan.Lost, args.After)
	errs = append(errs, merrs...)
	live := make([]hosts.Host, 0, len(args.Plan.Hosts))
	for _, n := range args.Plan.Hosts {
		h, ok := byName[n]
		if !ok {
			continue
		}
		live = append(live, h)
		if !h.Roles.Has(hosts.RoleHAProxy) {
			errs = append(errs, fmt.Errorf("pm4ml:hosts (%s): WireGuard terminates on the HAProxy hosts, but %s has roles %s; fix: pass only the hosts with role haproxy (the firewall opens pm4ml:wireguard.port only there)", h.Name, h.Name, h.Roles))
		}
	}
	rendered, err := Render(args.Plan)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("wireguard %s: %w", name, errors.Join(errs...))
	}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}

	for i, h := range live {
		r := rendered[i]
		var after []pulumi.Resource
		if dep := args.After[h.Name]; dep != nil {
			after = []pulumi.Resource{dep}
		}
		cmds, err := remotecmd.Chain(ctx, h, after, []remotecmd.Link{{
			Name: fmt.Sprintf("%s-%s", name, h.Name), Script: r.Script,
			Options: remotecmd.Options{User: args.User, Stdin: args.PrivateKey},
			// The delete script stops the interface and removes the key: on a replacement it must
			// run before the new apply, never after it on the same machine.
			Opts: []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)},
		}}, pulumi.Parent(c))
		if err != nil {
			return nil, err
		}
		cmd := cmds[0]
		c.Steps[h.Name] = cmd
		c.Ready = append(c.Ready, cmd)
	}
	for _, h := range lost {
		if len(rendered) == 0 {
			break // validation keeps a live HAProxy host; nothing to freeze the step with
		}
		frozen := remotecmd.Frozen(rendered[0].Script)
		if _, err := remotecmd.Run(ctx, fmt.Sprintf("%s-%s", name, h.Name), h, frozen, remotecmd.Options{User: args.User}, pulumi.Parent(c)); err != nil {
			return nil, err
		}
	}

	s := withDefaults(args.Plan.Settings)
	c.Enabled = pulumi.Bool(true).ToBoolOutput()
	// The public key is derived from the secret but is not secret itself.
	c.PublicKey = pulumi.Unsecret(args.PrivateKey.ToStringOutput().ApplyT(PublicKey)).(pulumi.StringOutput)
	c.Port = pulumi.Int(s.Port).ToIntOutput()
	c.Address = pulumi.String(s.Address).ToStringOutput()
	c.Interface = pulumi.String(s.Interface).ToStringOutput()
	c.PeerCount = pulumi.Int(len(s.Peers)).ToIntOutput()
	c.Hosts = pulumi.ToStringArray(args.Plan.Hosts).ToStringArrayOutput()
	return c, c.register(ctx)
}

func (c *VPN) register(ctx *pulumi.Context) error {
	return ctx.RegisterResourceOutputs(c, pulumi.Map{
		"enabled":   c.Enabled,
		"publicKey": c.PublicKey,
		"port":      c.Port,
		"address":   c.Address,
		"interface": c.Interface,
		"peers":     c.PeerCount,
		"hosts":     c.Hosts,
	})
}
