package rules_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/policy/stacktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

var unknown = stacktest.Computed

// unknownVariants: a value a preview cannot know yet causes no violation, and the rule it hides
// is named by the advisory unresolved-in-preview policy.
var unknownVariants = []variant{
	{name: "masters unknown", edit: set(microk8s.Token, unknown(), "masters"), policy: "dedicated-masters",
		has: []string{"microk8s (pm4ml:microk8s:Cluster): the masters/workers output: unknown in this preview"}},
	{name: "taints unknown", edit: set(microk8s.Token, unknown(), "taintedMasters"), policy: "dedicated-masters",
		has: []string{"the taintedMasters output: unknown in this preview"}},
	{name: "risk acceptance unknown with a combined master", policy: "dedicated-masters", edit: edits(
		set(microk8s.Token, []string{"prod-worker-1", "prod-worker-2", "prod-worker-3", "prod-master-1"}, "workers"),
		set(stacks.FactsToken, unknown(), "riskAcceptance")),
		has: []string{"facts (pm4ml:stack:Facts): pm4ml:riskAcceptance: unknown in this preview"}},
	{name: "workers unknown", edit: set(microk8s.Token, unknown(), "workers"), policy: "high-availability", also: []string{"dedicated-masters"},
		has: []string{"the workers output: unknown in this preview"}},
	{name: "keepalived unknown", edit: set(haproxy.Token, unknown(), "keepalived"), policy: "high-availability",
		has: []string{"the keepalived output: unknown in this preview"}},
	{name: "firewall rows unknown", edit: setNamed(hostprep.Token, "prep-prod-worker-1", unknown(), "firewall"),
		policy: "no-public-nodeports", also: []string{"restricted-admin-ports"}, has: []string{"prep-prod-worker-1 (pm4ml:hostprep:HostPrep): the host's firewall rows: unknown in this preview"}},
	{name: "frontends unknown", edit: set(haproxy.Token, unknown(), "frontends"),
		policy: "haproxy-l4-only", also: []string{"no-public-nodeports"}, has: []string{"the frontends output: unknown in this preview"}},
	{name: "one frontend's mode unknown", edit: set(haproxy.Token, unknown(), "frontends", "0", "mode"),
		policy: "haproxy-l4-only", has: []string{"frontend public_https: unknown in this preview"}},
	{name: "stats bind unknown", edit: set(haproxy.Token, unknown(), "statsBind", "prod-lb-1"),
		policy: "haproxy-l4-only", has: []string{"the stats bind of prod-lb-1: unknown in this preview"}},
	{name: "service type unknown", extra: service("debug-ui", "NodePort", map[string]string{"app": "debug-ui"}, 30999),
		edit:   setNamed("kubernetes:core/v1:Service", "debug-ui", unknown(), "spec", "type"),
		policy: "no-public-nodeports", has: []string{"debug-ui (kubernetes:core/v1:Service): spec.type: unknown in this preview"}},
	{name: "container limits unknown", extra: deployment("portal", "ghcr.io/pm4ml/portal:1.0.0", limited(), ""),
		edit:   setNamed("kubernetes:apps/v1:Deployment", "portal", unknown(), "spec", "template", "spec", "containers", "0", "resources", "limits", "cpu"),
		policy: "pre-deployment-checklist", has: []string{"portal (kubernetes:apps/v1:Deployment): resources limits.cpu of container portal: unknown in this preview"}},
	{name: "storage classes unknown", extra: statefulSet("mysql", "docker.io/bitnami/mysql:8.4", "ceph-rbd"),
		edit:   set(storage.Token, unknown(), "storageClasses"),
		policy: "transaction-critical-storage", also: []string{"pre-deployment-checklist"},
		has: []string{"mysql (kubernetes:apps/v1:StatefulSet): the stack's StorageClasses: unknown in this preview"}},
	{name: "certificate names unknown", extra: custom("portal-cert", "cert-manager.io/v1", "Certificate", map[string]any{
		"commonName": "portal.other.example.com", "secretName": "portal-tls"}),
		edit:   setNamed("kubernetes:cert-manager.io/v1:Certificate", "portal-cert", unknown(), "spec", "dnsNames"),
		policy: "pre-deployment-checklist", has: []string{"portal-cert (kubernetes:cert-manager.io/v1:Certificate): spec.commonName/dnsNames: unknown in this preview"}},
	{name: "channel unknown", edit: set(microk8s.Token, unknown(), "channel"), policy: "pinned-snaps",
		has: []string{"microk8s (pm4ml:microk8s:Cluster): the channel output: unknown in this preview"}},
}

func TestUnknownValuesAreNotViolations(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range unknownVariants {
		v.unresolved = true
		seen[v.policy] = true
		t.Run(v.name, v.run)
	}
	for _, p := range []string{"dedicated-masters", "high-availability", "no-public-nodeports", "haproxy-l4-only",
		"pre-deployment-checklist", "transaction-critical-storage", "pinned-snaps"} {
		if !seen[p] {
			t.Errorf("no unknown-value variant for %s", p)
		}
	}
}

// TestUnknownDoesNotHideOtherViolations: an unknown value on one resource leaves the definite
// violations of others reported at their level.
func TestUnknownDoesNotHideOtherViolations(t *testing.T) {
	res := stacktest.Build(t, "prod", stacktest.Options{Extra: extras(
		service("debug-ui", "NodePort", map[string]string{"app": "debug-ui"}, 30999),
		service("other", "NodePort", map[string]string{"app": "other"}, 30998))})
	rs := stacktest.Clone(res.Resources)
	setNamed("kubernetes:core/v1:Service", "other", unknown(), "spec", "type")(t, rs)
	setNamed(hostprep.Token, "prep-prod-master-1", unknown(), "firewall")(t, rs)
	setRow("prod-master-2", "ssh", []string{"0.0.0.0/0"}, "sources")(t, rs)
	got := runPack(t, "prod", rs)
	want := map[string]bool{
		"[mandatory no-public-nodeports] debug-ui (kubernetes:core/v1:Service): is a Service of type NodePort":                                                      false,
		"[mandatory restricted-admin-ports] prep-prod-master-2 (pm4ml:hostprep:HostPrep): firewall row \"ssh tcp/22 from 0.0.0.0/0\" admits SSH from anywhere":      false,
		"[advisory unresolved-in-preview] [no-public-nodeports] other (kubernetes:core/v1:Service): spec.type: unknown in this preview":                             false,
		"[advisory unresolved-in-preview] [restricted-admin-ports] prep-prod-master-1 (pm4ml:hostprep:HostPrep): the host's firewall rows: unknown in this preview": false,
	}
	for _, r := range got {
		for w := range want {
			if strings.HasPrefix(r.String(), w) {
				want[w] = true
			}
		}
		if r.Level == policyx.EnforcementLevelMandatory && strings.Contains(r.Message, "other (") {
			t.Errorf("a violation for the unknown service: %s", r)
		}
		if r.Level == policyx.EnforcementLevelMandatory && strings.Contains(r.Message, "prep-prod-master-1 ") {
			t.Errorf("a violation for the unknown firewall: %s", r)
		}
	}
	for w, ok := range want {
		if !ok {
			t.Errorf("missing %s; got:%s", w, dump(got))
		}
	}
}
