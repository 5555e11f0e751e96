package stacktest_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
	"github.com/pm4ml/pm4ml-onprem/policy/stacktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// TestStackComponentsOfFacts: the Facts component alone is one component whose outputs resolve
// to exactly stacks.FactsOf (moved from stacks/facts_test.go with the reflection).
func TestStackComponentsOfFacts(t *testing.T) {
	cfg, err := stacks.Load(stacktest.Source(t, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RiskAcceptance = "RISK-2026-014"
	var got map[string]any
	_, err = mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		f, err := stacks.NewFacts(ctx, stacks.FactsName, cfg)
		if err != nil {
			return err
		}
		outs := stacktest.StackComponents(f)
		if len(outs) != 1 || outs[0].Resource != f {
			t.Errorf("StackComponents(facts) = %d components", len(outs))
			return nil
		}
		got = map[string]any{}
		for k, o := range outs[0].Outputs {
			v, err := internals.UnsafeAwaitOutput(ctx.Context(), o)
			if err != nil || !v.Known {
				t.Errorf("output %s: known %v, %v", k, v.Known, err)
			}
			got[k] = v.Value
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(stacks.FactsOf(cfg))
	if string(a) != string(b) {
		t.Errorf("resolved outputs\n%s\nwant FactsOf\n%s", a, b)
	}
}

// TestStackComponents: every component of a built Stack once, hostprep with the host, address
// and roles Build gave it, microk8s with the environment.
func TestStackComponents(t *testing.T) {
	res := stacktest.Build(t, "stg", stacktest.Options{})
	st := res.Stack
	comps := stacktest.StackComponents(st, st) // a root given twice is walked once
	count := map[string]int{}
	for _, c := range comps {
		switch r := c.Resource.(type) {
		case *hostprep.HostPrep:
			count["hostprep"]++
			for _, k := range []string{"host", "address", "roles", "firewall", "firewallRules"} {
				if c.Outputs[k] == nil {
					t.Errorf("hostprep: no %s output", k)
				}
			}
		case *microk8s.Cluster:
			count["microk8s"]++
			for _, k := range []string{"environment", "channel", "masters", "workers", "taintedMasters", "refreshHeld"} {
				if c.Outputs[k] == nil {
					t.Errorf("microk8s: no %s output", k)
				}
			}
		default:
			count[reflect.TypeOf(r).String()]++
		}
	}
	if count["hostprep"] != len(st.Prep) || len(st.Prep) != 4 {
		t.Errorf("%d hostprep components, Stack has %d", count["hostprep"], len(st.Prep))
	}
	for _, k := range []string{"microk8s", "*hosts.Hosts", "*microceph.Cluster", "*storage.Storage", "*wireguard.VPN"} {
		if count[k] != 1 {
			t.Errorf("%s: %d, want 1 (all: %v)", k, count[k], count)
		}
	}
}
