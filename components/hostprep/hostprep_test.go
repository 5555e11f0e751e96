package hostprep_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// readyVM stands for a host's machine (a Proxmox VM): host preparation must wait for it.
type readyVM struct{ pulumi.CustomResourceState }

func testHost(p hostprep.Plan, ready pulumi.Resource) hosts.Host {
	h := hosts.Host{
		Name: p.Name, Address: p.Address, Roles: p.Roles, Sizing: p.Sizing, CephDisks: p.CephDisks,
		Conn: remote.ConnectionArgs{Host: pulumi.String(p.Address), User: pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
		Identity: pulumi.String(p.Address),
	}
	if ready != nil {
		h.Ready = []pulumi.Resource{ready}
		h.Identity = ready.(*readyVM).ID().ToStringOutput()
	}
	return h
}

func TestHostPrepChain(t *testing.T) {
	p := plans(t, hosts.Prod, prodHosts, false)["w1"]
	want := render(t, p)
	var c *hostprep.HostPrep
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		vm := &readyVM{}
		if err := ctx.RegisterResource("test:index:Vm", "vm-w1", pulumi.Map{}, vm); err != nil {
			return err
		}
		var err error
		c, err = hostprep.New(ctx, "prep-w1", &hostprep.Args{Host: testHost(p, vm), Plan: p, User: "ubuntu"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	comp := m.Named(t, "prep-w1")
	if comp.Type != hostprep.Token {
		t.Errorf("component type %s", comp.Type)
	}
	if len(c.Steps) != 4 || c.Ready != c.Steps[3] {
		t.Fatalf("steps %d, Ready must be the last step", len(c.Steps))
	}
	children := m.ChildrenOf(t, "prep-w1")
	if len(children) != 4 {
		t.Fatalf("%d children, want the four steps", len(children))
	}
	for i, step := range hostprep.Steps {
		name := "prep-w1-" + step
		r := m.Named(t, name)
		if r.Type != "command:remote:Command" || m.ParentName(r) != "prep-w1" {
			t.Errorf("%s: type %s parent %q", name, r.Type, m.ParentName(r))
		}
		if !m.DependsOn(t, name, "vm-w1") {
			t.Errorf("%s does not wait for the host's machine", name)
		}
		if i > 0 && !m.DependsOn(t, name, "prep-w1-"+hostprep.Steps[i-1]) {
			t.Errorf("%s does not depend on %s", name, hostprep.Steps[i-1])
		}
		for j := i + 1; j < len(hostprep.Steps); j++ {
			if m.DependsOnTransitively(t, name, "prep-w1-"+hostprep.Steps[j]) {
				t.Errorf("%s depends on the later step %s", name, hostprep.Steps[j])
			}
		}
		create := mocktest.String(r.Inputs, "create")
		if create != remotecmd.Invocation("ubuntu", want.Scripts[i].Step, want.Scripts[i].Body) {
			t.Errorf("%s: create is not the rendered script run with sudo", name)
		}
		if !strings.HasPrefix(create, "sudo -n bash -c ") {
			t.Errorf("%s: %q", name, create[:40])
		}
		trig := r.Inputs["triggers"]
		if !trig.IsArray() || len(trig.ArrayValue()) == 0 || trig.ArrayValue()[0].StringValue() != "vm-w1-id" {
			t.Errorf("%s: triggers %v, want the machine identity first", name, trig)
		}
		if !mocktest.IsSecret(r.Inputs, "connection") {
			t.Errorf("%s: connection not secret", name)
		}
		if _, ok := r.Inputs["stdin"]; ok || slices.Contains(r.AdditionalSecretOutputs, "stdout") {
			t.Errorf("%s: host preparation passes no secret: stdin %v, secret outputs %v", name, r.Inputs["stdin"], r.AdditionalSecretOutputs)
		}
		if mocktest.String(r.Inputs, "logging") == "none" {
			t.Errorf("%s: output of a non-secret step must stay visible", name)
		}
	}
	if !m.DependsOnTransitively(t, "prep-w1-firewall", "prep-w1-preflight") {
		t.Error("firewall does not come after preflight")
	}
	rules := awaitStrings(t, c.FirewallRules)
	if len(rules) != len(want.Rules) {
		t.Fatalf("firewallRules %v", rules)
	}
	for i, a := range want.Rules {
		if rules[i] != a.String() {
			t.Errorf("firewallRules[%d] = %q, want %q", i, rules[i], a.String())
		}
	}
}

func TestHostPrepExistingHostAsRoot(t *testing.T) {
	p := plans(t, hosts.Prod, prodHosts, false)["lb1"]
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := hostprep.New(ctx, "prep-lb1", &hostprep.Args{Host: testHost(p, nil), Plan: p, User: "root"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range hostprep.Steps {
		r := m.Named(t, "prep-lb1-"+step)
		if c := mocktest.String(r.Inputs, "create"); !strings.HasPrefix(c, "bash -c ") {
			t.Errorf("%s as root: %q", step, c[:30])
		}
		if trig := r.Inputs["triggers"].ArrayValue(); trig[0].StringValue() != p.Address {
			t.Errorf("%s: existing host triggers %v, want its address", step, trig)
		}
	}
	pre := m.Named(t, "prep-lb1-preflight")
	if len(pre.Deps) != 0 {
		t.Errorf("preflight of an existing host depends on %v", pre.Deps)
	}
}

func awaitStrings(t *testing.T, o pulumi.StringArrayOutput) []string {
	t.Helper()
	ch := make(chan []string, 1)
	o.ApplyT(func(v []string) []string { ch <- v; return v })
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("output never resolved")
	}
	return nil
}
