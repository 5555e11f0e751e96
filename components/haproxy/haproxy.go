package haproxy

import (
	"fmt"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:haproxy:LoadBalancer"

// Stats are the stats page's settings (pm4ml:haproxy.statsEnabled/statsPort/statsUser) and its
// password (pm4ml:haproxyStatsPassword).
type Stats struct {
	Enabled bool
	// Port; 0 takes the port matrix's (Topology.StatsPort).
	Port int
	User string
	// Password is a Pulumi secret; it reaches the config step on stdin only.
	Password pulumi.StringInput
}

// Args of the load balancer.
type Args struct {
	// LBs are the haproxy hosts (one in stg, two in prod), in configuration order.
	LBs []hosts.Host
	// Workers are the backends: the hosts with the worker role, in configuration order.
	Workers     []hosts.Host
	PublicVIP   string
	InternalVIP string
	Interface   string
	Stats       Stats
	// After maps each haproxy host's name to what its steps wait for (its HostPrep.Done).
	After map[string]pulumi.Resource
	// User is the SSH user (sudo unless root).
	User string
	// Topology is the port matrix's view of the stack (ports, stats port).
	Topology network.Topology
	// VirtualRouterID of the VRRP instance; 0 means DefaultVirtualRouterID.
	VirtualRouterID int
	// MaxConn is HAProxy's global maxconn; 0 means DefaultMaxConn.
	MaxConn int
}

// LoadBalancer is the component: pm4ml:haproxy:LoadBalancer.
type LoadBalancer struct {
	pulumi.ResourceState

	// Rendered per haproxy host, in Args.LBs order (what the steps run).
	Rendered []Rendered
	// Steps per haproxy host name, in execution order (install, config[, keepalived]).
	Steps map[string][]*remote.Command
	// Done per haproxy host name: its last step.
	Done map[string]pulumi.Resource
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

// PlanOf is the render plan of the arguments (no Pulumi values).
func PlanOf(a *Args) Plan {
	node := func(h hosts.Host) Node { return Node{Name: h.Name, Address: h.Address} }
	p := Plan{
		PublicVIP: a.PublicVIP, InternalVIP: a.InternalVIP, Interface: a.Interface,
		Stats:    StatsSettings{Enabled: a.Stats.Enabled, Port: a.Stats.Port, User: a.Stats.User},
		Topology: a.Topology, VirtualRouterID: a.VirtualRouterID, MaxConn: a.MaxConn,
	}
	for _, h := range a.LBs {
		p.LBs = append(p.LBs, node(h))
	}
	for _, h := range a.Workers {
		p.Workers = append(p.Workers, node(h))
	}
	return p
}

// New registers, per haproxy host, install -> config -> keepalived, after the host's preparation.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	if args.Stats.Enabled && args.Stats.Password == nil {
		return nil, fmt.Errorf("haproxy: pm4ml:haproxyStatsPassword is not set but pm4ml:haproxy.statsEnabled is true; pulumi config set --secret pm4ml:haproxyStatsPassword")
	}
	for _, h := range args.LBs {
		if args.After[h.Name] == nil {
			return nil, fmt.Errorf("haproxy: no host preparation to wait for on %s (Args.After[%q])", h.Name, h.Name)
		}
	}
	for _, h := range args.Workers {
		if !h.Roles.Has(hosts.RoleWorker) {
			return nil, fmt.Errorf("haproxy: backend %s does not have the worker role (pm4ml:hosts)", h.Name)
		}
	}
	rendered, err := Render(PlanOf(args))
	if err != nil {
		return nil, err
	}
	c := &LoadBalancer{Rendered: rendered, Steps: map[string][]*remote.Command{}, Done: map[string]pulumi.Resource{}}
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
		r, h := rendered[i], args.LBs[i]
		prev := args.After[h.Name]
		for k, s := range r.Scripts {
			o := remotecmd.Options{User: args.User}
			if s.Secret {
				o.Stdin = args.Stats.Password
			}
			deps := []pulumi.Resource{prev}
			if i == 0 && k > 0 { // not the package installation: nothing serves with it alone
				deps = append(deps, backupSteps[k]...)
			}
			step := s.Step[len("haproxy-"):]
			cmd, err := remotecmd.Run(ctx, fmt.Sprintf("%s-%s-%s", name, h.Name, step), h, s, o,
				pulumi.Parent(c), pulumi.DependsOn(deps))
			if err != nil {
				return nil, err
			}
			c.Steps[h.Name] = append(c.Steps[h.Name], cmd)
			if i > 0 {
				backupSteps[k] = append(backupSteps[k], cmd)
			}
			prev = cmd
		}
		c.Done[h.Name] = prev
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
	c.VIPs = pulumi.ToStringArray(PlanOf(args).VIPs()).ToStringArrayOutput()
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
