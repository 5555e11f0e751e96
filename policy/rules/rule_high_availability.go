package rules

// Rule high-availability (guide 4.1, 5.5).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
)

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
