package vaultsecret

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// schema is pulumi-vault v6.7.0's schema for the tokens used: inputs per type token, required
// first (tests/lab/plugins/vault checks its stand-in against the same version).
var schema = map[string]struct{ required, optional []string }{
	ProviderType: {nil, []string{"address", "token", "skipChildToken", "skipTlsVerify", "caCertFile", "namespace", "version"}},
	KV2Type:      {[]string{"mount", "name", "dataJson"}, []string{"cas", "customMetadata", "deleteAllVersions", "disableRead", "namespace", "options"}},
	KV1Type:      {[]string{"path", "dataJson"}, nil},
}

const clientSecret = `s3cr"et-value`

// dependency stands for the vault wave's Applications.
type dependency struct{ pulumi.CustomResourceState }

func runVault(t *testing.T, mod func(*Args)) *mocktest.Mocks {
	t.Helper()
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		var dep dependency
		if err := ctx.RegisterResource("test:index:VaultApp", "vault-app", pulumi.Map{}, &dep); err != nil {
			return err
		}
		a := &Args{
			Address:      "https://vault.example.org:8200",
			Token:        pulumi.ToSecret(pulumi.String("hvs.token")).(pulumi.StringOutput),
			PM4MLID:      "pm4ml-acme",
			ClientSecret: pulumi.ToSecret(pulumi.String(clientSecret)).(pulumi.StringOutput),
			DependsOn:    []pulumi.Resource{&dep},
		}
		if mod != nil {
			mod(a)
		}
		_, err := New(ctx, "mcm", a)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkSchema(t *testing.T, r mocktest.Resource) {
	t.Helper()
	s, ok := schema[r.Type]
	if !ok {
		t.Fatalf("%s: type %s is not in the schema README", r.Name, r.Type)
	}
	for k := range r.Inputs {
		if !slices.Contains(s.required, string(k)) && !slices.Contains(s.optional, string(k)) {
			t.Errorf("%s: property %q is not an input of %s", r.Name, k, r.Type)
		}
	}
	for _, k := range s.required {
		if _, ok := r.Inputs[resource.PropertyKey(k)]; !ok {
			t.Errorf("%s: required property %q missing", r.Name, k)
		}
	}
}

// plainContains reports whether s occurs in v outside any secret.
func plainContains(v resource.PropertyValue, s string) bool {
	switch {
	case v.IsSecret():
		return false
	case v.IsString():
		return strings.Contains(v.StringValue(), s)
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if plainContains(e, s) {
				return true
			}
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if plainContains(e, s) {
				return true
			}
		}
	}
	return false
}

func TestKV1(t *testing.T) {
	m := runVault(t, nil) // defaults: mount secret, KV v1 (the reference deployment)
	p, s := m.Named(t, "mcm-provider"), m.Named(t, "mcm-secret")
	if p.Type != ProviderType || s.Type != KV1Type {
		t.Fatalf("types %s %s", p.Type, s.Type)
	}
	checkSchema(t, p)
	checkSchema(t, s)
	if got := mocktest.String(s.Inputs, "path"); got != "secret/pm4ml-acme" {
		t.Errorf("path = %q", got)
	}
	checkDataJSON(t, m, s)
	checkProvider(t, m, p, s)
}

func TestKV2(t *testing.T) {
	m := runVault(t, func(a *Args) {
		a.KV = 2
		a.Mount = "kv"
		a.SkipTLSVerify = true
		a.CACertFile = "/etc/ssl/vault-ca.pem"
	})
	p, s := m.Named(t, "mcm-provider"), m.Named(t, "mcm-secret")
	if s.Type != KV2Type {
		t.Fatalf("type %s", s.Type)
	}
	checkSchema(t, p)
	checkSchema(t, s)
	if mocktest.String(s.Inputs, "mount") != "kv" || mocktest.String(s.Inputs, "name") != "pm4ml-acme" {
		t.Errorf("mount/name = %v", s.Inputs)
	}
	if !p.Inputs["skipTlsVerify"].BoolValue() || mocktest.String(p.Inputs, "caCertFile") != "/etc/ssl/vault-ca.pem" {
		t.Errorf("TLS settings %v", p.Inputs)
	}
	checkDataJSON(t, m, s)
	checkProvider(t, m, p, s)
}

func checkDataJSON(t *testing.T, m *mocktest.Mocks, s mocktest.Resource) {
	t.Helper()
	if !s.Inputs["dataJson"].IsSecret() {
		t.Error("dataJson is not a secret input")
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(mocktest.String(s.Inputs, "dataJson")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 1 || doc[Key] != clientSecret {
		t.Errorf("dataJson = %v", doc)
	}
	for _, k := range []string{"dataJson", "data"} {
		if !slices.Contains(s.AdditionalSecretOutputs, k) {
			t.Errorf("AdditionalSecretOutputs %v lacks %s", s.AdditionalSecretOutputs, k)
		}
	}
	for _, r := range m.Resources {
		if plainContains(resource.NewObjectProperty(r.Inputs), clientSecret) || plainContains(resource.NewObjectProperty(r.Inputs), "s3cr") {
			t.Errorf("%s holds the client secret in plain text", r.Name)
		}
		if plainContains(resource.NewObjectProperty(r.Inputs), "hvs.token") {
			t.Errorf("%s holds the Vault token in plain text", r.Name)
		}
	}
}

func checkProvider(t *testing.T, m *mocktest.Mocks, p, s mocktest.Resource) {
	t.Helper()
	if mocktest.String(p.Inputs, "address") != "https://vault.example.org:8200" || !p.Inputs["skipChildToken"].BoolValue() {
		t.Errorf("provider inputs %v", p.Inputs)
	}
	if !mocktest.IsSecret(p.Inputs, "token") || mocktest.String(p.Inputs, "token") != "hvs.token" {
		t.Error("provider token is not the secret token")
	}
	if p.Version != PluginVersion || s.Version != PluginVersion || !strings.HasPrefix(PluginVersion, "6.") {
		t.Errorf("plugin versions %q %q, want %s (v6 line)", p.Version, s.Version, PluginVersion)
	}
	if !strings.HasPrefix(s.Provider, p.URN+"::") {
		t.Errorf("secret provider %q, want %s", s.Provider, p.URN)
	}
	for _, r := range []mocktest.Resource{p, s} {
		if m.ParentName(r) != "mcm" {
			t.Errorf("%s parent %q", r.Name, m.ParentName(r))
		}
		if !m.DependsOn(t, r.Name, "vault-app") {
			t.Errorf("%s does not depend on the vault wave", r.Name)
		}
	}
	if c := m.Named(t, "mcm"); c.Type != Token {
		t.Errorf("component type %s", c.Type)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Args)
		want string
	}{
		{"no address", func(a *Args) { a.Address = "" }, "pm4ml:vault.address"},
		{"kv 3", func(a *Args) { a.KV = 3 }, "pm4ml:vault.kvVersion"},
		{"bad id", func(a *Args) { a.PM4MLID = "a/b" }, "pm4ml:pm4mlId"},
		{"bad mount", func(a *Args) { a.Mount = "/secret" }, "pm4ml:vault.mount"},
		{"no token", func(a *Args) { a.Token = nil }, "pm4ml:vaultToken"},
		{"no client secret", func(a *Args) { a.ClientSecret = nil }, "pm4ml:mcmClientSecret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &Args{Address: "https://v:8200", Token: pulumi.String("t"), PM4MLID: "x", ClientSecret: pulumi.String("s")}
			c.mod(a)
			a.defaults()
			if err := a.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if SecretPath("secret", "pm4ml-acme") != "secret/pm4ml-acme/" {
		t.Error("SecretPath")
	}
}
