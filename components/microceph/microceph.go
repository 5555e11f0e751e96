package microceph

import (
	"errors"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:microceph:Cluster"

// Args of the storage cluster: the plan (pure data, the one stacks builds for render and deploy
// alike), the machines it names and the ordering input. Each value is passed once: the hosts,
// their disks, the channel, the pool and the replication size are the plan's.
type Args struct {
	// Plan names the storage hosts (Nodes, in configuration order: the first bootstraps the
	// cluster; keep it first for the life of the stack, new hosts go after it) and the hosts
	// gone for good (Lost: removed from the bootstrap host, OSDs out and purged, `cluster remove
	// --force`, never reached; their member and disks steps stay registered frozen until their
	// entries leave the configuration, which then only forgets them).
	Plan Plan
	// Hosts are the machines the plan names, live and lost (hosts.Host.Lost), by name: how to
	// reach them.
	Hosts []hosts.Host
	// After maps a host name to what must finish on that host first (its HostPrep.Ready). When
	// set, every storage host needs an entry.
	After map[string]pulumi.Resource
	// User is the SSH user (sudo is used unless it is root).
	User string
}

// Cluster is the component: pm4ml:microceph:Cluster.
type Cluster struct {
	pulumi.ResourceState

	// CephConf is a minimal ceph.conf (fsid, mon_host) for clients (secret).
	CephConf pulumi.StringOutput `pulumi:"cephConf"`
	// Keyring is the client.admin keyring (secret): microk8s connect-external-ceph needs admin
	// capabilities to create its restricted CSI users.
	Keyring pulumi.StringOutput `pulumi:"keyring"`
	// Monitors are the monitor addresses from the cluster's own mon_host.
	Monitors pulumi.StringArrayOutput `pulumi:"monitors"`
	// Members are the storage host names in join order (registered output).
	Members pulumi.StringArrayOutput `pulumi:"members"`
	// Pool is the RBD pool (registered output).
	Pool pulumi.StringOutput `pulumi:"pool"`
	// Channel is the pinned snap channel; RefreshHeld is true: every storage host holds snap
	// refreshes of microceph (read by the policy pack).
	Channel     pulumi.StringOutput `pulumi:"channel"`
	RefreshHeld pulumi.BoolOutput   `pulumi:"refreshHeld"`
	// Ready is the last step (export): the cluster is up, the OSDs are in, the pool exists.
	Ready pulumi.Resource
	// Steps by logical name, for tests and for the layers that follow.
	Steps map[string]*remote.Command
}

// New registers the MicroCeph cluster: install (each host, in series) -> bootstrap (first host)
// -> per other host: add (token, on the bootstrap host) -> join (serial) -> disks (each host) ->
// pool -> export.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{Steps: map[string]*remote.Command{}}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	r, err := Render(args.Plan)
	if err != nil {
		return nil, err
	}
	nodeName := func(n Node) string { return n.Name }
	byName, lost, errs := remotecmd.Machines("microceph", args.Hosts, remotecmd.Names(args.Plan.Nodes, nodeName), remotecmd.Names(args.Plan.Lost, nodeName), args.After)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	boot := byName[r.Bootstrap.Name]
	run := func(step string, h hosts.Host, s remotecmd.Script, o remotecmd.Options, deps []pulumi.Resource, extra ...pulumi.ResourceOption) (*remote.Command, error) {
		o.User = args.User
		ro := append([]pulumi.ResourceOption{pulumi.Parent(c)}, extra...)
		if len(deps) > 0 {
			ro = append(ro, pulumi.DependsOn(deps))
		}
		cmd, err := remotecmd.Run(ctx, name+"-"+step, h, s, o, ro...)
		if err != nil {
			return nil, err
		}
		c.Steps[name+"-"+step] = cmd
		return cmd, nil
	}
	after := func(h hosts.Host, more ...pulumi.Resource) []pulumi.Resource {
		var deps []pulumi.Resource
		if a := args.After[h.Name]; a != nil {
			deps = append(deps, a)
		}
		for _, m := range more {
			if m != nil {
				deps = append(deps, m)
			}
		}
		return deps
	}

	// Snap installs in series: a channel change then refreshes one host at a time.
	installs := map[string]*remote.Command{}
	var prev pulumi.Resource
	for _, n := range r.Nodes {
		h := byName[n.Node.Name]
		cmd, err := run(n.Node.Name+"-install", h, n.Install, remotecmd.Options{}, after(h, prev))
		if err != nil {
			return nil, err
		}
		installs[n.Node.Name] = cmd
		prev = cmd
	}
	lastInstall := prev

	// Membership: bootstrap, then one join at a time. Leaving (the DeleteBody) must run before a
	// replacement joins again, hence delete-before-replace.
	var lastMember pulumi.Resource
	members := map[string]*remote.Command{}
	for i, n := range r.Nodes {
		h := byName[n.Node.Name]
		if i == 0 {
			cmd, err := run(n.Node.Name+"-member", h, n.Member, remotecmd.Options{}, []pulumi.Resource{lastInstall}, pulumi.DeleteBeforeReplace(true))
			if err != nil {
				return nil, err
			}
			members[n.Node.Name], lastMember = cmd, cmd
			continue
		}
		add, err := run(n.Node.Name+"-add", boot, *n.Add, remotecmd.Options{}, []pulumi.Resource{lastMember})
		if err != nil {
			return nil, err
		}
		join, err := run(n.Node.Name+"-member", h, n.Member, remotecmd.Options{Stdin: add.Stdout},
			[]pulumi.Resource{add, installs[n.Node.Name], lastMember}, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		members[n.Node.Name], lastMember = join, join
	}

	// OSDs once every host is a member, all hosts at once.
	var disks []pulumi.Resource
	for _, n := range r.Nodes {
		h := byName[n.Node.Name]
		cmd, err := run(n.Node.Name+"-disks", h, n.Disks, remotecmd.Options{}, []pulumi.Resource{members[n.Node.Name], lastMember}, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		disks = append(disks, cmd)
	}
	// Lost hosts: removed from the bootstrap host once every member joined, before the pool is
	// checked; their member and disks steps stay, frozen (their deletes would run on them).
	for _, l := range lost {
		rm, err := run(l.Name+"-remove", boot, r.Remove[l.Name], remotecmd.Options{Subject: l.Identity}, []pulumi.Resource{lastMember})
		if err != nil {
			return nil, err
		}
		disks = append(disks, rm)
		frozen := remotecmd.Frozen(r.Remove[l.Name])
		for _, step := range []string{"member", "disks"} {
			if _, err := run(l.Name+"-"+step, l, frozen, remotecmd.Options{}, []pulumi.Resource{rm}); err != nil {
				return nil, err
			}
		}
	}
	pool, err := run("pool", boot, r.Pool, remotecmd.Options{}, disks)
	if err != nil {
		return nil, err
	}
	export, err := run("export", boot, r.Export, remotecmd.Options{}, []pulumi.Resource{pool})
	if err != nil {
		return nil, err
	}
	c.Ready = export

	conf := export.Stdout.ApplyT(func(out string) (string, error) {
		conf, _, err := ParseExport(out)
		return conf, err
	}).(pulumi.StringOutput)
	key := export.Stdout.ApplyT(func(out string) (string, error) {
		_, key, err := ParseExport(out)
		return key, err
	}).(pulumi.StringOutput)
	c.CephConf = pulumi.ToSecret(conf).(pulumi.StringOutput)
	c.Keyring = pulumi.ToSecret(key).(pulumi.StringOutput)
	// Monitor addresses are not secret; they come from the secret export, hence Unsecret.
	c.Monitors = pulumi.Unsecret(conf.ApplyT(Monitors)).(pulumi.StringArrayOutput)
	names := pulumi.StringArray{}
	for _, n := range r.Nodes {
		names = append(names, pulumi.String(n.Node.Name))
	}
	c.Members = names.ToStringArrayOutput()
	c.Pool = pulumi.String(args.Plan.Pool).ToStringOutput()
	c.Channel = pulumi.String(args.Plan.Channel).ToStringOutput()
	c.RefreshHeld = pulumi.Bool(true).ToBoolOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"channel":     c.Channel,
		"refreshHeld": c.RefreshHeld,
		"cephConf":    c.CephConf,
		"keyring":     c.Keyring,
		"monitors":    c.Monitors,
		"members":     c.Members,
		"pool":        c.Pool,
	})
}
