package hosts_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// await resolves an output (after the program ran, or inside it).
func await[T any](t *testing.T, o pulumi.Output) (T, bool) {
	t.Helper()
	ch := make(chan T, 1)
	o.ApplyT(func(v T) T { ch <- v; return v })
	select {
	case v := <-ch:
		return v, pulumi.IsSecret(o)
	case <-time.After(10 * time.Second):
		t.Fatal("output never resolved")
	}
	var zero T
	return zero, false
}

func awaitString(t *testing.T, o pulumi.StringOutput) string {
	t.Helper()
	v, _ := await[string](t, o)
	return v
}

const (
	sshKey     = "-----BEGIN OPENSSH PRIVATE KEY-----\nmain-key\n-----END OPENSSH PRIVATE KEY-----\n"
	bastionKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nbastion-key\n-----END OPENSSH PRIVATE KEY-----\n"
)

func existingArgs() *hosts.Args {
	return &hosts.Args{
		Source: hosts.Existing,
		Specs: []hosts.Spec{
			{Name: "m1", Address: "192.0.2.11", Roles: hosts.NewRoles(hosts.RoleMaster, hosts.RoleWorker)},
			{Name: "lb1", Address: "192.0.2.5", Roles: hosts.NewRoles(hosts.RoleHAProxy)},
			{Name: "s1", Address: "192.0.2.31", Roles: hosts.NewRoles(hosts.RoleStorage), CephDisks: []string{"/dev/sdb", "/dev/sdc"},
				Sizing: hosts.Sizing{CPUs: 8, MemoryGB: 32, OSDiskGB: 200, DataDisksGB: []int{2000, 2000}}},
		},
		SSH: hosts.SSH{
			User:       "ubuntu",
			Port:       2222,
			PrivateKey: pulumi.ToSecret(pulumi.String(sshKey)).(pulumi.StringOutput),
			HostKeys:   map[string]string{"lb1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfLb1"},
		},
	}
}

func runExisting(t *testing.T, a *hosts.Args) (*mocktest.Mocks, *hosts.Hosts) {
	t.Helper()
	var c *hosts.Hosts
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		var err error
		c, err = hosts.New(ctx, "hosts", a)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func TestExistingHostsCreateNoMachines(t *testing.T) {
	m, c := runExisting(t, existingArgs())
	if len(m.Resources) != 1 {
		t.Fatalf("existing hosts must register only the component, got %d resources: %+v", len(m.Resources), m.Resources)
	}
	comp := m.Named(t, "hosts")
	if comp.Type != hosts.Token || comp.Custom || comp.Parent == "" {
		t.Errorf("component %+v", comp)
	}
	if len(m.ByType(hosts.VMLegacyToken))+len(m.ByType(hosts.ProxmoxProviderTok)) != 0 {
		t.Error("existing hosts created Proxmox resources")
	}
	if len(c.Hosts) != 3 {
		t.Fatalf("%d hosts", len(c.Hosts))
	}
	for i, want := range []string{"m1", "lb1", "s1"} {
		h := c.Hosts[i]
		if h.Name != want {
			t.Errorf("host %d is %s, want %s (configuration order)", i, h.Name, want)
		}
		if len(h.Ready) != 0 {
			t.Errorf("%s: existing host has Ready resources %v", h.Name, h.Ready)
		}
		if got := awaitString(t, h.Identity.ToStringOutput()); got != h.Address {
			t.Errorf("%s: identity %q, want its address", h.Name, got)
		}
	}
	s1 := c.Hosts[2]
	if !slices.Equal(s1.CephDisks, []string{"/dev/sdb", "/dev/sdc"}) || s1.Sizing.CPUs != 8 || !s1.Roles.Has(hosts.RoleStorage) {
		t.Errorf("spec not carried to the host: %+v", s1)
	}
}

func TestExistingHostsConnection(t *testing.T) {
	_, c := runExisting(t, existingArgs())
	for _, h := range c.Hosts {
		conn, _ := await[remote.Connection](t, h.Conn.ToConnectionOutput())
		if conn.Host != h.Address || conn.Port == nil || *conn.Port != 2222 || conn.User == nil || *conn.User != "ubuntu" {
			t.Errorf("%s: connection %s:%v as %v", h.Name, conn.Host, conn.Port, conn.User)
		}
		if conn.PrivateKey == nil || *conn.PrivateKey != sshKey {
			t.Errorf("%s: private key not passed", h.Name)
		}
		if _, secret := await[*string](t, h.Conn.ToConnectionOutput().PrivateKey()); !secret {
			t.Errorf("%s: private key is not a secret", h.Name)
		}
		if conn.Proxy != nil {
			t.Errorf("%s: proxy without a bastion: %+v", h.Name, conn.Proxy)
		}
		if conn.DialErrorLimit == nil || *conn.DialErrorLimit < 10 {
			t.Errorf("%s: dialErrorLimit %v: a fresh machine needs retries", h.Name, conn.DialErrorLimit)
		}
		wantHostKey := h.Name == "lb1"
		if (conn.HostKey != nil) != wantHostKey {
			t.Errorf("%s: host key %v (pinned only for lb1)", h.Name, conn.HostKey)
		}
		if wantHostKey && *conn.HostKey != "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfLb1" {
			t.Errorf("%s: host key %q", h.Name, *conn.HostKey)
		}
	}
}

func TestBastionProxy(t *testing.T) {
	a := existingArgs()
	a.SSH.Bastion = &hosts.Bastion{Host: "192.0.2.100", User: "jump", Port: 2200,
		PrivateKey: pulumi.ToSecret(pulumi.String(bastionKey)).(pulumi.StringOutput)}
	_, c := runExisting(t, a)
	for _, h := range c.Hosts {
		out := h.Conn.ToConnectionOutput()
		conn, _ := await[remote.Connection](t, out)
		p := conn.Proxy
		if p == nil {
			t.Fatalf("%s: no proxy with a bastion", h.Name)
		}
		if p.Host != "192.0.2.100" || p.Port == nil || *p.Port != 2200 || p.User == nil || *p.User != "jump" {
			t.Errorf("%s: proxy %s:%v as %v", h.Name, p.Host, p.Port, p.User)
		}
		if p.PrivateKey == nil || *p.PrivateKey != bastionKey {
			t.Errorf("%s: bastion key not passed", h.Name)
		}
		if _, secret := await[*string](t, out.Proxy().PrivateKey()); !secret {
			t.Errorf("%s: bastion private key is not a secret", h.Name)
		}
		if conn.Host != h.Address {
			t.Errorf("%s: target %s behind the bastion, want %s", h.Name, conn.Host, h.Address)
		}
	}
}

// TestConnectionAsCommandInput checks what a pulumi-command resource receives from Host.Conn:
// the target and the bastion, with the private keys inside a secret.
func TestConnectionAsCommandInput(t *testing.T) {
	a := existingArgs()
	a.SSH.Bastion = &hosts.Bastion{Host: "192.0.2.100", User: "jump", Port: 22,
		PrivateKey: pulumi.ToSecret(pulumi.String(bastionKey)).(pulumi.StringOutput)}
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		c, err := hosts.New(ctx, "hosts", a)
		if err != nil {
			return err
		}
		_, err = remote.NewCommand(ctx, "probe", &remote.CommandArgs{Connection: c.Hosts[0].Conn, Create: pulumi.String("true")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	in := m.Named(t, "probe").Inputs
	if !mocktest.IsSecret(in, "connection") {
		t.Error("the connection (with the private keys) is not a secret input")
	}
	conn := unwrap(in["connection"])
	if !conn.IsObject() {
		t.Fatalf("connection input %v", conn)
	}
	cm := conn.ObjectValue()
	if mocktest.String(cm, "privateKey") != sshKey {
		t.Errorf("connection.privateKey %v", cm["privateKey"])
	}
	proxy := unwrap(cm["proxy"])
	if !proxy.IsObject() || mocktest.String(proxy.ObjectValue(), "privateKey") != bastionKey || mocktest.String(proxy.ObjectValue(), "host") != "192.0.2.100" {
		t.Errorf("connection.proxy %v", proxy)
	}
	if mocktest.String(cm, "host") != "192.0.2.11" || mocktest.String(cm, "user") != "ubuntu" {
		t.Errorf("connection %v", cm)
	}
	if v := unwrap(cm["port"]); !v.IsNumber() || v.NumberValue() != 2222 {
		t.Errorf("connection.port %v", v)
	}
}

func TestRegisteredOutputs(t *testing.T) {
	_, c := runExisting(t, existingArgs())
	addrs, _ := await[map[string]string](t, c.Addresses)
	roles, _ := await[map[string]string](t, c.RolesByHost)
	wantAddrs := map[string]string{"m1": "192.0.2.11", "lb1": "192.0.2.5", "s1": "192.0.2.31"}
	wantRoles := map[string]string{"m1": "master+worker", "lb1": "haproxy", "s1": "storage"}
	for k, v := range wantAddrs {
		if addrs[k] != v {
			t.Errorf("addresses[%s] = %q, want %q", k, addrs[k], v)
		}
	}
	for k, v := range wantRoles {
		if roles[k] != v {
			t.Errorf("roles[%s] = %q, want %q", k, roles[k], v)
		}
	}
	if len(addrs) != 3 || len(roles) != 3 {
		t.Errorf("outputs %v %v", addrs, roles)
	}
}

func TestUnknownSource(t *testing.T) {
	a := existingArgs()
	a.Source = "vsphere"
	_, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := hosts.New(ctx, "hosts", a)
		return err
	})
	if err == nil {
		t.Fatal("unknown source accepted")
	}
}

func TestRolesAndSizing(t *testing.T) {
	rs := hosts.NewRoles(hosts.RoleWorker, hosts.RoleMaster, hosts.RoleWorker)
	if rs.String() != "master+worker" || !rs.IsKubernetesNode() || rs.Has(hosts.RoleStorage) || !rs.Any(hosts.RoleStorage, hosts.RoleWorker) {
		t.Errorf("roles %v", rs)
	}
	if hosts.NewRoles(hosts.RoleHAProxy).IsKubernetesNode() {
		t.Error("haproxy is not a Kubernetes node")
	}
	if hosts.Role("router").Valid() || !hosts.RoleBastion.Valid() {
		t.Error("Role.Valid")
	}
	cases := []struct {
		env   hosts.Environment
		roles hosts.Roles
		want  hosts.Sizing
	}{
		{hosts.Prod, hosts.NewRoles(hosts.RoleMaster), hosts.Sizing{CPUs: 8, MemoryGB: 32, OSDiskGB: 300, DataDisksGB: []int{300}}},
		{hosts.Prod, hosts.NewRoles(hosts.RoleWorker), hosts.Sizing{CPUs: 16, MemoryGB: 64, OSDiskGB: 500, DataDisksGB: []int{500}}},
		{hosts.Prod, hosts.NewRoles(hosts.RoleHAProxy), hosts.Sizing{CPUs: 4, MemoryGB: 16, OSDiskGB: 100}},
		{hosts.Prod, hosts.NewRoles(hosts.RoleBastion), hosts.Sizing{CPUs: 2, MemoryGB: 8, OSDiskGB: 50}},
		{hosts.Stg, hosts.NewRoles(hosts.RoleMaster, hosts.RoleWorker), hosts.Sizing{CPUs: 8, MemoryGB: 16, OSDiskGB: 500}},
		{hosts.Stg, hosts.NewRoles(hosts.RoleHAProxy), hosts.Sizing{CPUs: 2, MemoryGB: 4, OSDiskGB: 100}},
		{hosts.Stg, hosts.NewRoles(hosts.RoleStorage), hosts.Sizing{CPUs: 8, MemoryGB: 32, OSDiskGB: 200, DataDisksGB: []int{2000, 2000}}},
	}
	for _, tc := range cases {
		got, err := hosts.SizingFor(tc.env, tc.roles)
		if err != nil {
			t.Fatal(err)
		}
		if got.CPUs != tc.want.CPUs || got.MemoryGB != tc.want.MemoryGB || got.OSDiskGB != tc.want.OSDiskGB || !slices.Equal(got.DataDisksGB, tc.want.DataDisksGB) {
			t.Errorf("%s %s: %+v, want %+v", tc.env, tc.roles, got, tc.want)
		}
	}
	if _, err := hosts.SizingFor("dev", hosts.NewRoles(hosts.RoleMaster)); err == nil {
		t.Error("unknown environment accepted")
	}
}

// TestSizingForCombinedRolesIsElementWiseMaximum: a prod master+worker (allowed with a risk
// acceptance) must satisfy both roles, so its NVMe data disk is the worker's 500 GB, not the
// master's 300 GB.
func TestSizingForCombinedRolesIsElementWiseMaximum(t *testing.T) {
	got, err := hosts.SizingFor(hosts.Prod, hosts.NewRoles(hosts.RoleMaster, hosts.RoleWorker))
	if err != nil {
		t.Fatal(err)
	}
	if got.CPUs != 16 || got.MemoryGB != 64 || got.OSDiskGB != 500 {
		t.Errorf("prod master+worker %+v, want 16 CPUs / 64 GB / 500 GB OS", got)
	}
	if !slices.Equal(got.DataDisksGB, []int{500}) {
		t.Errorf("prod master+worker data disks %v GB, want [500] (the larger of master [300] and worker [500])", got.DataDisksGB)
	}
}
