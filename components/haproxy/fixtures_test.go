package haproxy

import (
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
)

// prodPlan: two haproxy hosts, three workers, stats enabled (guide 4.1 shape).
func prodPlan() Plan {
	lbs := []Node{{"lb1", "10.20.0.11"}, {"lb2", "10.20.0.12"}}
	workers := []Node{{"w1", "10.20.0.31"}, {"w2", "10.20.0.32"}, {"w3", "10.20.0.33"}}
	return Plan{
		PublicVIP: "10.20.0.100", InternalVIP: "10.20.0.101", Interface: "eth0",
		Stats:    StatsSettings{Enabled: true, User: "admin"},
		Topology: topology(lbs, workers, network.DefaultStatsPort),
	}
}

// stgPlan: one haproxy host, two master+worker hosts, stats disabled; the public VIP is a free
// address (keepalived holds it alone), the internal VIP the host's address (the stacks default).
func stgPlan() Plan {
	lbs := []Node{{"lb1", "10.20.0.11"}}
	workers := []Node{{"mw1", "10.20.0.21"}, {"mw2", "10.20.0.22"}}
	return Plan{
		PublicVIP: "10.20.0.100", InternalVIP: "10.20.0.11", Interface: "ens18",
		Topology: topology(lbs, workers, 0),
	}
}

func topology(lbs, workers []Node, statsPort int) network.Topology {
	t := network.Topology{InternalSubnet: "10.20.0.0/24", AdminAllowlist: []string{"10.20.0.0/24"}, StatsPort: statsPort}
	for _, l := range lbs {
		t.Nodes = append(t.Nodes, network.Node{Name: l.Name, Address: l.Address, Roles: hosts.NewRoles(hosts.RoleHAProxy)})
	}
	for _, w := range workers {
		t.Nodes = append(t.Nodes, network.Node{Name: w.Name, Address: w.Address, Roles: hosts.NewRoles(hosts.RoleMaster, hosts.RoleWorker)})
	}
	return t
}
