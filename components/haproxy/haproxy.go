package haproxy

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:haproxy:LoadBalancer"

// Args of the load balancer: the plan (pure data, the same the render command renders), how to
// reach the machines it names, and the secret. Every value is passed once: the workers (the
// backends) and the haproxy hosts come from Plan.Topology's nodes, the stats port from the
// topology too.
type Args struct {
	Plan Plan
	// Hosts are the machines of the plan's haproxy hosts (by name: how to reach them).
	Hosts []hosts.Host
	// StatsPassword is pm4ml:haproxyStatsPassword, a Pulumi secret; it reaches the config step
	// on stdin only. Required when Plan.Stats.Enabled.
	StatsPassword pulumi.StringInput
	// After maps each haproxy host's name to what its steps wait for (its HostPrep.Ready).
	After map[string]pulumi.Resource
	// User is the SSH user (sudo unless root).
	User string
}

// LoadBalancer is the component: pm4ml:haproxy:LoadBalancer.
type LoadBalancer struct {
	pulumi.ResourceState

	// Rendered per haproxy host, in Args.LBs order (what the steps run).
	Rendered []Rendered
	// Steps per haproxy host name, in execution order (install, config[, keepalived]).
	Steps map[string][]*remote.Command
	// Ready is every haproxy host's last step, in Args.LBs order: what a later resource depends
	// on. (Not the component itself: the Go SDK expands a component into the children registered
	// so far, which races with the registration of its children.)
	Ready []pulumi.Resource

	// Frontends: name, address, port, mode, tlsTermination (always false), public, backend,
	// redirect (registered output, read by the policy pack).
	Frontends pulumi.MapArrayOutput `pulumi:"frontends"`
	// Backends: name, mode, sendProxy, healthCheck, servers [{name, address, port, checkPort}].
	Backends pulumi.MapArrayOutput `pulumi:"backends"`
	// StatsBind by haproxy host name: "address:port" on the host's own address (empty map when
	// stats are disabled).
	StatsBind pulumi.StringMapOutput `pulumi:"statsBind"`
	// VIPs: the public and internal VIPs.
	VIPs pulumi.StringArrayOutput `pulumi:"vips"`
	// Keepalived by haproxy host name: the VIPs keepalived holds there (empty list: none).
	Keepalived pulumi.StringArrayMapOutput `pulumi:"keepalived"`
}

// New registers, per haproxy host, install -> config -> keepalived, after the host's preparation.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	p := args.Plan
	if p.Stats.Enabled && args.StatsPassword == nil {
		return nil, fmt.Errorf("haproxy: pm4ml:haproxyStatsPassword is not set but pm4ml:haproxy.statsEnabled is true; pulumi config set --secret pm4ml:haproxyStatsPassword")
	}
	machine, _, errs := remotecmd.Machines("haproxy", args.Hosts, remotecmd.Names(p.LBs(), func(n Node) string { return n.Name }), nil, args.After)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rendered, err := Render(p)
	if err != nil {
		return nil, err
	}
	c := &LoadBalancer{Rendered: rendered, Steps: map[string][]*remote.Command{}}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	statsBind, ka := pulumi.StringMap{}, pulumi.StringArrayMap{}
	// One LB at a time: the VRRP backups (lower keepalived priority) first, the active one (the
	// first, highest priority, which holds the VIPs) last. Each configuration step of the active
	// LB waits for the same step on every backup, so a change is applied, validated (haproxy -c,
	// keepalived -t), reloaded and found running on a backup before it reaches the host that
	// serves; a failure there stops the update with the active LB untouched. Reloads keep the
	// VRRP state: a configuration change never moves the VIPs.
	c.Ready = make([]pulumi.Resource, len(rendered))
	backupSteps := map[int][]pulumi.Resource{} // step index -> that step on every backup
	for _, i := range ApplyOrder(len(rendered)) {
		r := rendered[i]
		h := machine[r.LB.Name]
		links := make([]remotecmd.Link, len(r.Scripts))
		for k, s := range r.Scripts {
			links[k] = remotecmd.Link{Name: fmt.Sprintf("%s-%s-%s", name, h.Name, s.Step[len("haproxy-"):]), Script: s,
				Options: remotecmd.Options{User: args.User}}
			if s.Secret {
				links[k].Options.Stdin = args.StatsPassword
			}
			if i == 0 && k > 0 { // not the package installation: nothing serves with it alone
				links[k].Opts = []pulumi.ResourceOption{pulumi.DependsOn(backupSteps[k])}
			}
		}
		cmds, err := remotecmd.Chain(ctx, h, []pulumi.Resource{args.After[h.Name]}, links, pulumi.Parent(c))
		if err != nil {
			return nil, err
		}
		c.Steps[h.Name] = cmds
		if i > 0 {
			for k, cmd := range cmds {
				backupSteps[k] = append(backupSteps[k], cmd)
			}
		}
		prev := cmds[len(cmds)-1]
		c.Ready[i] = prev
		if r.StatsBind != "" {
			statsBind[h.Name] = pulumi.String(r.StatsBind)
		}
		ka[h.Name] = pulumi.ToStringArray(append([]string{}, r.VIPs...))
	}
	var fronts, backs pulumi.MapArray
	if len(rendered) > 0 {
		for _, f := range rendered[0].Frontends {
			fronts = append(fronts, pulumi.Map{
				"name": pulumi.String(f.Name), "address": pulumi.String(f.Address), "port": pulumi.Int(f.Port),
				"mode": pulumi.String(f.Mode), "tlsTermination": pulumi.Bool(f.TLSTermination), "public": pulumi.Bool(f.Public),
				"backend": pulumi.String(f.Backend), "redirect": pulumi.String(f.Redirect),
			})
		}
		for _, b := range rendered[0].Backends {
			servers := pulumi.MapArray{}
			for _, s := range b.Servers {
				servers = append(servers, pulumi.Map{
					"name": pulumi.String(s.Name), "address": pulumi.String(s.Address),
					"port": pulumi.Int(s.Port), "checkPort": pulumi.Int(s.CheckPort),
				})
			}
			backs = append(backs, pulumi.Map{
				"name": pulumi.String(b.Name), "mode": pulumi.String(b.Mode), "sendProxy": pulumi.Bool(b.SendProxy),
				"healthCheck": pulumi.String(b.HealthCheck), "servers": servers,
			})
		}
	}
	c.Frontends = fronts.ToMapArrayOutput()
	c.Backends = backs.ToMapArrayOutput()
	c.StatsBind = statsBind.ToStringMapOutput()
	c.VIPs = pulumi.ToStringArray(p.VIPs()).ToStringArrayOutput()
	c.Keepalived = ka.ToStringArrayMapOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"frontends": c.Frontends, "backends": c.Backends, "statsBind": c.StatsBind, "vips": c.VIPs, "keepalived": c.Keepalived,
	})
}

// ApplyOrder is the order in which n haproxy hosts get a configuration change: the VRRP backups
// (indexes 1..n-1, lower priority) first, the active one (index 0, highest priority) last.
func ApplyOrder(n int) []int {
	var out []int
	for i := 1; i < n; i++ {
		out = append(out, i)
	}
	if n > 0 {
		out = append(out, 0)
	}
	return out
}
