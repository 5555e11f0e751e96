package wireguard

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const cmdType = "command:remote:Command"

func testHost(name, addr string, roles ...hosts.Role) hosts.Host {
	return hosts.Host{
		Name:    name,
		Address: addr,
		Roles:   hosts.NewRoles(roles...),
		Conn: remote.ConnectionArgs{
			Host:       pulumi.String(addr),
			User:       pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput),
		},
		Identity: pulumi.String(addr),
	}
}

// recorder adds what mocktest does not keep (DeleteBeforeReplace) to mocktest's recording.
type recorder struct {
	*mocktest.Mocks
	mu  sync.Mutex
	dbr map[string]bool
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if args.RegisterRPC != nil {
		r.mu.Lock()
		r.dbr[args.Name] = args.RegisterRPC.GetDeleteBeforeReplace()
		r.mu.Unlock()
	}
	return r.Mocks.NewResource(args)
}

func runMocks(t *testing.T, fn pulumi.RunFunc) (*recorder, error) {
	t.Helper()
	t.Setenv(pulumi.EnvConfig, "{}")
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", "[]")
	r := &recorder{Mocks: &mocktest.Mocks{}, dbr: map[string]bool{}}
	err := pulumi.RunErr(fn, pulumi.WithMocks(mocktest.Project, mocktest.Stack, r))
	return r, err
}

// outputs of the component, read back through Apply.
type seen struct {
	mu        sync.Mutex
	publicKey string
	port      int
	peers     int
	address   string
	iface     string
	enabled   bool
	hosts     []string
	pkSecret  bool
	keySecret bool
}

// watch records the component's outputs; exporting them makes the program's run wait for them.
func watch(ctx *pulumi.Context, c *VPN, s *seen) {
	ctx.Export("publicKey", c.PublicKey.ApplyT(func(v string) string { s.mu.Lock(); s.publicKey = v; s.mu.Unlock(); return v }))
	ctx.Export("port", c.Port.ApplyT(func(v int) int { s.mu.Lock(); s.port = v; s.mu.Unlock(); return v }))
	ctx.Export("peerCount", c.PeerCount.ApplyT(func(v int) int { s.mu.Lock(); s.peers = v; s.mu.Unlock(); return v }))
	ctx.Export("address", c.Address.ApplyT(func(v string) string { s.mu.Lock(); s.address = v; s.mu.Unlock(); return v }))
	ctx.Export("interface", c.Interface.ApplyT(func(v string) string { s.mu.Lock(); s.iface = v; s.mu.Unlock(); return v }))
	ctx.Export("enabled", c.Enabled.ApplyT(func(v bool) bool { s.mu.Lock(); s.enabled = v; s.mu.Unlock(); return v }))
	ctx.Export("hosts", c.Hosts.ApplyT(func(v []string) []string { s.mu.Lock(); s.hosts = v; s.mu.Unlock(); return v }))
}

// preps are stand-ins of the host preparation of lb1 and lb2 (what their steps wait for).
func preps(ctx *pulumi.Context) (map[string]pulumi.Resource, error) {
	after := map[string]pulumi.Resource{}
	for _, h := range []string{"lb1", "lb2"} {
		r, err := remote.NewCommand(ctx, "prep-"+h+"-firewall", &remote.CommandArgs{Connection: testHost(h, "10.0.0.9").Conn, Create: pulumi.String("true")})
		if err != nil {
			return nil, err
		}
		after[h] = r
	}
	return after, nil
}

func enabledArgs(after map[string]pulumi.Resource) *Args {
	s := testSettings()
	return &Args{
		Plan:       Plan{Enabled: true, Settings: s, Hosts: []string{"lb1", "lb2"}},
		Hosts:      []hosts.Host{testHost("lb1", "10.0.0.21", hosts.RoleHAProxy), testHost("lb2", "10.0.0.22", hosts.RoleHAProxy)},
		PrivateKey: pulumi.ToSecret(pulumi.String(testServerPrivate)).(pulumi.StringOutput),
		After:      after,
		User:       "ubuntu",
	}
}

// plainStrings collects every string inside v that is NOT under a secret.
func plainStrings(v resource.PropertyValue, out *[]string) {
	switch {
	case v.IsSecret():
		return
	case v.IsOutput():
		if v.OutputValue().Secret {
			return
		}
		plainStrings(v.OutputValue().Element, out)
	case v.IsString():
		*out = append(*out, v.StringValue())
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			plainStrings(e, out)
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			plainStrings(e, out)
		}
	}
}

func TestVPNGraph(t *testing.T) {
	var s seen
	m, err := runMocks(t, func(ctx *pulumi.Context) error {
		after, err := preps(ctx)
		if err != nil {
			return err
		}
		c, err := New(ctx, "wireguard", enabledArgs(after))
		if err != nil {
			return err
		}
		if len(c.Steps) != 2 || len(c.Ready) != 2 || c.Ready[0] != c.Steps["lb1"] || c.Ready[1] != c.Steps["lb2"] {
			t.Errorf("Steps/Ready: %v %v", c.Steps, c.Ready)
		}
		watch(ctx, c, &s)
		s.pkSecret = pulumi.IsSecret(c.PublicKey)
		s.keySecret = pulumi.IsSecret(c.Steps["lb1"].Stdin)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	comp := m.Named(t, "wireguard")
	if comp.Type != Token || comp.Custom {
		t.Errorf("component %s custom=%v, want %s", comp.Type, comp.Custom, Token)
	}
	children := m.ChildrenOf(t, "wireguard")
	if len(children) != 2 {
		t.Fatalf("children of the component: %d, want one step per LB", len(children))
	}
	for i, h := range []string{"lb1", "lb2"} {
		other := []string{"lb2", "lb1"}[i]
		step := m.Named(t, "wireguard-"+h)
		if step.Type != cmdType || m.ParentName(step) != "wireguard" {
			t.Errorf("%s: type %s parent %q", step.Name, step.Type, m.ParentName(step))
		}
		if !m.DependsOn(t, step.Name, "prep-"+h+"-firewall") {
			t.Errorf("%s does not depend on its host's After resource", step.Name)
		}
		if m.DependsOn(t, step.Name, "prep-"+other+"-firewall") {
			t.Errorf("%s depends on the other host's After resource", step.Name)
		}
		if !m.dbr[step.Name] {
			t.Errorf("%s: DeleteBeforeReplace not set (the delete script would run after a replacement's apply)", step.Name)
		}
		// the private key: secret stdin only
		if !mocktest.IsSecret(step.Inputs, "stdin") || mocktest.String(step.Inputs, "stdin") != testServerPrivate {
			t.Errorf("%s: stdin must be the secret private key", step.Name)
		}
		create := mocktest.String(step.Inputs, "create")
		if strings.Contains(create, testServerPrivate) {
			t.Errorf("%s: the private key is in the create command", step.Name)
		}
		for _, want := range []string{"sudo -n bash -c", "# WireGuard VPN server (guide 1.3.1, optional) on HAProxy host " + h, Placeholder, "wireguard \"${SSH_CONNECTION%% *}\""} {
			if !strings.Contains(create, want) {
				t.Errorf("%s: create lacks %q", step.Name, want)
			}
		}
		if del := mocktest.String(step.Inputs, "delete"); !strings.Contains(del, `systemctl disable --now "$UNIT"`) || !strings.Contains(del, "wireguard-delete") {
			t.Errorf("%s: delete command missing or wrong: %.200q", step.Name, del)
		}
		var plain []string
		for _, v := range step.Inputs {
			plainStrings(v, &plain)
		}
		if !slices.Contains(plain, create) {
			t.Errorf("%s: the walk over plain inputs does not see the create command", step.Name)
		}
		for _, p := range plain {
			if strings.Contains(p, testServerPrivate) {
				t.Errorf("%s: the private key is in a non-secret input: %.80q", step.Name, p)
			}
		}
		if mocktest.String(step.Inputs, "logging") != "none" {
			t.Errorf("%s: logging = %q, want none", step.Name, mocktest.String(step.Inputs, "logging"))
		}
		for _, o := range []string{"stdout", "stderr"} {
			if !slices.Contains(step.AdditionalSecretOutputs, o) {
				t.Errorf("%s: %s not an additional secret output (%v)", step.Name, o, step.AdditionalSecretOutputs)
			}
		}
	}
	// no resource anywhere holds the key outside a secret
	for _, r := range m.Resources {
		var plain []string
		for _, v := range r.Inputs {
			plainStrings(v, &plain)
		}
		for _, p := range plain {
			if strings.Contains(p, testServerPrivate) {
				t.Errorf("%s: the private key is in a non-secret input", r.Name)
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publicKey != testServerPublic {
		t.Errorf("publicKey output %q, want %q", s.publicKey, testServerPublic)
	}
	if !s.enabled || s.port != testPort || s.peers != 2 || s.address != "10.200.0.1/24" || s.iface != DefaultInterface || !slices.Equal(s.hosts, []string{"lb1", "lb2"}) {
		t.Errorf("outputs: key %q port %d peers %d address %q iface %q enabled %v hosts %v", s.publicKey, s.port, s.peers, s.address, s.iface, s.enabled, s.hosts)
	}
	// the public key is derived from a secret but must not be secret itself
	if s.pkSecret || !s.keySecret {
		t.Errorf("publicKey secret=%v (want false: the peers configure it); private key secret=%v (want true)", s.pkSecret, s.keySecret)
	}
}

func TestVPNDisabledRegistersNoChildren(t *testing.T) {
	var s seen
	m, err := runMocks(t, func(ctx *pulumi.Context) error {
		// Everything else is wrong on purpose: nothing is read when disabled.
		c, err := New(ctx, "wireguard", &Args{Plan: Plan{Settings: Settings{Port: -1}, Hosts: []string{"m1"}}, Hosts: []hosts.Host{testHost("m1", "10.0.0.1", hosts.RoleMaster)}})
		if err != nil {
			return err
		}
		if len(c.Steps) != 0 || len(c.Ready) != 0 {
			t.Errorf("disabled: steps %v", c.Steps)
		}
		watch(ctx, c, &s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if comp := m.Named(t, "wireguard"); comp.Type != Token {
		t.Errorf("component type %s", comp.Type)
	}
	if ch := m.ChildrenOf(t, "wireguard"); len(ch) != 0 {
		t.Errorf("disabled component has children: %v", ch)
	}
	if n := len(m.ByType(cmdType)); n != 0 {
		t.Errorf("%d remote commands registered while disabled", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enabled || s.publicKey != "" || s.peers != 0 || len(s.hosts) != 0 {
		t.Errorf("disabled outputs: key %q peers %d enabled %v hosts %v", s.publicKey, s.peers, s.enabled, s.hosts)
	}
}

func TestVPNRefusesBadArgs(t *testing.T) {
	after := func() map[string]pulumi.Resource { return nil }
	cases := []struct {
		name string
		edit func(*Args)
		want []string
	}{
		{"no key", func(a *Args) { a.PrivateKey = nil }, []string{"pm4ml:wireguardPrivateKey: is not set"}},
		{"not an LB", func(a *Args) { a.Plan.Hosts[1], a.Hosts[1] = "w1", testHost("w1", "10.0.0.31", hosts.RoleWorker) }, []string{"pm4ml:hosts (w1)", "role haproxy"}},
		{"no LBs", func(a *Args) { a.Plan.Hosts, a.Hosts = nil, nil }, []string{"pm4ml:wireguard.enabled: is true but no host has the role haproxy"}},
		{"no machine", func(a *Args) { a.Hosts = a.Hosts[:1] }, []string{"no machine for host lb2 (Args.Hosts)"}},
		{"no machine for a lost host", func(a *Args) { a.Plan.Lost = []string{"lb3"} }, []string{"no machine for the lost host lb3 (Args.Hosts)"}},
		{"After without a host", func(a *Args) { a.After = map[string]pulumi.Resource{} }, []string{"no After entry for host lb1", "no After entry for host lb2"}},
		{"bad settings", func(a *Args) { a.Plan.Settings.Address = "nope"; a.Plan.Settings.Peers = nil }, []string{"pm4ml:wireguard.address", "pm4ml:wireguard.peers: is empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := runMocks(t, func(ctx *pulumi.Context) error {
				a := enabledArgs(after())
				c.edit(a)
				_, err := New(ctx, "wireguard", a)
				return err
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := len(m.Resources); n != 0 {
				t.Errorf("%d resources registered despite the error", n)
			}
		})
	}
}

// A private key that is not a key fails the deployment with the secret's name, not its value.
func TestVPNBadPrivateKeyDoesNotLeak(t *testing.T) {
	const bogus = "hunter2-is-not-a-wireguard-key"
	_, err := runMocks(t, func(ctx *pulumi.Context) error {
		after, err := preps(ctx)
		if err != nil {
			return err
		}
		a := enabledArgs(after)
		a.PrivateKey = pulumi.ToSecret(pulumi.String(bogus)).(pulumi.StringOutput)
		_, err = New(ctx, "wireguard", a)
		return err
	})
	if err == nil {
		t.Fatal("a bogus private key was accepted")
	}
	if !strings.Contains(err.Error(), "pm4ml:wireguardPrivateKey") || strings.Contains(err.Error(), bogus) {
		t.Errorf("error %q must name pm4ml:wireguardPrivateKey and not contain its value", err)
	}
}

// TestVPNLostHost: the step of a lost HAProxy host stays registered, frozen (every input ignored)
// and retained (its delete, which stops the interface on that host, never runs); it is not among
// the steps that later layers wait for, nor in the hosts output. A host passed as lost but not
// marked lost is refused.
func TestVPNLostHost(t *testing.T) {
	var s seen
	lost := testHost("lb3", "10.0.0.23", hosts.RoleHAProxy)
	lost.Lost = true
	m, err := runMocks(t, func(ctx *pulumi.Context) error {
		after, err := preps(ctx)
		if err != nil {
			return err
		}
		a := enabledArgs(after)
		a.Plan.Lost, a.Hosts = []string{lost.Name}, append(a.Hosts, lost)
		c, err := New(ctx, "wireguard", a)
		if err != nil {
			return err
		}
		if len(c.Steps) != 2 || len(c.Ready) != 2 {
			t.Errorf("Steps/Ready: %v %v", c.Steps, c.Ready)
		}
		watch(ctx, c, &s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Named(t, "wireguard-lb3")
	if !r.Frozen() {
		t.Errorf("wireguard-lb3: retain %v ignore %v, want frozen", r.RetainOnDelete, r.IgnoreChanges)
	}
	for _, n := range []string{"wireguard-lb1", "wireguard-lb2"} {
		if r := m.Named(t, n); r.RetainOnDelete || len(r.IgnoreChanges) != 0 {
			t.Errorf("%s is frozen or retained", n)
		}
	}
	if !slices.Equal(s.hosts, []string{"lb1", "lb2"}) {
		t.Errorf("hosts output %v", s.hosts)
	}
	_, err = runMocks(t, func(ctx *pulumi.Context) error {
		after, err := preps(ctx)
		if err != nil {
			return err
		}
		a := enabledArgs(after)
		a.Plan.Lost, a.Hosts = []string{"lb3"}, append(a.Hosts, testHost("lb3", "10.0.0.23", hosts.RoleHAProxy))
		_, err = New(ctx, "wireguard", a)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not marked lost") {
		t.Errorf("an unmarked lost host: %v", err)
	}
}
