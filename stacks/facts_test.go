package stacks

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
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
		// every registered output of the component (StackComponents' own test, in
		// policy/stacktest, checks that the reflection finds the same for every component)
		outs := map[string]pulumi.Output{
			"environment": f.Environment, "domain": f.Domain, "riskAcceptance": f.RiskAcceptance,
			"adminAllowlist": f.AdminAllowlist, "apiAllowlist": f.APIAllowlist, "haproxySourceIps": f.HAProxySourceIPs,
			"internalSubnet": f.InternalSubnet, "publicVip": f.PublicVIP, "snapChannels": f.SnapChannels,
		}
		got = map[string]any{}
		for k, o := range outs {
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
