package stacks

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
)

func TestFactsOf(t *testing.T) {
	prod := loadStack(t, "prod")
	got := FactsOf(prod)
	want := map[string]any{
		"environment": "prod", "domain": "pm4ml.example.org", "riskAcceptance": "",
		"adminAllowlist": []string{"10.10.250.0/24"}, "apiAllowlist": []string{"10.10.250.0/24"}, // default: the admin allowlist
		"haproxySourceIps": []string{}, "internalSubnet": "10.10.0.0/16", "publicVip": "10.10.0.10",
		"snapChannels": map[string]string{"microk8s": "1.31/stable", "microceph": "squid/stable"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FactsOf(prod) =\n%v\nwant\n%v", got, want)
	}
	prod.RiskAcceptance = "RISK-2026-014"
	if FactsOf(prod)["riskAcceptance"] != "RISK-2026-014" {
		t.Error("riskAcceptance not carried")
	}
	if FactsOf(loadStack(t, "stg"))["environment"] != "stg" {
		t.Error("stg environment")
	}
}

// TestNewFactsRegistersOutputs: the component is registered at the top level with its token and
// resolves to exactly FactsOf.
func TestNewFactsRegistersOutputs(t *testing.T) {
	cfg := loadStack(t, "prod")
	cfg.RiskAcceptance = "RISK-2026-014"
	var got map[string]any
	m, err := runMocks(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		f, err := NewFacts(ctx, FactsName, cfg)
		if err != nil {
			return err
		}
		outs := StackComponents(f)
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
	r := m.Named(t, FactsName)
	if r.Type != FactsToken || r.Custom || !strings.Contains(r.Parent, "::pulumi:pulumi:Stack::") {
		t.Errorf("facts resource %+v", r)
	}
	if len(m.Resources) != 1 {
		t.Errorf("the Facts component registered %d resources, want itself only", len(m.Resources))
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(FactsOf(cfg))
	if string(a) != string(b) {
		t.Errorf("resolved outputs\n%s\nwant FactsOf\n%s", a, b)
	}
}

// TestStackComponents: every component of a built Stack once, hostprep with the host, address
// and roles Build gave it, microk8s with the environment.
func TestStackComponents(t *testing.T) {
	src := stackSource(t, "stg")
	cfgMap, secretKeys := src.PulumiConfig(secretValues(src))
	var comps []ComponentOutputs
	var st *Stack
	_, err := runMocks(t, cfgMap, secretKeys, func(ctx *pulumi.Context) error {
		c, err := Load(PulumiSource{Ctx: ctx})
		if err != nil {
			return err
		}
		if st, err = Build(ctx, c, ReadSecrets(ctx)); err != nil {
			return err
		}
		comps = StackComponents(st, st) // a root given twice is walked once
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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
