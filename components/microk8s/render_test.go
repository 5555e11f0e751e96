package microk8s_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"

	"gopkg.in/yaml.v3"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

func planOf(env hosts.Environment, ns []hosts.Host, dedicated bool, user string) microk8s.Plan {
	p := microk8s.Plan{Environment: env, Channel: "1.31/stable", DedicatedMasters: dedicated, User: user}
	for _, h := range ns {
		p.Nodes = append(p.Nodes, microk8s.Node{Name: h.Name, Address: h.Address, Roles: h.Roles})
	}
	return p
}

func TestJoinToken(t *testing.T) {
	// Vectors from: printf %s microk8s-join/<node> | openssl dgst -sha256 -hmac <secret>, cut to 32.
	for node, want := range map[string]string{"m2": "b1cffa3ed3899164d01187b8005e3d34", "w1": "01c8bbe46f2bdf31dd0dff67b7730beb"} {
		if got := microk8s.JoinToken(joinSecret, node); got != want {
			t.Errorf("JoinToken(%s) = %s, want %s", node, got, want)
		}
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]string{}
	for _, n := range []string{"m1", "m2", "m3", "w1", "w2", "w3", "k1", "k2"} {
		tok := microk8s.JoinToken(joinSecret, n)
		if !hex32.MatchString(tok) {
			t.Errorf("token of %s is %q: MicroK8s takes 32 characters", n, tok)
		}
		if again := microk8s.JoinToken(joinSecret, n); again != tok {
			t.Errorf("token of %s is not stable: %s then %s", n, tok, again)
		}
		if o, dup := seen[tok]; dup {
			t.Errorf("%s and %s share a token", n, o)
		}
		seen[tok] = n
		if microk8s.JoinToken(joinSecret+"x", n) == tok {
			t.Errorf("token of %s does not depend on the secret", n)
		}
	}
}

const microk8sConfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi
    server: https://192.168.122.7:16443
  name: microk8s-cluster
contexts:
- context:
    cluster: microk8s-cluster
    user: admin
  name: microk8s
current-context: microk8s
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ`

func TestKubeconfigFromOutput(t *testing.T) {
	stdout := "-----BEGIN PM4ML MICROK8S KUBECONFIG-----\n" + microk8sConfig + "\n-----END PM4ML MICROK8S KUBECONFIG-----\npm4ml: microk8s-kubeconfig: no change"
	got, err := microk8s.KubeconfigFromOutput(stdout, "https://10.0.0.1:16443")
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster map[string]string `yaml:"cluster"`
			Name    string            `yaml:"name"`
		} `yaml:"clusters"`
		Users []struct {
			User map[string]string `yaml:"user"`
		} `yaml:"users"`
		CurrentContext string `yaml:"current-context"`
	}
	if err := yaml.Unmarshal([]byte(got), &kc); err != nil {
		t.Fatal(err)
	}
	if len(kc.Clusters) != 1 || kc.Clusters[0].Cluster["server"] != "https://10.0.0.1:16443" || kc.Clusters[0].Cluster["certificate-authority-data"] != "LS0tLS1CRUdJTi" {
		t.Errorf("clusters %+v", kc.Clusters)
	}
	if len(kc.Users) != 1 || kc.Users[0].User["client-key-data"] != "S0VZ" || kc.CurrentContext != "microk8s" {
		t.Errorf("the rest of the kubeconfig must be kept: %s", got)
	}
	if strings.Contains(got, "pm4ml:") || strings.Contains(got, "192.168.122.7") {
		t.Errorf("markers, summary or the old server remain:\n%s", got)
	}
	if kc, err := microk8s.KubeconfigFromOutput("", "https://x:16443"); kc != "" || err != nil {
		t.Errorf("empty output: %q %v", kc, err)
	}
	for _, bad := range []string{"pm4ml: microk8s-kubeconfig: no change", "-----BEGIN PM4ML MICROK8S KUBECONFIG-----\nkind: Config\n"} {
		if _, err := microk8s.KubeconfigFromOutput(bad, "https://x:16443"); err == nil || !strings.Contains(err.Error(), "markers") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
	noServer := "-----BEGIN PM4ML MICROK8S KUBECONFIG-----\nclusters:\n- cluster: {}\n-----END PM4ML MICROK8S KUBECONFIG-----\n"
	if _, err := microk8s.KubeconfigFromOutput(noServer, "https://x:16443"); err == nil {
		t.Error("a cluster without server must be refused")
	}
}

// The component runs exactly what Render returns (the render command shows the same bytes).
func TestComponentRunsTheRenderedScripts(t *testing.T) {
	m, _ := runProd(t)
	r, err := microk8s.Render(planOf(hosts.Prod, prodNodes(), true, "ubuntu"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, s remotecmd.Script) {
		t.Helper()
		res := m.Named(t, name)
		if got, want := mocktest.String(res.Inputs, "create"), remotecmd.Invocation("ubuntu", s.Step, s.Body); got != want {
			t.Errorf("%s: create differs from the rendered %s", name, s.Step)
		}
		wantDel := ""
		if s.DeleteBody != "" {
			wantDel = remotecmd.Invocation("ubuntu", s.Step+"-delete", s.DeleteBody)
		}
		if got := mocktest.String(res.Inputs, "delete"); got != wantDel {
			t.Errorf("%s: delete differs from the rendered %s", name, s.Step)
		}
	}
	for _, n := range prodNodes() {
		check("cluster-"+n.Name+"-install", r.Install[n.Name])
	}
	for _, n := range r.JoinOrder {
		check("cluster-"+n+"-token", r.Token[n])
		check("cluster-"+n+"-join", r.Join[n])
	}
	for _, n := range []string{"m1", "m2", "m3"} {
		check("cluster-"+n+"-kubeconfig", r.Kubeconfig[n])
	}
	check("cluster-finalize", r.Finalize)
	if !slices.Equal(r.JoinOrder, []string{"m2", "m3", "m1", "w1", "w2", "w3"}) {
		t.Errorf("join order %v", r.JoinOrder)
	}
	// every node joins through the first master, the first master through the next one
	if want := map[string]string{"m2": "m1", "m3": "m1", "m1": "m2", "w1": "m1", "w2": "m1", "w3": "m1"}; !maps.Equal(r.Via, want) {
		t.Errorf("via %v, want %v", r.Via, want)
	}
}

func TestRenderFiles(t *testing.T) {
	r, err := microk8s.Render(planOf(hosts.Prod, prodNodes(), true, "ubuntu"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Files() {
		got = append(got, f.Host()+"/"+f.Name())
		if f.Content == "" || !strings.HasPrefix(f.Content, "#!/usr/bin/env bash\n") || f.Mode != 0o755 {
			t.Errorf("%s: not a complete script (mode %o)", f.Path, f.Mode)
		}
	}
	want := []string{"m1/10-install.sh", "m1/20-join.sh", "m1/20-join.delete.sh", "m1/25-kubeconfig.sh",
		"m1/30-token-01-m2.sh", "m1/30-token-01-m2.delete.sh", "m1/40-drain-01-m2.sh", "m1/40-drain-01-m2.delete.sh",
		"m1/30-token-02-m3.sh", "m1/30-token-02-m3.delete.sh", "m1/40-drain-02-m3.sh", "m1/40-drain-02-m3.delete.sh",
		"m1/30-token-04-w1.sh", "m1/30-token-04-w1.delete.sh", "m1/40-drain-04-w1.sh", "m1/40-drain-04-w1.delete.sh",
		"m1/30-token-05-w2.sh", "m1/30-token-05-w2.delete.sh", "m1/40-drain-05-w2.sh", "m1/40-drain-05-w2.delete.sh",
		"m1/30-token-06-w3.sh", "m1/30-token-06-w3.delete.sh", "m1/40-drain-06-w3.sh", "m1/40-drain-06-w3.delete.sh", "m1/90-finalize.sh",
		"m1/91-backup.sh", "m1/92-upgrade.sh",
		// m1's own token (its removal) is registered through m2
		"m2/10-install.sh", "m2/20-join.sh", "m2/20-join.delete.sh", "m2/25-kubeconfig.sh", "m2/30-token-03-m1.sh", "m2/30-token-03-m1.delete.sh", "m2/40-drain-03-m1.sh", "m2/40-drain-03-m1.delete.sh", "m2/92-upgrade.sh",
		"m3/10-install.sh", "m3/20-join.sh", "m3/20-join.delete.sh", "m3/25-kubeconfig.sh", "m3/92-upgrade.sh"}
	for _, n := range []string{"w1", "w2", "w3"} {
		want = append(want, n+"/10-install.sh", n+"/20-join.sh", n+"/20-join.delete.sh", n+"/92-upgrade.sh")
	}
	if !slices.Equal(got, want) {
		t.Errorf("files\n%q\nwant\n%q", got, want)
	}
}

func TestRenderValidation(t *testing.T) {
	p := planOf(hosts.Prod, prodNodes(), true, "ubuntu")
	p.Channel = "1.31 stable"
	p.User = ""
	p.Addons = []string{"dns", "metallb:10.0.0.1-10.0.0.9"}
	p.Nodes = append(p.Nodes, microk8s.Node{Name: "Bad_Name", Address: "10.0.0.9", Roles: hosts.NewRoles(hosts.RoleWorker)},
		microk8s.Node{Name: "w9", Address: "", Roles: hosts.NewRoles(hosts.RoleWorker)})
	_, err := microk8s.Render(p)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"pm4ml:microk8s.channel", "pm4ml:ssh.user", `addon "metallb:10.0.0.1-10.0.0.9"`, `"Bad_Name" is not a DNS label`, `"w9" has no usable address`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q (all problems are reported at once):\n%v", want, err)
		}
	}
	// Defaults: channel and addons.
	p = planOf(hosts.Stg, stgNodes(), false, "root")
	p.Channel = ""
	r, err := microk8s.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Plan.Channel != microk8s.DefaultChannel || !slices.Equal(r.Plan.Addons, microk8s.DefaultAddons) {
		t.Errorf("defaults: channel %q addons %v", r.Plan.Channel, r.Plan.Addons)
	}
	if strings.Contains(r.Install["k1"].Body, "usermod") || strings.Contains(r.Install["k1"].Body, "sudo") {
		t.Error("root needs neither a group nor sudo")
	}
}

// lostPlan is prod whose third worker and first master are lost (gone for good).
func lostPlan() microk8s.Plan {
	p := planOf(hosts.Prod, prodNodes(), true, "ubuntu")
	var live []microk8s.Node
	for _, n := range p.Nodes {
		if n.Name == "m1" || n.Name == "w3" {
			p.Lost = append(p.Lost, n)
		} else {
			live = append(live, n)
		}
	}
	p.Nodes = live
	return p
}

// TestRenderLost: a lost node is in no list of the cluster (join order, finalize, rolling order),
// and its removal, on the first live master, is `remove-node --force` that never reaches it: the
// same script as a token step's delete, with its own header.
func TestRenderLost(t *testing.T) {
	r, err := microk8s.Render(lostPlan())
	if err != nil {
		t.Fatal(err)
	}
	if r.FirstMaster.Name != "m2" {
		t.Errorf("first master %s, want m2 (m1 is lost)", r.FirstMaster.Name)
	}
	for _, lost := range []string{"m1", "w3"} {
		if slices.Contains(r.JoinOrder, lost) || strings.Contains(r.Finalize.Body, lost) || slices.ContainsFunc(r.RollOrder, func(b []string) bool { return slices.Contains(b, lost) }) {
			t.Errorf("%s is still in the join order, finalize or the rolling order", lost)
		}
		rm, ok := r.Remove[lost]
		if !ok {
			t.Fatalf("no removal of %s", lost)
		}
		for _, want := range []string{"# " + lost + " is lost (gone for good", "node='" + lost + "'", `microk8s remove-node "$node" --force`} {
			if !strings.Contains(rm.Body, want) {
				t.Errorf("%s's removal lacks %q", lost, want)
			}
		}
		if !slices.ContainsFunc(r.Files(), func(f remotecmd.File) bool { return f.Path == "m2/microk8s/35-remove-lost-"+lost+".sh" }) {
			t.Errorf("the render lists no removal of %s on m2", lost)
		}
	}
	// a token step's delete keeps its own header (no change for an existing stack)
	if b := r.Token["w1"].DeleteBody; !strings.Contains(b, "# w1 leaves the configuration") || strings.Contains(b, "is lost") {
		t.Errorf("a token delete's header changed:\n%.400s", b)
	}
	p := lostPlan()
	p.Lost = append(p.Lost, p.Nodes[0])
	if _, err := microk8s.Render(p); err == nil || !strings.Contains(err.Error(), "listed as lost and as a node") {
		t.Errorf("a node both lost and live: %v", err)
	}
}

// Every rendered script, create and delete, for prod, stg, a single node and root, passes
// `bash -n` and `shellcheck -S style`.
func TestRenderedScriptsPassShellcheck(t *testing.T) {
	if testtool.Skipping() {
		t.Skip("PM4ML_SKIP_VALIDATORS=1")
	}
	sc := testtool.Tool(t, "shellcheck")
	plans := map[string]microk8s.Plan{
		"prod":   planOf(hosts.Prod, prodNodes(), true, "ubuntu"),
		"stg":    planOf(hosts.Stg, stgNodes(), false, "ubuntu"),
		"single": planOf(hosts.Stg, stgNodes()[:1], false, "root"),
		"lost":   lostPlan(),
	}
	dir := t.TempDir()
	var paths []string
	for name, p := range plans {
		r, err := microk8s.Render(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Files() {
			path := filepath.Join(dir, name, f.Path)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(f.Content), 0o755); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, path)
			if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", path, err, out)
			}
		}
	}
	if len(paths) < 30 {
		t.Fatalf("only %d scripts rendered", len(paths))
	}
	out, err := exec.Command(sc, append([]string{"-S", "style", "-s", "bash"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// When the first master leaves the configuration, the remaining masters' kubeconfig, install and
// upgrade scripts are byte for byte what they were: those steps stay as they are (the next
// master's kubeconfig, which the program then uses, is known in the preview).
func TestFirstMasterLeavingKeepsTheOthersKubeconfig(t *testing.T) {
	full, err := microk8s.Render(planOf(hosts.Prod, prodNodes(), true, "ubuntu"))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := microk8s.Render(planOf(hosts.Prod, prodNodes()[1:], true, "ubuntu"))
	if err != nil {
		t.Fatal(err)
	}
	if rest.FirstMaster.Name != "m2" {
		t.Fatalf("first master %s", rest.FirstMaster.Name)
	}
	for _, n := range []string{"m2", "m3"} {
		if full.Kubeconfig[n].Body != rest.Kubeconfig[n].Body {
			t.Errorf("%s's kubeconfig script changes when m1 leaves", n)
		}
		if full.Upgrade[n].Body != rest.Upgrade[n].Body || full.Install[n].Body != rest.Install[n].Body {
			t.Errorf("%s's install or upgrade script changes when m1 leaves", n)
		}
	}
}
