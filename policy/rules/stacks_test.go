package rules_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/policy/rules"
	"github.com/pm4ml/pm4ml-onprem/policy/stacktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// expected is a report the shipped stacks are known to produce.
type expected struct {
	policy string
	level  policyx.EnforcementLevel
	// all substrings must be in the message
	has []string
	// gap explains a known gap of the program (a ratchet: the entry must go when the gap is
	// closed, and the test says so).
	gap string
}

func (e expected) matches(r report) bool {
	if r.Policy != e.policy || r.Level != e.level {
		return false
	}
	for _, h := range e.has {
		if !strings.Contains(r.Message, h) {
			return false
		}
	}
	return true
}

const (
	mand = policyx.EnforcementLevelMandatory
	adv  = policyx.EnforcementLevelAdvisory
)

var shippedExpectations = map[string][]expected{
	"prod": {},
	"stg": {
		// Staging may run with reduced redundancy (guide 4.2, 4.3): advisory, never blocking.
		{policy: "dedicated-masters", level: adv, has: []string{"microk8s (pm4ml:microk8s:Cluster): has 2 master(s) (stg-k8s-1, stg-k8s-2)", "Fix: give 3 hosts the master role"}},
		{policy: "dedicated-masters", level: adv, has: []string{"stg-k8s-1, stg-k8s-2 are both master and worker", "pm4ml:riskAcceptance"}},
		{policy: "high-availability", level: adv, has: []string{"has 2 worker(s) (stg-k8s-1, stg-k8s-2)"}},
		{policy: "high-availability", level: adv, has: []string{"haproxy (pm4ml:haproxy:LoadBalancer): the stack has 1 HAProxy host(s) (stg-lb-1)"}},
		{policy: "high-availability", level: adv, has: []string{"microceph (pm4ml:microceph:Cluster): has 1 storage member(s) (stg-storage-1)"}},
	},
}

// checkExpected asserts that the reports are exactly the expectations (each matched once).
func checkExpected(t *testing.T, name string, got []report, want []expected) {
	t.Helper()
	used := make([]bool, len(want))
	for _, r := range got {
		ok := false
		for i, e := range want {
			if !used[i] && e.matches(r) {
				used[i], ok = true, true
				break
			}
		}
		if !ok {
			t.Errorf("%s: unexpected report %s", name, r)
		}
	}
	for i, e := range want {
		if !used[i] {
			if e.gap != "" {
				t.Errorf("%s: the known gap %q no longer shows (%s %v): it is closed, remove the entry from shippedExpectations", name, e.gap, e.policy, e.has)
			} else {
				t.Errorf("%s: missing report %s %v", name, e.policy, e.has)
			}
		}
	}
}

// TestShippedStacksPass runs the pack in-process on the resources the real program registers for
// Pulumi.prod.yaml and Pulumi.stg.yaml: nothing but the listed known gaps, and in stg the
// reduced redundancy the guide allows, as advisories.
func TestShippedStacksPass(t *testing.T) {
	for _, stack := range []string{"prod", "stg"} {
		t.Run(stack, func(t *testing.T) {
			res := build(t, stack)
			if len(res.Resources) < 50 {
				t.Fatalf("only %d resources: the program did not run fully", len(res.Resources))
			}
			checkExpected(t, stack, runPack(t, stack, res.Resources), shippedExpectations[stack])
		})
	}
}

// TestShippedStacksPassInPreview: a first preview, where every remote command's output is
// unknown, reports the same (unknown values cause no violation).
func TestShippedStacksPassInPreview(t *testing.T) {
	for _, stack := range []string{"prod", "stg"} {
		t.Run(stack, func(t *testing.T) {
			res := stacktest.Build(t, stack, stacktest.Options{Preview: true})
			computed := 0
			for _, r := range res.Resources {
				if r.Properties.HasComputed() {
					computed++
				}
			}
			if computed == 0 {
				t.Fatal("the preview run resolved every output: the preview mocks do not produce unknowns")
			}
			checkExpected(t, stack, runPack(t, stack, res.Resources), shippedExpectations[stack])
		})
	}
}

// TestEnforcementLevels: every rule is mandatory in prod (and for an unknown environment); in stg
// the redundancy rules are advisory; the unresolved policy is always advisory.
func TestEnforcementLevels(t *testing.T) {
	relaxed := map[string]bool{"dedicated-masters": true, "high-availability": true}
	for _, env := range []string{"prod", "stg", ""} {
		pack, err := rules.NewPack(rules.Options{Environment: env})
		if err != nil {
			t.Fatal(err)
		}
		if pack.Name() != rules.PackName {
			t.Errorf("pack name %q", pack.Name())
		}
		names := map[string]bool{}
		for _, p := range pack.Policies() {
			names[p.Name()] = true
			want := mand
			if p.Name() == rules.UnresolvedPolicy || (env == "stg" && relaxed[p.Name()]) {
				want = adv
			}
			if p.EnforcementLevel() != want {
				t.Errorf("env %q: %s is %v, want %v", env, p.Name(), p.EnforcementLevel(), want)
			}
			if p.Description() == "" {
				t.Errorf("%s has no description", p.Name())
			}
		}
		for _, n := range []string{"dedicated-masters", "high-availability", "no-public-nodeports", "haproxy-l4-only",
			"restricted-admin-ports", "pre-deployment-checklist", "transaction-critical-storage", "pinned-snaps", rules.UnresolvedPolicy} {
			if !names[n] {
				t.Errorf("env %q: no policy %s", env, n)
			}
		}
		if len(names) != 9 {
			t.Errorf("env %q: %d policies, want 9", env, len(names))
		}
	}
}

// TestConstantsMatchTheProgram: the pack's copies of the program's constants (it does not import
// stacks, to keep its binary small) are the program's.
func TestConstantsMatchTheProgram(t *testing.T) {
	if rules.FactsToken != stacks.FactsToken {
		t.Errorf("rules.FactsToken %q, stacks.FactsToken %q", rules.FactsToken, stacks.FactsToken)
	}
	want := map[string]string{"microk8s": stacks.DefaultMicroK8sChannel, "microceph": stacks.DefaultMicroCephChannel}
	for k, v := range want {
		if rules.ExampleChannels[k] != v {
			t.Errorf("example channel of %s: %q, stacks' default %q", k, rules.ExampleChannels[k], v)
		}
	}
}
