// Command pulumi-resource-vault is the test lab's STAND-IN for the pulumi-vault resource plugin
// (github.com/pulumi/pulumi-vault) v6.7.0, built only because the real plugin cannot be
// downloaded on an air-gapped machine. It implements, with the same schema tokens and property
// names as v6.7.0, what the pm4ml-onprem program uses: the provider configuration and the
// resources vault:kv/secret:Secret (KV v1) and vault:kv/secretV2:SecretV2 (KV v2), over plain
// net/http. It is never installed for users and the README's main job never uses it; see
// ../README.md and ../DIFFERENCES.md.
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Name is the package name the engine asks for (the plugin binary is pulumi-resource-<Name>).
const Name = "vault"

// Version is the version of pulumi-vault this stand-in answers for: the program pins
// vaultsecret.PluginVersion = 6.7.0.
const Version = "6.7.0"

// Provider builds the stand-in provider.
func Provider() (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("HashiCorp Vault (pm4ml-onprem lab stand-in)").
		WithDescription("Lab-only stand-in for the Pulumi Vault provider v"+Version+
			": kv/secret:Secret and kv/secretV2:SecretV2 over the Vault HTTP API.").
		WithLicense("Apache-2.0").
		WithNamespace("pulumi").
		WithConfig(infer.Config(&Config{})).
		WithResources(
			infer.Resource(&Secret{}),
			infer.Resource(&SecretV2{}),
		).
		Build()
	if err != nil {
		return p.Provider{}, err
	}
	return withConfigUpdatesInPlace(withSensitiveOutputs(prov)), nil
}

func main() {
	prov, err := Provider()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-vault (lab stand-in): %v\n", err)
		os.Exit(1)
	}
	if err := prov.Run(context.Background(), Name, Version); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-vault (lab stand-in): %v\n", err)
		os.Exit(1)
	}
}
