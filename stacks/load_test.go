package stacks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func writeStackFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadStackFile: scalars are Pulumi's text, objects and lists JSON, secure values secret and
// set (value unknown), other namespaces ignored.
func TestReadStackFile(t *testing.T) {
	p := writeStackFile(t, `
config:
  pm4ml:environment: stg
  pm4ml:lab: true
  pm4ml:count: 3
  pm4ml:ratio: 1.5
  pm4ml:ssh:
    user: ubuntu
    port: 22
    bastion: {host: 10.10.0.5}
  pm4ml:hosts:
    - {name: a, address: 10.10.0.7, roles: [master, worker], proxmox: {vmId: 3011}}
  pm4ml:sshPrivateKey:
    secure: AAABAKx0ZXN0IGNpcGhlcnRleHQ=
  pm4ml:notSecure:
    secure: x
    other: y
  proxmoxve:endpoint: https://pve.example.org:8006/
  pulumi:template: foo
`)
	fs, err := ReadStackFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"environment":   "stg",
		"lab":           "true",
		"count":         "3",
		"ratio":         "1.5",
		"ssh":           `{"bastion":{"host":"10.10.0.5"},"port":22,"user":"ubuntu"}`,
		"hosts":         `[{"address":"10.10.0.7","name":"a","proxmox":{"vmId":3011},"roles":["master","worker"]}]`,
		"sshPrivateKey": "",
		"notSecure":     `{"other":"y","secure":"x"}`,
	}
	for k, w := range want {
		got, ok := fs.Get(k)
		if !ok || got != w {
			t.Errorf("Get(%q) = %q, %v; want %q", k, got, ok, w)
		}
	}
	keys := fs.Keys()
	sort.Strings(keys)
	var wantKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("Keys() = %v, want %v (other namespaces dropped)", keys, wantKeys)
	}
	for k := range want {
		if got := fs.IsSecret(k); got != (k == "sshPrivateKey") {
			t.Errorf("IsSecret(%q) = %v", k, got)
		}
	}
	if _, ok := fs.Get("endpoint"); ok {
		t.Error("proxmoxve:endpoint leaked into the pm4ml namespace")
	}

	// Set and Delete
	fs.Set("mcmClientSecret", "s3cret", true)
	if v, ok := fs.Get("mcmClientSecret"); !ok || v != "s3cret" || !fs.IsSecret("mcmClientSecret") {
		t.Errorf("after Set: %q %v %v", v, ok, fs.IsSecret("mcmClientSecret"))
	}
	fs.Set("sshPrivateKey", "plain", false)
	if fs.IsSecret("sshPrivateKey") {
		t.Error("Set(..., false) kept the secret flag")
	}
	fs.Delete("mcmClientSecret")
	if _, ok := fs.Get("mcmClientSecret"); ok || fs.IsSecret("mcmClientSecret") || slices.Contains(fs.Keys(), "mcmClientSecret") {
		t.Error("Delete left the key behind")
	}
}

// TestReadStackFileNullValue: a key left empty in YAML (`pm4ml:riskAcceptance:`, a common way to
// blank a value) must not read as the text "null": in prod that would pass as a risk-acceptance
// reference and admit master+worker hosts.
func TestReadStackFileNullValue(t *testing.T) {
	b, err := os.ReadFile("../Pulumi.prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := writeStackFile(t, string(b)+"  pm4ml:riskAcceptance:\n")
	src, err := ReadStackFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := src.Get("riskAcceptance"); ok && v != "" {
		t.Errorf("an empty YAML value reads as %q, want unset or empty", v)
	}
	set("hosts[0].roles", []any{"master", "worker"})(t, src)
	if _, err := LoadForRender(src); err == nil {
		t.Error("prod master+worker accepted with an empty pm4ml:riskAcceptance")
	}
}

func TestReadStackFileErrors(t *testing.T) {
	if _, err := ReadStackFile(filepath.Join(t.TempDir(), "absent.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := writeStackFile(t, "config: [unclosed\n")
	_, err := ReadStackFile(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("invalid YAML: error %v does not name the file", err)
	}
}

// TestLoadSecureValues: a secure: value in the stack file counts as a set, encrypted secret.
func TestLoadSecureValues(t *testing.T) {
	src, err := ReadStackFile("../Pulumi.stg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src.Set(SecretSSHPrivateKey, "", true) // what a `secure:` entry reads as
	c, err := LoadForRender(src)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Secrets[SecretSSHPrivateKey]; !st.Set || !st.IsSecret {
		t.Errorf("secure sshPrivateKey: %+v, want set and secret", st)
	}
	if st := c.Secrets[SecretVaultToken]; st.Set {
		t.Errorf("vaultToken: %+v, want unset", st)
	}
}

func TestPulumiConfig(t *testing.T) {
	src := stackSource(t, "stg")
	cfg, secretKeys := src.PulumiConfig(func(k string) string { return "value-of-" + k })
	var want []string
	for _, k := range requiredSecrets["stg"] {
		want = append(want, Namespace+":"+k)
	}
	sort.Strings(want)
	if !slices.Equal(secretKeys, want) {
		t.Errorf("secret keys = %v, want %v", secretKeys, want)
	}
	for _, k := range requiredSecrets["stg"] {
		if got := cfg[Namespace+":"+k]; got != "value-of-"+k {
			t.Errorf("%s = %q", k, got)
		}
	}
	if got := cfg["pm4ml:environment"]; got != "stg" {
		t.Errorf("pm4ml:environment = %q", got)
	}
	if got := cfg["pm4ml:haproxy"]; got != `{"interface":"eth0","publicVip":"10.10.100.10"}` {
		t.Errorf("pm4ml:haproxy = %q", got)
	}
	if len(cfg) != len(src.Keys()) {
		t.Errorf("%d config entries for %d keys", len(cfg), len(src.Keys()))
	}
}

// TestLoadAppliesDefaults: the effective configuration of the shipped stacks.
func TestLoadAppliesDefaults(t *testing.T) {
	stg := loadStack(t, "stg")
	prod := loadStack(t, "prod")
	checks := []struct {
		what      string
		got, want any
	}{
		{"stg ssh.port", stg.SSH.Port, 22},
		{"stg microk8s.channel", stg.MicroK8s.Channel, DefaultMicroK8sChannel},
		{"stg ceph.channel", stg.Ceph.Channel, DefaultMicroCephChannel},
		{"stg ceph.pool", stg.Ceph.Pool, DefaultCephPool},
		{"stg ceph.localStoragePath", stg.Ceph.LocalStoragePath, DefaultLocalStoragePath},
		{"stg ceph.replicationSize", stg.Ceph.ReplicationSize, 1},
		{"stg haproxy.internalVip", stg.HAProxy.InternalVIP, "10.10.100.5"},
		{"stg haproxy.statsPort (stats off)", stg.HAProxy.StatsPort, 0},
		{"stg proxmox.prefixLength", stg.Proxmox.PrefixLength, 16},
		{"stg hosts[0].proxmox.node", stg.Hosts[0].Proxmox.Node, "pve1"},
		{"stg gitops.username (ssh-key)", stg.GitOps.Username, ""},
		{"stg vault.mount", stg.Vault.Mount, DefaultVaultMount},
		{"stg wireguard.port (disabled)", stg.WireGuard.Port, 0},
		{"stg apiAllowlist", strings.Join(stg.Network.APIAllowlist, ","), "10.10.250.0/24"},
		{"prod ssh.bastion.user", prod.SSH.Bastion.User, "ubuntu"},
		{"prod ssh.bastion.port", prod.SSH.Bastion.Port, 22},
		{"prod ceph.replicationSize", prod.Ceph.ReplicationSize, 3},
		{"prod haproxy.statsPort", prod.HAProxy.StatsPort, 8404},
		{"prod haproxy.statsUser", prod.HAProxy.StatsUser, DefaultStatsUser},
		{"prod gitops.username (https-token)", prod.GitOps.Username, "git"},
		{"prod vault.kvVersion", prod.Vault.KV, 1},
		{"prod haproxy.internalVip (set)", prod.HAProxy.InternalVIP, "10.10.0.20"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// sizing from the guide, raised by the stack file's override
	s := prod.SizingOf(prod.Hosts[8])
	if s.CPUs != 16 || s.MemoryGB != 64 || s.OSDiskGB != 500 || len(s.DataDisksGB) != 6 {
		t.Errorf("prod-storage-1 sizing = %+v, want 16 CPU / 64 GB / OS 500 GB / 6 data disks", s)
	}
	if s := stg.SizingOf(stg.Hosts[0]); s.CPUs != 8 || s.MemoryGB != 16 || s.OSDiskGB != 500 {
		t.Errorf("stg-k8s-1 sizing = %+v, want 8 CPU / 16 GB / 500 GB (guide 4.2)", s)
	}
}

// TestUnknownKeys: a typo of a key is refused naming the closest known key; a key like no other
// is refused with the list of known keys; keys of other namespaces are none of the program's
// business, unless the namespace is a near miss of pm4ml.
func TestUnknownKeys(t *testing.T) {
	src := stackSource(t, "stg")
	src.Set("hots", "[]", false)
	src.Set("microk8S", `{"channel":"1.31/stable"}`, false)
	src.Set("kubernetesVersionOverride", "1.31", false)
	src.SetForeign("pulumi:template", "x")
	src.SetForeign("proxmoxve:endpoint", "https://pve.example.org:8006/")
	src.SetForeign("pm4m:domain", "x")
	_, err := Load(src)
	want := map[string]string{
		"pm4ml:hots":                      "did you mean `pm4ml:hosts`?",
		"pm4ml:microk8S":                  "did you mean `pm4ml:microk8s`?",
		"pm4ml:kubernetesVersionOverride": SecretSSHPrivateKey, // the list of known keys
		"pm4m:domain":                     "write it as pm4ml:domain",
	}
	fes := fieldErrors(t, err)
	if len(fes) != len(want) {
		t.Fatalf("%d problems, want %d: %v", len(fes), len(want), err)
	}
	for _, fe := range fes {
		if w, ok := want[fe.Key]; !ok || !strings.Contains(fe.Fix, w) {
			t.Errorf("%s: fix %q, want it to contain %q", fe.Key, fe.Fix, w)
		}
	}
}

// TestFieldErrorFormat: the messages the user reads.
func TestFieldErrorFormat(t *testing.T) {
	fe := &FieldError{Key: "pm4ml:hosts[3].roles", Problem: "is empty", Fix: "give the host a role"}
	if got := fe.Error(); got != "pm4ml:hosts[3].roles: is empty; fix: give the host a role" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&FieldError{Key: "pm4ml:x", Problem: "bad"}).Error(); got != "pm4ml:x: bad" {
		t.Errorf("Error() without fix = %q", got)
	}
	ce := &ConfigError{Problems: []error{fe, &FieldError{Key: "pm4ml:domain", Problem: "is not set", Fix: "set it"}}}
	want := "the stack configuration has 2 problem(s); nothing was created:\n  - pm4ml:hosts[3].roles: is empty; fix: give the host a role\n  - pm4ml:domain: is not set; fix: set it"
	if ce.Error() != want {
		t.Errorf("ConfigError:\n%s\nwant\n%s", ce.Error(), want)
	}
	var got *FieldError
	if !errors.As(error(ce), &got) || got != fe {
		t.Error("errors.As does not find the first FieldError through ConfigError")
	}
}

// TestPulumiSource: inside a running program, the source reads the pm4ml namespace, knows which
// keys are secret, lists only pm4ml keys, and Load works from it as from the file.
func TestPulumiSource(t *testing.T) {
	src := stackSource(t, "prod")
	cfg, secretKeys := src.PulumiConfig(secretValues(src))
	cfg["proxmoxve:endpoint"] = "https://other.example.org/" // another namespace
	cfg["pm4ml:hots"] = "[]"                                 // a typo
	var (
		gotKeys  []string
		domain   string
		secret   bool
		plain    bool
		missing  bool
		loadErr  error
		loadedOK bool
	)
	_, err := runMocks(t, cfg, secretKeys, func(ctx *pulumi.Context) error {
		s := PulumiSource{Ctx: ctx}
		gotKeys = s.Keys()
		domain, _ = s.Get("domain")
		_, ok := s.Get("bastionPrivateKey")
		missing = !ok
		secret = s.IsSecret(SecretSSHPrivateKey)
		plain = s.IsSecret("domain")
		_, loadErr = Load(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(gotKeys)
	wantKeys := append(src.Keys(), "hots")
	sort.Strings(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("Keys() = %v, want %v", gotKeys, wantKeys)
	}
	if domain != "pm4ml.example.org" || !missing || !secret || plain {
		t.Errorf("domain %q, bastionPrivateKey missing %v, sshPrivateKey secret %v, domain secret %v", domain, missing, secret, plain)
	}
	if got := errorKeys(t, loadErr); !slices.Equal(got, []string{"pm4ml:hots"}) {
		t.Errorf("Load(PulumiSource) keys = %v, want [pm4ml:hots]", got)
	}

	delete(cfg, "pm4ml:hots")
	_, err = runMocks(t, cfg, secretKeys, func(ctx *pulumi.Context) error {
		c, err := Load(PulumiSource{Ctx: ctx})
		if err != nil {
			return err
		}
		loadedOK = c.Secrets[SecretSSHPrivateKey].IsSecret && len(c.Hosts) == 12
		return nil
	})
	if err != nil || !loadedOK {
		t.Errorf("Load(PulumiSource) of the prod stack: %v (secret and 12 hosts: %v)", err, loadedOK)
	}
}

// TestPulumiSourceSecretStoredPlain: a secret set without --secret is caught in the running
// program too (the engine marks secrets; nothing else does).
func TestPulumiSourceSecretStoredPlain(t *testing.T) {
	src := stackSource(t, "stg")
	cfg, secretKeys := src.PulumiConfig(secretValues(src))
	secretKeys = slices.DeleteFunc(secretKeys, func(k string) bool { return k == Namespace+":"+SecretMCMClientSecret })
	m, err := runMocks(t, cfg, secretKeys, Deploy)
	fes := fieldErrors(t, err)
	if len(fes) != 1 || fes[0].Key != "pm4ml:mcmClientSecret" || !strings.Contains(fes[0].Problem, "plain text") ||
		!strings.Contains(fes[0].Fix, "--secret") {
		t.Errorf("got %v", err)
	}
	if len(m.Resources) != 0 {
		t.Errorf("%d resources registered", len(m.Resources))
	}
}
