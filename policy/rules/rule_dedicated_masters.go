package rules

// Rule dedicated-masters (guide 4.1, 4.4).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
)

// checkDedicatedMasters is rule 1 (guide 4.1, 4.3, 4.4): at least three masters, each tainted
// NoSchedule, none of them also a worker, unless pm4ml:riskAcceptance names the formal risk
// acceptance.
func checkDedicatedMasters(s *Stack) []Finding {
	if !s.isProgram() {
		return nil
	}
	const rule = "the dedicated-masters rule"
	f := s.facts()
	k := s.first(microk8s.Token)
	if k == nil {
		return []Finding{missingComponent(s, microk8s.Token, "the masters, workers and taints cannot be checked")}
	}
	masters, mk := stringList(prop(k, "masters"))
	workers, wk := stringList(prop(k, "workers"))
	if !mk || !wk {
		return []Finding{unknown(k, "the masters/workers output", rule)}
	}
	var out []Finding
	if len(masters) < MinMasters {
		out = append(out, finding(k, fmt.Sprintf("has %d master(s) (%s), the production control plane needs %d",
			len(masters), strings.Join(masters, ", "), MinMasters),
			fmt.Sprintf("give %d hosts the master role only in pm4ml:hosts (guide 4.1)", MinMasters)))
	}
	var combined []string
	for _, m := range masters {
		if slices.Contains(workers, m) {
			combined = append(combined, m)
		}
	}
	if !f.Known("riskAcceptance") && len(combined) > 0 {
		out = append(out, unknown(f.Res, "pm4ml:riskAcceptance", rule))
	} else if len(combined) > 0 && f.RiskAcceptance == "" {
		out = append(out, finding(k, fmt.Sprintf("%s %s both master and worker (workloads on the control plane)",
			strings.Join(combined, ", "), isAre(len(combined))),
			"give masters and workers separate hosts in pm4ml:hosts, or set pm4ml:riskAcceptance to the reference of the formal risk acceptance (guide 4.4)"))
	}
	taints := prop(k, "taintedMasters")
	keys, taint, known := entries(taints)
	_ = keys
	if !known {
		return append(out, unknown(k, "the taintedMasters output", rule))
	}
	for _, m := range masters {
		if slices.Contains(combined, m) {
			continue // a combined node must schedule workloads; covered above
		}
		t, kn, ok := boolean(taint[m])
		switch {
		case !kn:
			out = append(out, unknown(k, "the taint of master "+m, rule))
		case !ok || !t:
			out = append(out, finding(k, fmt.Sprintf("master %s is not tainted node-role.kubernetes.io/control-plane=:NoSchedule, so workloads can be scheduled on it", m),
				"keep DedicatedMasters on for production (stacks: environment prod) so the finalize step taints every dedicated master (guide 4.4 \"No scheduling on control plane nodes\")"))
		}
	}
	return out
}
