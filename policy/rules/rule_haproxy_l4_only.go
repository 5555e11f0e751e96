package rules

// Rule haproxy-l4-only (guide 5.2, 5.4).

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
)

// checkHAProxyL4 is rule 4 (guide 5.2, 5.4, 1.3.2 HAProxy): HAProxy forwards TCP only, never
// terminates TLS; its stats page never listens on the public side.
func checkHAProxyL4(s *Stack) []Finding {
	const rule = "the haproxy-l4-only rule"
	lb := s.first(haproxy.Token)
	if lb == nil {
		return nil // the high-availability rule reports a missing load balancer
	}
	f := s.facts()
	var out []Finding
	fronts, known := items(prop(lb, "frontends"))
	if !known {
		out = append(out, unknown(lb, "the frontends output", rule))
	}
	for _, fr := range fronts {
		name, _, _ := str(at(fr, "name"))
		if fr.HasComputed() {
			out = append(out, unknown(lb, "frontend "+name, rule))
			continue
		}
		mode, _, _ := str(at(fr, "mode"))
		tls, _, _ := boolean(at(fr, "tlsTermination"))
		backend, _, _ := str(at(fr, "backend"))
		redirect, _, _ := str(at(fr, "redirect"))
		pub, _, _ := boolean(at(fr, "public"))
		addr, _, _ := str(at(fr, "address"))
		if tls {
			out = append(out, finding(lb, fmt.Sprintf("frontend %s terminates TLS", name),
				"pass TLS through in mode tcp: the Istio ingress gateway terminates TLS (guide 5.2 \"Does not terminate TLS\", 5.4)"))
		}
		if mode != "tcp" && (backend != "" || redirect == "") {
			out = append(out, finding(lb, fmt.Sprintf("frontend %s runs in mode %q and forwards traffic", name, mode),
				"use mode tcp for every forwarding frontend (layer 4 only, guide 5.2); mode http is for the HTTP->HTTPS redirect alone"))
		}
		if name == haproxy.FrontendStats && (pub || (f.PublicVIP != "" && addr == f.PublicVIP)) {
			out = append(out, finding(lb, "the stats frontend listens on the public side",
				"bind stats to the host's private address (guide 1.3.2: statistics on the private network only)"))
		}
	}
	backs, known := items(prop(lb, "backends"))
	if !known {
		out = append(out, unknown(lb, "the backends output", rule))
	}
	for _, b := range backs {
		name, _, _ := str(at(b, "name"))
		mode, kn, _ := str(at(b, "mode"))
		if !kn {
			out = append(out, unknown(lb, "backend "+name, rule))
		} else if mode != "tcp" {
			out = append(out, finding(lb, fmt.Sprintf("backend %s runs in mode %q", name, mode),
				"use mode tcp: HAProxy is a layer-4 balancer in front of the Istio gateways (guide 5.2)"))
		}
	}
	keys, binds, known := entries(prop(lb, "statsBind"))
	if !known {
		return append(out, unknown(lb, "the statsBind output", rule))
	}
	statsPorts := []int{}
	for _, host := range keys {
		bind, kn, _ := str(binds[host])
		if !kn {
			out = append(out, unknown(lb, "the stats bind of "+host, rule))
			continue
		}
		addr, port := splitHostPort(bind)
		statsPorts = append(statsPorts, port)
		ip := net.ParseIP(addr)
		switch {
		case addr == "" || addr == "*" || (ip != nil && ip.IsUnspecified()):
			out = append(out, finding(lb, fmt.Sprintf("stats on %s bind %q, every address including the public VIP", host, bind),
				"bind the stats frontend to the host's private address"))
		case f.PublicVIP != "" && addr == f.PublicVIP:
			out = append(out, finding(lb, fmt.Sprintf("stats on %s bind the public VIP %s", host, bind),
				"bind the stats frontend to the host's private address, never the public VIP"))
		case f.InternalSubnet != "" && len(uncovered([]string{addr}, []string{f.InternalSubnet})) > 0:
			out = append(out, finding(lb, fmt.Sprintf("stats on %s bind %s, outside the internal subnet %s", host, bind, f.InternalSubnet),
				"bind the stats frontend to the host's private address"))
		}
	}
	for _, h := range s.hosts() {
		if !h.Has(hosts.RoleHAProxy) || !h.RowsKnown {
			continue
		}
		for _, row := range h.Rows {
			isStats := row.ID == network.HAProxyStats || slices.ContainsFunc(statsPorts, func(p int) bool { return row.overlaps(string(network.TCP), p, p) })
			if isStats && (row.Anywhere || slices.ContainsFunc(row.Sources, isAnywhere)) {
				out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q admits the HAProxy stats port from anywhere", row.String()),
					"admit stats from pm4ml:network.internalSubnet only (port matrix row haproxy-stats)"))
			}
		}
	}
	return out
}

func splitHostPort(s string) (string, int) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return s, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}
