package stacks

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// renderRunCase is one stack TestRenderIsWhatRuns runs and renders.
type renderRunCase struct {
	name string
	src  func(t testing.TB) *FileSource
}

// renderRunCases are the shipped stacks, the lab's stack, a generated 100-host prod stack with
// WireGuard on (no shipped stack enables it) and the lab's stack with lost hosts, so that every
// component's steps are covered, the removals of lost machines included.
var renderRunCases = []renderRunCase{
	{"prod", func(t testing.TB) *FileSource { return stackSource(t, "prod") }},
	{"stg", func(t testing.TB) *FileSource { return stackSource(t, "stg") }},
	{"stacklab", stacklabSource},
	{"gen100-wireguard", func(t testing.TB) *FileSource { return generatedSource(t, 100, true) }},
	// the lab's stack with a worker and a storage host lost (README "Day 2: a host gone for good"):
	// their removals run from survivors; their frozen steps run nothing render writes (below)
	{"stacklab-lost-h5-h10", func(t testing.TB) *FileSource {
		src := stacklabSource(t)
		markLost(t, src, "h5", "", "")
		markLost(t, src, "h10", "", "")
		return src
	}},
}

// stacklabSource is the lab's stack (tests/lab) with its secrets set.
func stacklabSource(t testing.TB) *FileSource {
	return sourceWithSecrets(t, filepath.Join("..", "tests", "lab", "testdata", "Pulumi.stacklab.yaml"), "install.yaml")
}

// sourceWithSecrets reads a stack file, points Argo CD at a fixture manifest and sets every
// secret its settings require (as stackSource does for the shipped stacks).
func sourceWithSecrets(t testing.TB, path, manifest string) *FileSource {
	t.Helper()
	src, err := ReadStackFile(path)
	if err != nil {
		t.Fatal(err)
	}
	setManifestPath(t, src, manifest)
	cfg, err := LoadForRender(src)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for k := range RequiredSecrets(cfg) {
		v := fakeSecret(k)
		if k == SecretSSHPrivateKey {
			v, _ = newSSHKey(t)
		}
		src.Set(k, v, true)
	}
	return src
}

func setManifestPath(t testing.TB, src *FileSource, manifest string) {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "components", "argocd", "testdata", manifest))
	if err != nil {
		t.Fatal(err)
	}
	am := map[string]any{}
	if raw, _ := src.Get("argocd"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &am); err != nil {
			t.Fatal(err)
		}
	}
	am["manifestPath"] = abs
	b, _ := json.Marshal(am)
	src.Set("argocd", string(b), false)
}

// generatedSource is Pulumi.prod.yaml with n generated hosts (3 masters, 2 HAProxy hosts,
// max(3, n/10) storage hosts, the rest workers; n >= 11), optionally with WireGuard enabled.
func generatedSource(t testing.TB, n int, wg bool) *FileSource {
	t.Helper()
	if n < 11 {
		t.Fatalf("a generated prod stack needs at least 11 hosts, not %d", n)
	}
	src := stackSource(t, "prod")
	addr := func(block, i int) string { return fmt.Sprintf("10.10.%d.%d", block+i/240, 11+i%240) }
	type host struct {
		Name      string         `json:"name"`
		Address   string         `json:"address"`
		Roles     []string       `json:"roles"`
		CephDisks []string       `json:"cephDisks,omitempty"`
		Sizing    map[string]any `json:"sizing,omitempty"`
	}
	storage := max(3, n/10)
	var hs []host
	for i := range 3 {
		hs = append(hs, host{Name: fmt.Sprintf("gen-master-%d", i+1), Address: addr(1, i), Roles: []string{"master"}})
	}
	for i := range n - 5 - storage {
		hs = append(hs, host{Name: fmt.Sprintf("gen-worker-%d", i+1), Address: addr(20, i), Roles: []string{"worker"}})
	}
	for i := range 2 {
		hs = append(hs, host{Name: fmt.Sprintf("gen-lb-%d", i+1), Address: fmt.Sprintf("10.10.0.%d", 11+i), Roles: []string{"haproxy"}})
	}
	for i := range storage {
		hs = append(hs, host{Name: fmt.Sprintf("gen-storage-%d", i+1), Address: addr(3, i), Roles: []string{"storage"},
			CephDisks: []string{"/dev/sdb", "/dev/sdc"},
			Sizing:    map[string]any{"osDiskGb": 500, "dataDisksGb": []int{8000, 8000}}})
	}
	b, err := json.Marshal(hs)
	if err != nil {
		t.Fatal(err)
	}
	src.Set("hosts", string(b), false)
	if wg {
		w, _ := json.Marshal(map[string]any{"enabled": true, "address": "10.200.0.1/24", "peers": []map[string]any{
			{"name": "hub", "publicKey": newWGKey(t), "allowedIps": []string{"10.201.0.0/24"}, "endpoint": "203.0.113.7:51820"},
			{"name": "ops", "publicKey": newWGKey(t), "allowedIps": []string{"10.202.0.0/24"}},
		}})
		src.Set("wireguard", string(w), false)
		src.Set(SecretWireGuardKey, fakeSecret(SecretWireGuardKey), true)
	}
	return src
}

// parseInvocation is the inverse of remotecmd.Invocation: the step ($0) and the script of a
// command line. ok is false for any line Invocation cannot have produced (the round trip is
// checked, so a parsing mistake cannot hide a difference).
func parseInvocation(user, line string) (step, body string, ok bool) {
	rest := line
	if user != "root" {
		if rest, ok = strings.CutPrefix(rest, "sudo -n "); !ok {
			return "", "", false
		}
	}
	if rest, ok = strings.CutPrefix(rest, "bash -c '"); !ok {
		return "", "", false
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(rest, '\'')
		if i < 0 {
			return "", "", false
		}
		b.WriteString(rest[:i])
		rest = rest[i+1:]
		if after, esc := strings.CutPrefix(rest, `\''`); esc {
			b.WriteByte('\'')
			rest = after
			continue
		}
		break
	}
	step, tail, found := strings.Cut(strings.TrimPrefix(rest, " "), " ")
	if !found || tail != `"${SSH_CONNECTION%% *}"` {
		return "", "", false
	}
	body = b.String()
	return step, body, remotecmd.Invocation(user, step, body) == line
}

// stepOf is the PM4ML_STEP a rendered script sets (its name in every log line).
func stepOf(body string) string {
	for _, l := range strings.SplitN(body, "\n", 6) {
		if v, ok := strings.CutPrefix(l, "PM4ML_STEP="); ok {
			return v
		}
	}
	return ""
}

// TestRenderIsWhatRuns: for every stack, every remote command the program registers under mocks
// runs, on its host, byte for byte a script `pm4ml render` writes for that host (create and
// delete), under the step name the script itself carries; every script render writes is run by
// exactly one command (as its create or its delete), and every other rendered file (a
// configuration a script installs) is inside a script that runs on that host. So a reviewer of
// the render output reads all of what runs and nothing that does not.
func TestRenderIsWhatRuns(t *testing.T) {
	for _, tc := range renderRunCases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src(t)
			m, err := runStack(t, src)
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			c, err := LoadForRender(src)
			if err != nil {
				t.Fatal(err)
			}
			arts, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			checkRenderIsWhatRuns(t, c, arts, m)
		})
	}
}

func checkRenderIsWhatRuns(t *testing.T, c *Config, arts []Artifact, m *mocktest.Mocks) {
	t.Helper()
	hostOf := map[string]string{} // address -> host name
	for _, h := range c.Hosts {
		hostOf[h.Address] = h.Name
	}
	// rendered scripts by host and content -> their files; the other files by host
	scripts := map[string]map[string][]Artifact{}
	var configs []Artifact
	for _, a := range arts {
		host, _, _ := strings.Cut(a.Path, "/")
		if a.Path == "MANIFEST.md" {
			continue
		}
		if a.Host() != host || strings.Count(a.Path, "/") != 2 {
			t.Errorf("%s is not <host>/<component>/<file>", a.Path)
		}
		if !strings.HasSuffix(a.Path, ".sh") {
			if a.Step != "" || a.Mode == remotecmd.ScriptMode {
				t.Errorf("configuration file %s: step %q, mode %o", a.Path, a.Step, a.Mode)
			}
			configs = append(configs, a)
			continue
		}
		if a.Mode != remotecmd.ScriptMode || a.Delete != strings.HasSuffix(a.Path, remotecmd.DeleteSuffix) {
			t.Errorf("script %s: mode %o, delete %v", a.Path, a.Mode, a.Delete)
		}
		if scripts[host] == nil {
			scripts[host] = map[string][]Artifact{}
		}
		scripts[host][a.Content] = append(scripts[host][a.Content], a)
	}
	for host, byBody := range scripts {
		for _, fs := range byBody {
			if len(fs) > 1 {
				t.Errorf("%s: render writes the same script twice: %s and %s", host, fs[0].Path, fs[1].Path)
			}
		}
	}
	used := map[string]string{}     // rendered path -> the command that runs it
	bodies := map[string][]string{} // host -> the scripts its commands run
	cmds := m.ByType("command:remote:Command")
	if len(cmds) < 4*len(c.Hosts) {
		t.Fatalf("only %d remote commands for %d hosts", len(cmds), len(c.Hosts))
	}
	match := func(r mocktest.Resource, host, what, line, wantStep string) {
		createStep, _, _ := parseInvocation(c.SSH.User, mocktest.String(r.Inputs, "create"))
		step, body, ok := parseInvocation(c.SSH.User, line)
		if !ok {
			t.Errorf("%s: %s line is not a remotecmd invocation as %s: %.120q", r.Name, what, c.SSH.User, line)
			return
		}
		if wantStep != "" && step != wantStep {
			t.Errorf("%s: %s runs as %q, want %q", r.Name, what, step, wantStep)
		}
		if what == "create" && stepOf(body) != step {
			t.Errorf("%s: runs as %q a script that calls itself %q", r.Name, step, stepOf(body))
		}
		fs := scripts[host][body]
		if len(fs) == 0 {
			t.Errorf("%s: the %s script (step %s) of %s is not a script render writes for %s", r.Name, what, step, host, host)
			return
		}
		f := fs[0]
		if f.Step != createStep || f.Delete != (what == "delete") {
			t.Errorf("%s: render names %s a script of step %q (delete %v), but it is the %s script of %q", r.Name, f.Path, f.Step, f.Delete, what, createStep)
		}
		if prev, dup := used[f.Path]; dup {
			t.Errorf("%s is run by both %s and %s", f.Path, prev, r.Name)
		}
		used[f.Path] = r.Name
		bodies[host] = append(bodies[host], body)
	}
	var lost []string
	for _, h := range c.LostHosts() {
		lost = append(lost, h.Name)
	}
	frozen := 0
	for _, r := range cmds {
		// A frozen step (a membership step on or about a machine gone for good: every input
		// ignored, retained on delete) keeps what it ran when it was created and never runs
		// again; render writes nothing for it. It must be about a lost host.
		if r.Frozen() {
			if !slices.ContainsFunc(lost, func(h string) bool { return slices.Contains(strings.Split(r.Name, "-"), h) }) {
				t.Errorf("%s is frozen but names no lost host (%v)", r.Name, lost)
			}
			frozen++
			continue
		}
		addr := prop(resource.NewObjectProperty(r.Inputs), "connection", "host")
		host, ok := hostOf[addr.StringValue()]
		if !addr.IsString() || !ok {
			t.Errorf("%s: connection.host %v is no host of the stack", r.Name, addr)
			continue
		}
		create := mocktest.String(r.Inputs, "create")
		step, _, _ := parseInvocation(c.SSH.User, create)
		match(r, host, "create", create, "")
		if del := mocktest.String(r.Inputs, "delete"); del != "" {
			match(r, host, "delete", del, step+"-delete")
		}
	}
	if (frozen > 0) != (len(lost) > 0) {
		t.Errorf("%d frozen steps for the lost hosts %v", frozen, lost)
	}
	for host, byBody := range scripts {
		for _, fs := range byBody {
			for _, f := range fs {
				if _, ok := used[f.Path]; !ok {
					t.Errorf("render writes %s, but no remote command on %s runs it", f.Path, host)
				}
			}
		}
	}
	for _, a := range configs {
		host, _, _ := strings.Cut(a.Path, "/")
		carried := a.Content
		if a.Carried != "" { // built on the host from data the script carries (the component's tests prove the build)
			carried = a.Carried
		}
		if !slices.ContainsFunc(bodies[host], func(b string) bool { return strings.Contains(b, carried) }) {
			t.Errorf("render writes %s, but no script that runs on %s carries it", a.Path, host)
		}
	}
}
