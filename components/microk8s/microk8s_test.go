package microk8s_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const (
	joinSecret = "a-long-random-join-secret-for-tests"
	cmdType    = "command:remote:Command"
	prepType   = "pm4ml:test:Prep"
)

func node(name, addr string, roles ...hosts.Role) hosts.Host {
	return hosts.Host{
		Name: name, Address: addr, Roles: hosts.NewRoles(roles...),
		Conn: remote.ConnectionArgs{
			Host:       pulumi.String(addr),
			User:       pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput),
		},
		Identity: pulumi.String("id-" + name),
	}
}

// prodNodes: 3 dedicated masters and 3 workers (guide 4.1).
func prodNodes() []hosts.Host {
	return []hosts.Host{
		node("m1", "10.0.0.1", hosts.RoleMaster), node("m2", "10.0.0.2", hosts.RoleMaster), node("m3", "10.0.0.3", hosts.RoleMaster),
		node("w1", "10.0.0.11", hosts.RoleWorker), node("w2", "10.0.0.12", hosts.RoleWorker), node("w3", "10.0.0.13", hosts.RoleWorker),
	}
}

// stgNodes: 2 combined master+worker nodes (guide 4.2).
func stgNodes() []hosts.Host {
	return []hosts.Host{
		node("k1", "10.0.1.1", hosts.RoleMaster, hosts.RoleWorker), node("k2", "10.0.1.2", hosts.RoleMaster, hosts.RoleWorker),
	}
}

// prep stands in for hostprep's Ready step (a custom resource, as a remote.Command is).
type prep struct{ pulumi.CustomResourceState }

// run registers one prep stand-in per node (what hostprep's Ready would be) and the cluster.
func run(t *testing.T, env hosts.Environment, nodes []hosts.Host, dedicated bool) (*mocktest.Mocks, *microk8s.Cluster) {
	t.Helper()
	return runWith(t, env, nodes, dedicated, nil)
}

// setNodes gives a the nodes hs (plan and machines).
func setNodes(a *microk8s.Args, hs []hosts.Host) {
	a.Hosts = hs
	a.Plan.Nodes = planOf(a.Plan.Environment, hs, a.Plan.DedicatedMasters, "").Nodes
}

// runWith is run with the arguments changed by mutate first.
func runWith(t *testing.T, env hosts.Environment, nodes []hosts.Host, dedicated bool, mutate func(*microk8s.Args)) (*mocktest.Mocks, *microk8s.Cluster) {
	t.Helper()
	var c *microk8s.Cluster
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		after := map[string]pulumi.Resource{}
		for _, h := range nodes {
			p := &prep{}
			if err := ctx.RegisterResource(prepType, "prep-"+h.Name, pulumi.Map{}, p); err != nil {
				return err
			}
			after[h.Name] = p
		}
		var err error
		a := &microk8s.Args{
			Plan:  planOf(env, nodes, dedicated, "ubuntu"),
			Hosts: nodes, JoinSecret: pulumi.ToSecret(pulumi.String(joinSecret)).(pulumi.StringOutput),
			After: after,
		}
		if mutate != nil {
			mutate(a)
		}
		c, err = microk8s.New(ctx, "cluster", a)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func runProd(t *testing.T) (*mocktest.Mocks, *microk8s.Cluster) {
	return run(t, hosts.Prod, prodNodes(), true)
}

func runStg(t *testing.T) (*mocktest.Mocks, *microk8s.Cluster) {
	return run(t, hosts.Stg, stgNodes(), false)
}

func await[T any](t *testing.T, o pulumi.Output) (T, bool) {
	t.Helper()
	ch := make(chan T, 1)
	o.ApplyT(func(v T) T { ch <- v; return v })
	select {
	case v := <-ch:
		return v, pulumi.IsSecret(o)
	case <-time.After(10 * time.Second):
		t.Fatal("output never resolved")
	}
	var zero T
	return zero, false
}

// script is the script a command runs: the argument of `sudo -n bash -c '...'`, unquoted.
func script(t *testing.T, r mocktest.Resource, key string) string {
	t.Helper()
	s := mocktest.String(r.Inputs, key)
	rest, ok := strings.CutPrefix(s, "sudo -n bash -c '")
	end := strings.LastIndex(rest, "' ")
	if !ok || end < 0 {
		t.Fatalf("%s: %s is not a sudo bash -c invocation: %.80q", r.Name, key, s)
	}
	return strings.ReplaceAll(rest[:end], `'\''`, `'`)
}

// unwrap removes secret and output wrappers.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput():
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// connHost is the host a command connects to.
func connHost(t *testing.T, r mocktest.Resource) string {
	t.Helper()
	c := unwrap(r.Inputs["connection"])
	if !c.IsObject() {
		t.Fatalf("%s: connection is %v", r.Name, c)
	}
	h := unwrap(c.ObjectValue()["host"])
	return h.StringValue()
}

func mustDepend(t *testing.T, m *mocktest.Mocks, a, b string) {
	t.Helper()
	if !m.DependsOn(t, a, b) {
		t.Errorf("%s must depend on %s; deps %v", a, b, m.Named(t, a).Deps)
	}
}

func TestInstallOnEveryNodeAfterItsHostPreparation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   func(*testing.T) (*mocktest.Mocks, *microk8s.Cluster)
		nodes []hosts.Host
	}{{"prod", runProd, prodNodes()}, {"stg", runStg, stgNodes()}} {
		t.Run(tc.name, func(t *testing.T) {
			m, c := tc.run(t)
			for _, h := range tc.nodes {
				inst := "cluster-" + h.Name + "-install"
				mustDepend(t, m, inst, "prep-"+h.Name)
				for _, o := range tc.nodes {
					if o.Name != h.Name && m.DependsOnTransitively(t, inst, "prep-"+o.Name) {
						t.Errorf("%s waits for the preparation of %s: installs must run in parallel", inst, o.Name)
					}
				}
				if got := connHost(t, m.Named(t, inst)); got != h.Address {
					t.Errorf("%s connects to %s, want %s", inst, got, h.Address)
				}
				create := script(t, m.Named(t, inst), "create")
				for _, want := range []string{"snap install microk8s --classic --channel='1.31/stable'", "snap_hold microk8s",
					"usermod -a -G microk8s 'ubuntu'", "mk8s_ready 600"} {
					if !strings.Contains(create, want) {
						t.Errorf("%s lacks %q", inst, want)
					}
				}
				if c.Install[h.Name] == nil {
					t.Errorf("Cluster.Install[%s] missing", h.Name)
				}
			}
		})
	}
}

func TestProdJoinChain(t *testing.T) {
	m, c := runProd(t)
	if c.FirstMaster != "m1" {
		t.Fatalf("first master %q, want m1", c.FirstMaster)
	}
	// Masters one at a time: m1 install -> m2 token -> m2 join -> m3 token -> m3 join, then the
	// first master's own membership step (through m2: a check on day 1, its removal later).
	mustDepend(t, m, "cluster-m2-token", "cluster-m1-install")
	mustDepend(t, m, "cluster-m2-join", "cluster-m2-token")
	mustDepend(t, m, "cluster-m3-token", "cluster-m2-join")
	mustDepend(t, m, "cluster-m3-join", "cluster-m3-token")
	mustDepend(t, m, "cluster-m1-token", "cluster-m3-join")
	mustDepend(t, m, "cluster-m1-token", "cluster-m2-install") // it runs on m2
	mustDepend(t, m, "cluster-m1-join", "cluster-m1-token")
	if m.DependsOnTransitively(t, "cluster-m2-token", "cluster-m3-join") {
		t.Error("m2's join must not wait for m3")
	}
	workers := []string{"w1", "w2", "w3"}
	for _, w := range workers {
		tok, join := "cluster-"+w+"-token", "cluster-"+w+"-join"
		mustDepend(t, m, tok, "cluster-m1-join")
		mustDepend(t, m, tok, "cluster-"+w+"-install")
		mustDepend(t, m, join, tok)
		mustDepend(t, m, join, "cluster-"+w+"-install")
		mustDepend(t, m, join, "cluster-m1-kubeconfig")
		for _, o := range workers {
			if o != w && m.DependsOnTransitively(t, join, "cluster-"+o+"-join") {
				t.Errorf("%s waits for %s: workers join in parallel", join, o)
			}
		}
	}
	// Every master's token after its own install too (the token's TTL runs from registration).
	mustDepend(t, m, "cluster-m3-token", "cluster-m3-install")
	for _, n := range []string{"m2", "m3", "m1", "w1", "w2", "w3"} {
		tok, join := m.Named(t, "cluster-"+n+"-token"), m.Named(t, "cluster-"+n+"-join")
		via, viaAddr := "m1", "10.0.0.1"
		if n == "m1" {
			via, viaAddr = "m2", "10.0.0.2"
		}
		if got := connHost(t, tok); got != viaAddr {
			t.Errorf("%s runs on %s, want %s (%s)", tok.Name, got, viaAddr, via)
		}
		if got, want := connHost(t, join), addrOf(prodNodes(), n); got != want {
			t.Errorf("%s runs on %s, want %s", join.Name, got, want)
		}
		create := script(t, tok, "create")
		if !strings.Contains(create, `microk8s add-node --token "$token" --token-ttl 900`) {
			t.Errorf("%s: no add-node with the token from stdin", tok.Name)
		}
		del := script(t, tok, "delete")
		if !strings.Contains(del, `microk8s remove-node "$node" --force`) || !strings.Contains(del, "node='"+n+"'") {
			t.Errorf("%s: its delete must remove %s from %s", tok.Name, n, via)
		}
		jc, jd := script(t, join, "create"), script(t, join, "delete")
		joinCmd := `microk8s join '` + viaAddr + `':25000/"$token"`
		isWorker := strings.HasPrefix(n, "w")
		if !strings.Contains(jc, joinCmd) {
			t.Errorf("%s: no %q", join.Name, joinCmd)
		}
		if got := strings.Contains(jc, joinCmd+" --worker"); got != isWorker {
			t.Errorf("%s: --worker is %v, want %v", join.Name, got, isWorker)
		}
		if !strings.Contains(jd, "microk8s leave") || !strings.Contains(jd, " drain ") {
			t.Errorf("%s: its delete must drain and leave", join.Name)
		}
		if !tok.DeleteBeforeReplace || !join.DeleteBeforeReplace {
			t.Errorf("%s/%s: replacements must delete first (leave, remove-node) and then join", tok.Name, join.Name)
		}
	}
}

func addrOf(ns []hosts.Host, name string) string {
	for _, h := range ns {
		if h.Name == name {
			return h.Address
		}
	}
	return ""
}

func TestTriggers(t *testing.T) {
	m, _ := runProd(t)
	triggers := func(name string) []string {
		var out []string
		for _, v := range unwrap(m.Named(t, name).Inputs["triggers"]).ArrayValue() {
			out = append(out, unwrap(v).StringValue())
		}
		return out
	}
	// The token, join and drain steps are replaced when the joining machine is, and only then: a
	// change of the master they run on or join through (the first master left the configuration)
	// must not replace them, since their deletes remove the node from the cluster. The triggers
	// keep the shape earlier versions registered ([runner, subject]; the join [node, first
	// master]) with the runner's or first master's identity inert (ignoreChanges), so upgrading
	// the program does not replace them either.
	for step, want := range map[string][]string{
		"cluster-w2-token": {"id-m1", "id-w2"}, "cluster-w2-drain": {"id-m1", "id-w2"}, "cluster-m1-token": {"id-m2", "id-m1"},
		"cluster-w2-join": {"id-w2", "id-m1"}, "cluster-m2-join": {"id-m2", "id-m1"},
	} {
		inert := "triggers[0]"
		if strings.HasSuffix(step, "-join") {
			inert = "triggers[1]"
		}
		if got := triggers(step); !slices.Equal(got, want) {
			t.Errorf("%s triggers %v, want %v", step, got, want)
		}
		if got := m.Named(t, step).IgnoreChanges; !slices.Equal(got, []string{inert}) {
			t.Errorf("%s ignoreChanges %v, want [%s]: only the machine it is about may replace it", step, got, inert)
		}
	}
	for _, step := range []string{"cluster-w2-install", "cluster-m1-kubeconfig", "cluster-m2-kubeconfig"} {
		if got := m.Named(t, step).IgnoreChanges; len(got) != 0 {
			t.Errorf("%s ignores changes of %v", step, got)
		}
	}
	// Cluster-wide steps on the first master: a change of first master updates them, never
	// replaces them (their IDs, and so the kubeconfig output, stay known in a preview).
	for _, step := range []string{"cluster-finalize", "cluster-backup"} {
		if got := m.Named(t, step).IgnoreChanges; !slices.Equal(got, []string{"triggers[0]"}) {
			t.Errorf("%s ignoreChanges %v, want [triggers[0]]", step, got)
		}
	}
	if got := triggers("cluster-w2-install"); !slices.Equal(got, []string{"id-w2"}) {
		t.Errorf("w2 install triggers %v", got)
	}
}

func TestFinalizeAfterEveryJoin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   func(*testing.T) (*mocktest.Mocks, *microk8s.Cluster)
		joins []string
		first string
	}{{"prod", runProd, []string{"m2", "m3", "w1", "w2", "w3"}, "m1"}, {"stg", runStg, []string{"k2"}, "k1"}} {
		t.Run(tc.name, func(t *testing.T) {
			m, c := tc.run(t)
			for _, j := range tc.joins {
				mustDepend(t, m, "cluster-finalize", "cluster-"+j+"-join")
			}
			mustDepend(t, m, "cluster-finalize", "cluster-"+tc.first+"-install")
			fin := m.Named(t, "cluster-finalize")
			if c.Ready == nil {
				t.Fatal("Cluster.Ready is nil")
			}
			urn, _ := await[pulumi.URN](t, c.Ready.URN())
			if string(urn) != fin.URN {
				t.Errorf("Ready is %s, want the finalize step %s", urn, fin.URN)
			}
			if got := connHost(t, fin); got != addrOf(append(prodNodes(), stgNodes()...), tc.first) {
				t.Errorf("finalize runs on %s", got)
			}
		})
	}
}

func TestFinalizeScriptRolesTaintsAddons(t *testing.T) {
	m, _ := runProd(t)
	create := script(t, m.Named(t, "cluster-finalize"), "create")
	for _, want := range []string{
		"\nm1 yes no yes\n", "\nw3 no yes no\n",
		`ensure_label "$n" 'node-role.kubernetes.io/master' "$m"`, `ensure_label "$n" 'node-role.kubernetes.io/worker' "$w"`, `ensure_taint "$n" "$tn"`,
		"for addon in 'dns' 'rbac' 'helm3' 'hostpath-storage' ; do", "microk8s kubectl wait --for=condition=Ready",
	} {
		if !strings.Contains(create, want) {
			t.Errorf("prod finalize lacks %q", want)
		}
	}
	if strings.Contains(create, "metallb") {
		t.Error("no metallb: HAProxy goes to the NodePorts")
	}
	m, _ = runStg(t)
	create = script(t, m.Named(t, "cluster-finalize"), "create")
	for _, want := range []string{"\nk1 yes yes no\n", "\nk2 yes yes no\n"} {
		if !strings.Contains(create, want) {
			t.Errorf("stg finalize lacks %q", want)
		}
	}
}

func TestStgCombinedNodes(t *testing.T) {
	m, c := runStg(t)
	join := script(t, m.Named(t, "cluster-k2-join"), "create")
	if !strings.Contains(join, `microk8s join '10.0.1.1':25000/"$token" 2>&1`) || strings.Contains(join, `"$token" --worker`) {
		t.Error("a master+worker node joins as a control-plane node, without --worker")
	}
	if m.DependsOnTransitively(t, "cluster-k2-join", "cluster-k1-kubeconfig") {
		t.Error("a control-plane join needs no admin kubeconfig")
	}
	tainted, _ := await[map[string]bool](t, c.TaintedMasters)
	if len(tainted) != 2 || tainted["k1"] || tainted["k2"] {
		t.Errorf("stg taintedMasters %v, want k1 and k2 false", tainted)
	}
	masters, _ := await[[]string](t, c.Masters)
	workers, _ := await[[]string](t, c.Workers)
	if !slices.Equal(masters, []string{"k1", "k2"}) || !slices.Equal(workers, []string{"k1", "k2"}) {
		t.Errorf("masters %v workers %v", masters, workers)
	}
}

func TestTypedOutputs(t *testing.T) {
	_, c := runProd(t)
	tainted, _ := await[map[string]bool](t, c.TaintedMasters)
	if len(tainted) != 3 || !tainted["m1"] || !tainted["m2"] || !tainted["m3"] {
		t.Errorf("prod taintedMasters %v, want m1..m3 true", tainted)
	}
	nodes, _ := await[[]string](t, c.Nodes)
	masters, _ := await[[]string](t, c.Masters)
	workers, _ := await[[]string](t, c.Workers)
	if !slices.Equal(nodes, []string{"m1", "m2", "m3", "w1", "w2", "w3"}) || !slices.Equal(masters, []string{"m1", "m2", "m3"}) || !slices.Equal(workers, []string{"w1", "w2", "w3"}) {
		t.Errorf("nodes %v masters %v workers %v", nodes, masters, workers)
	}
	if held, _ := await[bool](t, c.RefreshHeld); !held {
		t.Error("refreshHeld must be true")
	}
	if ch, _ := await[string](t, c.Channel); ch != "1.31/stable" {
		t.Errorf("channel %q", ch)
	}
	if api, _ := await[string](t, c.APIServer); api != "https://10.0.0.1:16443" {
		t.Errorf("apiServer %q", api)
	}
	// Prod with DedicatedMasters off: no master tainted.
	_, c = run(t, hosts.Prod, prodNodes(), false)
	tainted, _ = await[map[string]bool](t, c.TaintedMasters)
	if tainted["m1"] || tainted["m2"] || tainted["m3"] {
		t.Errorf("without DedicatedMasters no master is tainted: %v", tainted)
	}
}

func TestKubeconfigIsSecret(t *testing.T) {
	m, c := runProd(t)
	if _, secret := await[string](t, c.Kubeconfig); !secret {
		t.Error("Cluster.Kubeconfig must be a secret")
	}
	// One per master, after its own membership step: the kubeconfig comes from a member of the
	// cluster (a new machine in the first master's place joined first). The program's is the
	// first master's, which keeps the name it had before every master had one (an alias).
	for n, addr := range map[string]string{"m1": "10.0.0.1", "m2": "10.0.0.2", "m3": "10.0.0.3"} {
		step := "cluster-" + n + "-kubeconfig"
		kc := m.Named(t, step)
		mustDepend(t, m, step, "cluster-"+n+"-join")
		if got := connHost(t, kc); got != addr {
			t.Errorf("%s runs on %s", step, got)
		}
		if !strings.Contains(script(t, kc, "create"), "cfg=$(microk8s config)") {
			t.Errorf("%s must run microk8s config", step)
		}
	}
	if c.KubeconfigStep != c.KubeconfigSteps["m1"] {
		t.Error("the program's kubeconfig is not the first master's")
	}
}

func TestSecretSteps(t *testing.T) {
	m, _ := runProd(t)
	secret := 0
	for _, r := range m.ByType(cmdType) {
		workerUpgrade := strings.HasPrefix(r.Name, "cluster-w") && strings.HasSuffix(r.Name, "-upgrade") // stdin: token, kubeconfig
		isSecretStep := strings.HasSuffix(r.Name, "-token") || strings.HasSuffix(r.Name, "-join") || strings.HasSuffix(r.Name, "-kubeconfig") || workerUpgrade
		logging := mocktest.String(r.Inputs, "logging")
		if !isSecretStep {
			if logging == "none" || mocktest.IsSecret(r.Inputs, "stdin") {
				t.Errorf("%s is not a secret step but has logging %q", r.Name, logging)
			}
			continue
		}
		secret++
		if logging != "none" {
			t.Errorf("%s: logging %q, want none", r.Name, logging)
		}
		if !slices.Contains(r.AdditionalSecretOutputs, "stdout") || !slices.Contains(r.AdditionalSecretOutputs, "stderr") {
			t.Errorf("%s: additionalSecretOutputs %v must contain stdout and stderr", r.Name, r.AdditionalSecretOutputs)
		}
		if !strings.HasSuffix(r.Name, "-kubeconfig") && !mocktest.IsSecret(r.Inputs, "stdin") {
			t.Errorf("%s: stdin must be secret", r.Name)
		}
	}
	if secret != 18 { // 6 tokens, 6 joins (m1's through m2), 3 masters' kubeconfigs, 3 worker upgrades
		t.Errorf("%d secret steps, want 18", secret)
	}
}

// strings visits every string of a property value with whether it sits under a secret.
func visitStrings(v resource.PropertyValue, secret bool, f func(s string, secret bool)) {
	switch {
	case v.IsSecret():
		visitStrings(v.SecretValue().Element, true, f)
	case v.IsOutput():
		o := v.OutputValue()
		visitStrings(o.Element, secret || o.Secret, f)
	case v.IsString():
		f(v.StringValue(), secret)
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			visitStrings(e, secret, f)
		}
	case v.IsObject():
		for k, e := range v.ObjectValue() {
			f(string(k), secret)
			visitStrings(e, secret, f)
		}
	}
}

func TestTokensOnlyInSecretStdin(t *testing.T) {
	m, _ := runProd(t)
	tokens := map[string]string{}
	for _, n := range []string{"m1", "m2", "m3", "w1", "w2", "w3"} {
		tokens[microk8s.JoinToken(joinSecret, n)] = n
	}
	seenInStdin := map[string]bool{}
	for _, r := range m.Resources {
		for key, v := range r.Inputs {
			visitStrings(v, false, func(s string, secret bool) {
				for tok, n := range tokens {
					if !strings.Contains(s, tok) {
						continue
					}
					if !secret || key != "stdin" {
						t.Errorf("%s: the join token of %s appears in input %q (secret %v)", r.Name, n, key, secret)
					}
					seenInStdin[r.Name] = true
				}
			})
		}
		for _, k := range []string{"create", "delete"} {
			if strings.Contains(mocktest.String(r.Inputs, k), joinSecret) {
				t.Errorf("%s: the join secret is in its %s text", r.Name, k)
			}
		}
	}
	// Positive control: each token does reach its token and join steps, on stdin.
	for _, n := range []string{"m2", "m3", "w1", "w2", "w3"} {
		for _, step := range []string{"-token", "-join"} {
			name := "cluster-" + n + step
			if !seenInStdin[name] {
				t.Errorf("%s: its stdin does not carry %s's token", name, n)
			}
			stdin := unwrap(m.Named(t, name).Inputs["stdin"]).StringValue()
			if !strings.HasPrefix(stdin, microk8s.JoinToken(joinSecret, n)) {
				t.Errorf("%s: stdin must start with %s's own token", name, n)
			}
		}
	}
}

func TestEveryChildHasTheComponentAsParent(t *testing.T) {
	m, _ := runProd(t)
	comp := m.Named(t, "cluster")
	if comp.Type != microk8s.Token || comp.Custom {
		t.Fatalf("component %+v", comp)
	}
	n := 0
	for _, r := range m.Resources {
		if r.Type == prepType || r.Name == "cluster" {
			continue
		}
		n++
		if r.Parent != comp.URN {
			t.Errorf("%s has parent %q, want the component", r.Name, r.Parent)
		}
		if !strings.HasPrefix(r.Name, "cluster-") {
			t.Errorf("%s is not prefixed with the component's name", r.Name)
		}
	}
	if want := 6 + 6 + 6 + 6 + 3 + 1 + 1 + 6; n != want { // installs, tokens, joins, drains, kubeconfigs, finalize, backup, upgrades
		t.Errorf("%d children, want %d", n, want)
	}
}

func resourceNames(m *mocktest.Mocks) []string {
	var out []string
	for _, r := range m.Resources {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

func TestRemovingAWorkerRemovesExactlyItsSteps(t *testing.T) {
	full, _ := runProd(t)
	var without []hosts.Host
	for _, h := range prodNodes() {
		if h.Name != "w2" {
			without = append(without, h)
		}
	}
	less, _ := run(t, hosts.Prod, without, true)
	lessNames := resourceNames(less)
	var gone []string
	for _, n := range resourceNames(full) {
		if !slices.Contains(lessNames, n) {
			gone = append(gone, n)
		}
	}
	want := []string{"cluster-w2-drain", "cluster-w2-install", "cluster-w2-join", "cluster-w2-token", "cluster-w2-upgrade", "prep-w2"}
	if !slices.Equal(gone, want) {
		t.Errorf("removing w2 removed %v, want %v", gone, want)
	}
	for _, n := range lessNames {
		if !slices.Contains(resourceNames(full), n) {
			t.Errorf("removing w2 added %s", n)
		}
	}
	// The remaining steps of the other nodes are unchanged (only finalize lists the nodes).
	for _, n := range []string{"cluster-w1-join", "cluster-w3-join", "cluster-w3-token", "cluster-m3-join", "cluster-w1-install",
		"cluster-backup", "cluster-w1-upgrade", "cluster-w3-upgrade", "cluster-m3-upgrade"} {
		if a, b := mocktest.String(full.Named(t, n).Inputs, "create"), mocktest.String(less.Named(t, n).Inputs, "create"); a != b {
			t.Errorf("%s changed when w2 was removed", n)
		}
	}
}

func TestArgsValidation(t *testing.T) {
	base := func() *microk8s.Args {
		p := planOf(hosts.Prod, prodNodes(), false, "ubuntu")
		p.Channel = ""
		return &microk8s.Args{Plan: p, Hosts: prodNodes(),
			JoinSecret: pulumi.ToSecret(pulumi.String(joinSecret)).(pulumi.StringOutput), After: map[string]pulumi.Resource{}}
	}
	cases := []struct {
		name   string
		mutate func(a *microk8s.Args)
		want   []string
	}{
		{"no master", func(a *microk8s.Args) { setNodes(a, prodNodes()[3:]) }, []string{"no host with the role master"}},
		{"no after", func(a *microk8s.Args) {}, []string{"microk8s: no After entry for host m1"}},
		{"no secret", func(a *microk8s.Args) { a.JoinSecret = nil }, []string{"no join secret"}},
		{"bad channel", func(a *microk8s.Args) { a.Plan.Channel = "1.31 stable" }, []string{"pm4ml:microk8s.channel"}},
		{"no user", func(a *microk8s.Args) { a.Plan.User = "" }, []string{"pm4ml:ssh.user"}},
		{"haproxy host", func(a *microk8s.Args) { setNodes(a, append(a.Hosts, node("lb1", "10.0.0.50", hosts.RoleHAProxy))) }, []string{`"lb1" has roles "haproxy"`}},
		{"duplicate", func(a *microk8s.Args) { setNodes(a, append(a.Hosts, node("w1", "10.0.0.99", hosts.RoleWorker))) }, []string{`"w1" is listed twice`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			tc.mutate(a)
			_, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
				_, err := microk8s.New(ctx, "cluster", a)
				return err
			})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRollingUpgradeOrder: a channel change runs as a rolling upgrade. The datastore backup on
// the first master comes after the cluster is final and before any node's upgrade; the masters go
// one at a time in configuration order, then the workers, one at a time with maxUnavailable 1 (in
// batches otherwise); the steps are registered in that order (what a preview lists); the install
// steps no longer refresh.
func TestRollingUpgradeOrder(t *testing.T) {
	order := func(m *mocktest.Mocks) []string {
		var out []string
		for _, r := range m.Resources {
			if strings.HasSuffix(r.Name, "-upgrade") || r.Name == "cluster-backup" {
				out = append(out, r.Name)
			}
		}
		return out
	}
	m, c := runWith(t, hosts.Prod, prodNodes(), true, func(a *microk8s.Args) { a.Plan.Channel = "1.32/stable" })
	mustDepend(t, m, "cluster-backup", "cluster-finalize")
	if got := connHost(t, m.Named(t, "cluster-backup")); got != "10.0.0.1" {
		t.Errorf("the backup runs on %s, want the first master", got)
	}
	if b := script(t, m.Named(t, "cluster-backup"), "create"); !strings.Contains(b, `microk8s dbctl backup -o "$file"`) ||
		!strings.Contains(b, "file='/var/snap/microk8s/common/pm4ml-backups/dqlite-before-1.32-stable.tar.gz'") {
		t.Error("the backup step must run microk8s dbctl backup into the common directory")
	}
	chain := []string{"cluster-backup", "cluster-m1-upgrade", "cluster-m2-upgrade", "cluster-m3-upgrade", "cluster-w1-upgrade", "cluster-w2-upgrade", "cluster-w3-upgrade"}
	for i := 1; i < len(chain); i++ {
		mustDepend(t, m, chain[i], chain[i-1])
		for _, later := range chain[i:] {
			if m.DependsOnTransitively(t, chain[i-1], later) {
				t.Errorf("%s waits for %s", chain[i-1], later)
			}
		}
	}
	if got := order(m); !slices.Equal(got, chain) {
		t.Errorf("registration (preview) order %v, want %v", got, chain)
	}
	for _, n := range []string{"m1", "m2", "m3", "w1", "w2", "w3"} {
		up := m.Named(t, "cluster-"+n+"-upgrade")
		if got, want := connHost(t, up), addrOf(prodNodes(), n); got != want {
			t.Errorf("%s runs on %s, want %s", up.Name, got, want)
		}
		body := script(t, up, "create")
		for _, w := range []string{`snap refresh microk8s --channel="$target"`, "target='1.32/stable'", `k cordon "$self"`, `k uncordon "$self"`, "v1.32.*"} {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", up.Name, w)
			}
		}
		// dedicated masters run no workloads: cordoned, not drained; workers drained within a bound
		if drain := strings.Contains(body, `k drain "$self" --ignore-daemonsets --delete-emptydir-data --timeout=300s`); drain != strings.HasPrefix(n, "w") {
			t.Errorf("%s drains: %v", up.Name, drain)
		}
		if inst := script(t, m.Named(t, "cluster-"+n+"-install"), "create"); strings.Contains(inst, "snap refresh microk8s --channel") {
			t.Errorf("%s refreshes: only the rolling upgrade may", "cluster-"+n+"-install")
		}
	}
	got, _ := await[[][]string](t, c.UpgradeOrder)
	if fmt.Sprint(got) != "[[m1] [m2] [m3] [w1] [w2] [w3]]" {
		t.Errorf("upgradeOrder %v", got)
	}

	// maxUnavailable 2: the workers in batches of two, each after the whole previous batch.
	m, c = runWith(t, hosts.Prod, prodNodes(), true, func(a *microk8s.Args) { a.Plan.Channel = "1.32/stable"; a.Plan.MaxUnavailable = 2 })
	for _, w := range []string{"w1", "w2"} {
		mustDepend(t, m, "cluster-"+w+"-upgrade", "cluster-m3-upgrade")
		mustDepend(t, m, "cluster-w3-upgrade", "cluster-"+w+"-upgrade")
	}
	if m.DependsOnTransitively(t, "cluster-w2-upgrade", "cluster-w1-upgrade") || m.DependsOnTransitively(t, "cluster-w1-upgrade", "cluster-w2-upgrade") {
		t.Error("w1 and w2 are one batch with maxUnavailable 2")
	}
	if got, _ := await[[][]string](t, c.UpgradeOrder); fmt.Sprint(got) != "[[m1] [m2] [m3] [w1 w2] [w3]]" {
		t.Errorf("upgradeOrder with maxUnavailable 2: %v", got)
	}

	// stg: the combined master+worker nodes are masters (one at a time) and are drained.
	m, _ = runWith(t, hosts.Stg, stgNodes(), false, func(a *microk8s.Args) { a.Plan.MaxUnavailable = 2 })
	mustDepend(t, m, "cluster-k2-upgrade", "cluster-k1-upgrade")
	if !strings.Contains(script(t, m.Named(t, "cluster-k1-upgrade"), "create"), `k drain "$self"`) {
		t.Error("a master that runs workloads is drained")
	}
}
