package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
)

// Minimums of the production design (guide 1.1, 4.1, 5.5).
const (
	MinMasters      = 3
	MinWorkers      = 3
	MinHAProxyHosts = 2
	MinStorageHosts = 3
)

// missing is the finding for a component the program always registers but this stack lacks.
func missingComponent(s *Stack, token, what string) Finding {
	r := s.first(FactsToken)
	if r == nil {
		r = s.first("pulumi:pulumi:Stack")
	}
	if r == nil {
		return Finding{Message: fmt.Sprintf("the stack has no %s component, so %s. Fix: register it in stacks.Build", token, what)}
	}
	return finding(r, fmt.Sprintf("the stack has no %s component, so %s", token, what), "register it in stacks.Build")
}

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

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// checkHighAvailability is rule 2 (guide 1.1, 4.1, 4.3, 5.5): at least three workers, two HAProxy
// hosts holding a VIP, at least three storage hosts.
func checkHighAvailability(s *Stack) []Finding {
	if !s.isProgram() {
		return nil
	}
	const rule = "the high-availability rule"
	var out []Finding
	hs := s.hosts()
	for _, h := range hs {
		if !h.RolesKnown {
			out = append(out, unknown(h.Res, "the host's roles", rule))
		}
	}
	if len(out) > 0 {
		return out
	}
	if k := s.first(microk8s.Token); k == nil {
		out = append(out, missingComponent(s, microk8s.Token, "the workers cannot be counted"))
	} else if workers, known := stringList(prop(k, "workers")); !known {
		out = append(out, unknown(k, "the workers output", rule))
	} else if len(workers) < MinWorkers {
		out = append(out, finding(k, fmt.Sprintf("has %d worker(s) (%s), production needs at least %d",
			len(workers), strings.Join(workers, ", "), MinWorkers),
			fmt.Sprintf("give at least %d hosts the worker role in pm4ml:hosts (guide 1.1, 4.1)", MinWorkers)))
	}

	lbs := namesWith(hs, hosts.RoleHAProxy)
	lb := s.first(haproxy.Token)
	anchor := lb
	if anchor == nil && len(hs) > 0 {
		anchor = hs[0].Res
	}
	if len(lbs) < MinHAProxyHosts && anchor != nil {
		out = append(out, finding(anchor, fmt.Sprintf("the stack has %d HAProxy host(s) (%s), production needs %d with a VIP",
			len(lbs), strings.Join(lbs, ", "), MinHAProxyHosts),
			fmt.Sprintf("give %d hosts the haproxy role in pm4ml:hosts and set pm4ml:haproxy.publicVip to a free address (guide 5.5)", MinHAProxyHosts)))
	}
	if lb == nil {
		out = append(out, missingComponent(s, haproxy.Token, "nothing configures HAProxy or holds the VIP"))
	} else {
		out = append(out, checkVIP(s, lb, lbs)...)
	}

	storageHosts := namesWith(hs, hosts.RoleStorage)
	if c := s.first(microceph.Token); c != nil {
		if members, known := stringList(prop(c, "members")); !known {
			out = append(out, unknown(c, "the members output", rule))
		} else if len(members) < MinStorageHosts {
			out = append(out, finding(c, fmt.Sprintf("has %d storage member(s) (%s), production needs at least %d",
				len(members), strings.Join(members, ", "), MinStorageHosts),
				fmt.Sprintf("give at least %d hosts the storage role in pm4ml:hosts (guide 1.1, 4.1)", MinStorageHosts)))
		}
	} else if len(storageHosts) < MinStorageHosts && anchor != nil {
		out = append(out, finding(anchor, fmt.Sprintf("the stack has %d storage host(s), production needs at least %d", len(storageHosts), MinStorageHosts),
			fmt.Sprintf("give at least %d hosts the storage role in pm4ml:hosts (guide 1.1, 4.1)", MinStorageHosts)))
	}
	return out
}

// checkVIP: every HAProxy host holds the public VIP through keepalived, so it fails over.
func checkVIP(s *Stack, lb *policyx.AnalyzerResource, lbs []string) []Finding {
	const rule = "the high-availability rule"
	f := s.facts()
	vips, known := stringList(prop(lb, "vips"))
	if !known {
		return []Finding{unknown(lb, "the vips output", rule)}
	}
	public := f.PublicVIP
	if !f.Known("publicVip") {
		return []Finding{unknown(f.Res, "pm4ml:haproxy.publicVip", rule)}
	}
	if public == "" && len(vips) > 0 {
		public = vips[0]
	}
	if public == "" || !slices.Contains(vips, public) {
		return []Finding{finding(lb, "HAProxy has no public VIP", "set pm4ml:haproxy.publicVip (guide 5.5, 5.7)")}
	}
	_, ka, known := entries(prop(lb, "keepalived"))
	if !known {
		return []Finding{unknown(lb, "the keepalived output", rule)}
	}
	var out []Finding
	for _, name := range lbs {
		held, kn := stringList(ka[name])
		switch {
		case !kn:
			out = append(out, unknown(lb, "the VIPs keepalived holds on "+name, rule))
		case !slices.Contains(held, public):
			out = append(out, finding(lb, fmt.Sprintf("keepalived on %s does not hold the public VIP %s, so it cannot take over when the other HAProxy host fails", name, public),
				"with two HAProxy hosts use a free address for pm4ml:haproxy.publicVip (a VRRP VIP both hosts hold, guide 5.5)"))
		}
	}
	return out
}

// Pinned channels: an explicit track and a risk level (never latest/ or a bare risk).
var (
	microk8sChannelRe  = regexp.MustCompile(`^[0-9]+\.[0-9]+(-[a-z]+)?/(stable|candidate|beta|edge)(/[A-Za-z0-9._-]+)?$`)
	microcephChannelRe = regexp.MustCompile(`^[a-z][a-z0-9]*/(stable|candidate|beta|edge)(/[A-Za-z0-9._-]+)?$`)
)

// checkPinnedSnaps is rule 8 (guide 2): MicroK8s and MicroCeph on pinned channels, refreshes
// held, MicroK8s on the configured channel.
func checkPinnedSnaps(s *Stack) []Finding {
	if !s.isProgram() {
		return nil
	}
	const rule = "the pinned-snaps rule"
	f := s.facts()
	var out []Finding
	if !f.present {
		out = append(out, missingComponent(s, FactsToken, "the configured snap channels are unknown"))
	} else if !f.Known("snapChannels") {
		out = append(out, unknown(f.Res, "the configured snap channels", rule))
	}
	snap := func(token, name string, re *regexp.Regexp, key string) {
		r := s.first(token)
		if r == nil {
			out = append(out, missingComponent(s, token, "the "+name+" snap channel cannot be checked"))
			return
		}
		chv, hv := prop(r, "channel"), prop(r, "refreshHeld")
		if chv.IsNull() && hv.IsNull() {
			out = append(out, Finding{URN: r.URN, Unknown: true, Message: fmt.Sprintf(
				"%s (%s): the component registers no channel/refreshHeld outputs, so %s cannot verify the %s snap; expose them as outputs of the component",
				r.Name, r.Type, rule, name)})
			return
		}
		ch, known, _ := str(chv)
		if !known {
			out = append(out, unknown(r, "the channel output", rule))
		} else {
			if !re.MatchString(ch) || strings.HasPrefix(ch, "latest/") {
				out = append(out, finding(r, fmt.Sprintf("the %s snap channel %q is not pinned to a track", name, ch),
					fmt.Sprintf("set %s to an explicit track and risk, e.g. %s", key, ExampleChannels[name])))
			}
			if want, ok := f.SnapChannels[name]; f.Known("snapChannels") && ok && want != ch {
				out = append(out, finding(r, fmt.Sprintf("the %s snap is on channel %q, the stack configures %q", name, ch, want),
					fmt.Sprintf("install the channel of %s (the component must take it from the configuration)", key)))
			}
		}
		held, known, ok := boolean(hv)
		switch {
		case !known:
			out = append(out, unknown(r, "the refreshHeld output", rule))
		case !ok || !held:
			out = append(out, finding(r, fmt.Sprintf("the %s snap's refreshes are not held, so snapd may upgrade it unattended", name),
				fmt.Sprintf("hold the refreshes (snap refresh --hold %s) in the component's install step", name)))
		}
	}
	snap(microk8s.Token, "microk8s", microk8sChannelRe, "pm4ml:microk8s.channel")
	snap(microceph.Token, "microceph", microcephChannelRe, "pm4ml:ceph.channel")
	return out
}
