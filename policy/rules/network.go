package rules

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/wireguard"
)

// portOf is a port-matrix row's single port.
func portOf(id string) int { return network.Lookup(id).Ports.From }

// gatewayNodePorts are the Istio gateway NodePorts of the port matrix (the only NodePorts the
// firewall admits, from HAProxy).
func gatewayNodePorts() []int {
	var out []int
	for _, r := range network.NodePorts() {
		for p := r.Ports.From; p <= r.Ports.To; p++ {
			out = append(out, p)
		}
	}
	return out
}

// isIstioGateway recognises the Istio ingress gateways' Service: istio's own labels on the Service
// or its selector.
func isIstioGateway(r *policyx.AnalyzerResource) (is, known bool) {
	for _, path := range [][]string{{"metadata", "labels"}, {"spec", "selector"}} {
		_, m, kn := entries(prop(r, path...))
		if !kn {
			return false, false
		}
		for _, k := range []string{"istio", "app", "app.kubernetes.io/name"} {
			v, kn, _ := str(m[k])
			if !kn {
				return false, false
			}
			if v == "ingressgateway" || strings.HasPrefix(v, "istio-ingressgateway") || strings.HasSuffix(v, "-ingressgateway") {
				return true, true
			}
		}
	}
	return false, true
}

// kind splits a Kubernetes type token "kubernetes:apps/v1:Deployment" into its API version and
// kind; ok is false for other tokens.
func kind(token string) (apiVersion, k string, ok bool) {
	rest, found := strings.CutPrefix(token, "kubernetes:")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

func isKind(token, group, k string) bool {
	av, kk, ok := kind(token)
	if !ok || kk != k {
		return false
	}
	g := "core"
	if i := strings.Index(av, "/"); i >= 0 {
		g = av[:i]
	}
	return g == group
}

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

// portClass is one group of port-matrix rows and who may reach them.
type portClass struct {
	ids     []string
	what    string
	allowed func(hs []Host, f *Facts) (sources []string, known bool)
	fix     string
}

var adminPortClasses = []portClass{
	{ids: []string{network.SSH}, what: "SSH",
		allowed: func(hs []Host, f *Facts) ([]string, bool) {
			return append(slices.Clone(f.AdminAllowlist), addressesWith(hs, hosts.RoleBastion)...), f.Known("adminAllowlist")
		},
		fix: "admit SSH only from pm4ml:network.adminAllowlist and the bastion hosts (guide 1.3.1 \"Restricted by IP whitelist\", 5.6)"},
	{ids: []string{network.KubeAPI, network.KubeAPIMicroK8s}, what: "the Kubernetes API",
		allowed: func(hs []Host, f *Facts) ([]string, bool) {
			return append(addressesWith(hs, hosts.RoleMaster, hosts.RoleWorker), f.APIAllowlist...), f.Known("apiAllowlist")
		},
		fix: "admit the API server only from the cluster nodes and pm4ml:network.apiAllowlist (guide 1.3.2)"},
	{ids: []string{network.Kubelet, network.ClusterAgent, network.Datastore, network.Dqlite, network.CalicoVXLAN}, what: "a control-plane port",
		allowed: func(hs []Host, _ *Facts) ([]string, bool) {
			return addressesWith(hs, hosts.RoleMaster, hosts.RoleWorker), true
		},
		fix: "admit control-plane ports only from the cluster nodes (guide 1.3.2 \"Kubernetes control-plane ports must be restricted to cluster nodes\")"},
	{ids: []string{network.CephMonV1, network.CephMonV2, network.CephOSD}, what: "a Ceph port",
		allowed: func(hs []Host, _ *Facts) ([]string, bool) {
			return addressesWith(hs, hosts.RoleStorage, hosts.RoleMaster, hosts.RoleWorker), true
		},
		fix: "admit Ceph ports only from the storage network: the storage hosts and the Kubernetes nodes that mount RBD (guide 1.3.2 \"Ceph cluster traffic must remain within the private storage network\")"},
	{ids: []string{network.MicroCephCluster}, what: "the MicroCeph cluster port",
		allowed: func(hs []Host, _ *Facts) ([]string, bool) {
			return addressesWith(hs, hosts.RoleStorage), true
		},
		fix: "admit the MicroCeph daemon port only from the storage hosts (guide 1.3.2)"},
}

// checkRestrictedAdminPorts is rule 5 (guide 1.3.1, 1.3.2, 5.6): SSH only from the allowlist,
// control-plane ports only from the cluster nodes, Ceph only inside the storage network. Rows are
// classified by their protocol and ports (not their ids), so a mislabelled row is caught too.
func checkRestrictedAdminPorts(s *Stack) []Finding {
	if !s.isProgram() {
		return nil
	}
	const rule = "the restricted-admin-ports rule"
	hs := s.hosts()
	f := s.facts()
	var out []Finding
	if !f.present {
		return []Finding{missingComponent(s, "pm4ml:stack:Facts", "the admin and API allowlists are unknown")}
	}
	for _, h := range hs {
		if !h.RowsKnown || !h.RolesKnown {
			out = append(out, unknown(h.Res, "the host's firewall rows", rule))
			continue
		}
		for _, row := range h.Rows {
			for _, c := range adminPortClasses {
				hit := false
				for _, id := range c.ids {
					m := network.Lookup(id)
					if row.overlaps(string(m.Proto), m.Ports.From, m.Ports.To) {
						hit = true
					}
				}
				if !hit {
					continue
				}
				allowed, known := c.allowed(hs, f)
				bad := uncovered(row.Sources, allowed)
				switch {
				case row.Anywhere || slices.ContainsFunc(row.Sources, isAnywhere):
					out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q admits %s from anywhere", row.String(), c.what), c.fix))
				case len(bad) > 0 && !known:
					out = append(out, unknown(f.Res, "the allowlists", rule))
				case len(bad) > 0:
					out = append(out, finding(h.Res, fmt.Sprintf("firewall row %q admits %s from %s", row.String(), c.what, strings.Join(bad, ", ")), c.fix))
				}
			}
		}
	}
	return out
}
