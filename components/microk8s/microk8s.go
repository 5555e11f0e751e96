package microk8s

import (
	"errors"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:microk8s:Cluster"

// Args of the cluster: the plan (pure data, the one stacks builds for render and deploy alike),
// the machines it names, the join secret and the ordering input. Each value is passed once.
type Args struct {
	// Plan: the environment, the channel, the nodes (masters and workers in configuration order,
	// a combined master+worker host once; the first master bootstraps the cluster), dedicated
	// masters, the SSH user, addons, maxUnavailable, and the nodes gone for good (Lost: removed
	// from the cluster from the first master, `remove-node --force`, never reached; their
	// membership steps, whose deletes would reach or drain them, stay registered frozen until
	// their entries leave the configuration, which then only forgets them).
	Plan Plan
	// Hosts are the machines the plan names, live and lost (hosts.Host.Lost), by name: how to
	// reach them.
	Hosts []hosts.Host
	// JoinSecret is a Pulumi secret; the join tokens are derived from it (JoinToken), so they are
	// stable across runs and never random.
	JoinSecret pulumi.StringInput
	// After holds, per host name, the resource the node's installation waits for: the host
	// preparation's Ready step. Every node needs one.
	After map[string]pulumi.Resource
}

// Cluster is the component: pm4ml:microk8s:Cluster.
type Cluster struct {
	pulumi.ResourceState

	// Kubeconfig is the admin kubeconfig (a secret) whose server is APIServer. It resolves after
	// the finalize step and the rolling upgrade's last steps, so whatever uses it waits for the
	// whole cluster at the configured version.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// APIServer is https://<first master address>:16443.
	APIServer pulumi.StringOutput `pulumi:"apiServer"`
	Channel   pulumi.StringOutput `pulumi:"channel"`
	// Nodes, Masters and Workers are node names in configuration order; a master+worker host is
	// in Masters and in Workers.
	Nodes   pulumi.StringArrayOutput `pulumi:"nodes"`
	Masters pulumi.StringArrayOutput `pulumi:"masters"`
	Workers pulumi.StringArrayOutput `pulumi:"workers"`
	// TaintedMasters says, per master, whether it carries the control-plane NoSchedule taint.
	TaintedMasters pulumi.BoolMapOutput `pulumi:"taintedMasters"`
	// RefreshHeld is true: every node holds snap refreshes of microk8s.
	RefreshHeld pulumi.BoolOutput `pulumi:"refreshHeld"`
	// Addons enabled on the cluster.
	Addons pulumi.StringArrayOutput `pulumi:"addons"`
	// BackupPath is the datastore backup the last channel change took on the first master before
	// its first refresh ("" when none was needed, e.g. on a fresh cluster).
	BackupPath pulumi.StringOutput `pulumi:"backupPath"`
	// UpgradeOrder are the batches of a rolling upgrade, in order (masters alone, then workers
	// MaxUnavailable at a time).
	UpgradeOrder pulumi.StringArrayArrayOutput `pulumi:"upgradeOrder"`

	// Ready is the finalize step: every node joined, labelled, tainted, Ready, addons enabled.
	// Later layers depend on it.
	Ready pulumi.Resource
	// FirstMaster is the bootstrap node's name.
	FirstMaster string
	// Install, JoinToken and Join are the steps per node name (JoinToken on the master the node
	// joins through, Rendered.Via).
	Install   map[string]*remote.Command
	JoinToken map[string]*remote.Command
	Join      map[string]*remote.Command
	// Drain per node (on the master it joined through): its delete drains the node first.
	Drain map[string]*remote.Command
	// KubeconfigStep runs `microk8s config` on the first master (the program's kubeconfig);
	// KubeconfigSteps on every master, by name.
	KubeconfigStep  *remote.Command
	KubeconfigSteps map[string]*remote.Command
	// Backup is the datastore backup step before a rolling upgrade (first master, after
	// finalize); Upgrade the rolling upgrade step per node, each after the previous batch's.
	Backup  *remote.Command
	Upgrade map[string]*remote.Command
	// Upgraded is the last batch's upgrade steps: every node runs the configured channel (what
	// the verification waits for).
	Upgraded []pulumi.Resource
	// MastersUpgraded is the last master's upgrade step: every control-plane node runs the
	// configured channel (what the Kubeconfig waits for).
	MastersUpgraded pulumi.Resource
}

// machines validates the arguments and returns the machine of every node and lost node of the
// plan by name; every problem at once.
func (a *Args) machines() (map[string]hosts.Host, error) {
	var errs []error
	if a.JoinSecret == nil {
		errs = append(errs, errors.New("microk8s: no join secret (Args.JoinSecret): the join tokens are derived from it"))
	}
	nodeName := func(n Node) string { return n.Name }
	byName, _, merrs := remotecmd.Machines("microk8s", a.Hosts, remotecmd.Names(a.Plan.Nodes, nodeName), remotecmd.Names(a.Plan.Lost, nodeName), a.After)
	errs = append(errs, merrs...)
	if _, err := normalize(a.Plan); err != nil {
		errs = append(errs, err)
	}
	return byName, errors.Join(errs...)
}

// joinTokenOutput derives a node's join token from the secret, as a secret.
func joinTokenOutput(secret pulumi.StringInput, node string) pulumi.StringOutput {
	tok := secret.ToStringOutput().ApplyT(func(s string) (string, error) {
		if s == "" {
			return "", errors.New("microk8s: the join secret is empty: set the stack's MicroK8s join secret (a long random string, pulumi config set --secret)")
		}
		return JoinToken(s, node), nil
	}).(pulumi.StringOutput)
	return pulumi.ToSecret(tok).(pulumi.StringOutput)
}

// New registers the cluster.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		return nil, errors.New("microk8s: no arguments")
	}
	host, err := args.machines()
	if err != nil {
		return nil, err
	}
	plan := args.Plan
	r, err := Render(plan)
	if err != nil {
		return nil, err
	}
	c := &Cluster{FirstMaster: r.FirstMaster.Name, Install: map[string]*remote.Command{},
		JoinToken: map[string]*remote.Command{}, Join: map[string]*remote.Command{}, Drain: map[string]*remote.Command{},
		Upgrade: map[string]*remote.Command{}, KubeconfigSteps: map[string]*remote.Command{}}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	run := func(res string, h hosts.Host, s remotecmd.Script, o remotecmd.Options, deps []pulumi.Resource, extra ...pulumi.ResourceOption) (*remote.Command, error) {
		o.User = plan.User
		ro := append([]pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(deps)}, extra...)
		return remotecmd.Run(ctx, res, h, s, o, ro...)
	}

	// 1. MicroK8s on every node, each after its host preparation.
	for _, n := range plan.Nodes {
		h := host[n.Name]
		cmd, err := run(name+"-"+h.Name+"-install", h, r.Install[h.Name], remotecmd.Options{}, []pulumi.Resource{args.After[h.Name]})
		if err != nil {
			return nil, err
		}
		c.Install[h.Name] = cmd
	}
	first := host[r.FirstMaster.Name]
	firstInstall := c.Install[first.Name]

	// 2. Membership: the other masters one at a time (each token after the previous master's
	// join), then the first master (through the next one: on day 1 a check, and what removes it
	// when it leaves the configuration), then the worker-only nodes, in parallel, after the
	// admin kubeconfig. A token or drain step runs on a master for another node (Via): it is
	// keyed by that node's machine (Subject), so when the master it runs on changes (the first
	// one left the configuration) it is updated in place there, never replaced (its delete
	// removes the node).
	var gate pulumi.Resource = firstInstall
	joins := []pulumi.Resource{firstInstall}
	joinStdin := map[string]pulumi.StringInput{} // what each worker-only node's join reads
	var kc *remote.Command
	var admin pulumi.StringOutput
	for _, n := range r.JoinOrder {
		h := host[n]
		worker := !h.Roles.Has(hosts.RoleMaster)
		via := host[r.Via[n]]
		token := joinTokenOutput(args.JoinSecret, n)
		// The token step re-runs (replaced, its delete removing the old node first) when the
		// joining machine is replaced; the token is registered right before the join, after the
		// node's own installation, so its TTL does not run out while the node installs.
		tok, err := run(name+"-"+n+"-token", via, r.Token[n],
			remotecmd.Options{Stdin: token, Subject: h.Identity},
			[]pulumi.Resource{gate, c.Install[n], c.Install[via.Name]}, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		stdin := token
		deps := []pulumi.Resource{tok, c.Install[n]}
		if worker {
			stdin = pulumi.ToSecret(pulumi.All(token, admin).ApplyT(func(v []any) string {
				return v[0].(string) + "\n" + v[1].(string)
			})).(pulumi.StringOutput)
			deps = append(deps, kc)
			joinStdin[n] = stdin
		}
		// Replaced only when this machine is replaced: then the old membership is left (delete
		// first), and the new machine joins.
		// (first.Identity: the trigger earlier versions replaced it on, inert)
		join, err := run(name+"-"+n+"-join", h, r.Join[n], remotecmd.Options{Stdin: stdin, Inert: pulumi.Array{first.Identity}},
			deps, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		c.JoinToken[n], c.Join[n] = tok, join
		joins = append(joins, join)
		if !worker {
			gate = join
			// The admin kubeconfig on every master once it is a member (the first master's, the
			// last of them, is the program's: worker-only nodes need it to check their membership
			// and to be drained, the Kubernetes provider to reach the API). The next master's is
			// there already when the first one leaves, so the kubeconfig stays known in a preview.
			var opts []pulumi.ResourceOption
			if n == first.Name { // its name before every master had one
				opts = append(opts, pulumi.Aliases([]pulumi.Alias{{Name: pulumi.String(name + "-kubeconfig")}}))
			}
			k, err := run(name+"-"+n+"-kubeconfig", h, r.Kubeconfig[n], remotecmd.Options{}, []pulumi.Resource{join}, opts...)
			if err != nil {
				return nil, err
			}
			c.KubeconfigSteps[n] = k
			if n == first.Name {
				kc = k
				admin = pulumi.ToSecret(kc.Stdout.ApplyT(func(out string) (string, error) {
					return KubeconfigFromOutput(out, r.APIServer)
				})).(pulumi.StringOutput)
			}
		}
		// A node is drained from the master it joined through when it leaves: this step deletes
		// before its join (which only leaves), while the control plane is reachable from there.
		drain, err := run(name+"-"+n+"-drain", via, r.Drain[n], remotecmd.Options{Subject: h.Identity},
			[]pulumi.Resource{join}, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		c.Drain[n] = drain
		joins = append(joins, drain)
	}
	c.KubeconfigStep = kc

	// Lost nodes: removed from the first master once every master is a member (a master added
	// in the same update to replace a lost one has joined), before finalize checks the nodes.
	// Their membership steps stay registered, frozen: the drain and token steps (on a master,
	// about the lost machine) and the join (on it); their deletes never run.
	for _, n := range plan.Lost {
		l := host[n.Name]
		rm, err := run(name+"-"+l.Name+"-remove", first, r.Remove[l.Name], remotecmd.Options{Subject: l.Identity}, []pulumi.Resource{gate, kc})
		if err != nil {
			return nil, err
		}
		joins = append(joins, rm)
		frozen := remotecmd.Frozen(r.Remove[l.Name])
		for _, s := range []struct {
			step string
			on   hosts.Host
		}{{"token", first}, {"join", l}, {"drain", first}} {
			if _, err := run(name+"-"+l.Name+"-"+s.step, s.on, frozen, remotecmd.Options{Subject: l.Identity, Lost: true}, []pulumi.Resource{rm}); err != nil {
				return nil, err
			}
		}
	}

	// 3. Labels, taints, addons, all nodes Ready.
	// Finalize and backup are cluster-wide, applied from the first master (Movable: when it
	// changes they run again on the next one, updated, never replaced).
	fin, err := run(name+"-finalize", first, r.Finalize, remotecmd.Options{Movable: true}, append(joins, kc))
	if err != nil {
		return nil, err
	}
	c.Ready = fin

	// 4. The rolling upgrade (a change of Channel): the datastore backup on the first master, then
	// each batch of RollOrder after the previous one. On a cluster that already runs Channel every
	// step finds nothing to do; a changed Channel changes every step's script, so `pulumi up`
	// re-runs them in this order and the first failure stops the ones after it.
	backup, err := run(name+"-backup", first, r.Backup, remotecmd.Options{Movable: true}, []pulumi.Resource{fin})
	if err != nil {
		return nil, err
	}
	c.Backup = backup
	prev := []pulumi.Resource{backup}
	var lastMaster pulumi.Resource = backup
	for _, batch := range r.RollOrder {
		var this []pulumi.Resource
		for _, n := range batch {
			o := remotecmd.Options{}
			if s := joinStdin[n]; s != nil {
				o.Stdin = s
			}
			up, err := run(name+"-"+n+"-upgrade", host[n], r.Upgrade[n], o, append(slices.Clone(prev), c.Install[n]))
			if err != nil {
				return nil, err
			}
			c.Upgrade[n] = up
			this = append(this, up)
			if host[n].Roles.Has(hosts.RoleMaster) {
				lastMaster = up
			}
		}
		prev = this
	}
	c.Upgraded = prev
	c.MastersUpgraded = lastMaster

	// The kubeconfig resolves once the cluster is final and every control-plane node runs the
	// configured channel: what uses the API (the kubernetes provider) never runs while a master's
	// API server restarts in a rolling upgrade. The workers' upgrades do not touch the API: they
	// roll beside what uses it (on day 1, when each finds nothing to do, beside Argo CD and the
	// waves, so they add nothing to the critical path), and the verification waits for them.
	waits := []any{admin, fin.ID(), lastMaster.(pulumi.CustomResource).ID()}
	c.Kubeconfig = pulumi.ToSecret(pulumi.All(waits...).ApplyT(func(v []any) string {
		return v[0].(string)
	})).(pulumi.StringOutput)
	c.APIServer = pulumi.String(r.APIServer).ToStringOutput()
	c.Channel = pulumi.String(r.Plan.Channel).ToStringOutput()
	c.Nodes = pulumi.ToStringArray(names(r.Plan.Nodes, func(Node) bool { return true })).ToStringArrayOutput()
	c.Masters = pulumi.ToStringArray(r.Masters()).ToStringArrayOutput()
	c.Workers = pulumi.ToStringArray(r.Workers()).ToStringArrayOutput()
	tainted := pulumi.BoolMap{}
	for _, n := range r.Plan.Nodes {
		if n.Master() {
			tainted[n.Name] = pulumi.Bool(r.Tainted(n))
		}
	}
	c.TaintedMasters = tainted.ToBoolMapOutput()
	c.RefreshHeld = pulumi.Bool(true).ToBoolOutput()
	c.Addons = pulumi.ToStringArray(r.Plan.Addons).ToStringArrayOutput()
	c.BackupPath = backup.Stdout.ApplyT(BackupFromOutput).(pulumi.StringOutput)
	order := pulumi.StringArrayArray{}
	for _, b := range r.RollOrder {
		order = append(order, pulumi.ToStringArray(b))
	}
	c.UpgradeOrder = order.ToStringArrayArrayOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"kubeconfig":     c.Kubeconfig,
		"apiServer":      c.APIServer,
		"channel":        c.Channel,
		"environment":    pulumi.String(string(r.Plan.Environment)),
		"nodes":          c.Nodes,
		"masters":        c.Masters,
		"workers":        c.Workers,
		"taintedMasters": c.TaintedMasters,
		"refreshHeld":    c.RefreshHeld,
		"addons":         c.Addons,
		"backupPath":     c.BackupPath,
		"upgradeOrder":   c.UpgradeOrder,
	})
}

// BackupFromOutput is the backup path the backup step printed (a line "backup: PATH"), "" when
// it took none.
func BackupFromOutput(stdout string) string {
	for _, line := range strings.Split(stdout, "\n") {
		if f, ok := strings.CutPrefix(line, "backup: "); ok {
			return strings.TrimSpace(f)
		}
	}
	return ""
}
