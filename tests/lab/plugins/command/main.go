// Command pulumi-resource-command is the test lab's STAND-IN for the pulumi-command resource
// plugin (github.com/pulumi/pulumi-command) v1.2.1, built only because the real plugin cannot be
// downloaded on an air-gapped machine. It implements, with the same schema tokens and property
// names as v1.2.1, the resources the pm4ml-onprem program uses: command:remote:Command,
// command:remote:CopyToRemote and command:local:Command. It is never installed for users and the
// README's main job never uses it; see ../README.md and ../DIFFERENCES.md.
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Name is the package name the engine asks for (the plugin binary is pulumi-resource-<Name>).
const Name = "command"

// Version is the version of pulumi-command this stand-in answers for: the Go SDK
// github.com/pulumi/pulumi-command/sdk v1.2.1 registers its resources with version 1.2.1.
const Version = "1.2.1"

// Provider builds the stand-in provider.
func Provider() (p.Provider, error) {
	return infer.NewProviderBuilder().
		WithDisplayName("Command (pm4ml-onprem lab stand-in)").
		WithDescription("Lab-only stand-in for the Pulumi Command provider v"+Version+
			": remote:Command, remote:CopyToRemote and local:Command over golang.org/x/crypto/ssh.").
		WithLicense("Apache-2.0").
		WithNamespace("pulumi").
		WithResources(
			infer.Resource(&RemoteCommand{}),
			infer.Resource(&CopyToRemote{}),
			infer.Resource(&LocalCommand{}),
		).
		Build()
}

func main() {
	prov, err := Provider()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command (lab stand-in): %v\n", err)
		os.Exit(1)
	}
	if err := prov.Run(context.Background(), Name, Version); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command (lab stand-in): %v\n", err)
		os.Exit(1)
	}
}
