// Command policy is the pm4ml-onprem CrossGuard policy pack (runtime: go). The rules live in
// policy/rules; this file only serves them. The enforcement of each policy follows the stack's
// pm4ml:environment (see rules.Rule.Level); --policy-pack-config overrides it per policy.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/policy/rules"
)

func main() {
	err := policyx.Main(func(ctx *pulumi.Context) (policyx.PolicyPack, error) {
		env, _ := ctx.GetConfig("pm4ml:environment")
		return rules.NewPack(rules.Options{Environment: env})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
