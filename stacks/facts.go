package stacks

// Plain data for the policy pack (policy/): the stack settings no component output carries, as a
// tiny component (pm4ml:stack:Facts). (The test harness that resolves every component's
// registered outputs under mocks is policy/stacktest.StackComponents.)

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FactsToken is the type token of the Facts component.
const FactsToken = "pm4ml:stack:Facts"

// FactsName is the logical name Build gives the Facts component.
const FactsName = "facts"

// Facts is the component pm4ml:stack:Facts: the settings of the stack the policy pack reads and
// that no other component registers as an output. It has no children and changes nothing; its
// outputs are in the state, so a policy (and a reviewer) sees exactly what the stack was built
// with.
type Facts struct {
	pulumi.ResourceState

	// Environment is pm4ml:environment (prod or stg).
	Environment pulumi.StringOutput `pulumi:"environment"`
	// Domain is pm4ml:domain: certificates and gateway hosts must be under it (guide 6.3).
	Domain pulumi.StringOutput `pulumi:"domain"`
	// RiskAcceptance is pm4ml:riskAcceptance ("" when none, guide 4.4).
	RiskAcceptance pulumi.StringOutput `pulumi:"riskAcceptance"`
	// AdminAllowlist is pm4ml:network.adminAllowlist (SSH sources besides the bastions).
	AdminAllowlist pulumi.StringArrayOutput `pulumi:"adminAllowlist"`
	// APIAllowlist is the effective pm4ml:network.apiAllowlist (Kubernetes API clients besides
	// the cluster nodes).
	APIAllowlist pulumi.StringArrayOutput `pulumi:"apiAllowlist"`
	// HAProxySourceIPs is pm4ml:network.haproxySourceIps (extra NodePort sources besides the
	// HAProxy hosts).
	HAProxySourceIPs pulumi.StringArrayOutput `pulumi:"haproxySourceIps"`
	// InternalSubnet is pm4ml:network.internalSubnet (the private side).
	InternalSubnet pulumi.StringOutput `pulumi:"internalSubnet"`
	// PublicVIP is pm4ml:haproxy.publicVip (the public side of HAProxy).
	PublicVIP pulumi.StringOutput `pulumi:"publicVip"`
	// SnapChannels are the configured channels by snap: microk8s (pm4ml:microk8s.channel) and
	// microceph (pm4ml:ceph.channel).
	SnapChannels pulumi.StringMapOutput `pulumi:"snapChannels"`
}

// FactsOf is what the Facts component registers for a loaded configuration, as plain data
// (keys are the output names).
func FactsOf(c *Config) map[string]any {
	list := func(in []string) []string {
		if in == nil {
			return []string{}
		}
		return slices.Clone(in)
	}
	return map[string]any{
		"environment":      string(c.Environment),
		"domain":           c.Domain,
		"riskAcceptance":   c.RiskAcceptance,
		"adminAllowlist":   list(c.Network.AdminAllowlist),
		"apiAllowlist":     list(c.Network.APIAllowlist),
		"haproxySourceIps": list(c.Network.HAProxySourceIPs),
		"internalSubnet":   c.Network.InternalSubnet,
		"publicVip":        c.HAProxy.PublicVIP,
		"snapChannels":     map[string]string{"microk8s": c.MicroK8s.Channel, "microceph": c.Ceph.Channel},
	}
}

// NewFacts registers the Facts component of a loaded configuration. Build calls it once, with
// name FactsName.
func NewFacts(ctx *pulumi.Context, name string, c *Config, opts ...pulumi.ResourceOption) (*Facts, error) {
	f := &Facts{}
	if err := ctx.RegisterComponentResource(FactsToken, name, f, opts...); err != nil {
		return nil, err
	}
	d := FactsOf(c)
	f.Environment = pulumi.String(d["environment"].(string)).ToStringOutput()
	f.Domain = pulumi.String(d["domain"].(string)).ToStringOutput()
	f.RiskAcceptance = pulumi.String(d["riskAcceptance"].(string)).ToStringOutput()
	f.AdminAllowlist = pulumi.ToStringArray(d["adminAllowlist"].([]string)).ToStringArrayOutput()
	f.APIAllowlist = pulumi.ToStringArray(d["apiAllowlist"].([]string)).ToStringArrayOutput()
	f.HAProxySourceIPs = pulumi.ToStringArray(d["haproxySourceIps"].([]string)).ToStringArrayOutput()
	f.InternalSubnet = pulumi.String(d["internalSubnet"].(string)).ToStringOutput()
	f.PublicVIP = pulumi.String(d["publicVip"].(string)).ToStringOutput()
	f.SnapChannels = pulumi.ToStringMap(d["snapChannels"].(map[string]string)).ToStringMapOutput()
	return f, ctx.RegisterResourceOutputs(f, pulumi.Map{
		"environment":      f.Environment,
		"domain":           f.Domain,
		"riskAcceptance":   f.RiskAcceptance,
		"adminAllowlist":   f.AdminAllowlist,
		"apiAllowlist":     f.APIAllowlist,
		"haproxySourceIps": f.HAProxySourceIPs,
		"internalSubnet":   f.InternalSubnet,
		"publicVip":        f.PublicVIP,
		"snapChannels":     f.SnapChannels,
	})
}
