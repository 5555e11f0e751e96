package lab

// TestDoublesLab runs the real rendered MicroK8s, MicroCeph and storage scripts, twice, on three
// lab hosts whose snap/microk8s/microceph are the lab doubles (tests/lab/doubles), against a real
// kube-apiserver + kwok (tests/e2e/k8s-up.sh) in the lab's network namespace; then checks what
// the Kubernetes API holds. TestDoublesShellcheck lints the doubles (always runs).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
)

const doublesDir = "doubles"

// doublesLab is the lab of this test: its own namespace, state and hosts.
type doublesLab struct {
	ns, state, shared string
	hosts             []Host
}

// doublesEnv sets the lab's environment for hosts-up.sh and k8s-up.sh: by default names of its
// own (namespace dbl-lab, hosts dbl-h1.., state under $PM4ML_CACHE/dbl), so that it never
// collides with another lab on this machine. PM4ML_LAB_NETNS etc. override them.
func doublesEnv(t *testing.T) doublesLab {
	t.Helper()
	def := func(k, v string) string {
		if os.Getenv(k) == "" {
			t.Setenv(k, v)
		}
		return os.Getenv(k)
	}
	base := filepath.Join(cacheDir(), "dbl")
	l := doublesLab{ns: def("PM4ML_LAB_NETNS", "dbl-lab")}
	def("PM4ML_LAB_NSPREFIX", "dbl-")
	def("PM4ML_LAB_DIR", filepath.Join(base, "run"))
	def("E2E_NETNS", l.ns)
	if os.Getenv("E2E_NETNS") != l.ns {
		t.Fatalf("E2E_NETNS=%s differs from PM4ML_LAB_NETNS=%s: the apiserver must sit on the lab bridge", os.Getenv("E2E_NETNS"), l.ns)
	}
	t.Setenv("E2E_LABNET", "1")
	t.Setenv("E2E_KWOK_NODE", "0")
	def("E2E_API_SANS", "10.77.0.1,10.77.0.11,10.77.0.12,10.77.0.13")
	l.state = def("E2E_STATE", filepath.Join(base, "e2e"))
	l.shared = filepath.Join(base, "shared")
	return l
}

// kubectl runs the machine's kubectl in the lab namespace against the lab apiserver.
func (l doublesLab) kubectl(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns, "kubectl", "--request-timeout=20s",
		"--kubeconfig", filepath.Join(l.state, "k8s", "kubeconfig")}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l doublesLab) host(name string) Host {
	for _, h := range l.hosts {
		if h.Name == name {
			return h
		}
	}
	panic("no lab host " + name)
}

// sh runs a command line on a host and returns stdout+stderr and whether it exited 0.
func (l doublesLab) sh(t *testing.T, h, cmd string) (string, bool) {
	t.Helper()
	out, errOut, err := RunIn(l.ns, l.host(h), cmd, "", 2*time.Minute)
	return out + errOut, err == nil
}

// e2eScript runs one of tests/e2e's scripts.
func e2eScript(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	return Script(t, timeout, filepath.Join("..", "e2e", name), args...)
}

// setUp starts the apiserver (and kwok), writes the shared directory, gives each host a loop
// device as /dev/sdb and boots three hosts provisioned with the doubles.
func (l *doublesLab) setUp(t *testing.T) {
	t.Helper()
	// A lab of this test's names left over from an earlier run is stopped first (fresh hosts).
	_, _ = Script(t, 2*time.Minute, "hosts-down.sh")
	_, _ = e2eScript(t, 2*time.Minute, "k8s-down.sh", "--purge")
	if out, err := e2eScript(t, 4*time.Minute, "k8s-up.sh"); err != nil {
		t.Fatalf("k8s-up.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if os.Getenv("PM4ML_LAB_KEEP") == "1" {
			return
		}
		if out, err := e2eScript(t, 2*time.Minute, "k8s-down.sh", "--purge"); err != nil {
			t.Errorf("k8s-down.sh: %v\n%s", err, out)
		}
	})
	if err := os.RemoveAll(l.shared); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("PM4ML_LAB_KEEP") != "1" {
			_ = os.RemoveAll(l.shared)
		}
	})
	if err := os.MkdirAll(l.shared, 0o755); err != nil {
		t.Fatal(err)
	}
	env := "LAB_APISERVER=https://10.77.0.1:6443\nLAB_CLUSTER_OWNER=h1\nLAB_HOSTS=\"h1=10.77.0.11 h2=10.77.0.12 h3=10.77.0.13\"\n"
	kc, err := os.ReadFile(filepath.Join(l.state, "k8s", "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := os.ReadFile("/usr/lib/google-cloud-sdk/bin/kubectl.1.31")
	if err != nil {
		t.Fatalf("a static kubectl v1.31 for the hosts: %v", err)
	}
	for name, f := range map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"lab.env":    {[]byte(env), 0o644},
		"kubeconfig": {[]byte(strings.ReplaceAll(string(kc), "https://127.0.0.1:6443", "https://10.77.0.1:6443")), 0o600},
		"kubectl":    {kubectl, 0o755},
	} {
		if err := os.WriteFile(filepath.Join(l.shared, name), f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	binds := []string{"all=" + l.shared + ":/var/lib/pm4ml-lab"}
	for i := 1; i <= 3; i++ {
		img := filepath.Join(filepath.Dir(l.shared), fmt.Sprintf("disk-h%d.img", i))
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 256<<20); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("losetup", "-f", "--show", img).Output()
		if err != nil {
			t.Fatalf("losetup %s: %v", img, err)
		}
		loop := strings.TrimSpace(string(out))
		t.Cleanup(func() {
			if os.Getenv("PM4ML_LAB_KEEP") == "1" {
				return
			}
			if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
				t.Errorf("losetup -d %s: %v %s", loop, err, out)
			}
			_ = os.Remove(img)
		})
		binds = append(binds, fmt.Sprintf("h%d=%s:/dev/sdb", i, loop))
	}
	abs, err := filepath.Abs(doublesDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PM4ML_LAB_BIND", strings.Join(binds, " "))
	t.Setenv("PM4ML_LAB_BIND_RO", "all="+abs+":/opt/pm4ml-lab")
	t.Setenv("PM4ML_LAB_PROVISION", filepath.Join(abs, "install.sh"))
	l.hosts = Up(t, 3, 3*time.Minute)
}

// stepName is the step a rendered script reports in its last line (PM4ML_STEP).
func stepName(body string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, "PM4ML_STEP="); ok {
			return v
		}
	}
	return ""
}

// deleteScript is the script pulumi-command runs when the step's resource is deleted.
func deleteScript(s remotecmd.Script) remotecmd.Script {
	return remotecmd.Script{Step: s.Step + "-delete", Body: s.DeleteBody, Secret: s.Secret}
}

// runner runs rendered scripts on the lab hosts as pulumi-command does (remotecmd.Invocation,
// stdin) and checks their closing line.
type runner struct {
	t *testing.T
	l doublesLab
}

func (r runner) run(host string, s remotecmd.Script, stdin string) (string, string, error) {
	return RunIn(r.l.ns, r.l.host(host), remotecmd.Invocation("root", s.Step, s.Body), stdin, 10*time.Minute)
}

// step runs s and fails the test unless it succeeds; want "no change" (or "" for anything).
func (r runner) step(label, host string, s remotecmd.Script, stdin, want string) string {
	r.t.Helper()
	begin := time.Now()
	out, errOut, err := r.run(host, s, stdin)
	if err != nil {
		shown := out
		if s.Secret {
			shown = "(secret step: stdout not shown)"
		}
		r.t.Fatalf("%s: %s on %s: %v\nstdout:\n%s\nstderr:\n%s", label, s.Step, host, err, shown, errOut)
	}
	last, name := LastLine(out), stepName(s.Body)
	r.t.Logf("%-9s %-26s on %s (%4.1fs): %s", label, s.Step, host, time.Since(begin).Seconds(), last)
	if !strings.HasPrefix(last, "pm4ml: "+name+": ") {
		r.t.Errorf("%s: %s on %s: last line %q", label, s.Step, host, last)
	}
	if want == "no change" && last != "pm4ml: "+name+": no change" {
		r.t.Errorf("%s: %s on %s changed something:\n%s", label, s.Step, host, strings.Join(Lines(out, "changed: "), "\n"))
	}
	return out
}

// refused runs s and fails the test unless it exits non-zero with msg in its error output.
func (r runner) refused(label, host string, s remotecmd.Script, msg string) {
	r.t.Helper()
	_, errOut, err := r.run(host, s, "")
	r.t.Logf("%-9s %-26s on %s: refused: %s", label, s.Step, host, LastLine(errOut+"\n"))
	if err == nil || !strings.Contains(errOut, msg) {
		r.t.Errorf("%s: %s on %s should fail with %q: %v\n%s", label, s.Step, host, msg, err, errOut)
	}
}

const joinSecret = "lab-doubles-join-secret"

// joinStdin is what the join step of node n gets: its token, and the admin kubeconfig for a
// worker-only node.
func joinStdin(mk microk8s.Rendered, n, admin string) string {
	stdin := microk8s.JoinToken(joinSecret, n) + "\n"
	if !slices.Contains(mk.Masters(), n) {
		stdin += admin
	}
	return stdin
}

func TestDoublesLab(t *testing.T) {
	Require(t)
	requireK8sLab(t)
	start := time.Now()
	l := doublesEnv(t)
	l.setUp(t)
	t.Logf("lab up in %.1fs", time.Since(start).Seconds())
	r := runner{t: t, l: l}

	role := hosts.NewRoles
	mk, err := microk8s.Render(microk8s.Plan{Environment: hosts.Stg, Channel: "1.31/stable", User: "root", DedicatedMasters: true,
		Nodes: []microk8s.Node{
			{Name: "h1", Address: "10.77.0.11", Roles: role(hosts.RoleMaster)},
			{Name: "h2", Address: "10.77.0.12", Roles: role(hosts.RoleMaster, hosts.RoleWorker)},
			{Name: "h3", Address: "10.77.0.13", Roles: role(hosts.RoleWorker)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	cephPlan := func(replicas int) microceph.Rendered {
		mc, err := microceph.Render(microceph.Plan{Channel: "squid/stable", Pool: "pm4ml-rbd", ReplicationSize: replicas,
			Nodes: []microceph.Node{
				{Name: "h1", Address: "10.77.0.11", Disks: []string{"/dev/sdb"}},
				{Name: "h2", Address: "10.77.0.12", Disks: []string{"/dev/sdb"}},
				{Name: "h3", Address: "10.77.0.13", Disks: []string{"/dev/sdb"}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		return mc
	}
	mc := cephPlan(3)
	st, err := storage.Render(storage.Plan{Master: "h1", Pool: "pm4ml-rbd", StorageClass: "pm4ml-cold",
		LocalStorageClass: "local-nvme", LocalStoragePath: "/var/lib/pm4ml-local"})
	if err != nil {
		t.Fatal(err)
	}

	var admin string
	for round := 1; round <= 2; round++ {
		label, want := fmt.Sprintf("round %d", round), ""
		if round == 2 {
			want = "no change"
		}
		// MicroK8s: install everywhere, kubeconfig, token+join one node at a time, finalize.
		for _, n := range mk.Plan.Nodes {
			r.step(label, n.Name, mk.Install[n.Name], "", want)
		}
		admin, err = microk8s.KubeconfigFromOutput(r.step(label, "h1", mk.Kubeconfig["h1"], "", want), mk.APIServer)
		if err != nil || !strings.Contains(admin, "server: https://10.77.0.11:16443") {
			t.Fatalf("kubeconfig step: %v (no server https://10.77.0.11:16443)", err)
		}
		for _, n := range mk.JoinOrder {
			r.step(label, mk.Via[n], mk.Token[n], microk8s.JoinToken(joinSecret, n)+"\n", want)
			r.step(label, n, mk.Join[n], joinStdin(mk, n, admin), want)
			r.step(label, mk.Via[n], mk.Drain[n], "", "no change")
		}
		r.step(label, "h1", mk.Finalize, "", want)

		// MicroCeph: install, bootstrap, add+join one at a time, disks, pool, export.
		for _, n := range mc.Nodes {
			r.step(label, n.Node.Name, n.Install, "", want)
		}
		for _, n := range mc.Nodes {
			stdin := ""
			if n.Add != nil {
				stdin = r.step(label, mc.Bootstrap.Name, *n.Add, "", want)
				if round == 1 && !strings.Contains(stdin, "PM4ML_JOIN_TOKEN=") {
					t.Errorf("add step for %s printed no token", n.Node.Name)
				}
			}
			r.step(label, n.Node.Name, n.Member, stdin, want)
		}
		for _, n := range mc.Nodes {
			r.step(label, n.Node.Name, n.Disks, "", want)
		}
		r.step(label, mc.Bootstrap.Name, mc.Pool, "", want)
		conf, keyring, err := microceph.ParseExport(r.step(label, mc.Bootstrap.Name, mc.Export, "", want))
		if err != nil {
			t.Fatal(err)
		}
		if mons := microceph.Monitors(conf); !slices.Equal(mons, []string{"10.77.0.11", "10.77.0.12", "10.77.0.13"}) {
			t.Errorf("monitors of the exported ceph.conf: %v", mons)
		}

		// Storage on the first master: rook-ceph, connect (ceph.conf + keyring on stdin), classes.
		for i, s := range st.Scripts {
			stdin := ""
			if i == 1 {
				stdin = storage.Bundle(conf, keyring)
			}
			r.step(label, "h1", s, stdin, want)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("two rounds done at %.1fs", time.Since(start).Seconds())

	// Removal, as pulumi deletes a node (drain delete, join delete, then token delete), twice,
	// then re-joins.
	for _, n := range []string{"h3", "h2"} {
		for pass, want := range []string{"", "no change"} {
			label := fmt.Sprintf("remove %d", pass+1)
			r.step(label, mk.Via[n], deleteScript(mk.Drain[n]), "", want)
			r.step(label, n, deleteScript(mk.Join[n]), joinStdin(mk, n, admin), want)
			r.step(label, mk.Via[n], deleteScript(mk.Token[n]), microk8s.JoinToken(joinSecret, n)+"\n", want)
		}
		if out, err := l.kubectl("get", "node", n, "-o", "name"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("node %s still listed after its removal: %v %s", n, err, out)
		}
	}
	for _, n := range mk.JoinOrder {
		r.step("rejoin", mk.Via[n], mk.Token[n], microk8s.JoinToken(joinSecret, n)+"\n", "")
		r.step("rejoin", n, mk.Join[n], joinStdin(mk, n, admin), "")
	}
	r.step("rejoin", "h1", mk.Finalize, "", "")

	// MicroCeph removal: with 3 replicas on 3 hosts an OSD cannot go, nor a host with OSDs; with
	// 2 replicas h3 leaves (twice: no change), then joins again and the pool is back at 3.
	h3 := mc.Nodes[2]
	r.refused("ceph rm", "h3", deleteScript(h3.Disks), "cannot be removed safely")
	r.refused("ceph rm", "h3", deleteScript(h3.Member), "OSDs still on h3")
	mc2 := cephPlan(2)
	r.step("ceph rm", "h1", mc2.Pool, "", "")
	for pass, want := range []string{"", "no change"} {
		label := fmt.Sprintf("ceph rm %d", pass+1)
		r.step(label, "h3", deleteScript(h3.Disks), "", want)
		r.step(label, "h3", deleteScript(h3.Member), "", want)
	}
	tok := r.step("ceph add", "h1", *h3.Add, "", "")
	r.step("ceph add", "h3", h3.Member, tok, "")
	r.step("ceph add", "h3", h3.Disks, "", "")
	r.step("ceph add", "h1", mc.Pool, "", "")
	if t.Failed() {
		t.FailNow()
	}

	checkNodes(t, l)
	checkStorage(t, l)
	checkContract(t, l)
	wide, _ := l.kubectl("get", "nodes", "-o", "wide")
	sc, _ := l.kubectl("get", "storageclass")
	cc, _ := l.kubectl("-n", "rook-ceph-external", "get", "cephcluster")
	t.Logf("kubectl get nodes -o wide:\n%s\nkubectl get storageclass:\n%s\nkubectl -n rook-ceph-external get cephcluster:\n%s", wide, sc, cc)

	// The first master leaves the configuration (issue 13), as pulumi up orders it: the remaining
	// steps first, now on h2 (the kubeconfig, finalize, the tokens) and through it: each changes
	// nothing, nothing re-joins; then h1's join delete (drain, leave) and its token step's delete
	// on h2 (remove-node). Twice: the second pass changes nothing.
	mk2, err := microk8s.Render(microk8s.Plan{Environment: hosts.Stg, Channel: "1.31/stable", User: "root", DedicatedMasters: true,
		Nodes: mk.Plan.Nodes[1:]})
	if err != nil || mk2.FirstMaster.Name != "h2" {
		t.Fatalf("without h1: %v (first master %s)", err, mk2.FirstMaster.Name)
	}
	rerun := func(label string) {
		for _, n := range mk2.Plan.Nodes {
			r.step(label, n.Name, mk2.Install[n.Name], "", "no change")
		}
		admin2, err := microk8s.KubeconfigFromOutput(r.step(label, "h2", mk2.Kubeconfig["h2"], "", "no change"), mk2.APIServer)
		if err != nil || !strings.Contains(admin2, "server: https://10.77.0.12:16443") {
			t.Fatalf("%s: kubeconfig from h2: %v", label, err)
		}
		for _, n := range mk2.JoinOrder {
			r.step(label, mk2.Via[n], mk2.Token[n], microk8s.JoinToken(joinSecret, n)+"\n", "no change")
			r.step(label, n, mk2.Join[n], joinStdin(mk2, n, admin2), "no change")
			r.step(label, mk2.Via[n], mk2.Drain[n], "", "no change")
		}
		r.step(label, "h2", mk2.Finalize, "", "no change")
	}
	rerun("h1 removed, before its deletes")
	for pass, want := range []string{"", "no change"} {
		label := fmt.Sprintf("h1 leaves %d", pass+1)
		r.step(label, mk.Via["h1"], deleteScript(mk.Drain["h1"]), "", want)
		r.step(label, "h1", deleteScript(mk.Join["h1"]), joinStdin(mk, "h1", admin), want)
		r.step(label, mk.Via["h1"], deleteScript(mk.Token["h1"]), microk8s.JoinToken(joinSecret, "h1")+"\n", want)
	}
	if out, err := l.kubectl("get", "node", "h1", "-o", "name"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("node h1 still listed after it left: %v %s", err, out)
	}
	if out, err := l.kubectl("get", "nodes", "-o", "name"); err != nil || out != "node/h2\nnode/h3\n" {
		t.Errorf("nodes after h1 left: %v %q, want h2 and h3", err, out)
	}
	rerun("after h1 left")
	t.Logf("whole test %.1fs", time.Since(start).Seconds())
}
