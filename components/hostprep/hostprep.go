package hostprep

import (
	"fmt"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:hostprep:HostPrep"

// Args of one host's preparation.
type Args struct {
	Host hosts.Host
	Plan Plan
	// User is the SSH user (sudo is used unless it is root).
	User string
}

// HostPrep is the per-host chain preflight -> base -> tuning -> firewall.
type HostPrep struct {
	pulumi.ResourceState

	// Steps in order; Ready is the last one: later layers depend on it.
	Steps []*remote.Command
	Ready pulumi.Resource
	// FirewallRules are the resolved rows, "id proto/ports from sources" (registered output,
	// for reviewers and the stack outputs).
	FirewallRules pulumi.StringArrayOutput `pulumi:"firewallRules"`
	// Firewall is the same, structured (registered output "firewall", read by the policy pack):
	// one map per row with id, proto, from, to (ports), sources, anywhere, public.
	Firewall pulumi.ArrayOutput `pulumi:"firewall"`
	// Rules is the Go form of Firewall.
	Rules []network.Allow
}

// New registers one host's preparation chain.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*HostPrep, error) {
	c := &HostPrep{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	r, err := Render(args.Plan)
	if err != nil {
		return nil, err
	}
	links := make([]remotecmd.Link, len(r.Scripts))
	for i, s := range r.Scripts {
		links[i] = remotecmd.Link{Name: fmt.Sprintf("%s-%s", name, Steps[i]), Script: s, Options: remotecmd.Options{User: args.User}}
	}
	if c.Steps, err = remotecmd.Chain(ctx, args.Host, nil, links, pulumi.Parent(c)); err != nil {
		return nil, err
	}
	c.Ready = c.Steps[len(c.Steps)-1]
	rules, structured := pulumi.StringArray{}, pulumi.Array{}
	for _, a := range r.Rules {
		rules = append(rules, pulumi.String(a.String()))
		structured = append(structured, pulumi.ToMap(a.Fact()))
	}
	c.Rules = r.Rules
	c.FirewallRules = rules.ToStringArrayOutput()
	c.Firewall = structured.ToArrayOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"host":          pulumi.String(args.Plan.Name),
		"address":       pulumi.String(args.Plan.Address),
		"roles":         pulumi.ToStringArray(roleStrings(args.Plan.Roles)),
		"firewallRules": c.FirewallRules,
		"firewall":      c.Firewall,
	})
}

func roleStrings(rs hosts.Roles) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}
