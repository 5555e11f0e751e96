package rules

// Check of the pre-deployment-checklist rule: hosts under the domain.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

func underDomain(host, domain string) bool {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	return d != "" && (h == d || strings.HasSuffix(h, "."+d))
}

func checkHostsUnderDomain(s *Stack) []Finding {
	var out []Finding
	f := s.facts()
	need := func(r *policyx.AnalyzerResource, field, what string, hosts []string, fix string) {
		switch {
		case len(hosts) == 0:
		case !f.present:
			out = append(out, Finding{URN: r.URN, Unknown: true, Message: fmt.Sprintf(
				"%s (%s): the stack has no pm4ml:stack:Facts component, so the domain is unknown and %s cannot check %s", r.Name, r.Type, checklistRule, what)})
		case !f.Known("domain"):
			out = append(out, unknown(f.Res, "pm4ml:domain", checklistRule))
		default:
			var bad []string
			for _, h := range hosts {
				if !underDomain(h, f.Domain) {
					bad = append(bad, h)
				}
			}
			if len(bad) > 0 {
				out = append(out, findingAt(r, field, fmt.Sprintf("%s %s not under the domain %s", what+" "+strings.Join(bad, ", "), isAre(len(bad)), f.Domain), fix))
			}
		}
	}
	for i := range s.Resources {
		r := &s.Resources[i]
		av, k, ok := kind(r.Type)
		if !ok {
			continue
		}
		group, _, _ := strings.Cut(av, "/")
		switch {
		case group == "cert-manager.io" && k == "Certificate":
			var hosts []string
			cn := prop(r, "spec", "commonName")
			names := prop(r, "spec", "dnsNames")
			if cn.HasComputed() || names.HasComputed() {
				out = append(out, unknown(r, "spec.commonName/dnsNames", checklistRule))
				continue
			}
			if v, _, ok := str(cn); ok && v != "" {
				hosts = append(hosts, v)
			}
			l, _ := stringList(names)
			hosts = append(hosts, l...)
			need(r, "spec.commonName/dnsNames", "the certificate's CN/SAN", hosts, "issue the certificate for pm4ml:domain and its subdomains (guide 6.3 \"Certificate CN/SAN matches domain\")")
		case group == "networking.istio.io" && k == "Gateway":
			servers, known := items(prop(r, "spec", "servers"))
			if !known {
				out = append(out, unknown(r, "spec.servers", checklistRule))
				continue
			}
			var hosts []string
			for _, sv := range servers {
				hs, kn := stringList(at(sv, "hosts"))
				if !kn {
					out = append(out, unknown(r, "spec.servers[].hosts", checklistRule))
					hosts = nil
					break
				}
				for _, h := range hs {
					if _, after, found := strings.Cut(h, "/"); found {
						h = after
					}
					hosts = append(hosts, h)
				}
			}
			need(r, "spec.servers[].hosts", "the Gateway host(s)", hosts, "list only hosts under pm4ml:domain in the Gateway's servers (guide 6.3 \"Istio Gateway hosts updated\")")
		case group == "gateway.networking.k8s.io" && k == "Gateway":
			listeners, known := items(prop(r, "spec", "listeners"))
			if !known {
				out = append(out, unknown(r, "spec.listeners", checklistRule))
				continue
			}
			var hosts []string
			for _, l := range listeners {
				if h, kn, ok := str(at(l, "hostname")); !kn {
					out = append(out, unknown(r, "spec.listeners[].hostname", checklistRule))
				} else if ok {
					hosts = append(hosts, h)
				}
			}
			need(r, "spec.listeners[].hostname", "the Gateway listener host(s)", hosts, "set each listener's hostname under pm4ml:domain (guide 6.3)")
		case group == "networking.k8s.io" && k == "Ingress":
			var hosts []string
			rules, k1 := items(prop(r, "spec", "rules"))
			tls, k2 := items(prop(r, "spec", "tls"))
			if !k1 || !k2 {
				out = append(out, unknown(r, "spec.rules/tls", checklistRule))
				continue
			}
			for _, rl := range rules {
				if h, _, ok := str(at(rl, "host")); ok && h != "" {
					hosts = append(hosts, h)
				}
			}
			for _, t := range tls {
				hs, _ := stringList(at(t, "hosts"))
				hosts = append(hosts, hs...)
			}
			need(r, "spec.rules[].host/tls[].hosts", "the Ingress host(s)", hosts, "serve only hosts under pm4ml:domain (guide 6.3 \"DNS hostnames updated\")")
		case group == "networking.istio.io" && k == "VirtualService":
			gws, kn := stringList(prop(r, "spec", "gateways"))
			hosts, kh := stringList(prop(r, "spec", "hosts"))
			if !kn || !kh {
				out = append(out, unknown(r, "spec.gateways/hosts", checklistRule))
				continue
			}
			if !slices.ContainsFunc(gws, func(g string) bool { return g != "mesh" }) {
				continue // mesh-internal routing only
			}
			need(r, "spec.hosts", "the VirtualService host(s)", hosts, "route only hosts under pm4ml:domain through the ingress gateways (guide 6.3 \"VirtualService URLs updated\")")
		}
	}
	return out
}
