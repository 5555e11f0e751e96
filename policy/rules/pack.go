package rules

import (
	"context"
	"fmt"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// PackName is the policy pack's name (PulumiPolicy.yaml's directory is policy/).
const PackName = "pm4ml-onprem"

// PackVersion is the pack's version.
var PackVersion = semver.MustParse("1.0.0")

// UnresolvedPolicy is the advisory policy that reports what the rules could not verify because a
// value is computed in the preview.
const UnresolvedPolicy = "unresolved-in-preview"

// Rule is one of the guide's production rules.
type Rule struct {
	// Name is the policy name (what --policy-pack-config refers to).
	Name        string
	Description string
	// Relaxed rules are advisory in stg: the guide allows staging reduced redundancy (4.3). All
	// other rules are mandatory in every environment.
	Relaxed bool
	Check   func(*Stack) []Finding
}

// Rules are the guide's production rules, in the order.
var Rules = []Rule{
	{Name: "dedicated-masters", Relaxed: true, Check: checkDedicatedMasters,
		Description: "Dedicated control plane (guide 4.1, 4.4): at least 3 masters, tainted NoSchedule, none also a worker unless pm4ml:riskAcceptance names the formal risk acceptance."},
	{Name: "high-availability", Relaxed: true, Check: checkHighAvailability,
		Description: "High availability (guide 1.1, 4.1, 4.3, 5.5): at least 3 workers, 2 HAProxy hosts holding a VIP, at least 3 storage hosts."},
	{Name: "no-public-nodeports", Check: checkNoPublicNodePorts,
		Description: "No public NodePorts (guide 1.3.2, 5.1): no NodePort/LoadBalancer Service but the Istio ingress gateways; NodePorts admitted only from HAProxy; only HAProxy on 80/443 (+ WireGuard) faces the public side."},
	{Name: "haproxy-l4-only", Check: checkHAProxyL4,
		Description: "HAProxy is layer 4 only (guide 5.2, 5.4): it never terminates TLS, and its stats page is never on the public side."},
	{Name: "restricted-admin-ports", Check: checkRestrictedAdminPorts,
		Description: "Restricted administrative ports (guide 1.3.1, 1.3.2, 5.6): SSH only from the allowlist, control-plane ports only from the cluster nodes, Ceph only inside the storage network."},
	{Name: "pre-deployment-checklist", Check: checkChecklist,
		Description: "Pre-deployment checklist (guide 6.3): no placeholder secrets, CPU/memory requests and limits on every workload, referenced StorageClasses exist, certificate CN/SAN and Gateway/VirtualService hosts under the domain."},
	{Name: "transaction-critical-storage", Check: checkTransactionCriticalStorage,
		Description: "Transaction-critical storage (guide 1.4, 4.1): databases, Kafka and Redis never on the Ceph (cold) StorageClass."},
	{Name: "pinned-snaps", Check: checkPinnedSnaps,
		Description: "Pinned snaps (guide 2): MicroK8s and MicroCeph on pinned channels with refreshes held, MicroK8s on the configured channel."},
}

// Options select the pack's enforcement.
type Options struct {
	// Environment is the stack's pm4ml:environment ("prod" or "stg"). Anything else (including
	// "") is treated as prod: every rule mandatory.
	Environment string
}

// Level is a rule's enforcement level in an environment: advisory for the relaxed rules in stg,
// mandatory otherwise. (policyx ignores a pack-level level, so each policy carries its own;
// --policy-pack-config overrides it per policy.)
func (r Rule) Level(env string) policyx.EnforcementLevel {
	if env == "stg" && r.Relaxed {
		return policyx.EnforcementLevelAdvisory
	}
	return policyx.EnforcementLevelMandatory
}

// Evaluate runs every rule over the resources; the result is keyed by rule name.
func Evaluate(rs []policyx.AnalyzerResource) map[string][]Finding {
	s := NewStack(rs)
	out := map[string][]Finding{}
	for _, r := range Rules {
		out[r.Name] = r.Check(s)
	}
	return out
}

// Policies are the pack's policies: one stack policy per rule (reporting what it knows is wrong)
// and the advisory unresolved-in-preview policy (reporting what no rule could know yet).
func Policies(o Options) []policyx.Policy {
	var out []policyx.Policy
	for _, rule := range Rules {
		out = append(out, policyx.NewStackValidationPolicy(rule.Name, policyx.StackValidationPolicyArgs{
			Description:      rule.Description,
			EnforcementLevel: rule.Level(o.Environment),
			ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
				for _, f := range rule.Check(NewStack(args.Resources)) {
					if !f.Unknown {
						args.Manager.ReportViolation(f.Message, f.URN)
					}
				}
				return nil
			},
		}))
	}
	out = append(out, policyx.NewStackValidationPolicy(UnresolvedPolicy, policyx.StackValidationPolicyArgs{
		Description:      "Values a rule needs are computed in this preview (they depend on resources not created yet): the rule is checked again once they are known.",
		EnforcementLevel: policyx.EnforcementLevelAdvisory,
		ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
			s := NewStack(args.Resources)
			for _, rule := range Rules {
				for _, f := range rule.Check(s) {
					if f.Unknown {
						args.Manager.ReportViolation(fmt.Sprintf("[%s] %s", rule.Name, f.Message), f.URN)
					}
				}
			}
			return nil
		},
	}))
	return out
}

// NewPack is the policy pack for a stack's environment.
func NewPack(o Options) (policyx.PolicyPack, error) {
	return policyx.NewPolicyPack(PackName, PackVersion, policyx.EnforcementLevelMandatory, Policies(o))
}
