package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"

	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// TestStackLabEnv: stack-env.sh's topology and app list are the lab stack's (no lab needed).
func TestStackLabEnv(t *testing.T) {
	cfg, _ := loadStackFile(t, stackLabFile)
	env, err := os.ReadFile("stack-env.sh")
	if err != nil {
		t.Fatal(err)
	}
	s := string(env)
	roles := map[string][]string{}
	for _, h := range cfg.Hosts {
		for _, r := range h.Roles {
			roles[string(r)] = append(roles[string(r)], h.Name)
		}
		if want := fmt.Sprintf("10.77.0.%d", 10+atoi(t, strings.TrimPrefix(h.Name, "h"))); h.Address != want {
			t.Errorf("host %s: address %s, the lab gives it %s", h.Name, h.Address, want)
		}
	}
	for role, v := range map[string]string{"master": "MASTER_HOSTS", "worker": "WORKER_HOSTS", "haproxy": "HAPROXY_HOSTS", "storage": "STORAGE_HOSTS"} {
		want := fmt.Sprintf("%s=%q", v, strings.Join(roles[role], " "))
		if !strings.Contains(s, want) {
			t.Errorf("stack-env.sh lacks %s", want)
		}
	}
	if !strings.Contains(s, fmt.Sprintf("NHOSTS=%d\n", len(cfg.Hosts))) {
		t.Errorf("stack-env.sh: NHOSTS is not %d", len(cfg.Hosts))
	}
	m := regexp.MustCompile(`(?s)APPS=\((.*?)\)`).FindStringSubmatch(s)
	if m == nil || !slices.Equal(strings.Fields(m[1]), stacks.GuideApps()) {
		t.Errorf("stack-env.sh APPS are not stacks.GuideApps() %v", stacks.GuideApps())
	}
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestStackLab is the lab end to end (tests/lab/README.md, "The full-stack lab"): the real
// program, `pulumi up` with the real Pulumi CLI, on 10 lab hosts.
func TestStackLab(t *testing.T) {
	requireStackLab(t)
	l := startStackLab(t)

	var first, noop time.Duration
	if reuseStackLab() { // debugging a kept lab (PM4ML_LAB_KEEP=1 before): its checks only
		l.t = t
		l.checkDeployed()
		l.rerunScripts()
		t.Run("2b-drift", func(t *testing.T) { l.t = t; l.checkDrift() })
		t.Run("2c-checklist-gate", func(t *testing.T) { l.t = t; l.checkGate() })
		return
	}
	t.Run("1-fresh-up", func(t *testing.T) {
		l.t = t
		first = l.freshUp(nil)
	})
	if t.Failed() {
		return
	}
	t.Run("2-noop", func(t *testing.T) {
		l.t = t
		before := l.sshLogins()
		t0 := time.Now()
		out, err := l.pulumi(30*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview", "--expect-no-changes")...)
		noop = time.Since(t0)
		if err != nil {
			t.Fatalf("second up changed something or failed: %v\n%s", err, tail(out, 80))
		}
		after := l.sshLogins()
		t.Logf("second pulumi up: %.0f s; %s", noop.Seconds(), summary(out))
		for h, n := range after {
			if n != before[h]+1 { // +1: the session counting them
				t.Errorf("%s: %d SSH logins during the no-op up (want 0)", h, n-before[h]-1)
			}
		}
		l.rerunScripts()
	})
	t.Logf("lab end-to-end wall time: first up %.0f s, no-op up %.0f s", first.Seconds(), noop.Seconds())
	t.Run("2b-drift", func(t *testing.T) { l.t = t; l.checkDrift() })
	t.Run("2c-checklist-gate", func(t *testing.T) { l.t = t; l.checkGate() })
	t.Run("3-firewall", func(t *testing.T) { l.t = t; l.checkFirewall() })
	t.Run("vip-failover", func(t *testing.T) { l.t = t; l.checkFailover() })
	if t.Failed() {
		return
	}
	t.Run("5-remove-worker", func(t *testing.T) { l.t = t; l.removeWorker() })
	if t.Failed() {
		return
	}
	t.Run("4-add-worker-host-down", func(t *testing.T) { l.t = t; l.addWorkerHostDown() })
	if t.Failed() {
		return
	}
	t.Run("6-rolling-upgrade", func(t *testing.T) { l.t = t; l.rollingUpgrade() })
	t.Run("6b-ceph-upgrade", func(t *testing.T) { l.t = t; l.cephUpgrade() })
	t.Run("7-lb-change", func(t *testing.T) { l.t = t; l.lbChange() })
	t.Run("8-remove-first-master", func(t *testing.T) { l.t = t; l.removeFirstMaster() })
	t.Run("9-lost-worker", func(t *testing.T) { l.t = t; l.lostWorker() })
	t.Run("10-lost-storage-host", func(t *testing.T) { l.t = t; l.lostStorageHost() })
}

// freshUp is the lab stack's first `pulumi up` and what it must have built (TestStackLab's
// 1-fresh-up; TestLabUp): the update completes, prints no warning but the lab's own notices, and
// checkDeployed passes. stream, when set, receives the CLI's output lines as they come.
func (l *stackLab) freshUp(stream func(string)) time.Duration {
	t := l.t
	t.Helper()
	t0 := time.Now()
	out, err := l.pulumi(60*time.Minute, "", stream, l.stackArgs("up", "--yes", "--skip-preview")...)
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(out, 80))
	}
	t.Logf("fresh pulumi up: %.0f s; %s", took.Seconds(), summary(out))
	if w := unexpectedWarnings(out); len(w) > 0 {
		t.Errorf("the fresh up printed %d warning(s) besides the lab's own notices (a successful update must "+
			"not print a warning that is not true):\n%s", len(w), strings.Join(w, "\n"))
	}
	l.checkDeployed()
	return took
}

var (
	warningRe = regexp.MustCompile(`\bwarning: (.*)$`)
	// labNoticeRe: the CLI's notice that a plugin came from PATH, which is how the lab puts its
	// stand-ins (command, vault) and the kubernetes provider built from source in front of it.
	labNoticeRe = regexp.MustCompile(`^using pulumi-(resource-(command|vault|kubernetes)|language-go) from \$PATH at ` +
		// the kubernetes provider the lab builds from source (scripts/tools.sh: the only provider/v4
		// version the Go module proxy serves) is older than the SDK asks for
		`|^resource plugin kubernetes is expected to have version \S+, but has 4\.24\.0-dev\.`)
	// awaitProgressRe: the kubernetes provider's progress while it awaits Argo CD's own install
	// (true when printed, gone when the await passes): its Deployments not yet available, and the
	// application-controller's pod tried before its ServiceAccount existed (the install manifest
	// is applied as one ConfigGroup; ordering ServiceAccounts first would remove it); and the
	// kube-apiserver's own ClusterIP repair loop (every 3 minutes) reporting a Service created
	// between its snapshot of the allocations and its list of Services (kubernetes/kubernetes#37488:
	// allocating the IP and writing the Service are two writes): an event on the Service, repaired
	// by the same loop, seen once in a CI run on Argo CD's argocd-server-metrics Service.
	awaitProgressRe = regexp.MustCompile(`^\[MinimumReplicasUnavailable\] Deployment does not have minimum availability\.$` +
		`|^FailedCreate: create Pod argocd-application-controller-0 in StatefulSet argocd-application-controller failed error: .*error looking up service account argocd/argocd-application-controller` +
		`|^ClusterIPNotAllocated: Cluster IP \[IPv[46]\]:[0-9a-f.:]+ is not allocated; repairing$`)
)

// unexpectedWarnings lists the distinct warnings of a CLI output, except the lab's own notices and
// the kubernetes provider's await progress of Argo CD's install.
func unexpectedWarnings(out string) []string {
	var ws []string
	for _, line := range strings.Split(out, "\n") {
		m := warningRe.FindStringSubmatch(line)
		if m == nil || labNoticeRe.MatchString(m[1]) || awaitProgressRe.MatchString(m[1]) || slices.Contains(ws, m[1]) {
			continue
		}
		ws = append(ws, m[1])
	}
	return ws
}

// startStackLab brings the lab up (fresh) and prepares the lab stack's workspace.
func startStackLab(t *testing.T) *stackLab {
	t.Helper()
	cfg, hs := loadStackFile(t, stackLabFile)
	for k, a := range labAddresses(cfg) {
		if !inLab(a) && a != "127.0.0.1" {
			t.Fatalf("pm4ml:%s = %s is not on br-lab: refusing to run", k, a)
		}
	}
	var mods []string
	machine := map[string]string{}
	for _, h := range hs {
		m, sc := tuningWants(t, h.Scripts[2].Body)
		for _, x := range m {
			if !slices.Contains(mods, x) {
				mods = append(mods, x)
			}
		}
		for k, v := range sc {
			if !perNamespace(k) {
				machine[k] = v
			}
		}
	}
	dir := stackDir()
	l := &stackLab{t: t, dir: dir, ns: stackNS(), key: filepath.Join(dir, "run", "id_ed25519"),
		logs: filepath.Join(dir, "logs"), proj: filepath.Join(dir, "project"), hosts: cfg.Hosts}
	l.cfgFile = filepath.Join(l.proj, "Pulumi.stacklab.yaml")
	t.Setenv("PM4ML_STACKLAB_DIR", l.dir)

	if !reuseStackLab() {
		// A fresh lab: whatever an earlier run left is torn down first.
		if out, err := stackScript(t, 5*time.Minute, "stack-down.sh", "--purge"); err != nil {
			t.Fatalf("stack-down.sh --purge: %v\n%s", err, out)
		}
		t0 := time.Now()
		out, err := stackScript(t, 20*time.Minute, "stack-up.sh")
		t.Logf("stack-up.sh (%.0f s):\n%s", time.Since(t0).Seconds(), tail(out, 30))
		if os.Getenv("PM4ML_LAB_KEEP") != "1" {
			t.Cleanup(func() {
				if out, err := stackScript(t, 5*time.Minute, "stack-down.sh"); err != nil {
					t.Errorf("stack-down.sh: %v\n%s", err, out)
				}
			})
		}
		if err != nil {
			t.Fatalf("stack-up.sh: %v", err)
		}
	}
	setMachineSysctls(t, machine)
	if builtin := prepareModules(t, mods); len(builtin) > 0 {
		list := strings.Join(builtin, "\n") + "\n"
		for _, h := range l.hosts {
			l.mustSSH(h.Address, `d=/lib/modules/$(uname -r); mkdir -p "$d"; cat >"$d/modules.builtin" <<'EOF'`+"\n"+list+"EOF")
		}
	}

	// The lab stand-in plugins (command, vault): built unless the real ones are installed.
	b, err := exec.Command("bash", "plugins/build.sh").Output()
	if err != nil {
		t.Fatalf("plugins/build.sh: %v", err)
	}
	labBin := strings.TrimSpace(string(b))
	t.Logf("stand-in plugins: %q (empty: the real plugins are installed)", labBin)
	l.env = pulumiEnv(t, l.dir, labBin)
	// the same environment for scripts/lab.sh (`lab.sh pulumi ...`): no secret in it
	if err := os.WriteFile(filepath.Join(l.dir, "pulumi.env"), []byte(strings.Join(l.env, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if reuseStackLab() {
		return l
	}

	for _, d := range []string{l.logs, l.proj, filepath.Join(l.dir, "pulumi-state"), filepath.Join(l.dir, "pulumi-home")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The project: this repository's Pulumi.yaml in the state dir with `main` pointing back at
	// the program, so the CLI writes the lab stack's file (encryption salt) there, not here.
	repo := repoRoot(t)
	py, err := os.ReadFile(filepath.Join(repo, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(l.proj, repo)
	if err != nil {
		t.Fatal(err)
	}
	py = append(py, []byte("main: "+rel+"\n")...)
	if os.Getenv("PM4ML_LAB_KEEP") != "1" {
		py = prebuiltProgram(t, py, repo, l.dir, l.env)
	}
	if err := os.WriteFile(filepath.Join(l.proj, "Pulumi.yaml"), py, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(stackLabFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.cfgFile, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := l.pulumi(2*time.Minute, "", nil, "stack", "init", stackName, "--non-interactive"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	key, err := os.ReadFile(l.key)
	if err != nil {
		t.Fatal(err)
	}
	acd, err := exec.Command("bash", "-c", ". ../e2e/lib.sh && argocd_module_dir").Output()
	if err != nil {
		t.Fatalf("the argo-cd module: %v", err)
	}
	set := func(secret bool, k, v string) {
		args := []string{"config", "set", "--path", k}
		if secret {
			args = append(args, "--secret")
		}
		// secrets on stdin: never on a command line
		if out, err := l.pulumi(time.Minute, v, nil, l.stackArgs(args...)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	set(true, "pm4ml:sshPrivateKey", string(key))
	set(true, "pm4ml:vaultToken", vaultToken)
	set(true, "pm4ml:mcmClientSecret", l.mcmSecret())
	set(false, "pm4ml:argocd.manifestPath", filepath.Join(strings.TrimSpace(string(acd)), "manifests", "install.yaml"))
	return l
}

// reuseStackLab: PM4ML_STACKLAB_REUSE=1 runs the checks of 1-fresh-up and the scripts' rerun on a lab and stack an
// earlier run left up (PM4ML_LAB_KEEP=1), without tearing anything down or deploying.
func reuseStackLab() bool { return os.Getenv("PM4ML_STACKLAB_REUSE") == "1" }

// mcmSecret is this lab run's MCM client secret (random, kept in the state dir).
func (l *stackLab) mcmSecret() string {
	f := filepath.Join(l.dir, "mcm-client-secret")
	if b, err := os.ReadFile(f); err == nil {
		return strings.TrimSpace(string(b))
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := "lab-" + hex.EncodeToString(b)
	_ = os.WriteFile(f, []byte(s), 0o600)
	return s
}

// summary is the CLI's "Resources:" block, on one line.
func summary(out string) string {
	i := strings.LastIndex(out, "Resources:")
	if i < 0 {
		return "(no summary)"
	}
	s := out[i:]
	if j := strings.Index(s, "\n\n"); j > 0 {
		s = s[:j]
	}
	return strings.Join(strings.Fields(s), " ")
}

// --- 1. what a fresh up must have built

func (l *stackLab) checkDeployed() {
	t := l.t
	t.Helper()
	// Nodes: 3 masters joined serially, 2 workers, all Ready, role labels.
	out, err := l.kubectl("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}|{.metadata.creationTimestamp}|{.status.conditions[?(@.type=="Ready")].status}|{.metadata.labels}{"\n"}{end}`)
	if err != nil {
		t.Fatalf("kubectl get nodes: %v %s", err, out)
	}
	t.Logf("kubectl get nodes:\n%s", out)
	created := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, "|", 4)
		if len(f) < 4 {
			t.Fatalf("node line %q", line)
		}
		created[f[0]] = f[1]
		if f[2] != "True" {
			t.Errorf("node %s not Ready", f[0])
		}
		want := "node-role.kubernetes.io/worker"
		if slices.Contains([]string{"h1", "h2", "h3"}, f[0]) {
			want = "node-role.kubernetes.io/master"
		}
		if !strings.Contains(f[3], want) {
			t.Errorf("node %s lacks label %s: %s", f[0], want, f[3])
		}
	}
	names := make([]string, 0, len(created))
	for n := range created {
		names = append(names, n)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"h1", "h2", "h3", "h4", "h5"}) {
		t.Errorf("nodes %v, want h1..h5", names)
	}
	if !(created["h1"] <= created["h2"] && created["h2"] <= created["h3"] && created["h3"] <= created["h4"] && created["h3"] <= created["h5"]) {
		t.Errorf("join order (creationTimestamp): %v", created)
	}
	// The engine's record of the serial joins: each further master's join depends on the previous.
	st := l.export()
	joinOf := func(n string) string {
		for _, r := range st {
			if r.Type == "command:remote:Command" && resName(r.URN) == "microk8s-"+n+"-join" {
				return r.URN
			}
		}
		t.Fatalf("no join step for %s in the state", n)
		return ""
	}
	for _, p := range [][2]string{{"h3", "h2"}, {"h4", "h3"}, {"h5", "h3"}} {
		if !l.dependsOn(st, joinOf(p[0]), joinOf(p[1])) {
			t.Errorf("%s's join does not wait for %s's join", p[0], p[1])
		}
	}

	// Ceph: 3 nodes with an OSD each; the StorageClasses.
	out = l.mustSSH("10.77.0.18", "microceph cluster list; microceph.ceph osd ls")
	for _, h := range []string{"h8", "h9", "h10"} {
		if !strings.Contains(out, h) {
			t.Errorf("microceph cluster list lacks %s:\n%s", h, out)
		}
	}
	t.Logf("microceph on h8:\n%s", out)
	if out, err := l.kubectl("get", "storageclass", "ceph-rbd", "local-nvme", "-o", "name"); err != nil {
		t.Errorf("StorageClasses: %v %s", err, out)
	}

	// HAProxy through the public VIP: the redirect, the gateway via TLS passthrough with the
	// client's address carried by PROXY v2.
	if out, err := l.sh(time.Minute, "curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' http://10.77.0.100/x"); err != nil || !strings.HasPrefix(out, "301 https://") {
		t.Errorf("http://VIP/: %v %s", err, out)
	}
	res := "--resolve argocd.lab.pm4ml.example.org:443:10.77.0.100"
	if out, err := l.sh(time.Minute, "curl -sSk "+res+" https://argocd.lab.pm4ml.example.org/"); err != nil || !strings.Contains(out, "<title>Argo CD</title>") {
		t.Errorf("https://argocd.<domain>/ through the VIP: %v %s", err, out)
	}
	if out, err := l.sh(time.Minute, "curl -sSk "+res+" https://argocd.lab.pm4ml.example.org/whoami"); err != nil || strings.TrimSpace(out) != "10.77.0.1" {
		t.Errorf("the gateway saw client %q through HAProxy, want 10.77.0.1 (PROXY v2): %v", out, err)
	}

	// Argo CD: every app of the guide Synced and Healthy.
	out, err = l.kubectl("get", "applications.argoproj.io", "-A", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.sync.status} {.status.health.status}{"\n"}{end}`)
	if err != nil {
		t.Fatalf("applications: %v %s", err, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		n++
		if !strings.HasSuffix(line, " Synced Healthy") {
			t.Errorf("application %s", line)
		}
	}
	if n != len(stacks.GuideApps()) {
		t.Errorf("%d Applications, want %d", n, len(stacks.GuideApps()))
	}

	// Vault: the secret reads back at the guide's path.
	out, err = l.sh(time.Minute, fmt.Sprintf("VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=%s %s read -field=mcmdev_client_secret secret/fsp-lab", vaultToken, filepath.Join(cacheDir(), "bin", "vault")))
	if err != nil || strings.TrimSpace(out) != l.mcmSecret() {
		t.Errorf("vault read secret/fsp-lab: %v (value matches: %v)", err, strings.TrimSpace(out) == l.mcmSecret())
	}

	// The verification step ran and passed (its report is a stack output).
	out, err = l.pulumi(time.Minute, "", nil, "stack", "output", "--json", "--stack", stackName, "--non-interactive")
	if err != nil || !strings.Contains(out, "argocdUrl") {
		t.Errorf("stack outputs: %v\n%s", err, out)
	}
	t.Logf("stack outputs:\n%s", tail(out, 40))
}

// dependsOn: a's dependencies reach b (transitively) in the state.
func (l *stackLab) dependsOn(st []stateResource, a, b string) bool {
	deps := map[string][]string{}
	for _, r := range st {
		deps[r.URN] = r.Dependencies
	}
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(u string) bool {
		for _, d := range deps[u] {
			if d == b {
				return true
			}
			if !seen[d] {
				seen[d] = true
				if walk(d) {
					return true
				}
			}
		}
		return false
	}
	return walk(a)
}

// --- 2. no-op

var acceptedRe = regexp.MustCompile(`Accepted publickey`)

// sshLogins counts each host's accepted SSH logins so far (sshd's journal).
func (l *stackLab) sshLogins() map[string]int {
	l.t.Helper()
	n := map[string]int{}
	for _, h := range l.hosts {
		out := l.mustSSH(h.Address, "journalctl -q --no-pager -t sshd -t sshd-session -g 'Accepted publickey' | wc -l")
		n[h.Name] = atoi(l.t, strings.TrimSpace(out))
	}
	return n
}

// rerunScripts runs every remote command of the state again by hand (its create, with its stdin,
// on its host, as the provider runs it): each must report "no change".
func (l *stackLab) rerunScripts() {
	t := l.t
	t.Helper()
	type run struct{ name, host, create, stdin string }
	byHost := map[string][]run{}
	var hosts []string
	for _, r := range l.export() {
		if r.Type != "command:remote:Command" {
			continue
		}
		conn, _ := plain(r.Inputs["connection"]).(map[string]any)
		host, _ := conn["host"].(string)
		create, _ := plain(r.Inputs["create"]).(string)
		stdin, _ := plain(r.Inputs["stdin"]).(string)
		if host == "" || create == "" {
			t.Errorf("%s: no host or create in the state", r.URN)
			continue
		}
		if _, ok := byHost[host]; !ok {
			hosts = append(hosts, host)
		}
		byHost[host] = append(byHost[host], run{resName(r.URN), host, create, stdin})
	}
	stepRe := regexp.MustCompile(`(?m)^pm4ml: (\S+): (no change|\d+ change\(s\))$`)
	var mu sync.Mutex
	var wg sync.WaitGroup
	total, unchanged := 0, 0
	for _, h := range hosts {
		wg.Add(1)
		go func(rs []run) {
			defer wg.Done()
			for _, r := range rs {
				out, err := l.ssh(r.host, r.create, r.stdin, 10*time.Minute)
				m := stepRe.FindAllStringSubmatch(out, -1)
				mu.Lock()
				total++
				switch {
				case err != nil:
					t.Errorf("%s on %s again: %v\n%s", r.name, r.host, err, tail(out, 10))
				case len(m) == 0:
					t.Errorf("%s on %s again: no 'pm4ml: <step>: ...' line:\n%s", r.name, r.host, tail(out, 10))
				case m[len(m)-1][2] != "no change":
					t.Errorf("%s on %s again: %s", r.name, r.host, m[len(m)-1][0])
				default:
					unchanged++
				}
				mu.Unlock()
			}
		}(byHost[h])
	}
	wg.Wait()
	t.Logf("every remote command again by hand: %d of %d report no change", unchanged, total)
}

// plain unwraps a secret of `stack export --show-secrets` ({<sig>: <secret>, "plaintext": JSON}).
func plain(v any) any {
	m, ok := v.(map[string]any)
	if !ok || m[sig.Key] != sig.Secret {
		return v
	}
	s, _ := m["plaintext"].(string)
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil
	}
	return out
}

// --- 3. nftables

func (l *stackLab) checkFirewall() {
	t := l.t
	t.Helper()
	probe := func(fromAddr, to string, port int) bool {
		out, _ := l.ssh(fromAddr, fmt.Sprintf("timeout 3 bash -c 'echo >/dev/tcp/%s/%d' && echo open || echo closed", to, port), "", time.Minute)
		return strings.Contains(out, "open")
	}
	if !probe("10.77.0.16", "10.77.0.14", 32443) { // h6 haproxy -> h4 worker NodePort
		t.Error("NodePort 32443 on h4 refused from the HAProxy host h6")
	}
	if probe("10.77.0.11", "10.77.0.14", 32443) { // h1 master -> h4 NodePort
		t.Error("NodePort 32443 on h4 reachable from the master h1 (only HAProxy may)")
	}
	if probe("10.77.0.12", "10.77.0.11", 22) { // h2 is not in the admin allowlist
		t.Error("SSH on h1 reachable from h2 (outside pm4ml:network.adminAllowlist)")
	}
	if out, err := l.sh(time.Minute, "timeout 3 bash -c 'echo >/dev/tcp/10.77.0.11/22' && echo open"); err != nil || !strings.Contains(out, "open") {
		t.Errorf("SSH on h1 refused from the admin address 10.77.0.1: %v %s", err, out)
	}
}

// --- VIP failover

func (l *stackLab) vipHolder() string {
	for _, a := range []string{"10.77.0.16", "10.77.0.17"} {
		if out, _ := l.ssh(a, "ip -o -4 addr show", "", time.Minute); strings.Contains(out, "10.77.0.100/") {
			return a
		}
	}
	return ""
}

func (l *stackLab) checkFailover() {
	t := l.t
	active := l.vipHolder()
	if active == "" {
		t.Fatal("no HAProxy host holds the public VIP 10.77.0.100")
	}
	l.mustSSH(active, "systemctl stop haproxy")
	defer l.mustSSH(active, "systemctl start haproxy")
	t0 := time.Now()
	ok, took := Poll(30*time.Second, 250*time.Millisecond, func() bool { h := l.vipHolder(); return h != "" && h != active })
	if !ok {
		t.Fatalf("the VIP did not move off %s within 30 s", active)
	}
	res := "--resolve argocd.lab.pm4ml.example.org:443:10.77.0.100"
	if out, err := l.sh(time.Minute, "curl -sSk "+res+" https://argocd.lab.pm4ml.example.org/"); err != nil || !strings.Contains(out, "<title>Argo CD</title>") {
		t.Errorf("through the VIP after failover: %v %s", err, out)
	}
	t.Logf("haproxy stopped on %s: VIP moved to %s in %.1f s (%.1f s incl. checks)", active, l.vipHolder(), took.Seconds(), time.Since(t0).Seconds())
}

// --- 5. remove a worker

// configWithout writes the stack file without host h5 (or with it again).
// containerInit is the PID of a lab host's machine: the init of its container (killing it ends
// every process of the container's PID namespace at once, as a power cut would; systemd-nspawn
// then exits).
func (l *stackLab) containerInit(host string) int {
	t := l.t
	t.Helper()
	nspawn := readPID(t, filepath.Join(l.dir, "run", host+".pid"))
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", nspawn, nspawn))
	if err != nil || len(strings.Fields(string(kids))) != 1 {
		t.Fatalf("%s's container init (child of systemd-nspawn %d): %v %q", host, nspawn, err, kids)
	}
	return atoi(t, strings.Fields(string(kids))[0])
}

func (l *stackLab) setWorker5(present bool) {
	l.t.Helper()
	b, err := os.ReadFile(l.cfgFile)
	if err != nil {
		l.t.Fatal(err)
	}
	line := "    - {name: h5, address: 10.77.0.15, roles: [worker]}\n"
	s := strings.Replace(string(b), line, "", 1)
	if present {
		s = strings.Replace(s, "    - {name: h6,", line+"    - {name: h6,", 1)
	}
	if err := os.WriteFile(l.cfgFile, []byte(s), 0o600); err != nil {
		l.t.Fatal(err)
	}
}

// allowedSideEffect: a step of another host that a worker's removal or addition may touch: the
// configurations that list the workers (HAProxy backends, firewall sources, the /etc/hosts of the
// other Kubernetes nodes h1-h4, the node set the MicroK8s finalize step and the verification
// expect).
var allowedSideEffect = regexp.MustCompile(`^(haproxy-h[67]-config|prep-h\d+-firewall|prep-h[1-4]-base|microk8s-finalize|verify-checks)$`)

func (l *stackLab) checkWorkerDiff(steps []step, what string) {
	t := l.t
	var own, side []string
	for _, s := range steps {
		n := resName(s.URN)
		switch {
		case strings.Contains(n, "h5"):
			own = append(own, s.Op+" "+n)
		case allowedSideEffect.MatchString(n) && (s.Op == "update" || s.Op == "replace" || s.Op == "create-replacement" || s.Op == "delete-replaced"):
			side = append(side, s.Op+" "+n)
		default:
			t.Errorf("%s: preview touches %s %s (not h5's, not a config listing the workers)", what, s.Op, s.URN)
		}
	}
	if len(own) == 0 {
		t.Errorf("%s: preview touches nothing of h5", what)
	}
	t.Logf("%s: preview: %d step(s) of h5: %v; %d config step(s) elsewhere: %v", what, len(own), own, len(side), side)
}

func (l *stackLab) removeWorker() {
	t := l.t
	l.setWorker5(false)
	steps := l.previewSteps()
	l.checkWorkerDiff(steps, "remove h5")
	for _, s := range steps {
		if strings.Contains(resName(s.URN), "h5") && s.Op != "delete" {
			t.Errorf("remove h5: %s %s (want delete)", s.Op, s.URN)
		}
	}
	out, err := l.pulumi(30*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(out, 80))
	}
	t.Logf("up without h5: %s", summary(out))
	if out, err := l.kubectl("get", "nodes", "-o", "name"); err != nil || strings.Contains(out, "node/h5") || !strings.Contains(out, "node/h4") {
		t.Errorf("nodes after removing h5: %v %s", err, out)
	}
	if out := l.mustSSH("10.77.0.15", "test -e /usr/local/bin/microk8s && microk8s status >/dev/null 2>&1; cat /var/snap/microk8s/current/var/lock/clustered.lock 2>/dev/null && echo STILL-JOINED || echo left"); !strings.Contains(out, "left") {
		t.Errorf("h5 after its removal: %s", out)
	}
}

// --- 4. add the worker back; its host goes down mid-run

func (l *stackLab) addWorkerHostDown() {
	t := l.t
	l.setWorker5(true)
	steps := l.previewSteps()
	l.checkWorkerDiff(steps, "add h5")
	planned := map[string]bool{}
	for _, s := range steps {
		planned[resName(s.URN)] = true
	}
	pid := l.containerInit("h5")
	var once sync.Once
	killed := ""
	out, err := l.pulumi(30*time.Minute, "", func(line string) {
		// h5 goes down (power cut: SIGKILL of its systemd-nspawn) as soon as its second step starts
		if strings.Contains(line, " prep-h5-base ") && strings.Contains(line, "creating") {
			once.Do(func() {
				killed = line
				_ = syscall.Kill(pid, syscall.SIGKILL)
			})
		}
	}, l.stackArgs("up", "--yes", "--skip-preview")...)
	if killed == "" {
		t.Fatalf("h5's base step never started; up: %v\n%s", err, tail(out, 60))
	}
	if err == nil {
		t.Fatalf("up succeeded although h5 went down at %q", killed)
	}
	errs := errorLines(out)
	t.Logf("h5 went down at %q; the up failed with:\n%s", strings.TrimSpace(killed), strings.Join(errs, "\n"))
	named := false
	for _, e := range errs {
		if strings.Contains(e, "h5") && strings.Contains(e, "10.77.0.15") {
			named = true
		}
	}
	if !named {
		t.Errorf("no error names the host h5 (10.77.0.15) and its step:\n%s", tail(out, 60))
	}
	done1 := completed(out)

	// h5 comes back (its disk kept: a reboot), the rerun completes what was left.
	if out, err := stackScript(t, 10*time.Minute, "stack-up.sh"); err != nil {
		t.Fatalf("stack-up.sh (h5 back): %v\n%s", err, tail(out, 30))
	}
	out, err = l.pulumi(30*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err != nil {
		t.Fatalf("rerun after h5 returned: %v\n%s", err, tail(out, 80))
	}
	done2 := completed(out)
	t.Logf("first attempt did %v; the rerun did %v (%s)", done1, done2, summary(out))
	for _, n := range done2 {
		if slices.Contains(done1, n) {
			t.Errorf("the rerun redid %s, which the failed run had completed", n)
		}
		if !planned[n] && !strings.Contains(n, "h5") {
			t.Errorf("the rerun touched %s, which adding h5 did not plan", n)
		}
	}
	if out, err := l.kubectl("get", "node", "h5", "-o", "name"); err != nil {
		t.Errorf("h5 is not a node again: %v %s", err, out)
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after the rerun, a preview still has changes: %v\n%s", err, tail(out, 40))
	}
}

func readPID(t *testing.T, f string) int {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return atoi(t, strings.TrimSpace(string(b)))
}

// errorLines are the CLI's diagnostics lines of errors.
func errorLines(out string) []string {
	var errs []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "error:") {
			errs = append(errs, strings.TrimSpace(line))
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "    ") {
			errs = append(errs, strings.TrimSpace(line))
			continue
		}
		in = false
	}
	return errs
}

// TestUnexpectedWarnings: the filter of TestStackLab's warning assertion keeps every warning but
// the CLI's plugin-from-PATH notices of the lab and the transient ones awaitProgressRe names (no
// lab needed).
func TestUnexpectedWarnings(t *testing.T) {
	out := `Updating (stacklab):
 +  pulumi:pulumi:Stack pm4ml-onprem-stacklab creating (0s) warning: using pulumi-resource-command from $PATH at /root/.cache/pm4ml-onprem/lab/bin/pulumi-resource-command
 +  pm4ml:waves:Waves waves creating (40s) warning: wave storage: Application storage-app: not Synced and Healthy, but this update did not change it (the provider did not await it): sync OutOfSync, health Missing
Diagnostics:
  pulumi:pulumi:Stack (pm4ml-onprem-stacklab):
    warning: using pulumi-resource-command from $PATH at /root/.cache/pm4ml-onprem/lab/bin/pulumi-resource-command
    warning: using pulumi-resource-vault from $PATH at /root/.cache/pm4ml-onprem/lab/bin/pulumi-resource-vault
    warning: using pulumi-resource-kubernetes from $PATH at /root/.cache/pm4ml-onprem/bin/pulumi-resource-kubernetes

  pm4ml:waves:Waves (waves):
    warning: wave storage: Application storage-app: not Synced and Healthy, but this update did not change it (the provider did not await it): sync OutOfSync, health Missing
    warning: using pulumi-resource-proxmoxve from $PATH at /tmp/x
    warning: resource plugin kubernetes is expected to have version >=4.32.0, but has 4.24.0-dev.f47bc2d; the wrong version may be on your path, or this may be a bug in the plugin
    warning: [MinimumReplicasUnavailable] Deployment does not have minimum availability.
    warning: FailedCreate: create Pod argocd-application-controller-0 in StatefulSet argocd-application-controller failed error: pods "argocd-application-controller-0" is forbidden: error looking up service account argocd/argocd-application-controller: serviceaccount "argocd-application-controller" not found
    warning: resource plugin vault is expected to have version >=7.0.0, but has 6.7.0
    warning: ClusterIPNotAllocated: Cluster IP [IPv4]:10.106.52.66 is not allocated; repairing
    warning: ClusterIPNotValid: Cluster IP 10.106.52.66 is not a valid IP; please recreate service
`
	got := unexpectedWarnings(out)
	want := []string{
		"wave storage: Application storage-app: not Synced and Healthy, but this update did not change it (the provider did not await it): sync OutOfSync, health Missing",
		"using pulumi-resource-proxmoxve from $PATH at /tmp/x",
		"resource plugin vault is expected to have version >=7.0.0, but has 6.7.0",
		"ClusterIPNotValid: Cluster IP 10.106.52.66 is not a valid IP; please recreate service",
	}
	if !slices.Equal(got, want) {
		t.Errorf("unexpectedWarnings = %q, want %q", got, want)
	}
	if w := unexpectedWarnings("Resources:\n    + 193 created\n"); len(w) != 0 {
		t.Errorf("no warnings: got %q", w)
	}
}
