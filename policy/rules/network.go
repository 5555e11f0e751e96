package rules

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/network"
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
