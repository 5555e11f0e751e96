package remotecmd_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

func TestScriptFiles(t *testing.T) {
	s := remotecmd.Script{Step: "x-join", Body: "create", DeleteBody: "delete", Secret: true}
	fs := remotecmd.ScriptFiles("h1", "x", remotecmd.NumberedName(1, "join"), s)
	want := []remotecmd.File{
		{Path: "h1/x/20-join.sh", Mode: 0o755, Content: "create", Step: "x-join", Secret: true},
		{Path: "h1/x/20-join.delete.sh", Mode: 0o755, Content: "delete", Step: "x-join", Delete: true},
	}
	if !slices.Equal(fs, want) {
		t.Errorf("ScriptFiles:\n%+v\nwant\n%+v", fs, want)
	}
	if fs[1].Name() != "20-join.delete.sh" || fs[1].Host() != "h1" {
		t.Errorf("Name %q Host %q", fs[1].Name(), fs[1].Host())
	}
	if got := remotecmd.ScriptFiles("h1", "x", "10-a", remotecmd.Script{Step: "a", Body: "b"}); len(got) != 1 {
		t.Errorf("a step without a delete script has %d files", len(got))
	}
	if c := remotecmd.ConfigFile("h1", "x", "a.cfg", "c", 0o600); c.Path != "h1/x/a.cfg" || c.Step != "" || c.Mode != 0o600 {
		t.Errorf("ConfigFile %+v", c)
	}
}

// Chain: each step after the one before it, the first after `after`, every option applied.
func TestChain(t *testing.T) {
	m, err := mocktest.Run(t, nil, nil, func(ctx *pulumi.Context) error {
		h := hosts.Host{Name: "h1", Address: "10.0.0.1", Conn: remote.ConnectionArgs{Host: pulumi.String("10.0.0.1")}, Identity: pulumi.String("10.0.0.1")}
		first, err := remotecmd.Run(ctx, "before", h, remotecmd.Script{Step: "before", Body: "b"}, remotecmd.Options{User: "root"})
		if err != nil {
			return err
		}
		var links []remotecmd.Link
		for _, n := range []string{"a", "b", "c"} {
			links = append(links, remotecmd.Link{Name: "chain-" + n, Script: remotecmd.Script{Step: n, Body: n}, Options: remotecmd.Options{User: "root"}})
		}
		links[1].Opts = []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)}
		cmds, err := remotecmd.Chain(ctx, h, []pulumi.Resource{first}, links)
		if err != nil {
			return err
		}
		if len(cmds) != 3 {
			t.Errorf("%d commands", len(cmds))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"chain-a", "chain-b", "chain-c"} {
		prev := []string{"before", "chain-a", "chain-b"}[i]
		if !m.DependsOn(t, n, prev) {
			t.Errorf("%s does not depend on %s", n, prev)
		}
		if i > 0 && m.DependsOn(t, n, "before") {
			t.Errorf("%s depends on the chain's start directly", n)
		}
		if got := m.Named(t, n).DeleteBeforeReplace; got != (n == "chain-b") {
			t.Errorf("%s DeleteBeforeReplace %v", n, got)
		}
	}
}

// CustomOnly: a component as an ordering input is refused with the fix; custom resources pass.
func TestCustomOnly(t *testing.T) {
	err := mocktest.RunMocks(t, &mocktest.Mocks{}, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		comp := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("pm4ml:test:Comp", "comp", comp); err != nil {
			return err
		}
		cmd, err := remote.NewCommand(ctx, "cmd", &remote.CommandArgs{Connection: remote.ConnectionArgs{Host: pulumi.String("10.0.0.1")}, Create: pulumi.String("true")})
		if err != nil {
			return err
		}
		if err := remotecmd.CustomOnly("x: Args.DependsOn", []pulumi.Resource{cmd}); err != nil {
			t.Errorf("a custom resource refused: %v", err)
		}
		err = remotecmd.CustomOnly("x: Args.DependsOn", []pulumi.Resource{cmd, comp})
		if err == nil || !strings.Contains(err.Error(), "x: Args.DependsOn[1]") || !strings.Contains(err.Error(), "Ready handle") {
			t.Errorf("a component as an ordering input: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Subject and Inert: a step about another machine is keyed by that machine's identity; the
// identity of the host it runs on, and any Inert value, stay in the triggers but are ignored
// (their positions in ignoreChanges), so neither replaces the step. A step on a lost host, or
// about a lost machine, ignores every input and is retained on delete.
func TestTriggersSubjectAndInert(t *testing.T) {
	host := func(n string) hosts.Host {
		return hosts.Host{Name: n, Conn: remote.ConnectionArgs{Host: pulumi.String(n)}, Identity: pulumi.String("id-" + n)}
	}
	m, err := mocktest.Run(t, nil, nil, func(ctx *pulumi.Context) error {
		for name, o := range map[string]remotecmd.Options{
			"own":     {User: "root"},
			"about":   {User: "root", Subject: pulumi.String("id-w1")},
			"inert":   {User: "root", Inert: pulumi.Array{pulumi.String("id-m1")}},
			"movable": {User: "root", Movable: true},
			"trigger": {User: "root", Triggers: pulumi.Array{pulumi.String("t")}, Inert: pulumi.Array{pulumi.String("x")}},
			"lost":    {User: "root", Subject: pulumi.String("id-w1"), Lost: true},
		} {
			if _, err := remotecmd.Run(ctx, name, host("m2"), remotecmd.Script{Step: name, Body: "b"}, o); err != nil {
				return err
			}
		}
		gone := host("w9")
		gone.Lost = true
		_, err := remotecmd.Run(ctx, "on-lost", gone, remotecmd.Script{Step: "on-lost", Body: "b", DeleteBody: "d"}, remotecmd.Options{User: "root", Movable: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		triggers, ignore []string
	}{
		"own":     {[]string{"id-m2"}, nil},
		"about":   {[]string{"id-m2", "id-w1"}, []string{"triggers[0]"}},
		"inert":   {[]string{"id-m2", "id-m1"}, []string{"triggers[1]"}},
		"movable": {[]string{"id-m2"}, []string{"triggers[0]"}},
		"trigger": {[]string{"id-m2", "t", "x"}, []string{"triggers[2]"}},
		"lost":    {[]string{"id-m2", "id-w1"}, []string{"*"}},
		"on-lost": {[]string{"id-w9"}, []string{"*"}},
	} {
		r := m.Named(t, name)
		var got []string
		for _, v := range r.Inputs["triggers"].ArrayValue() {
			got = append(got, v.StringValue())
		}
		if !slices.Equal(got, want.triggers) || !slices.Equal(r.IgnoreChanges, want.ignore) {
			t.Errorf("%s: triggers %v ignoreChanges %v, want %v %v", name, got, r.IgnoreChanges, want.triggers, want.ignore)
		}
		// A step on or about a lost machine is frozen and retained; no other is retained.
		if frozen := slices.Equal(want.ignore, []string{"*"}); r.RetainOnDelete != frozen {
			t.Errorf("%s: retainOnDelete %v, want %v", name, r.RetainOnDelete, frozen)
		}
	}
}

// TestFrozenAndMarkedLost: the stand-in script of a frozen step is the given one, secret; a host
// passed as lost must be marked lost.
func TestFrozenAndMarkedLost(t *testing.T) {
	s := remotecmd.Script{Step: "x-remove", Body: "body", DeleteBody: "del"}
	if f := remotecmd.Frozen(s); f.Step != s.Step || f.Body != s.Body || !f.Secret || f.DeleteBody != "" {
		t.Errorf("Frozen = %+v", f)
	}
	if err := remotecmd.MarkedLost("c", []hosts.Host{{Name: "a", Lost: true}}); err != nil {
		t.Errorf("marked: %v", err)
	}
	if err := remotecmd.MarkedLost("c", []hosts.Host{{Name: "a", Lost: true}, {Name: "b"}}); err == nil || !strings.Contains(err.Error(), `c: host "b" is passed as lost but not marked lost`) {
		t.Errorf("unmarked: %v", err)
	}
}

// TestMachines: a component's plan names resolve to the machines it was given; every problem at
// once (a live host without machine, without connection, without After entry; a lost host
// without machine or not marked lost), each naming the component and the host.
func TestMachines(t *testing.T) {
	conn := remote.ConnectionArgs{Host: pulumi.String("10.0.0.1")}
	m := func(name string, lost bool) hosts.Host {
		return hosts.Host{Name: name, Conn: conn, Identity: pulumi.String(name), Lost: lost}
	}
	prep := &pulumi.CustomResourceState{}
	after := map[string]pulumi.Resource{"a": prep, "b": prep}

	byName, lost, errs := remotecmd.Machines("c", []hosts.Host{m("a", false), m("b", false), m("x", true)}, []string{"a", "b"}, []string{"x"}, after)
	if len(errs) != 0 || len(byName) != 3 || byName["b"].Name != "b" || len(lost) != 1 || lost[0].Name != "x" {
		t.Errorf("valid: %v %v %v", byName, lost, errs)
	}

	bare := hosts.Host{Name: "b"} // no connection, no identity
	_, lost, errs = remotecmd.Machines("c", []hosts.Host{m("a", false), bare, m("x", false)}, []string{"a", "b", "d"}, []string{"x", "y"},
		map[string]pulumi.Resource{"a": prep})
	want := []string{
		"c: host b has no SSH connection or identity",
		"c: no After entry for host b",
		"c: no machine for host d (Args.Hosts): every pm4ml:hosts entry",
		"c: no After entry for host d",
		"c: no machine for the lost host y (Args.Hosts)",
		`c: host "x" is passed as lost but not marked lost`,
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d %q lacks %q", i, errs[i], w)
		}
	}
	if len(lost) != 1 || lost[0].Name != "x" {
		t.Errorf("lost %v", lost)
	}
	if got := remotecmd.Names([]hosts.Host{m("p", false), m("q", false)}, func(h hosts.Host) string { return h.Name }); !slices.Equal(got, []string{"p", "q"}) {
		t.Errorf("Names = %v", got)
	}
}
