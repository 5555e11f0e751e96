// Package bench measures the Pulumi program: program evaluation under mocks for 6, 30,
// 100 and 300 nodes (time, allocations, resources), the render of the prod stack, and the
// critical path (serial steps) of the prod resource graph. Results and the machine they ran on
// are in docs/BENCHMARKS.md.
//
//	go test ./tests/bench/ -run XXX -bench 'Program|RenderProd' -benchtime=3x -count=1
//	go test ./tests/bench/ -run XXX -bench 'FirewallRules|Render/' -benchtime=1x -count=1
//	go test ./tests/bench/ -run CriticalPath -v
//
// (the second line is the diagnosis of the scaling: one iteration each, as nodes=300 takes
// 10-25 s per iteration on a 2-core machine.)
//
// Benchmarks only run with -bench; the tests of this package (generator and critical path) are
// part of the normal `go test ./...` and take well under a second each.
package bench

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/fixtures"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/waves"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// prodFile is the shipped prod stack every generated configuration starts from.
const prodFile = "../../Pulumi.prod.yaml"

// benchSizes are the node counts measured (docs/BENCHMARKS.md).
var benchSizes = []int{6, 30, 100, 300}

// shape is how n hosts split into roles.
type shape struct {
	Env      hosts.Environment
	Masters  int // with Combined, each master is also a worker
	Combined bool
	LBs      int
	Storage  int
	Workers  int // dedicated workers
}

// shapeFor is the role split of a generated stack with n hosts in total.
//
// n >= 11 is prod-shaped and passes the prod policy (guide 4.1): exactly 3 dedicated masters,
// 2 HAProxy hosts, max(3, n/10) storage hosts (the storage cluster grows with the cluster), the
// rest workers. Prod cannot have fewer than 11 hosts (3+3+2+3), so n < 11 is stg-shaped
// (environment stg, guide 4.2), as close to prod as stg allows: 3 master+worker hosts (the same
// two serial master joins), 2 HAProxy hosts (the same keepalived pair) and n-5 storage hosts.
// Everything else (domain, network, HAProxy VIPs and stats, GitOps, Argo CD, waves) is the prod
// file's; hostSource stays existing (no Proxmox VMs), the bastion stays an SSH jump host only.
func shapeFor(n int) (shape, error) {
	switch {
	case n >= 11:
		st := max(3, n/10)
		return shape{Env: hosts.Prod, Masters: 3, LBs: 2, Storage: st, Workers: n - 5 - st}, nil
	case n >= 6:
		return shape{Env: hosts.Stg, Masters: 3, Combined: true, LBs: 2, Storage: n - 5}, nil
	}
	return shape{}, fmt.Errorf("no stack shape for %d hosts: use 6..10 (stg-shaped) or >= 11 (prod)", n)
}

// Total is the number of hosts of the shape.
func (s shape) Total() int { return s.Masters + s.LBs + s.Storage + s.Workers }

// fileHost is one entry of pm4ml:hosts, as the stack file writes it.
type fileHost struct {
	Name      string         `json:"name"`
	Address   string         `json:"address"`
	Roles     []string       `json:"roles"`
	CephDisks []string       `json:"cephDisks,omitempty"`
	Sizing    map[string]any `json:"sizing,omitempty"`
}

// addr is the i-th address (0-based) of a block of the prod subnet 10.10.0.0/16: 240 addresses
// per /24, starting at .11, so that no generated host takes the gateway, the DNS/NTP servers,
// the bastion or the HAProxy VIPs of Pulumi.prod.yaml (all in 10.10.0.0/24 below .21).
func addr(block, i int) string {
	return fmt.Sprintf("10.10.%d.%d", block+i/240, 11+i%240)
}

// genHosts lists the hosts of a shape in the prod file's order: masters, workers, HAProxy,
// storage. Storage hosts get the prod file's six data disks and their sizing.
func genHosts(s shape) []fileHost {
	var out []fileHost
	prefix := string(s.Env)
	for i := range s.Masters {
		roles := []string{"master"}
		if s.Combined {
			roles = append(roles, "worker")
		}
		out = append(out, fileHost{Name: fmt.Sprintf("%s-master-%d", prefix, i+1), Address: addr(1, i), Roles: roles})
	}
	for i := range s.Workers {
		out = append(out, fileHost{Name: fmt.Sprintf("%s-worker-%d", prefix, i+1), Address: addr(20, i), Roles: []string{"worker"}})
	}
	for i := range s.LBs {
		out = append(out, fileHost{Name: fmt.Sprintf("%s-lb-%d", prefix, i+1), Address: fmt.Sprintf("10.10.0.%d", 11+i), Roles: []string{"haproxy"}})
	}
	for i := range s.Storage {
		out = append(out, fileHost{
			Name: fmt.Sprintf("%s-storage-%d", prefix, i+1), Address: addr(3, i), Roles: []string{"storage"},
			CephDisks: []string{"/dev/sdb", "/dev/sdc", "/dev/sdd", "/dev/sde", "/dev/sdf", "/dev/sdg"},
			Sizing:    map[string]any{"osDiskGb": 500, "dataDisksGb": []int{8000, 8000, 8000, 8000, 8000, 8000}},
		})
	}
	return out
}

// newSSHKey is a fresh OpenSSH ed25519 private key (PEM); no key is ever committed.
func newSSHKey(tb testing.TB) string {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "pm4ml-bench")
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// prodSecrets are the secrets Pulumi.prod.yaml requires (hostSource existing, HAProxy stats on,
// https-token GitOps credentials); the stg-shaped stacks keep those settings, so they need the
// same.
var prodSecrets = []string{stacks.SecretSSHPrivateKey, stacks.SecretMCMClientSecret, stacks.SecretHAProxyStatsPass, stacks.SecretGitOpsCredential, stacks.SecretVaultToken}

// prodSource reads Pulumi.prod.yaml, points Argo CD at the install manifest of the fixtures (so
// nothing is downloaded) and sets every required secret, as a secret: sshPrivateKey is a freshly
// generated key, the others are fake values.
func prodSource(tb testing.TB) *stacks.FileSource {
	tb.Helper()
	src, err := stacks.ReadStackFile(prodFile)
	if err != nil {
		tb.Fatal(err)
	}
	setManifest(tb, src, "install-ha.yaml")
	for _, k := range prodSecrets {
		v := "pm4ml-bench-secret-value-of-" + k
		if k == stacks.SecretSSHPrivateKey {
			v = newSSHKey(tb)
		}
		src.Set(k, v, true)
	}
	return src
}

// setManifest sets argocd.manifestPath to a fixture of components/argocd/testdata.
func setManifest(tb testing.TB, src *stacks.FileSource, fixture string) {
	tb.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", "components", "argocd", "testdata", fixture))
	if err != nil {
		tb.Fatal(err)
	}
	am := map[string]any{}
	if raw, _ := src.Get("argocd"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &am); err != nil {
			tb.Fatalf("pm4ml:argocd of %s is not JSON: %v", prodFile, err)
		}
	}
	am["manifestPath"] = abs
	b, _ := json.Marshal(am)
	src.Set("argocd", string(b), false)
}

// genSource is the prod file with its hosts replaced by a generated set of n hosts (see
// shapeFor); n < 11 also switches the environment to stg.
func genSource(tb testing.TB, n int) (*stacks.FileSource, shape) {
	tb.Helper()
	s, err := shapeFor(n)
	if err != nil {
		tb.Fatal(err)
	}
	src := prodSource(tb)
	if s.Env != hosts.Prod {
		src.Set("environment", string(s.Env), false)
		setManifest(tb, src, "install.yaml") // stg defaults to the non-HA Argo CD
	}
	b, err := json.Marshal(genHosts(s))
	if err != nil {
		tb.Fatal(err)
	}
	src.Set("hosts", string(b), false)
	return src, s
}

// newMocks presets the outputs the program reads back from its own steps (the MicroCeph export
// and the first master's kubeconfig), as stacks/helpers_test.go does.
func newMocks() *mocktest.Mocks { return fixtures.ProgramMocks() }

// pulumiConfig is src as the engine hands it to the program.
func pulumiConfig(src *stacks.FileSource) (map[string]string, []string) {
	return src.PulumiConfig(func(k string) string { v, _ := src.Get(k); return v })
}

// deploy runs the Pulumi program (stacks.Deploy) once under mocks.
func deploy(tb testing.TB, cfg map[string]string, secretKeys []string) *mocktest.Mocks {
	tb.Helper()
	m := newMocks()
	if err := mocktest.RunMocks(tb, m, cfg, secretKeys, stacks.Deploy); err != nil {
		tb.Fatalf("Deploy: %v", err)
	}
	return m
}

// --- benchmarks -------------------------------------------------------------------------------

// BenchmarkProgram evaluates the whole Pulumi program under mocks for 6, 30, 100 and 300 hosts.
// Besides time and allocations it reports the registered resources, the custom resources (the
// steps the engine would run) and the serial depth of the custom resources per operation.
func BenchmarkProgram(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			src, _ := genSource(b, n)
			cfg, keys := pulumiConfig(src)
			b.ReportAllocs()
			b.ResetTimer()
			var m *mocktest.Mocks
			for b.Loop() {
				m = deploy(b, cfg, keys)
			}
			b.StopTimer()
			g, err := newGraph(m)
			if err != nil {
				b.Fatal(err)
			}
			chain := g.longest()
			b.ReportMetric(float64(len(m.Resources)), "resources/op")
			b.ReportMetric(float64(inputBytes(m)), "input-B/op")
			b.ReportMetric(float64(largestCommandLine(m)), "max-cmdline-B")
			b.ReportMetric(float64(len(g.steps)), "steps/op")
			b.ReportMetric(float64(len(chain)), "serial-steps")
		})
	}
}

// inputBytes is the size of every string input the program registered (scripts, manifests,
// triggers): what the Pulumi state and the preview carry, before the provider's outputs.
func inputBytes(m *mocktest.Mocks) int {
	n := 0
	var walk func(v resource.PropertyValue)
	walk = func(v resource.PropertyValue) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element)
		case v.IsString():
			n += len(v.StringValue())
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e)
			}
		}
	}
	for _, r := range m.Resources {
		walk(resource.NewObjectProperty(r.Inputs))
	}
	return n
}

// largestCommandLine is the longest create or delete line of a remote command: one argument
// of the SSH exec request, bounded by Linux's MAX_ARG_STRLEN (128 KiB) on the host.
func largestCommandLine(m *mocktest.Mocks) int {
	n := 0
	for _, r := range m.ByType("command:remote:Command") {
		for _, k := range []string{"create", "delete"} {
			n = max(n, len(mocktest.String(r.Inputs, k)))
		}
	}
	return n
}

// BenchmarkFirewallRules resolves the port matrix for every host of the generated stacks
// (network.Topology.RulesFor, what hostprep renders each host's nftables ruleset from): the part
// of the program that grows fastest with the number of hosts.
func BenchmarkFirewallRules(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			src, _ := genSource(b, n)
			cfg, err := stacks.Load(src)
			if err != nil {
				b.Fatal(err)
			}
			topo := cfg.Topology()
			b.ReportAllocs()
			rules := 0
			for b.Loop() {
				rules = 0
				for _, node := range topo.Nodes {
					for _, a := range topo.RulesFor(node) {
						rules += len(a.Sources)
					}
				}
			}
			b.ReportMetric(float64(rules), "sources/op")
		})
	}
}

// BenchmarkRenderProd is the render command's work on the shipped prod stack: load and validate
// Pulumi.prod.yaml (secrets count as provided, as `pm4ml render` does) and render every file
// each host receives.
func BenchmarkRenderProd(b *testing.B) {
	b.ReportAllocs()
	var arts []stacks.Artifact
	var bytes int
	for b.Loop() {
		src, err := stacks.ReadStackFile(prodFile)
		if err != nil {
			b.Fatal(err)
		}
		cfg, err := stacks.LoadForRender(src)
		if err != nil {
			b.Fatal(err)
		}
		if arts, err = stacks.Render(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for _, a := range arts {
		bytes += len(a.Content)
	}
	b.ReportMetric(float64(len(arts)), "files/op")
	b.ReportMetric(float64(bytes), "rendered-B/op")
}

// BenchmarkRender renders the generated stacks of BenchmarkProgram (the pure half of the
// program: config, port matrix, every script and file), to separate rendering from the Pulumi
// engine's share in the scaling.
func BenchmarkRender(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			src, _ := genSource(b, n)
			b.ReportAllocs()
			var arts []stacks.Artifact
			for b.Loop() {
				cfg, err := stacks.LoadForRender(src)
				if err != nil {
					b.Fatal(err)
				}
				if arts, err = stacks.Render(cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			bytes := 0
			for _, a := range arts {
				bytes += len(a.Content)
			}
			b.ReportMetric(float64(len(arts)), "files/op")
			b.ReportMetric(float64(bytes), "rendered-B/op")
		})
	}
}

// --- critical path ----------------------------------------------------------------------------

// graph is the dependency graph of the steps of a recorded program run. A step is a custom
// resource that does work when created (remote and local commands, VMs, Kubernetes objects,
// the Vault secret) or a Kubernetes multi-object resource (yaml/v2 ConfigGroup, a remote
// component: under mocks its objects are not expanded). Providers are not steps: a dependency
// through a provider (the Kubernetes objects on the provider built from the kubeconfig) counts
// as a dependency on what the provider depends on. A dependency on a component counts as one on
// every step below it.
type graph struct {
	byURN map[string]mocktest.Resource
	steps []string            // URNs, sorted
	preds map[string][]string // step URN -> the steps it waits for (sorted, unique)
	// memo of longest: the length of the longest chain ending at a step and its predecessor
	depth map[string]int
	prev  map[string]string
}

func isProvider(r mocktest.Resource) bool { return strings.HasPrefix(r.Type, "pulumi:providers:") }

func isStep(r mocktest.Resource) bool {
	return (r.Custom && !isProvider(r)) || strings.HasPrefix(r.Type, "kubernetes:yaml/")
}

// providerURN strips the "::<id>" of a provider reference.
func providerURN(ref string) string {
	if ref == "" {
		return ""
	}
	i := strings.LastIndex(ref, "::")
	if i < 0 {
		return ref
	}
	return ref[:i]
}

func newGraph(m *mocktest.Mocks) (*graph, error) {
	g := &graph{byURN: map[string]mocktest.Resource{}, preds: map[string][]string{}, depth: map[string]int{}, prev: map[string]string{}}
	for _, r := range m.Resources {
		if _, dup := g.byURN[r.URN]; dup {
			return nil, fmt.Errorf("URN %s registered twice", r.URN)
		}
		g.byURN[r.URN] = r
		if isStep(r) {
			g.steps = append(g.steps, r.URN)
		}
	}
	slices.Sort(g.steps) // registration order depends on scheduling; ties must break the same way
	for _, u := range g.steps {
		r := g.byURN[u]
		var ps []string
		for _, d := range append(slices.Clone(r.Deps), providerURN(r.Provider)) {
			if d == "" {
				continue
			}
			got, err := g.resolve(d, map[string]bool{})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.Name, err)
			}
			ps = append(ps, got...)
		}
		slices.Sort(ps)
		g.preds[u] = slices.Compact(ps)
	}
	return g, nil
}

// resolve turns a dependency into the steps it stands for.
func (g *graph) resolve(u string, seen map[string]bool) ([]string, error) {
	if seen[u] {
		return nil, nil
	}
	seen[u] = true
	r, ok := g.byURN[u]
	if !ok {
		return nil, fmt.Errorf("depends on %s, which was never registered", u)
	}
	if isStep(r) {
		return []string{u}, nil
	}
	var out []string
	if isProvider(r) {
		for _, d := range append(slices.Clone(r.Deps), providerURN(r.Provider)) {
			if d == "" {
				continue
			}
			got, err := g.resolve(d, seen)
			if err != nil {
				return nil, fmt.Errorf("through provider %s: %w", r.Name, err)
			}
			out = append(out, got...)
		}
		return out, nil
	}
	for _, c := range g.steps { // a component: every step below it
		for p := g.byURN[c].Parent; p != ""; p = g.byURN[p].Parent {
			if p == u {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

// chainTo is the longest chain of steps ending at step u (u last).
func (g *graph) chainTo(u string) []string {
	g.measure(u, map[string]bool{})
	var out []string
	for ; u != ""; u = g.prev[u] {
		out = append(out, u)
	}
	slices.Reverse(out)
	return out
}

func (g *graph) measure(u string, onStack map[string]bool) int {
	if d, ok := g.depth[u]; ok {
		return d
	}
	if onStack[u] {
		panic("dependency cycle through " + g.byURN[u].Name)
	}
	onStack[u] = true
	best, prev := 0, ""
	for _, p := range g.preds[u] {
		if d := g.measure(p, onStack); d > best || (d == best && prev == "") {
			best, prev = d, p
		}
	}
	delete(onStack, u)
	g.depth[u], g.prev[u] = best+1, prev
	return best + 1
}

// longest is the longest chain of steps of the whole graph (the serial depth of a `pulumi up`
// with unlimited parallelism: no step can start before its predecessors on it are done).
func (g *graph) longest() []string {
	var best []string
	for _, u := range g.steps {
		if c := g.chainTo(u); len(c) > len(best) {
			best = c
		}
	}
	return best
}

func (g *graph) names(urns []string) []string {
	out := make([]string, len(urns))
	for i, u := range urns {
		out[i] = g.byURN[u].Name
	}
	return out
}

// area is the first part of a step's name: the component family it belongs to (prep, microk8s,
// microceph, storage, argocd, waves, mcm, verify).
func area(name string) string {
	a, _, _ := strings.Cut(name, "-")
	return a
}

// waveOf reads the pm4ml.io/wave annotation of a recorded Application ("" for other resources).
func waveOf(r mocktest.Resource) string {
	md := r.Inputs[resource.PropertyKey("metadata")]
	for md.IsSecret() {
		md = md.SecretValue().Element
	}
	if !md.IsObject() {
		return ""
	}
	ann := md.ObjectValue()[resource.PropertyKey("annotations")]
	if !ann.IsObject() {
		return ""
	}
	w := ann.ObjectValue()[resource.PropertyKey(waves.AnnotationWave)]
	if !w.IsString() {
		return ""
	}
	return w.StringValue()
}

// TestCriticalPath computes, from the resources the prod stack registers under mocks, the serial
// depth of `pulumi up` (the longest dependency chain of steps) against the total number of
// steps, and checks it against what the design makes serial: the 11 waves one after the other
// and the master joins one at a time.
func TestCriticalPath(t *testing.T) {
	cfgMap, keys := pulumiConfig(prodSource(t))
	m := deploy(t, cfgMap, keys)
	g, err := newGraph(m)
	if err != nil {
		t.Fatal(err)
	}
	chain := g.longest()
	depth, total := len(chain), len(g.steps)
	t.Logf("prod: %d resources registered, %d steps (custom resources without providers, plus the Argo CD ConfigGroup); critical path %d serial steps (%.0f%%)",
		len(m.Resources), total, depth, 100*float64(depth)/float64(total))
	perArea := map[string]int{}
	var order []string
	for i, n := range g.names(chain) {
		t.Logf("  %2d %s", i+1, n)
		if perArea[area(n)] == 0 {
			order = append(order, area(n))
		}
		perArea[area(n)]++
	}
	var parts []string
	for _, a := range order {
		parts = append(parts, fmt.Sprintf("%s %d", a, perArea[a]))
	}
	t.Logf("per area along the chain: %s", strings.Join(parts, ", "))

	if depth >= total {
		t.Errorf("critical path %d is not shorter than the %d steps: nothing runs in parallel", depth, total)
	}
	// The waves: the chain must cross every wave, in the configured order.
	cfg, err := stacks.Load(prodSource(t))
	if err != nil {
		t.Fatal(err)
	}
	var waveOrder []string
	for _, w := range cfg.Waves {
		waveOrder = append(waveOrder, w.Name)
	}
	var crossed []string
	for _, u := range chain {
		if w := waveOf(g.byURN[u]); w != "" && !slices.Contains(crossed, w) {
			crossed = append(crossed, w)
		}
	}
	if len(waveOrder) != 11 {
		t.Errorf("prod has %d waves, the guide 11 (6.1): %v", len(waveOrder), waveOrder)
	}
	// Argo CD waits for MicroK8s only (not for the StorageClasses: only the storage wave does), and
	// the API's users wait for the masters' rolling upgrade steps (serial by design, one master at
	// a time; on day 1 each finds nothing to do), not for the workers' (they roll beside the
	// waves, so the depth does not grow with the workers). With 3 masters that MicroK8s branch is
	// the longer one: the chain runs finalize, the backup, every master's upgrade in order, Argo CD
	// and every wave in order.
	if !slices.Equal(crossed, waveOrder) {
		t.Errorf("the critical path crosses the waves %v, want all of %v in order", crossed, waveOrder)
	}
	names := g.names(chain)
	want := []string{"microk8s-finalize", "microk8s-backup"}
	for _, h := range cfg.HostsWith(hosts.RoleMaster) {
		want = append(want, "microk8s-"+h.Name+"-upgrade")
	}
	want = append(want, "argocd-namespace")
	if i := slices.Index(names, want[0]); i < 0 || i+len(want) > len(names) || !slices.Equal(names[i:i+len(want)], want) {
		t.Errorf("the critical path does not run %v in a row: %v", want, names)
	}
	for _, h := range cfg.HostsWith(hosts.RoleWorker) {
		if slices.Contains(h.Roles, hosts.RoleMaster) {
			continue
		}
		if n := "microk8s-" + h.Name + "-upgrade"; slices.Contains(names, n) {
			t.Errorf("a worker's upgrade (%s) is on the critical path: what uses the API waits for it", n)
		}
	}
	if sw := slices.Index(waveOrder, stacks.StorageWave); sw < 0 {
		t.Fatalf("prod has no wave %q", stacks.StorageWave)
	}
	// The master joins: the longest chain to the cluster's finalize step passes every master
	// join, one after the other (the joins are serial by design).
	var joins []string
	for _, h := range cfg.HostsWith(hosts.RoleMaster)[1:] {
		joins = append(joins, "microk8s-"+h.Name+"-join")
	}
	fin := ""
	for _, u := range g.steps {
		if g.byURN[u].Name == "microk8s-finalize" {
			fin = u
		}
	}
	if fin == "" {
		t.Fatal("no microk8s-finalize step")
	}
	var onJoinPath []string
	for _, n := range g.names(g.chainTo(fin)) {
		if strings.HasSuffix(n, "-join") && slices.Contains(joins, n) {
			onJoinPath = append(onJoinPath, n)
		}
	}
	if !slices.Equal(onJoinPath, joins) {
		t.Errorf("the longest chain to microk8s-finalize passes the master joins %v, want %v in series", onJoinPath, joins)
	}
	if min := len(waveOrder) + len(joins); depth < min {
		t.Errorf("critical path %d < %d waves + %d serial master joins", depth, len(waveOrder), len(joins))
	}
	// Every link of the chain is a real dependency.
	for i := 1; i < len(chain); i++ {
		if !slices.Contains(g.preds[chain[i]], chain[i-1]) {
			t.Errorf("%s does not wait for %s", g.byURN[chain[i]].Name, g.byURN[chain[i-1]].Name)
		}
	}
}

// TestGraph checks the critical-path machinery on a hand-made graph: a dependency on a component
// stands for the steps below it, one through a provider for what the provider depends on.
func TestGraph(t *testing.T) {
	u := func(typ, name string) string { return "urn:pulumi:test::pm4ml-onprem::" + typ + "::" + name }
	comp, a, b, prov, k, z, late := u("pm4ml:x:C", "c"), u("command:remote:Command", "c-a"), u("command:remote:Command", "b"),
		u("pulumi:providers:kubernetes", "p"), u("kubernetes:core/v1:Namespace", "k"), u("command:remote:Command", "z"), u("command:remote:Command", "late")
	m := &mocktest.Mocks{Resources: []mocktest.Resource{
		{URN: comp, Name: "c", Type: "pm4ml:x:C"},
		{URN: a, Name: "c-a", Type: "command:remote:Command", Custom: true, Parent: comp},
		{URN: b, Name: "b", Type: "command:remote:Command", Custom: true, Deps: []string{comp}},
		{URN: prov, Name: "p", Type: "pulumi:providers:kubernetes", Custom: true, Deps: []string{b}},
		{URN: k, Name: "k", Type: "kubernetes:core/v1:Namespace", Custom: true, Provider: prov + "::p-id"},
		{URN: z, Name: "z", Type: "command:remote:Command", Custom: true},
		{URN: late, Name: "late", Type: "command:remote:Command", Custom: true, Deps: []string{z, a}},
	}}
	g, err := newGraph(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.steps) != 5 {
		t.Errorf("%d steps, want 5 (the provider and the component are not steps)", len(g.steps))
	}
	if got := g.names(g.longest()); !slices.Equal(got, []string{"c-a", "b", "k"}) {
		t.Errorf("longest chain %v, want [c-a b k]", got)
	}
	if got := g.names(g.chainTo(late)); len(got) != 2 || got[1] != "late" {
		t.Errorf("chain to late %v, want two steps ending at late", got)
	}
	m.Resources = append(m.Resources, mocktest.Resource{URN: u("command:remote:Command", "bad"), Name: "bad", Custom: true, Type: "command:remote:Command", Deps: []string{u("x:y:Z", "ghost")}})
	if _, err := newGraph(m); err == nil || !strings.Contains(err.Error(), "never registered") {
		t.Errorf("a dependency on an unregistered URN gave %v, want an error", err)
	}
}

// TestGeneratedStacks: every generated stack passes the program's own validation (stacks.Load,
// as `pulumi up` does) with the intended role split, so the benchmarks measure valid stacks.
func TestGeneratedStacks(t *testing.T) {
	for _, n := range append([]int{11}, benchSizes...) {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			src, s := genSource(t, n)
			cfg, err := stacks.Load(src)
			if err != nil {
				t.Fatalf("generated stack does not load: %v", err)
			}
			if len(cfg.Hosts) != n || s.Total() != n {
				t.Fatalf("%d hosts (shape %d), want %d", len(cfg.Hosts), s.Total(), n)
			}
			if cfg.Environment != s.Env {
				t.Errorf("environment %s, want %s", cfg.Environment, s.Env)
			}
			count := func(r hosts.Role) int { return len(cfg.HostsWith(r)) }
			want := map[hosts.Role]int{hosts.RoleMaster: 3, hosts.RoleHAProxy: 2, hosts.RoleStorage: s.Storage, hosts.RoleWorker: s.Workers, hosts.RoleBastion: 0}
			if s.Combined {
				want[hosts.RoleWorker] = 3
			}
			for r, w := range want {
				if got := count(r); got != w {
					t.Errorf("%d %s hosts, want %d", got, r, w)
				}
			}
			if n >= 11 && (s.Env != hosts.Prod || s.Storage < 3 || s.Workers < 3) {
				t.Errorf("shape %+v does not follow the prod policy", s)
			}
		})
	}
	if _, err := shapeFor(5); err == nil {
		t.Error("shapeFor(5) gave a shape: 5 hosts cannot hold 3 masters and 2 HAProxy hosts")
	}
}
