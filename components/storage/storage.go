package storage

import (
	"fmt"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:storage:Storage"

// Args of the storage classes: the plan (pure data, the one stacks builds for render and deploy
// alike), the machine it runs on, the Ceph client configuration and the ordering input.
type Args struct {
	Plan Plan
	// Host is the machine of Plan.Master: every step runs there (microk8s enable,
	// connect-external-ceph, kubectl).
	Host hosts.Host
	// CephConf and Keyring are the MicroCeph cluster's client configuration (secrets; the
	// keyring is client.admin's: connect-external-ceph creates its CSI users with it).
	CephConf pulumi.StringInput
	Keyring  pulumi.StringInput
	// DependsOn: MicroK8s ready (the cluster's Ready) and MicroCeph ready (its Ready). Cluster-wide
	// ordering is DependsOn, a list (as in Argo CD, waves, the Vault secret, verify); After is the
	// per-host map of the components whose steps run on every host of a role.
	DependsOn []pulumi.Resource
	// User is the SSH user (sudo is used unless it is root).
	User string
}

// Storage is the component: pm4ml:storage:Storage.
type Storage struct {
	pulumi.ResourceState

	// Classes are the managed StorageClasses (known at plan time, for the policy pack).
	Classes []Class
	// StorageClasses: name -> {tier, default, provisioner} (registered output).
	StorageClasses pulumi.MapOutput `pulumi:"storageClasses"`
	// Ready is the last step: both classes exist with their tiers.
	Ready pulumi.Resource
	// Steps in Steps order.
	Steps []*remote.Command
}

// New registers the chain rook-ceph -> connect (secret) -> storageclasses on the master.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Storage, error) {
	c := &Storage{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	plan := args.Plan
	if args.Host.Name != plan.Master {
		return nil, fmt.Errorf("storage: the machine %q is not the plan's master %q (Args.Host)", args.Host.Name, plan.Master)
	}
	r, err := Render(plan)
	if err != nil {
		return nil, err
	}
	stdin := pulumi.All(args.CephConf, args.Keyring).ApplyT(func(v []any) string {
		return Bundle(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	// Movable: the steps set up the cluster from its first master; when that one changes they run
	// again on the next (updated, never replaced).
	links := make([]remotecmd.Link, len(r.Scripts))
	for i, s := range r.Scripts {
		links[i] = remotecmd.Link{Name: name + "-" + Steps[i], Script: s, Options: remotecmd.Options{User: args.User, Movable: true}}
		if s.Secret {
			links[i].Options.Stdin = stdin
		}
	}
	if c.Steps, err = remotecmd.Chain(ctx, args.Host, args.DependsOn, links, pulumi.Parent(c)); err != nil {
		return nil, err
	}
	c.Ready = c.Steps[len(c.Steps)-1]
	c.Classes = plan.Classes()
	classes := pulumi.Map{}
	for _, cl := range c.Classes {
		classes[cl.Name] = pulumi.Map{
			"tier":        pulumi.String(cl.Tier),
			"default":     pulumi.Bool(cl.Default),
			"provisioner": pulumi.String(cl.Provisioner),
		}
	}
	c.StorageClasses = classes.ToMapOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"storageClasses": c.StorageClasses})
}
