// Command pm4ml-onprem is the Pulumi program that stands up Payment Manager for Mojaloop
// on-premise. All wiring lives in stacks.Deploy; this file only hands it to the engine.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/stacks"
)

func main() { pulumi.Run(stacks.Deploy) }
