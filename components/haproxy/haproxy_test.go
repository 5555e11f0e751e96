package haproxy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const (
	cmdType       = "command:remote:Command"
	statsPassword = "st4ts-S3cret-value"
)

func host(name, addr string, roles ...hosts.Role) hosts.Host {
	return hosts.Host{
		Name: name, Address: addr, Roles: hosts.NewRoles(roles...),
		Conn: remote.ConnectionArgs{
			Host: pulumi.String(addr), User: pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput),
		},
		Identity: pulumi.String(addr),
	}
}

// argsFor builds component arguments from a plan, registering a "prep-<lb>" resource per LB.
func argsFor(ctx *pulumi.Context, p Plan, stats bool) (*Args, error) {
	p.Stats = StatsSettings{}
	a := &Args{User: "ubuntu", After: map[string]pulumi.Resource{}}
	if stats {
		p.Stats = StatsSettings{Enabled: true, User: "admin"}
		a.StatsPassword = pulumi.ToSecret(pulumi.String(statsPassword)).(pulumi.StringOutput)
	}
	a.Plan = p
	for _, l := range p.LBs() {
		h := host(l.Name, l.Address, hosts.RoleHAProxy)
		a.Hosts = append(a.Hosts, h)
		// stands in for hostprep's Ready (the host's firewall step, a remote command)
		r, err := remote.NewCommand(ctx, "prep-"+l.Name, &remote.CommandArgs{Connection: h.Conn, Create: pulumi.String("true")})
		if err != nil {
			return nil, err
		}
		a.After[l.Name] = r
	}
	return a, nil
}

type captured struct {
	mu        sync.Mutex
	frontends []map[string]any
	backends  []map[string]any
	statsBind map[string]string
	vips      []string
	ka        map[string][]string
}

func run(t *testing.T, p Plan, stats bool) (*mocktest.Mocks, *captured) {
	t.Helper()
	out := &captured{}
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		a, err := argsFor(ctx, p, stats)
		if err != nil {
			return err
		}
		c, err := New(ctx, "lb", a)
		if err != nil {
			return err
		}
		// exported so that the run waits for the callbacks
		ctx.Export("frontends", c.Frontends.ApplyT(func(v []map[string]any) int { out.mu.Lock(); out.frontends = v; out.mu.Unlock(); return 0 }))
		ctx.Export("backends", c.Backends.ApplyT(func(v []map[string]any) int { out.mu.Lock(); out.backends = v; out.mu.Unlock(); return 0 }))
		ctx.Export("statsBind", c.StatsBind.ApplyT(func(v map[string]string) int { out.mu.Lock(); out.statsBind = v; out.mu.Unlock(); return 0 }))
		ctx.Export("vips", c.VIPs.ApplyT(func(v []string) int { out.mu.Lock(); out.vips = v; out.mu.Unlock(); return 0 }))
		ctx.Export("keepalived", c.Keepalived.ApplyT(func(v map[string][]string) int { out.mu.Lock(); out.ka = v; out.mu.Unlock(); return 0 }))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, out
}

func TestGraphProd(t *testing.T) {
	p := prodPlan()
	m, out := run(t, p, true)

	comp := m.Named(t, "lb")
	if comp.Type != Token {
		t.Fatalf("component type %q, want %q", comp.Type, Token)
	}
	for _, lb := range []string{"lb1", "lb2"} {
		names := []string{"lb-" + lb + "-install", "lb-" + lb + "-config", "lb-" + lb + "-keepalived"}
		for _, n := range names {
			r := m.Named(t, n)
			if r.Type != cmdType || m.ParentName(r) != "lb" {
				t.Errorf("%s: type %s parent %q, want %s under lb", n, r.Type, m.ParentName(r), cmdType)
			}
		}
		if !m.DependsOn(t, names[0], "prep-"+lb) {
			t.Errorf("%s does not depend on prep-%s", names[0], lb)
		}
		if !m.DependsOn(t, names[1], names[0]) || !m.DependsOn(t, names[2], names[1]) {
			t.Errorf("%s: chain install -> config -> keepalived broken", lb)
		}
		if !m.DependsOnTransitively(t, names[2], "prep-"+lb) {
			t.Errorf("%s keepalived does not wait for the host preparation", lb)
		}
	}
	// the installations do not wait for each other; the backup lb2 never waits for lb1
	if m.DependsOnTransitively(t, "lb-lb2-install", "prep-lb1") || m.DependsOnTransitively(t, "lb-lb1-install", "prep-lb2") {
		t.Error("lb1 and lb2 installations are entangled")
	}
	for _, s := range []string{"install", "config", "keepalived"} {
		if m.DependsOnTransitively(t, "lb-lb2-"+s, "prep-lb1") {
			t.Errorf("the backup's %s waits for lb1", s)
		}
	}
	if n := len(m.ChildrenOf(t, "lb")); n != 6 || len(m.ByType(cmdType)) != 8 {
		t.Errorf("lb has %d children, want 6", n)
	}

	for _, lb := range []string{"lb1", "lb2"} {
		cfg := m.Named(t, "lb-"+lb+"-config")
		create := mocktest.String(cfg.Inputs, "create")
		// the workers as data once, and the external backend's servers from them
		for _, w := range p.Workers() {
			if want := "\n" + w.Name + " " + w.Address + "\n"; !strings.Contains(create, want) {
				t.Errorf("%s config lacks the data line %q", lb, want)
			}
		}
		if want := fmt.Sprintf("\n# pm4ml-servers %d %d send-proxy-v2\n",
			network.Lookup(network.IstioExtHTTPS).Ports.From, network.Lookup(network.IstioExtStatus).Ports.From); !strings.Contains(create, want) {
			t.Errorf("%s config lacks %q", lb, want)
		}
		// the stats password: stdin only, secret, never logged, never in a command text
		if got := mocktest.String(cfg.Inputs, "stdin"); got != statsPassword || !mocktest.IsSecret(cfg.Inputs, "stdin") {
			t.Errorf("%s config stdin %q secret=%v, want the password as a secret", lb, got, mocktest.IsSecret(cfg.Inputs, "stdin"))
		}
		if got := mocktest.String(cfg.Inputs, "logging"); got != string(remote.LoggingNone) {
			t.Errorf("%s config logging %q, want none", lb, got)
		}
		for _, k := range []string{"stdout", "stderr", "stdin"} {
			if !slices.Contains(cfg.AdditionalSecretOutputs, k) {
				t.Errorf("%s config: %s not an additional secret output (%v)", lb, k, cfg.AdditionalSecretOutputs)
			}
		}
		for _, step := range []string{"install", "keepalived"} {
			r := m.Named(t, "lb-"+lb+"-"+step)
			if _, ok := r.Inputs["stdin"]; ok || mocktest.String(r.Inputs, "logging") == string(remote.LoggingNone) {
				t.Errorf("%s %s: no secret passes, yet it has stdin or no logging", lb, step)
			}
		}
	}
	for _, r := range m.Resources {
		for k := range r.Inputs {
			if strings.Contains(fmt.Sprint(r.Inputs[k]), statsPassword) && k != "stdin" {
				t.Errorf("%s.%s contains the stats password", r.Name, k)
			}
		}
	}

	// typed outputs
	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.frontends) != 3 || out.ka == nil || out.statsBind == nil {
		t.Fatalf("frontends output: %v", out.frontends)
	}
	for _, f := range out.frontends {
		if f["tlsTermination"] != false {
			t.Errorf("frontend %v terminates TLS", f)
		}
		if pub := f["address"] == p.PublicVIP; f["public"] != pub {
			t.Errorf("frontend %v: public=%v, want %v", f, f["public"], pub)
		}
	}
	if got := out.frontends[1]; got["name"] != FrontendPublicHTTP || got["mode"] != "http" || got["port"] != float64(network.Lookup(network.PublicHTTP).Ports.From) && got["port"] != network.Lookup(network.PublicHTTP).Ports.From {
		t.Errorf("public_http output %v", got)
	}
	if len(out.backends) != 2 || len(out.backends[0]["servers"].([]map[string]any)) != 3 || out.backends[0]["sendProxy"] != true || out.backends[1]["sendProxy"] != false {
		t.Errorf("backends output %v", out.backends)
	}
	stats := fmt.Sprintf(":%d", network.DefaultStatsPort)
	if out.statsBind["lb1"] != "10.20.0.11"+stats || out.statsBind["lb2"] != "10.20.0.12"+stats {
		t.Errorf("statsBind %v", out.statsBind)
	}
	if !slices.Equal(out.vips, []string{p.PublicVIP, p.InternalVIP}) {
		t.Errorf("vips %v", out.vips)
	}
	if !slices.Equal(out.ka["lb1"], out.vips) || !slices.Equal(out.ka["lb2"], out.vips) {
		t.Errorf("keepalived %v", out.ka)
	}
}

// A worker added or removed changes the config steps' inputs and nothing else.
func TestWorkerChangeOnlyConfig(t *testing.T) {
	base := prodPlan()
	m0, _ := run(t, base, true)
	for name, workers := range map[string][]Node{
		"removed": base.Workers()[:2],
		"added":   append(slices.Clone(base.Workers()), Node{"w4", "10.20.0.34"}),
	} {
		t.Run(name, func(t *testing.T) {
			p := prodPlan()
			p.Topology = topology(p.LBs(), workers, network.DefaultStatsPort)
			m1, _ := run(t, p, true)
			if len(m1.Resources) != len(m0.Resources) {
				t.Fatalf("%d resources, want %d", len(m1.Resources), len(m0.Resources))
			}
			for _, r0 := range m0.Resources {
				r1 := m1.Named(t, r0.Name)
				same := r0.Inputs.DeepEquals(r1.Inputs) && slices.Equal(r0.Deps, r1.Deps)
				isConfig := strings.HasSuffix(r0.Name, "-config")
				if isConfig && same {
					t.Errorf("%s did not change", r0.Name)
				}
				if !isConfig && !same {
					t.Errorf("%s changed, only the config steps should", r0.Name)
				}
			}
			for _, lb := range []string{"lb1", "lb2"} {
				create := mocktest.String(m1.Named(t, "lb-"+lb+"-config").Inputs, "create")
				for _, w := range workers {
					if !strings.Contains(create, "\n"+w.Name+" "+w.Address+"\n") {
						t.Errorf("%s config lacks %s", lb, w.Address)
					}
				}
				if name == "removed" && strings.Contains(create, base.Workers()[2].Address) {
					t.Errorf("%s config still has the removed worker", lb)
				}
			}
		})
	}
}

func TestGraphStg(t *testing.T) {
	t.Run("free public VIP: keepalived holds it", func(t *testing.T) {
		p := stgPlan()
		m, out := run(t, p, false)
		for _, n := range []string{"lb-lb1-install", "lb-lb1-config", "lb-lb1-keepalived"} {
			m.Named(t, n)
		}
		if !m.DependsOn(t, "lb-lb1-keepalived", "lb-lb1-config") || !m.DependsOn(t, "lb-lb1-install", "prep-lb1") {
			t.Error("stg chain broken")
		}
		cfg := m.Named(t, "lb-lb1-config")
		if _, ok := cfg.Inputs["stdin"]; ok || slices.Contains(cfg.AdditionalSecretOutputs, "stdout") {
			t.Errorf("stats disabled, yet the config step takes stdin / hides its output: %v %v", cfg.Inputs["stdin"], cfg.AdditionalSecretOutputs)
		}
		ka := mocktest.String(m.Named(t, "lb-lb1-keepalived").Inputs, "create")
		if !strings.Contains(ka, "static_ipaddress") || strings.Contains(ka, "vrrp_instance") || strings.Contains(ka, p.InternalVIP+"/32") {
			t.Error("single-host keepalived should hold only the public VIP, statically")
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		if out.statsBind == nil || len(out.statsBind) != 0 || !slices.Equal(out.ka["lb1"], []string{p.PublicVIP}) {
			t.Errorf("statsBind %v keepalived %v", out.statsBind, out.ka)
		}
	})
	t.Run("public VIP is the host: no keepalived", func(t *testing.T) {
		p := stgPlan()
		p.PublicVIP, p.InternalVIP = p.LBs()[0].Address, "10.20.0.101"
		m, out := run(t, p, false)
		if m.Has("lb-lb1-keepalived") {
			t.Error("keepalived step registered although no VIP needs it")
		}
		if len(m.ChildrenOf(t, "lb")) != 2 || !m.DependsOn(t, "lb-lb1-config", "lb-lb1-install") {
			t.Error("want install -> config only")
		}
		create := mocktest.String(m.Named(t, "lb-lb1-config").Inputs, "create")
		if !strings.Contains(create, "inet 10.20.0.101/") || strings.Contains(create, "ip_nonlocal_bind is 0") {
			t.Error("without keepalived the config step must check the internal VIP is local, and needs no nonlocal bind")
		}
		if strings.Contains(mocktest.String(m.Named(t, "lb-lb1-install").Inputs, "create"), "keepalived") {
			t.Error("keepalived installed although unused")
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		if v, ok := out.ka["lb1"]; !ok || len(v) != 0 {
			t.Errorf("keepalived output %v", out.ka)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	cases := map[string]func(a *Args){
		"stats without password": func(a *Args) { a.StatsPassword = nil },
		"no After for a host":    func(a *Args) { delete(a.After, "lb2") },
		"no machine for a host":  func(a *Args) { a.Hosts = a.Hosts[:1] },
		"bad VIP":                func(a *Args) { a.Plan.PublicVIP = "10.20.0.12" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
				a, err := argsFor(ctx, prodPlan(), true)
				if err != nil {
					return err
				}
				mutate(a)
				_, err = New(ctx, "lb", a)
				return err
			})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "pm4ml:") && !strings.Contains(err.Error(), "After") {
				t.Errorf("error does not name the key: %v", err)
			}
			if m.Has("lb") || slices.ContainsFunc(m.ByType(cmdType), func(r mocktest.Resource) bool { return strings.HasPrefix(r.Name, "lb-") }) {
				t.Error("commands registered despite the error")
			}
		})
	}
}

// TestLBChangesOneAtATime: a HAProxy or keepalived change reaches the VRRP backup (lb2, lower
// priority) first and the active LB (lb1, which holds the VIPs) only after the backup's step
// passed; both apply it by a reload (no restart, no VIP move).
func TestLBChangesOneAtATime(t *testing.T) {
	if got := fmt.Sprint(ApplyOrder(3)); got != "[1 2 0]" {
		t.Errorf("ApplyOrder(3) = %s", got)
	}
	p := prodPlan()
	m, _ := run(t, p, true)
	for _, s := range []string{"config", "keepalived"} {
		if !m.DependsOn(t, "lb-lb1-"+s, "lb-lb2-"+s) {
			t.Errorf("the active LB's %s step does not wait for the backup's", s)
		}
		if m.DependsOnTransitively(t, "lb-lb2-"+s, "lb-lb1-"+s) {
			t.Errorf("the backup's %s step waits for the active LB's", s)
		}
	}
	if m.DependsOn(t, "lb-lb1-install", "lb-lb2-install") {
		t.Error("the package installations need no order")
	}
	// a change is validated, then reloaded (connections and the VRRP state kept), never restarted
	// (except HAProxy's command line, which only the stats drop-in changes)
	for _, lb := range []string{"lb1", "lb2"} {
		cfg := mocktest.String(m.Named(t, "lb-"+lb+"-config").Inputs, "create")
		ka := mocktest.String(m.Named(t, "lb-"+lb+"-keepalived").Inputs, "create")
		for _, w := range []string{"haproxy -c -q", "systemctl reload haproxy"} {
			if !strings.Contains(cfg, w) {
				t.Errorf("%s config lacks %q", lb, w)
			}
		}
		for _, w := range []string{"keepalived -t -f", "systemctl reload keepalived"} {
			if !strings.Contains(ka, w) {
				t.Errorf("%s keepalived lacks %q", lb, w)
			}
		}
		if strings.Contains(ka, "systemctl restart keepalived") {
			t.Errorf("%s: restarting keepalived gives up the VIPs", lb)
		}
	}
	// stg (one LB): nothing to order
	m, _ = run(t, stgPlan(), false)
	if len(m.ByType(cmdType)) == 0 {
		t.Fatal("no steps")
	}
}
