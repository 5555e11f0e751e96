package stacks

import (
	"fmt"
	"slices"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/components/wireguard"
)

// Input is what a step reads on stdin when the program runs it.
type Input int

// The inputs of the steps (see the components' New for how Pulumi feeds them).
const (
	InputNone Input = iota
	// InputJoinToken is the MicroK8s join token of Step.Node (microk8s.JoinToken of the SSH key).
	InputJoinToken
	// InputJoinTokenKubeconfig is the join token, a newline, then the admin kubeconfig (the
	// output of the kubeconfig step, server pointed at the first master): a worker's join.
	InputJoinTokenKubeconfig
	// InputCephJoin is the stdout of Step.Node's microceph add step (its join token).
	InputCephJoin
	// InputCephBundle is storage.Bundle of the microceph export step's ceph.conf and keyring.
	InputCephBundle
	// InputHAProxyStats is pm4ml:haproxyStatsPassword.
	InputHAProxyStats
	// InputWireGuardKey is pm4ml:wireguardPrivateKey.
	InputWireGuardKey
)

// Step is one remote step of the stack: where it runs and what it reads. Steps lists them in
// the order `pulumi up` runs them on a fresh stack (a valid dependency order).
type Step struct {
	Host      string // the host it runs on
	Address   string // that host's address
	Component string // hostprep, microk8s, microceph, storage, haproxy, wireguard
	Script    remotecmd.Script
	Input     Input
	// Node is the node an input belongs to (join tokens), "" otherwise.
	Node string
	// Output marks a read-only step whose output is data for other steps (the admin
	// kubeconfig, the Ceph client configuration): there is nothing of its own to check.
	Output bool
}

// ID is "<host>/<step>", unique in a stack.
func (s Step) ID() string { return s.Host + "/" + s.Script.Step }

// Steps renders every remote step of the configuration with the same renderers as Build and
// Render, in dependency order.
func Steps(c *Config) ([]Step, error) {
	r, err := renderAll(c)
	return r.steps, err
}

// rendered is the whole stack rendered once: the steps in dependency order and every file the
// hosts receive. Steps (drift) and Render (the render command) both read it.
type rendered struct {
	steps []Step
	files []remotecmd.File
}

// renderAll walks every component's render once, in dependency order.
func renderAll(c *Config) (rendered, error) {
	addr := map[string]string{}
	for _, h := range c.Hosts {
		addr[h.Name] = h.Address
	}
	var out []Step
	var files []remotecmd.File
	add := func(host, comp string, s remotecmd.Script, in Input, node string) {
		out = append(out, Step{Host: host, Address: addr[host], Component: comp, Script: s, Input: in, Node: node})
	}
	for _, plan := range c.PrepPlans() {
		r, err := hostprep.Render(plan)
		if err != nil {
			return rendered{}, err
		}
		for _, s := range r.Scripts {
			add(plan.Name, hostprep.Component, s, InputNone, "")
		}
		files = append(files, r.Files()...)
	}

	k, err := microk8s.Render(c.MicroK8sPlan())
	if err != nil {
		return rendered{}, err
	}
	first := k.FirstMaster.Name
	for _, n := range k.Plan.Nodes {
		add(n.Name, "microk8s", k.Install[n.Name], InputNone, "")
	}
	// the masters' membership, each master's kubeconfig after it, then the workers'
	for _, n := range k.JoinOrder {
		worker := !slices.Contains(k.Masters(), n)
		add(k.Via[n], "microk8s", k.Token[n], InputJoinToken, n)
		in := InputJoinToken
		if worker {
			in = InputJoinTokenKubeconfig
		}
		add(n, "microk8s", k.Join[n], in, n)
		add(k.Via[n], "microk8s", k.Drain[n], InputNone, "")
		if !worker {
			add(n, "microk8s", k.Kubeconfig[n], InputNone, "")
			out[len(out)-1].Output = true
		}
	}
	// lost nodes are removed from the first master once the masters joined
	for _, l := range k.Plan.Lost {
		add(first, "microk8s", k.Remove[l.Name], InputNone, l.Name)
	}
	add(first, "microk8s", k.Finalize, InputNone, "")
	// the rolling upgrade: the backup, then each node's step in the order the program runs them
	add(first, "microk8s", k.Backup, InputNone, "")
	for _, batch := range k.RollOrder {
		for _, n := range batch {
			in := InputNone
			if k.Upgrade[n].Secret {
				in = InputJoinTokenKubeconfig // the worker join's stdin: the token (unused), the kubeconfig
			}
			add(n, "microk8s", k.Upgrade[n], in, n)
		}
	}
	files = append(files, k.Files()...)

	m, err := microceph.Render(c.MicroCephPlan())
	if err != nil {
		return rendered{}, err
	}
	for _, n := range m.Nodes {
		add(n.Node.Name, "microceph", n.Install, InputNone, "")
	}
	for _, n := range m.Nodes {
		if n.Add == nil {
			add(n.Node.Name, "microceph", n.Member, InputNone, "")
			continue
		}
		add(m.Bootstrap.Name, "microceph", *n.Add, InputNone, n.Node.Name)
		add(n.Node.Name, "microceph", n.Member, InputCephJoin, n.Node.Name)
	}
	for _, n := range m.Nodes {
		add(n.Node.Name, "microceph", n.Disks, InputNone, "")
	}
	for _, l := range m.Lost { // lost storage hosts, removed from the bootstrap host before the pool
		add(m.Bootstrap.Name, "microceph", m.Remove[l.Name], InputNone, l.Name)
	}
	add(m.Bootstrap.Name, "microceph", m.Pool, InputNone, "")
	add(m.Bootstrap.Name, "microceph", m.Export, InputNone, "")
	out[len(out)-1].Output = true
	files = append(files, m.Files()...)

	s, err := storage.Render(c.StoragePlan())
	if err != nil {
		return rendered{}, err
	}
	for _, sc := range s.Scripts {
		in := InputNone
		if sc.Secret {
			in = InputCephBundle
		}
		add(s.Master, storage.Component, sc, in, "")
	}
	files = append(files, s.Files()...)

	lbs, err := haproxy.Render(c.HAProxyPlan())
	if err != nil {
		return rendered{}, err
	}
	for _, i := range haproxy.ApplyOrder(len(lbs)) { // the VRRP backups before the active LB
		r := lbs[i]
		for _, sc := range r.Scripts {
			in := InputNone
			if sc.Secret {
				in = InputHAProxyStats
			}
			add(r.LB.Name, haproxy.Component, sc, in, "")
		}
	}
	for _, r := range lbs {
		files = append(files, r.Files()...)
	}
	if c.WireGuard.Enabled {
		rs, err := wireguard.Render(c.WireGuardPlan())
		if err != nil {
			return rendered{}, err
		}
		for _, r := range rs {
			add(r.Host, wireguard.Component, r.Script, InputWireGuardKey, "")
			files = append(files, r.Files()...)
		}
	}
	seen := map[string]bool{}
	for _, st := range out {
		if seen[st.ID()] {
			return rendered{}, fmt.Errorf("steps: %s twice", st.ID())
		}
		seen[st.ID()] = true
	}
	// The verification's checks on the HAProxy hosts are files (render), not steps: they change
	// nothing, so drift has nothing to check or repair in them.
	v, err := renderVerify(c)
	if err != nil {
		return rendered{}, err
	}
	files = append(files, v...)
	return rendered{steps: out, files: files}, nil
}
