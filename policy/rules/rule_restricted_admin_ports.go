package rules

// Rule restricted-admin-ports (guide 1.3).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
)

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
