package rules

// Rule no-public-nodeports (guide 1.3, 5).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/wireguard"
)

// checkNoPublicNodePorts is rule 3 (guide 1.3.2 internal security controls, 5.1): no Service of
// type NodePort or LoadBalancer except the Istio ingress gateways (on the matrix's NodePorts);
// NodePort firewall rows admit only the HAProxy addresses; only HAProxy is reachable from
// anywhere, on 80/443 (+ WireGuard when enabled).
func checkNoPublicNodePorts(s *Stack) []Finding {
	const rule = "the no-public-nodeports rule"
	var out []Finding
	allowedPorts := gatewayNodePorts()
	for i := range s.Resources {
		r := &s.Resources[i]
		if !isKind(r.Type, "core", "Service") {
			continue
		}
		typ, known, _ := str(prop(r, "spec", "type"))
		if !known {
			out = append(out, unknown(r, "spec.type", rule))
			continue
		}
		if typ != "NodePort" && typ != "LoadBalancer" {
			continue
		}
		gw, known := isIstioGateway(r)
		if !known {
			out = append(out, unknown(r, "the Service's labels/selector", rule))
			continue
		}
		if !gw {
			out = append(out, finding(r, fmt.Sprintf("is a Service of type %s, so every node opens a port for it; only the Istio ingress gateways may be NodePort services (guide 1.3.2: \"No NodePort service may be directly exposed\")", typ),
				"make it type ClusterIP and expose it through an Istio Gateway/VirtualService behind HAProxy"))
			continue
		}
		ports, known := items(prop(r, "spec", "ports"))
		if !known {
			out = append(out, unknown(r, "spec.ports", rule))
			continue
		}
		for _, p := range ports {
			np := at(p, "nodePort")
			n, kn, ok := number(np)
			name, _, _ := str(at(p, "name"))
			switch {
			case !kn:
				out = append(out, unknown(r, "the nodePort of port "+name, rule))
			case !ok:
				out = append(out, finding(r, fmt.Sprintf("gateway port %q gets a random NodePort, which the host firewall does not admit from HAProxy", name),
					fmt.Sprintf("set nodePort to the port matrix's gateway port (one of %v, components/network)", allowedPorts)))
			case !slices.Contains(allowedPorts, n):
				out = append(out, finding(r, fmt.Sprintf("gateway port %q uses NodePort %d, which is not a gateway NodePort of the port matrix", name, n),
					fmt.Sprintf("use one of %v (components/network), the ports the firewall admits from HAProxy only", allowedPorts)))
			}
		}
	}
	if !s.isProgram() {
		return out
	}
	hs := s.hosts()
	f := s.facts()
	lbAddrs := addressesWith(hs, hosts.RoleHAProxy)
	var nodePortSources []string
	extraKnown := true
	if f.present {
		extraKnown = f.Known("haproxySourceIps")
		nodePortSources = append(slices.Clone(lbAddrs), f.HAProxySourceIPs...)
	} else {
		nodePortSources = lbAddrs
	}
	public := publicPorts(s, &out)
	for _, h := range hs {
		if !h.RowsKnown || !h.RolesKnown {
			out = append(out, unknown(h.Res, "the host's firewall rows", rule))
			continue
		}
		for _, row := range h.Rows {
			if row.Proto != string(network.TCP) && row.Proto != string(network.UDP) {
				continue
			}
			anywhere := row.Anywhere || slices.ContainsFunc(row.Sources, isAnywhere)
			if row.overlaps(row.Proto, network.NodePortRangeFrom, network.NodePortRangeTo) {
				switch bad := uncovered(row.Sources, nodePortSources); {
				case anywhere:
					out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q admits NodePorts from anywhere", row.String()),
						"admit the NodePort range only from the HAProxy hosts and pm4ml:network.haproxySourceIps (port matrix source \"haproxy\", guide 1.3.2)"))
				case len(bad) > 0 && !extraKnown:
					out = append(out, unknown(f.Res, "pm4ml:network.haproxySourceIps", rule))
				case len(bad) > 0:
					out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q admits NodePorts from %s, which are not HAProxy addresses", row.String(), strings.Join(bad, ", ")),
						"admit the NodePort range only from the HAProxy hosts and pm4ml:network.haproxySourceIps (guide 1.3.2)"))
				}
			}
			if !anywhere {
				continue
			}
			switch {
			case !h.Has(hosts.RoleHAProxy):
				out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q makes host %s reachable from anywhere; only the HAProxy hosts face the public side", row.String(), h.Name),
					"admit this port from its private source only (components/network port matrix); public traffic enters through HAProxy (guide 5.1)"))
			case public == nil:
				// the WireGuard state is unknown: reported by publicPorts
			case !public.allows(row):
				out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q opens a port other than %s to anywhere on HAProxy host %s", row.String(), public, h.Name),
					"expose only HTTP/HTTPS (and WireGuard when pm4ml:wireguard.enabled) on the public side (guide 1.3.1)"))
			}
		}
	}
	if lb := s.first(haproxy.Token); lb != nil {
		fronts, known := items(prop(lb, "frontends"))
		if !known {
			out = append(out, unknown(lb, "the frontends output", rule))
		}
		for _, fr := range fronts {
			name, _, _ := str(at(fr, "name"))
			addr, k1, _ := str(at(fr, "address"))
			pub, k2, _ := boolean(at(fr, "public"))
			port, k3, _ := number(at(fr, "port"))
			if !k1 || !k2 || !k3 {
				out = append(out, unknown(lb, "frontend "+name, rule))
				continue
			}
			onPublic := pub || (f.PublicVIP != "" && addr == f.PublicVIP)
			if onPublic && port != portOf(network.PublicHTTP) && port != portOf(network.PublicHTTPS) {
				out = append(out, finding(lb, fmt.Sprintf("frontend %s listens on the public side %s:%d", name, addr, port),
					fmt.Sprintf("the public side serves only %d and %d (guide 1.3.1); bind other frontends to the internal VIP or a private address", portOf(network.PublicHTTP), portOf(network.PublicHTTPS))))
			}
		}
	}
	return out
}

// publicSet is what may be reached from anywhere on an HAProxy host.
type publicSet struct{ tcp, udp []int }

func (p *publicSet) allows(r FirewallRow) bool {
	list := p.tcp
	if r.Proto == string(network.UDP) {
		list = p.udp
	}
	for port := r.From; port <= r.To; port++ {
		if !slices.Contains(list, port) {
			return false
		}
	}
	return true
}

func (p *publicSet) String() string {
	parts := []string{}
	for _, t := range p.tcp {
		parts = append(parts, fmt.Sprintf("tcp/%d", t))
	}
	for _, u := range p.udp {
		parts = append(parts, fmt.Sprintf("udp/%d (WireGuard)", u))
	}
	return strings.Join(parts, ", ")
}

// publicPorts: HTTP and HTTPS, plus the WireGuard port when the VPN component is enabled. nil
// (with an unknown finding) when the VPN's state is not known yet.
func publicPorts(s *Stack, out *[]Finding) *publicSet {
	p := &publicSet{tcp: []int{portOf(network.PublicHTTP), portOf(network.PublicHTTPS)}}
	wg := s.first(wireguard.Token)
	if wg == nil {
		return p
	}
	en, known, _ := boolean(prop(wg, "enabled"))
	if !known {
		*out = append(*out, unknown(wg, "the enabled output", "the no-public-nodeports rule"))
		return nil
	}
	if !en {
		return p
	}
	port, known, ok := number(prop(wg, "port"))
	if !known {
		*out = append(*out, unknown(wg, "the port output", "the no-public-nodeports rule"))
		return nil
	}
	if ok && port > 0 {
		p.udp = append(p.udp, port)
	}
	return p
}
