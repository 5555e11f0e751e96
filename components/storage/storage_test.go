package storage

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const (
	testConf = "# minimal ceph.conf for f\n[global]\n\tfsid = f\n\tmon_host = [v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0]\n"
	testKey  = "AQDtestADMINkey000000000000000000000000=="
	cmdType  = "command:remote:Command"
)

var testKeyring = "[client.admin]\n\tkey = " + testKey + "\n\tcaps mon = \"allow *\"\n"

func master() hosts.Host {
	return hosts.Host{
		Name: "m1", Address: "10.0.1.1", Roles: hosts.NewRoles(hosts.RoleMaster),
		Conn: remote.ConnectionArgs{Host: pulumi.String("10.0.1.1"), User: pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
		Identity: pulumi.String("10.0.1.1"),
	}
}

// ready is a stand-in for the MicroK8s and MicroCeph Ready resources (custom, as theirs are).
type ready struct{ pulumi.CustomResourceState }

type captured struct {
	st      *Storage
	classes map[string]any
}

func deploy(t *testing.T, storageClass string) (*mocktest.Mocks, *captured) {
	t.Helper()
	got := &captured{}
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		var after []pulumi.Resource
		for _, n := range []string{"k8s-ready", "ceph-ready"} {
			r := &ready{}
			if err := ctx.RegisterResource("pm4ml:test:Ready", n, pulumi.Map{}, r); err != nil {
				return err
			}
			after = append(after, r)
		}
		st, err := New(ctx, "storage", &Args{
			Plan: Plan{Master: master().Name, Pool: "rbd-pm4ml", StorageClass: storageClass, LocalStorageClass: "local-nvme", LocalStoragePath: "/var/lib/pm4ml-local"},
			Host: master(), CephConf: pulumi.ToSecret(pulumi.String(testConf)).(pulumi.StringOutput),
			Keyring: pulumi.ToSecret(pulumi.String(testKeyring)).(pulumi.StringOutput), DependsOn: after, User: "ubuntu",
		})
		if err != nil {
			return err
		}
		got.st = st
		// exported: the run waits for it
		ctx.Export("storageClasses", st.StorageClasses.ApplyT(func(v map[string]any) map[string]any { got.classes = v; return v }))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, got
}

// script returns the script a command runs: the body inside `bash -c '<body>'`.
func script(t *testing.T, r mocktest.Resource, key string) string {
	t.Helper()
	inv := mocktest.String(r.Inputs, key)
	i := strings.Index(inv, "bash -c '")
	if i < 0 {
		t.Fatalf("%s %s: not a bash -c invocation", r.Name, key)
	}
	var b strings.Builder
	rest := inv[i+len("bash -c '"):]
	for {
		j := strings.IndexByte(rest, '\'')
		if j < 0 {
			t.Fatalf("%s %s: unterminated quote", r.Name, key)
		}
		b.WriteString(rest[:j])
		rest = rest[j+1:]
		if !strings.HasPrefix(rest, `\''`) {
			return b.String()
		}
		b.WriteByte('\'')
		rest = rest[3:]
	}
}

func TestChainOnTheMaster(t *testing.T) {
	m, got := deploy(t, "ceph-rbd")
	comp := m.Named(t, "storage")
	if comp.Type != Token {
		t.Fatalf("type %s", comp.Type)
	}
	var kids []string
	for _, r := range m.ChildrenOf(t, "storage") {
		kids = append(kids, r.Name)
		if r.Type != cmdType {
			t.Errorf("%s is a %s", r.Name, r.Type)
		}
		v := r.Inputs["connection"]
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		if h := v.ObjectValue()["host"].StringValue(); h != "10.0.1.1" {
			t.Errorf("%s runs on %s, want the master", r.Name, h)
		}
	}
	if want := []string{"storage-rook-ceph", "storage-connect", "storage-storageclasses"}; !slices.Equal(kids, want) {
		t.Fatalf("children %v, want %v", kids, want)
	}
	for _, d := range [][2]string{
		{"storage-rook-ceph", "k8s-ready"}, {"storage-rook-ceph", "ceph-ready"},
		{"storage-connect", "storage-rook-ceph"}, {"storage-storageclasses", "storage-connect"},
	} {
		if !m.DependsOn(t, d[0], d[1]) {
			t.Errorf("%s does not depend on %s", d[0], d[1])
		}
	}
	if got.st.Ready != pulumi.Resource(got.st.Steps[2]) {
		t.Error("Ready is not the storageclasses step")
	}

	// the connect step is the only secret one; ceph.conf and the keyring reach it on stdin only
	for _, r := range m.ByType(cmdType) {
		secret := r.Name == "storage-connect"
		if (mocktest.String(r.Inputs, "logging") == "none") != secret || slices.Contains(r.AdditionalSecretOutputs, "stdout") != secret {
			t.Errorf("%s: secret handling wrong (want secret=%v)", r.Name, secret)
		}
		for k, v := range r.Inputs {
			if strings.Contains(fmt.Sprint(v), testKey) && !(k == "stdin" && v.ContainsSecrets()) {
				t.Errorf("%s: input %s carries the keyring", r.Name, k)
			}
		}
	}
	connect := m.Named(t, "storage-connect")
	if !mocktest.IsSecret(connect.Inputs, "stdin") || mocktest.String(connect.Inputs, "stdin") != Bundle(testConf, testKeyring) {
		t.Errorf("connect stdin = %q", mocktest.String(connect.Inputs, "stdin"))
	}
	body := script(t, connect, "create")
	for _, frag := range []string{
		`microk8s connect-external-ceph --ceph-conf "$dir/ceph.conf" --keyring "$dir/ceph.keyring"`,
		"--rbd-pool 'rbd-pm4ml' --no-rbd-pool-auto-create", "sc='ceph-rbd'",
	} {
		if !strings.Contains(body, frag) {
			t.Errorf("connect lacks %q", frag)
		}
	}
	if strings.Contains(body, "kubectl create -f -") {
		t.Error("connect renames the class although it keeps Rook's name")
	}
	if !strings.Contains(script(t, m.Named(t, "storage-rook-ceph"), "create"), "microk8s enable rook-ceph") {
		t.Error("rook-ceph step does not enable the addon")
	}
	scs := script(t, m.Named(t, "storage-storageclasses"), "create")
	for _, frag := range []string{"microk8s enable hostpath-storage", "pvDir: /var/lib/pm4ml-local", "provisioner: microk8s.io/hostpath",
		"volumeBindingMode: WaitForFirstConsumer", "reclaimPolicy: Retain", "pm4ml.io/tier: transaction-critical",
		`patch_class 'ceph-rbd' '{"metadata":{"annotations":{"pm4ml.io/tier":"cold","storageclass.kubernetes.io/is-default-class":"false"}}}'`} {
		if !strings.Contains(scs, frag) {
			t.Errorf("storageclasses lacks %q", frag)
		}
	}

	want := map[string]any{
		"ceph-rbd":   map[string]any{"tier": "cold", "default": false, "provisioner": RBDProvisioner},
		"local-nvme": map[string]any{"tier": "transaction-critical", "default": true, "provisioner": LocalProvisioner},
	}
	if fmt.Sprint(got.classes) != fmt.Sprint(want) {
		t.Errorf("storageClasses = %v, want %v", got.classes, want)
	}
	if len(got.st.Classes) != 2 || got.st.Classes[0].Tier != TierCold || got.st.Classes[1].Default != true {
		t.Errorf("Classes = %+v", got.st.Classes)
	}
}

func TestCustomCephClassName(t *testing.T) {
	m, got := deploy(t, "cold-rbd")
	body := script(t, m.Named(t, "storage-connect"), "create")
	for _, frag := range []string{"sc='cold-rbd'", "microk8s kubectl get storageclass 'ceph-rbd' -o json", "microk8s kubectl delete storageclass 'ceph-rbd' --ignore-not-found"} {
		if !strings.Contains(body, frag) {
			t.Errorf("connect lacks %q", frag)
		}
	}
	if _, ok := got.classes["cold-rbd"]; !ok {
		t.Errorf("storageClasses %v lacks cold-rbd", got.classes)
	}
	if !strings.Contains(script(t, m.Named(t, "storage-storageclasses"), "create"), "patch_class 'cold-rbd'") {
		t.Error("the renamed class is not tiered")
	}
}

func TestArgsErrorNamesKey(t *testing.T) {
	_, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "storage", &Args{Host: master(), CephConf: pulumi.String(""), Keyring: pulumi.String(""),
			Plan: Plan{Master: master().Name, Pool: "p", StorageClass: "ceph-rbd", LocalStorageClass: "ceph-rbd", LocalStoragePath: "/x"}})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "pm4ml:ceph.localStorageClass") {
		t.Fatalf("err = %v", err)
	}
	_, err = mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "storage", &Args{Host: master(), Plan: Plan{Master: "other", Pool: "p", StorageClass: "ceph-rbd", LocalStorageClass: "local-nvme", LocalStoragePath: "/x"}})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "is not the plan's master") {
		t.Fatalf("another machine than the plan's master: err = %v", err)
	}
}
