package stacks

// Plain data for the policy pack (policy/): the stack settings no component output carries, as a
// tiny component (pm4ml:stack:Facts), and the registered outputs of every component of a built
// Stack as Pulumi values, so that tests can resolve them under mocks (the mock monitor does not
// pass RegisterResourceOutputs on).

import (
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
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

// ComponentOutputs is one component and the outputs it registers (RegisterResourceOutputs), as
// Pulumi values.
type ComponentOutputs struct {
	Resource pulumi.ComponentResource
	Outputs  map[string]pulumi.Output
}

// StackComponents lists every component reachable from the roots (a built *Stack, and any other
// component or struct holding components), each once, in a stable walk order, with its registered
// outputs: every exported field tagged `pulumi:"<name>"` that holds an Output, plus the entries the
// components register without such a field (hostprep: host, address, roles; microk8s:
// environment), taken from the Stack the way Build hands them to the components. Under mocks the
// engine never sees RegisterResourceOutputs, so tests resolve these to build what the engine's
// AnalyzeStack receives for component resources.
func StackComponents(roots ...any) []ComponentOutputs {
	w := &walker{seen: map[uintptr]bool{}, prepHost: map[*hostprep.HostPrep]hosts.Host{}}
	for _, r := range roots {
		if st, ok := r.(*Stack); ok && st != nil {
			if st.Config != nil {
				w.env, w.hasEnv = string(st.Config.Environment), true
			}
			if st.Hosts != nil {
				for i, p := range st.Prep {
					if i < len(st.Hosts.Hosts) {
						w.prepHost[p] = st.Hosts.Hosts[i]
					}
				}
			}
		}
	}
	for _, r := range roots {
		w.walk(reflect.ValueOf(r))
	}
	return w.out
}

const modulePath = "github.com/pm4ml/pm4ml-onprem/"

var componentType = reflect.TypeFor[pulumi.ComponentResource]()
var outputType = reflect.TypeFor[pulumi.Output]()

type walker struct {
	seen     map[uintptr]bool
	out      []ComponentOutputs
	prepHost map[*hostprep.HostPrep]hosts.Host
	env      string
	hasEnv   bool
}

func ours(t reflect.Type) bool { return strings.HasPrefix(t.PkgPath(), modulePath) }

func (w *walker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem())
		}
	case reflect.Pointer:
		if v.IsNil() || v.Elem().Kind() != reflect.Struct || !ours(v.Elem().Type()) {
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		if v.Type().Implements(componentType) {
			w.component(v)
		}
		w.walk(v.Elem())
	case reflect.Struct:
		if !ours(v.Type()) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				w.walk(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			w.walk(v.MapIndex(k))
		}
	}
}

func (w *walker) component(v reflect.Value) {
	c := ComponentOutputs{Resource: v.Interface().(pulumi.ComponentResource), Outputs: map[string]pulumi.Output{}}
	s := v.Elem()
	for i := 0; i < s.NumField(); i++ {
		f := s.Type().Field(i)
		name, ok := f.Tag.Lookup("pulumi")
		if !ok || !f.IsExported() || !f.Type.Implements(outputType) {
			continue
		}
		name, _, _ = strings.Cut(name, ",")
		if fv := s.Field(i); !fv.IsZero() { // an unset output (nil state) is not registered
			c.Outputs[name] = fv.Interface().(pulumi.Output)
		}
	}
	switch r := c.Resource.(type) {
	case *hostprep.HostPrep:
		if h, ok := w.prepHost[r]; ok {
			roles := make([]string, len(h.Roles))
			for i, x := range h.Roles {
				roles[i] = string(x)
			}
			c.Outputs["host"] = pulumi.String(h.Name).ToStringOutput()
			c.Outputs["address"] = pulumi.String(h.Address).ToStringOutput()
			c.Outputs["roles"] = pulumi.ToStringArray(roles).ToStringArrayOutput()
		}
	case *microk8s.Cluster:
		if w.hasEnv {
			c.Outputs["environment"] = pulumi.String(w.env).ToStringOutput()
		}
	}
	w.out = append(w.out, c)
}
