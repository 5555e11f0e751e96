// Package vaultsecret writes the MCM client secret into Vault (guide 6.5): at secret/<pm4mlId>/,
// key mcmdev_client_secret, in a KV v1 or KV v2 mount.
//
// The pulumi-vault provider is bound by type token (its Go SDK module is not available from
// this workplace's module proxy): tokens and property names follow pulumi-vault v6.7.0's
// schema, written down in this package's tests (vaultsecret_test.go, schema), which check every
// property sent against it.
// The explicit provider resource is `pulumi:providers:vault` at PluginVersion.
package vaultsecret

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:vault:MCMClientSecret"

// PluginVersion pins the pulumi-vault plugin: the v6 line (bridging terraform-provider-vault
// v4), whose schema vaultsecret_test.go records. v7 moved to terraform-provider-vault v5;
// change the pin only together with that schema extract and this package's tests.
const PluginVersion = "6.7.0"

// Type tokens of pulumi-vault (v6.7.0 schema).
const (
	ProviderType = "pulumi:providers:vault"
	KV2Type      = "vault:kv/secretV2:SecretV2"
	KV1Type      = "vault:kv/secret:Secret"
)

// Key is the Vault key of the MCM client secret (guide 6.5).
const Key = "mcmdev_client_secret"

// Args of the secret.
type Args struct {
	// Address of Vault as seen from where `pulumi up` runs, e.g. https://vault.example.org:8200.
	Address string
	// Token is a Vault token allowed to write the path: a Pulumi secret.
	Token pulumi.StringInput
	// SkipTLSVerify and CACertFile configure TLS to Vault (optional).
	SkipTLSVerify bool
	CACertFile    string
	// Namespace is a Vault Enterprise namespace (optional).
	Namespace string
	// Mount of the KV engine (default "secret") and its version (1 or 2, default 1).
	Mount string
	KV    int
	// PM4MLID names the secret's path: <mount>/<pm4mlId>.
	PM4MLID string
	// ClientSecret is the MCM client secret from the Hub operator: a Pulumi secret.
	ClientSecret pulumi.StringInput
	// DependsOn: the Vault Applications (waves.AfterApp("vault")).
	DependsOn []pulumi.Resource
}

// Provider is the explicit pulumi-vault provider, bound by type token.
type Provider struct {
	pulumi.ProviderResourceState
}

// Secret is a KV secret resource (v1 or v2), bound by type token.
type Secret struct {
	pulumi.CustomResourceState

	DataJSON pulumi.StringOutput `pulumi:"dataJson"`
}

// MCMClientSecret is the component.
type MCMClientSecret struct {
	pulumi.ResourceState

	// Path is the secret's path as the guide writes it: <mount>/<pm4mlId>/ (registered output).
	Path pulumi.StringOutput `pulumi:"path"`
	// KVVersion is 1 or 2 (registered output "kvVersion").
	KVVersion pulumi.IntOutput `pulumi:"kvVersion"`

	Provider *Provider
	Secret   *Secret
}

func (a *Args) defaults() {
	if a.Mount == "" {
		a.Mount = "secret"
	}
	if a.KV == 0 {
		a.KV = 1
	}
}

// Validate checks Args after defaults, naming the stack settings to fix.
func (a *Args) Validate() error {
	var errs []string
	add := func(f string, v ...any) { errs = append(errs, fmt.Sprintf(f, v...)) }
	if !strings.HasPrefix(a.Address, "https://") && !strings.HasPrefix(a.Address, "http://") {
		add("address %q is not a URL (pm4ml:vault.address, e.g. https://vault.example.org:8200)", a.Address)
	}
	if a.Token == nil {
		add("no Vault token: pulumi config set --secret pm4ml:vaultToken ...")
	}
	if a.ClientSecret == nil {
		add("no MCM client secret: pulumi config set --secret pm4ml:mcmClientSecret ... (from the Mojaloop Hub operator)")
	}
	if a.KV != 1 && a.KV != 2 {
		add("KV version %d is not 1 or 2 (pm4ml:vault.kvVersion)", a.KV)
	}
	if !grammar.VaultMount.OK(a.Mount) {
		add("mount %q is not a Vault mount path (pm4ml:vault.mount, default secret)", a.Mount)
	}
	if !grammar.PM4MLID.OK(a.PM4MLID) {
		add("pm4mlId %q is not a path segment (pm4ml:pm4mlId)", a.PM4MLID)
	}
	if len(errs) > 0 {
		return fmt.Errorf("vaultsecret: %s", strings.Join(errs, "; "))
	}
	return nil
}

// SecretPath is the guide's path of the secret: "<mount>/<pm4mlId>/".
func SecretPath(mount, pm4mlID string) string { return mount + "/" + pm4mlID + "/" }

// DataJSON is the secret's JSON document.
func DataJSON(clientSecret string) (string, error) {
	b, err := json.Marshal(map[string]string{Key: clientSecret})
	return string(b), err
}

// New writes the secret.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*MCMClientSecret, error) {
	a := *args
	a.defaults()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := remotecmd.CustomOnly("vaultsecret: Args.DependsOn", a.DependsOn); err != nil {
		return nil, err
	}
	c := &MCMClientSecret{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}

	pin := pulumi.Version(PluginVersion)
	pprops := pulumi.Map{
		"address":        pulumi.String(a.Address),
		"token":          pulumi.ToSecret(a.Token),
		"skipChildToken": pulumi.Bool(true),
	}
	if a.SkipTLSVerify {
		pprops["skipTlsVerify"] = pulumi.Bool(true)
	}
	if a.CACertFile != "" {
		pprops["caCertFile"] = pulumi.String(a.CACertFile)
	}
	if a.Namespace != "" {
		pprops["namespace"] = pulumi.String(a.Namespace)
	}
	prov := &Provider{}
	if err := ctx.RegisterResource(ProviderType, name+"-provider", pprops, prov,
		// Vault runs in the cluster: the provider is configured (and may contact Vault) only
		// after the Vault Applications are up.
		pulumi.Parent(c), pin, pulumi.DependsOn(a.DependsOn),
		pulumi.AdditionalSecretOutputs([]string{"token"})); err != nil {
		return nil, err
	}
	c.Provider = prov

	dataJSON := pulumi.ToSecret(a.ClientSecret.ToStringOutput().ApplyT(func(s string) (string, error) {
		return DataJSON(s)
	})).(pulumi.StringOutput)

	typ, props := KV1Type, pulumi.Map{
		"path":     pulumi.String(a.Mount + "/" + a.PM4MLID),
		"dataJson": dataJSON,
	}
	if a.KV == 2 {
		typ, props = KV2Type, pulumi.Map{
			"mount":    pulumi.String(a.Mount),
			"name":     pulumi.String(a.PM4MLID),
			"dataJson": dataJSON,
		}
	}
	sec := &Secret{}
	if err := ctx.RegisterResource(typ, name+"-secret", props, sec,
		pulumi.Parent(c), pulumi.Provider(prov), pin,
		pulumi.DependsOn(a.DependsOn),
		pulumi.AdditionalSecretOutputs([]string{"dataJson", "data"})); err != nil {
		return nil, err
	}
	c.Secret = sec
	c.Path = pulumi.String(SecretPath(a.Mount, a.PM4MLID)).ToStringOutput()
	c.KVVersion = pulumi.Int(a.KV).ToIntOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"path":      c.Path,
		"key":       pulumi.String(Key),
		"kvVersion": c.KVVersion,
		"address":   pulumi.String(a.Address),
	})
}
