package lab

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// labStackFile is the lab's stack configuration (four hosts on br-lab).
const labStackFile = "testdata/Pulumi.lab.yaml"

// labNet is br-lab: every address of the lab stack must be on it (never an address of a real
// stack).
var labNet = netip.MustParsePrefix("10.77.0.0/24")

// outsider is an address outside the lab stack's admin allowlist (TEST-NET-3, never routed here):
// a session from it must not be locked out by the firewall step, which refuses to apply.
const outsider = "203.0.113.7"

// prepHost is one host of the lab stack with the scripts `pulumi up` would run on it.
type prepHost struct {
	Spec    stacks.HostSpec
	Plan    hostprep.Plan
	Scripts []remotecmd.Script // preflight, base, tuning, firewall (from stacks.Render)
	Ruleset string             // the nftables.nft the render output holds for the host
}

// loadLabStack reads the lab stack file as the render command does (stacks.ReadStackFile,
// stacks.LoadForRender, stacks.Render) and returns each host's hostprep scripts, checked against
// the component's own renderer (what Deploy runs).
func loadLabStack(t *testing.T) (*stacks.Config, []prepHost) {
	t.Helper()
	return loadStackFile(t, labStackFile)
}

// loadStackFile is loadLabStack for any stack file.
func loadStackFile(t *testing.T, file string) (*stacks.Config, []prepHost) {
	t.Helper()
	src, err := stacks.ReadStackFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := stacks.LoadForRender(src)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	arts, err := stacks.Render(cfg)
	if err != nil {
		t.Fatalf("stacks.Render: %v", err)
	}
	byPath := map[string]stacks.Artifact{}
	for _, a := range arts {
		byPath[a.Path] = a
	}
	plans := cfg.PrepPlans()
	if len(plans) != len(cfg.Hosts) {
		t.Fatalf("%d prep plans for %d hosts", len(plans), len(cfg.Hosts))
	}
	var out []prepHost
	for i, h := range cfg.Hosts {
		ph := prepHost{Spec: h, Plan: plans[i]}
		want, err := hostprep.Render(plans[i])
		if err != nil {
			t.Fatal(err)
		}
		for j, step := range hostprep.Steps {
			p := path.Join(h.Name, "hostprep", fmt.Sprintf("%d0-%s.sh", j+1, step))
			a, ok := byPath[p]
			if !ok {
				t.Fatalf("render output has no %s", p)
			}
			s := remotecmd.Script{Step: "hostprep-" + step, Body: a.Content}
			if want.Scripts[j].Step != s.Step || want.Scripts[j].Body != s.Body {
				t.Fatalf("%s differs from what the hostprep component runs (%s)", p, want.Scripts[j].Step)
			}
			ph.Scripts = append(ph.Scripts, s)
		}
		nft, ok := byPath[path.Join(h.Name, "hostprep", "nftables.nft")]
		if !ok || nft.Content != want.Ruleset {
			t.Fatalf("%s: render output's nftables.nft differs from the component's ruleset", h.Name)
		}
		ph.Ruleset = nft.Content
		out = append(out, ph)
	}
	return cfg, out
}

// labAddresses lists every address the lab stack configures, with its key.
func labAddresses(cfg *stacks.Config) map[string]string {
	m := map[string]string{
		"haproxy.publicVip":   cfg.HAProxy.PublicVIP,
		"haproxy.internalVip": cfg.HAProxy.InternalVIP,
	}
	for i, h := range cfg.Hosts {
		m[fmt.Sprintf("hosts[%d].address", i)] = h.Address
	}
	for i, a := range cfg.Network.AdminAllowlist {
		m[fmt.Sprintf("network.adminAllowlist[%d]", i)] = a
	}
	for i, a := range cfg.Network.APIAllowlist {
		m[fmt.Sprintf("network.apiAllowlist[%d]", i)] = a
	}
	for i, a := range cfg.Network.NTPServers {
		m[fmt.Sprintf("network.ntpServers[%d]", i)] = a
	}
	return m
}

func inLab(a string) bool {
	if p, err := netip.ParsePrefix(a); err == nil {
		return labNet.Bits() <= p.Bits() && labNet.Contains(p.Addr())
	}
	ip, err := netip.ParseAddr(a)
	return err == nil && labNet.Contains(ip)
}

func ruleOf(rules []network.Allow, id string) (network.Allow, bool) {
	for _, r := range rules {
		if r.Rule.ID == id {
			return r, true
		}
	}
	return network.Allow{}, false
}

// TestLabStackFixture checks the lab stack file (always runs, no root needed): it validates as a
// stg stack with pm4ml:lab, every address is on br-lab, host hN is at hosts-up.sh's address for
// hN, and the firewall rows the lab test probes resolve as it expects.
func TestLabStackFixture(t *testing.T) {
	cfg, hs := loadLabStack(t)
	if !cfg.Lab || cfg.Environment != hosts.Stg || cfg.HostSource != stacks.SourceExisting || cfg.SSH.User != "root" {
		t.Fatalf("lab stack: lab=%v environment=%s hostSource=%s ssh.user=%s; want true, stg, existing, root",
			cfg.Lab, cfg.Environment, cfg.HostSource, cfg.SSH.User)
	}
	if cfg.Network.InternalSubnet != labNet.String() {
		t.Errorf("internalSubnet %s, want br-lab's %s", cfg.Network.InternalSubnet, labNet)
	}
	for k, a := range labAddresses(cfg) {
		if !inLab(a) {
			t.Errorf("pm4ml:%s = %q is not on br-lab (%s): the lab stack must never name a real address", k, a, labNet)
		}
	}
	if !slices.Equal(cfg.Network.AdminAllowlist, []string{"10.77.0.1/32"}) {
		t.Errorf("adminAllowlist %v, want only the root-namespace side of br-lab", cfg.Network.AdminAllowlist)
	}
	roles := map[string]hosts.Roles{}
	for i, h := range hs {
		if want := fmt.Sprintf("h%d", i+1); h.Spec.Name != want || h.Spec.Address != fmt.Sprintf("10.77.0.%d", 11+i) {
			t.Errorf("hosts[%d] = %s %s, want %s 10.77.0.%d (hosts-up.sh's name and address)", i, h.Spec.Name, h.Spec.Address, want, 11+i)
		}
		roles[h.Spec.Name] = h.Plan.Roles
		if len(h.Scripts) != 4 || !h.Plan.Lab {
			t.Errorf("%s: %d scripts, lab %v", h.Spec.Name, len(h.Scripts), h.Plan.Lab)
		}
		if !strings.Contains(h.Scripts[0].Body, "accepted because pm4ml:lab is set") {
			t.Errorf("%s: the preflight does not accept the lab's Debian 12", h.Spec.Name)
		}
	}
	if !roles["h1"].Has(hosts.RoleMaster) || !roles["h1"].Has(hosts.RoleWorker) || !roles["h2"].Has(hosts.RoleWorker) ||
		!roles["h3"].Has(hosts.RoleHAProxy) || !roles["h4"].Has(hosts.RoleStorage) || len(hs[3].Spec.CephDisks) == 0 {
		t.Fatalf("roles %v, h4 disks %v", roles, hs[3].Spec.CephDisks)
	}
	// the rows TestHostPrepLab probes on h2
	want := map[string][]string{
		network.SSH:           {"10.77.0.1/32"},
		network.IstioExtHTTPS: {"10.77.0.13"},
		network.Kubelet:       {"10.77.0.11", "10.77.0.12"},
	}
	for id, srcs := range want {
		r, ok := ruleOf(hs[1].Plan.Topology.RulesFor(network.Node{Name: "h2", Address: "10.77.0.12", Roles: roles["h2"]}), id)
		if !ok || !slices.Equal(r.Sources, srcs) {
			t.Errorf("h2 %s: %v (found %v), want sources %v", id, r.Sources, ok, srcs)
		}
	}
	for _, h := range hs {
		if !strings.Contains(h.Scripts[3].Body, h.Ruleset) || !strings.Contains(h.Ruleset, "table inet pm4ml") {
			t.Errorf("%s: the firewall script does not carry the rendered ruleset", h.Spec.Name)
		}
	}
}

// --- the kernel the lab hosts share

var (
	modulesRe = regexp.MustCompile(`(?m)^modules=\(([^)]*)\)$`)
	sysctlRe  = regexp.MustCompile(`(?s)put_file /etc/sysctl.d/90-pm4ml.conf 644 <<'PM4ML_SYSCTL' \|\| true\n(.*?)\nPM4ML_SYSCTL\n`)
)

// tuningWants reads the kernel modules and sysctls a rendered tuning script asks for.
func tuningWants(t *testing.T, tuning string) (mods []string, sysctls map[string]string) {
	t.Helper()
	m := modulesRe.FindStringSubmatch(tuning)
	s := sysctlRe.FindStringSubmatch(tuning)
	if m == nil || s == nil {
		t.Fatal("tuning script: no modules=(...) or sysctl.d block")
	}
	sysctls = map[string]string{}
	for _, l := range strings.Split(s[1], "\n") {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			t.Fatalf("sysctl line %q", l)
		}
		sysctls[k] = v
	}
	return strings.Fields(m[1]), sysctls
}

// perNamespace: the sysctl belongs to a network namespace, so a lab host sets it itself
// (hosts-up.sh makes /proc/sys/net writable in the containers). Everything else is the machine's
// kernel, shared by all lab hosts and read-only in them. nf_conntrack_max is global (only the
// initial namespace may set it).
func perNamespace(key string) bool {
	return strings.HasPrefix(key, "net.") && key != "net.netfilter.nf_conntrack_max"
}

func normalize(v string) string { return strings.Join(strings.Fields(v), " ") }

// setMachineSysctls sets the namespace-independent sysctls the tuning steps want on this
// machine's kernel (the lab hosts share it and cannot set them), restoring the old values at the
// end.
func setMachineSysctls(t *testing.T, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		old, err := exec.Command("sysctl", "-n", k).Output()
		if err != nil {
			t.Fatalf("sysctl -n %s: %v", k, err)
		}
		was := normalize(string(old))
		if was == want[k] {
			continue
		}
		if out, err := exec.Command("sysctl", "-q", "-w", k+"="+want[k]).CombinedOutput(); err != nil {
			t.Fatalf("this machine: sysctl -w %s=%s: %v %s", k, want[k], err, out)
		}
		t.Logf("lab kernel: %s = %s (was %s; restored at the end)", k, want[k], was)
		t.Cleanup(func() {
			if out, err := exec.Command("sysctl", "-q", "-w", k+"="+was).CombinedOutput(); err != nil {
				t.Errorf("restore %s=%s: %v %s", k, was, err, out)
			}
		})
	}
}

// kernelConfig is the running kernel's configuration (empty when it does not publish it).
func kernelConfig() map[string]string {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return nil
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			m[k] = v
		}
	}
	return m
}

// moduleConfig maps the modules the tuning step loads to their kernel option and their path
// under /lib/modules/<release>/ (as modules.builtin lists built-in modules).
var moduleConfig = map[string]struct{ option, path string }{
	"overlay":      {"CONFIG_OVERLAY_FS", "kernel/fs/overlayfs/overlay.ko"},
	"br_netfilter": {"CONFIG_BRIDGE_NETFILTER", "kernel/net/bridge/br_netfilter.ko"},
	"nf_conntrack": {"CONFIG_NF_CONNTRACK", "kernel/net/netfilter/nf_conntrack.ko"},
	"rbd":          {"CONFIG_BLK_DEV_RBD", "kernel/drivers/block/rbd.ko"},
}

// prepareModules makes the modules the tuning steps want present in this machine's kernel, which
// the lab hosts share and cannot change. A module is either loaded (/sys/module/<m>), loaded now
// with modprobe on this machine, or built in: then the lab hosts get the modules.builtin file a
// distribution kernel ships (this machine has no /lib/modules). A module this kernel has in no
// form cannot be provided: it is listed as built in all the same, and logged as a stand-in (the
// lab then proves the tuning step's handling, not the module).
func prepareModules(t *testing.T, mods []string) (builtin []string) {
	t.Helper()
	kcfg := kernelConfig()
	for _, m := range mods {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			t.Logf("lab kernel: module %s loaded", m)
			continue
		}
		if _, err := exec.LookPath("modprobe"); err == nil {
			if out, err := exec.Command("modprobe", m).CombinedOutput(); err == nil {
				if _, err := os.Stat("/sys/module/" + m); err == nil {
					t.Logf("lab kernel: module %s loaded on this machine with modprobe", m)
					continue
				}
			} else {
				t.Logf("lab kernel: modprobe %s on this machine: %v %s", m, err, bytes.TrimSpace(out))
			}
		}
		c, known := moduleConfig[m]
		if !known {
			t.Fatalf("the tuning step wants kernel module %s: add it to moduleConfig", m)
		}
		builtin = append(builtin, c.path)
		if kcfg[c.option] == "y" {
			t.Logf("lab kernel: module %s built in (%s=y)", m, c.option)
		} else {
			t.Logf("lab kernel: STAND-IN: module %s is not in this kernel (%s=%q, no loadable module): listed as built in for the lab hosts; nothing in the lab uses it", m, c.option, kcfg[c.option])
		}
	}
	return builtin
}

// --- loop devices for the Ceph disks

// loopDevice attaches a sparse file as a loop device and detaches it at the end.
func loopDevice(t *testing.T, dir, name string) string {
	t.Helper()
	f := filepath.Join(dir, name+".img")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, 1<<30); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", f).CombinedOutput()
	dev := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("losetup --find --show %s: %v %s", f, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	return dev
}

// --- running the scripts

type result struct {
	out  string
	err  error
	took time.Duration
}

// runChains runs every host's scripts in order, the hosts in parallel (as pulumi up does), over
// SSH with remotecmd.Invocation's command line. A failed step ends its host's chain.
func runChains(t *testing.T, user string, round int, hs []prepHost, labs map[string]Host) map[string]result {
	t.Helper()
	var mu sync.Mutex
	out := map[string]result{}
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range h.Scripts {
				t0 := time.Now()
				stdout, stderr, err := Run(labs[h.Spec.Name], remotecmd.Invocation(user, s.Step, s.Body), "", 5*time.Minute)
				mu.Lock()
				out[h.Spec.Name+" "+s.Step] = result{out: stdout + stderr, err: err, took: time.Since(t0)}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, h := range hs {
		for _, s := range h.Scripts {
			r, ok := out[h.Spec.Name+" "+s.Step]
			if !ok {
				continue
			}
			t.Logf("round %d %s %s (%.1fs):\n%s", round, h.Spec.Name, s.Step, r.took.Seconds(), r.out)
			if r.err != nil {
				t.Fatalf("round %d %s %s: %v", round, h.Spec.Name, s.Step, r.err)
			}
		}
	}
	return out
}

// run runs a command on a lab host and fails the test on error.
func run(t *testing.T, h Host, cmd string) string {
	t.Helper()
	stdout, stderr, err := Run(h, cmd, "", 30*time.Second)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s%s", h.Name, cmd, err, stdout, stderr)
	}
	return stdout
}

// firewallState is what the firewall step manages on a host, to compare before and after.
func firewallState(t *testing.T, h Host) string {
	t.Helper()
	return run(t, h, `nft list table inet pm4ml 2>&1 | grep -v 'counter packets' || true
sha256sum /etc/pm4ml/nftables.nft /etc/systemd/system/pm4ml-firewall.service 2>&1 || true
systemctl is-enabled pm4ml-firewall.service 2>&1 || true`)
}

// guardedRun runs the firewall step as remotecmd.Invocation does, from a session whose client
// address ($SSH_CONNECTION, the script's $1) is `client`.
func guardedRun(t *testing.T, user string, h Host, s remotecmd.Script, client string) (string, int) {
	t.Helper()
	cmd := fmt.Sprintf("SSH_CONNECTION=%s; %s", remotecmd.Quote(client+" 40000 "+h.Address+" 22"), remotecmd.Invocation(user, s.Step, s.Body))
	stdout, stderr, err := Run(h, cmd, "", time.Minute)
	var ee *ssh.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", h.Name, err)
	}
	code := 0
	if ee != nil {
		code = ee.ExitStatus()
	}
	return stdout + stderr, code
}

// --- probes

// probeScript connects to argv[1]:argv[2] with a 2 s timeout and prints "open <banner>",
// "refused" or "timeout".
const probeScript = `import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except TimeoutError:
    print("timeout"); sys.exit()
except ConnectionRefusedError:
    print("refused"); sys.exit()
except OSError as e:
    print("error", e.errno); sys.exit()
try:
    data = s.recv(200)
except TimeoutError:
    data = b""
print("open", data.decode(errors="replace").strip())
`

// listenScript accepts on argv[1] and answers "pm4ml-lab <host>:<port> from <client>".
const listenScript = `import socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(16)
while True:
    c, a = s.accept()
    c.sendall(("pm4ml-lab %s:%d from %s\n" % (socket.gethostname(), port, a[0])).encode())
    c.close()
`

// probeFrom connects from a lab host (nil: from this machine, 10.77.0.1 on br-lab).
func probeFrom(t *testing.T, from *Host, addr string, port int) string {
	t.Helper()
	if from != nil {
		return strings.TrimSpace(run(t, *from, fmt.Sprintf("python3 -c %s %s %d", remotecmd.Quote(probeScript), addr, port)))
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), 2*time.Second)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "error " + err.Error()
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 200)
	n, _ := c.Read(b)
	return strings.TrimSpace("open " + strings.TrimSpace(string(b[:n])))
}

var counterRe = regexp.MustCompile(`counter packets (\d+) bytes \d+ (?:drop )?comment "([^"]*)"`)

// counters reads the named counters of table inet pm4ml on a host.
func counters(t *testing.T, h Host) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, c := range counterRe.FindAllStringSubmatch(run(t, h, "nft list table inet pm4ml"), -1) {
		n, _ := strconv.Atoi(c[1])
		m[c[2]] = n
	}
	return m
}

const (
	nodePortDrop = "no NodePort from elsewhere (guide 1.3.2)"
	policyDrop   = "dropped by policy"
)

// TestHostPrepLab runs the host preparation of the lab stack for real on four lab hosts: every
// host's chain twice (the second run changes nothing), then probes the firewall it loaded.
func TestHostPrepLab(t *testing.T) {
	Require(t)
	start := time.Now()
	cfg, hs := loadLabStack(t)
	for k, a := range labAddresses(cfg) {
		if !inLab(a) {
			t.Fatalf("pm4ml:%s = %s is not on br-lab: refusing to run", k, a)
		}
	}

	// What the tuning steps want from the kernel the lab hosts share.
	var mods []string
	machine, perNS := map[string]string{}, map[string]map[string]string{}
	for _, h := range hs {
		m, sc := tuningWants(t, h.Scripts[2].Body)
		for _, x := range m {
			if !slices.Contains(mods, x) {
				mods = append(mods, x)
			}
		}
		perNS[h.Spec.Name] = map[string]string{}
		for k, v := range sc {
			if perNamespace(k) {
				perNS[h.Spec.Name][k] = v
				continue
			}
			if w, ok := machine[k]; ok && w != v {
				t.Fatalf("sysctl %s: %s wants %s, another host %s; the lab hosts share one kernel", k, h.Spec.Name, v, w)
			}
			machine[k] = v
		}
	}

	// A fresh lab (first-run changes and h4's disk need new hosts), the Ceph disks as loop devices
	// bound into their hosts at the configured paths.
	if out, err := Script(t, 2*time.Minute, "hosts-down.sh"); err != nil {
		t.Fatalf("hosts-down.sh before the test: %v\n%s", err, out)
	}
	dir := t.TempDir()
	var binds []string
	for _, h := range hs {
		for i, d := range h.Spec.CephDisks {
			dev := loopDevice(t, dir, fmt.Sprintf("%s-disk%d", h.Spec.Name, i))
			binds = append(binds, fmt.Sprintf("%s=%s:%s", h.Spec.Name, dev, d))
		}
	}
	t.Setenv("PM4ML_LAB_BIND", strings.Join(binds, " "))
	t.Logf("ceph disks: %v", binds)
	t0 := time.Now()
	up := Up(t, len(hs), 15*time.Minute)
	boot := time.Since(t0)
	labs := map[string]Host{}
	for i, h := range hs {
		if up[i].Name != h.Spec.Name || up[i].Address != h.Spec.Address {
			t.Fatalf("lab host %v is not the stack's %s %s", up[i], h.Spec.Name, h.Spec.Address)
		}
		labs[h.Spec.Name] = up[i]
	}
	setMachineSysctls(t, machine)
	if builtin := prepareModules(t, mods); len(builtin) > 0 {
		list := strings.Join(builtin, "\n") + "\n"
		for _, h := range up {
			run(t, h, fmt.Sprintf(`d=/lib/modules/$(uname -r); mkdir -p "$d"; printf %%s %s >"$d/modules.builtin"`, remotecmd.Quote(list)))
		}
	}
	user := cfg.SSH.User
	h2, h2s := labs["h2"], hs[1]
	fw := h2s.Scripts[3]

	// Lockout guard on a fresh host: from outside pm4ml:network.adminAllowlist the firewall step
	// refuses before it changes anything.
	out, code := guardedRun(t, user, h2, fw, outsider)
	if code == 0 || !strings.Contains(out, "pm4ml:network.adminAllowlist") || !strings.Contains(out, outsider) || len(Lines(out, "changed:")) != 0 {
		t.Errorf("firewall step from %s on a fresh host: exit %d, want a refusal naming pm4ml:network.adminAllowlist:\n%s", outsider, code, out)
	}
	if st := run(t, h2, "nft list table inet pm4ml >/dev/null 2>&1 && echo table; ls /etc/pm4ml 2>/dev/null; systemctl is-enabled pm4ml-firewall.service 2>/dev/null; true"); strings.TrimSpace(st) != "" {
		t.Errorf("the refused firewall step left something behind: %q", st)
	}

	// First run: everything succeeds and each step (but the read-only preflight) changes something.
	t0 = time.Now()
	first := runChains(t, user, 1, hs, labs)
	firstTook := time.Since(t0)
	for _, h := range hs {
		for _, s := range h.Scripts {
			o := first[h.Spec.Name+" "+s.Step].out
			last := LastLine(o)
			if s.Step == "hostprep-preflight" {
				if last != "pm4ml: hostprep-preflight: no change" || !strings.Contains(o, "ok: OS Debian GNU/Linux 12 (bookworm) (accepted because pm4ml:lab is set)") {
					t.Errorf("%s preflight:\n%s", h.Spec.Name, o)
				}
				continue
			}
			if !strings.HasPrefix(last, "pm4ml: "+s.Step+": ") || strings.HasSuffix(last, "no change") {
				t.Errorf("%s %s: the first run should change something, ends with %q", h.Spec.Name, s.Step, last)
			}
		}
		o := first[h.Spec.Name+" hostprep-base"].out
		for _, want := range []string{"changed: /etc/hosts", "changed: /etc/chrony/sources.d/pm4ml.sources", "changed: chrony enabled and started", "unchanged: packages ca-certificates chrony curl jq nftables"} {
			if !strings.Contains(o, want) {
				t.Errorf("%s base: no %q", h.Spec.Name, want)
			}
		}
		// the network sysctls are the host's own (its namespace): the step sets them itself; the
		// others are this machine's, set above, so the step finds them in place
		o = first[h.Spec.Name+" hostprep-tuning"].out
		if !strings.Contains(o, "changed: sysctl net.core.somaxconn = 32768") {
			t.Errorf("%s tuning did not set net.core.somaxconn itself", h.Spec.Name)
		}
		for k := range perNS[h.Spec.Name] {
			if !strings.Contains(o, "sysctl "+k) {
				t.Errorf("%s tuning: sysctl %s not handled", h.Spec.Name, k)
			}
		}
		for k := range machine {
			if slices.Contains(strings.Fields(o), k) && !strings.Contains(o, "unchanged: sysctl "+k+"\n") {
				t.Errorf("%s tuning: machine-wide sysctl %s not found in place", h.Spec.Name, k)
			}
		}
		o = first[h.Spec.Name+" hostprep-firewall"].out
		if !strings.Contains(o, "changed: nftables table inet pm4ml loaded") || !strings.Contains(o, "changed: pm4ml-firewall.service enabled") {
			t.Errorf("%s firewall: the ruleset was not loaded and enabled", h.Spec.Name)
		}
	}
	if o := first["h4 hostprep-preflight"].out; !strings.Contains(o, "ok: Ceph disk "+hs[3].Spec.CephDisks[0]) {
		t.Errorf("h4 preflight did not accept the Ceph disk:\n%s", o)
	}
	if o := first["h2 hostprep-tuning"].out; !strings.Contains(o, "changed: sysctl net.ipv4.ip_forward = 1") {
		t.Errorf("h2 tuning did not set net.ipv4.ip_forward itself (its namespace's /proc/sys/net is writable):\n%s", o)
	}

	// The hosts are in the state the scripts describe.
	for _, h := range hs {
		lh := labs[h.Spec.Name]
		if got := run(t, lh, "cat /etc/pm4ml/nftables.nft"); got != h.Ruleset {
			t.Errorf("%s: /etc/pm4ml/nftables.nft is not the rendered ruleset", h.Spec.Name)
		}
		if got := run(t, lh, "systemctl is-enabled pm4ml-firewall.service; systemctl is-active chrony; nft list tables"); !strings.HasPrefix(got, "enabled\nactive\n") || !strings.Contains(got, "table inet pm4ml") {
			t.Errorf("%s: firewall unit / chrony / table: %q", h.Spec.Name, got)
		}
		_, sc := tuningWants(t, h.Scripts[2].Body)
		for k, v := range sc {
			if got := normalize(run(t, lh, "sysctl -n "+k)); got != v {
				t.Errorf("%s: sysctl %s = %q, want %q", h.Spec.Name, k, got, v)
			}
		}
		hostsFile := run(t, lh, "cat /etc/hosts")
		for _, p := range hs {
			if !strings.Contains(hostsFile, "\n"+p.Spec.Address+" "+p.Spec.Name+"\n") {
				t.Errorf("%s: /etc/hosts lacks %s %s", h.Spec.Name, p.Spec.Address, p.Spec.Name)
			}
		}
	}
	if got, err := exec.Command("ip", "netns", "exec", "h2", "sysctl", "-n", "net.core.somaxconn").Output(); err != nil || normalize(string(got)) != "32768" {
		t.Errorf("h2's namespace: net.core.somaxconn = %q %v, want the tuning step's 32768", got, err)
	}

	// Second run: nothing changes.
	t0 = time.Now()
	second := runChains(t, user, 2, hs, labs)
	secondTook := time.Since(t0)
	for k, r := range second {
		step := strings.Fields(k)[1]
		if LastLine(r.out) != "pm4ml: "+step+": no change" || len(Lines(r.out, "changed:")) != 0 {
			t.Errorf("%s second run changed something:\n%s", k, r.out)
		}
	}
	if len(second) != 4*len(hs) {
		t.Errorf("second run ran %d steps, want %d", len(second), 4*len(hs))
	}

	// The firewall, enforced: listeners on h2 on an Istio NodePort of the matrix, on another
	// NodePort of the range (any Service's) and on the kubelet port.
	istio := network.Lookup(network.IstioExtHTTPS).Ports.From
	otherNodePort := network.NodePortRangeFrom + 80
	kubelet := network.Lookup(network.Kubelet).Ports.From
	sshPort := network.Lookup(network.SSH).Ports.From
	httpPort := network.Lookup(network.PublicHTTP).Ports.From
	for _, p := range []int{istio, otherNodePort, kubelet} {
		run(t, h2, fmt.Sprintf("systemd-run --quiet --collect --unit=pm4ml-lab-listen-%d python3 -c %s %d", p, remotecmd.Quote(listenScript), p))
	}
	ok, _ := Poll(15*time.Second, 200*time.Millisecond, func() bool {
		o, _, err := Run(h2, "ss -Hltn", "", 10*time.Second)
		return err == nil && strings.Contains(o, fmt.Sprintf(":%d ", istio)) && strings.Contains(o, fmt.Sprintf(":%d ", otherNodePort)) && strings.Contains(o, fmt.Sprintf(":%d ", kubelet))
	})
	if !ok {
		t.Fatal("the listeners on h2 did not start")
	}
	h1, h3, h4 := labs["h1"], labs["h3"], labs["h4"]
	t0 = time.Now()
	type probe struct {
		name     string
		from     *Host
		to       Host
		port     int
		want     string // "open <banner prefix>", "refused" or "timeout"
		nodePort int    // change of h2's NodePort drop counter: 1 (some), 0 (none), -1 (not checked)
	}
	probes := []probe{
		{"ssh from the admin allowlist", nil, h2, sshPort, "open SSH-2.0-", -1},
		{"ssh from a storage host (not in the allowlist)", &h4, h2, sshPort, "timeout", -1},
		{"ssh from a cluster node (not in the allowlist)", &h1, h2, sshPort, "timeout", -1},
		{"Istio NodePort from HAProxy", &h3, h2, istio, fmt.Sprintf("open pm4ml-lab h2:%d from %s", istio, h3.Address), 0},
		{"Istio NodePort from a storage host", &h4, h2, istio, "timeout", 1},
		{"Istio NodePort from the admin network", nil, h2, istio, "timeout", 1},
		{"another NodePort from a storage host", &h4, h2, otherNodePort, "timeout", 1},
		{"another NodePort from the admin network", nil, h2, otherNodePort, "timeout", 1},
		// admitted by the NodePort filter; with no kube-proxy in the lab nothing DNATs it to a pod,
		// and the input chain admits only the matrix's NodePorts
		{"another NodePort from HAProxy", &h3, h2, otherNodePort, "timeout", 0},
		{"kubelet from a cluster node", &h1, h2, kubelet, fmt.Sprintf("open pm4ml-lab h2:%d from %s", kubelet, h1.Address), -1},
		{"kubelet from HAProxy", &h3, h2, kubelet, "timeout", 0},
		{"kubelet from the admin network", nil, h2, kubelet, "timeout", -1},
		{"public HTTP on HAProxy from anywhere (admitted, nothing listens)", nil, h3, httpPort, "refused", -1},
		{"HTTP on a worker", nil, h2, httpPort, "timeout", -1},
	}
	for _, p := range probes {
		before := counters(t, h2)
		got := probeFrom(t, p.from, p.to.Address, p.port)
		after := counters(t, h2)
		src := "10.77.0.1"
		if p.from != nil {
			src = p.from.Name
		}
		t.Logf("probe %s: %s -> %s:%d: %s (NodePort drops +%d, policy drops +%d)", p.name, src, p.to.Name, p.port, got,
			after[nodePortDrop]-before[nodePortDrop], after[policyDrop]-before[policyDrop])
		if !strings.HasPrefix(got, p.want) {
			t.Errorf("%s: %s -> %s:%d = %q, want %q", p.name, src, p.to.Name, p.port, got, p.want)
		}
		switch d := after[nodePortDrop] - before[nodePortDrop]; {
		case p.nodePort == 1 && d == 0:
			t.Errorf("%s: not dropped by the NodePort filter (prerouting)", p.name)
		case p.nodePort == 0 && d != 0:
			t.Errorf("%s: dropped by the NodePort filter (%d packets)", p.name, d)
		}
		if p.want == "timeout" && p.to.Name == "h2" && p.nodePort != 1 && after[policyDrop] == before[policyDrop] {
			t.Errorf("%s: no drop counted by the input policy", p.name)
		}
	}
	probesTook := time.Since(t0)

	// Lockout guard on a prepared host: the refusal changes nothing.
	beforeState := firewallState(t, h2)
	out, code = guardedRun(t, user, h2, fw, outsider)
	if code == 0 || !strings.Contains(out, "pm4ml:network.adminAllowlist") || !strings.Contains(out, outsider) || len(Lines(out, "changed:")) != 0 {
		t.Errorf("firewall step from %s: exit %d, want a refusal naming pm4ml:network.adminAllowlist:\n%s", outsider, code, out)
	}
	t.Logf("firewall step from %s (exit %d):\n%s", outsider, code, out)
	if after := firewallState(t, h2); after != beforeState {
		t.Errorf("the refused firewall step changed h2:\nbefore:\n%s\nafter:\n%s", beforeState, after)
	}
	if got := probeFrom(t, nil, h2.Address, sshPort); !strings.HasPrefix(got, "open SSH-2.0-") {
		t.Errorf("ssh from the admin allowlist after the refusal: %q", got)
	}

	// At boot: the table is gone (as after a reboot), pm4ml-firewall.service loads it again.
	run(t, h2, "nft delete table inet pm4ml")
	if got := probeFrom(t, &h4, h2.Address, sshPort); !strings.HasPrefix(got, "open SSH-2.0-") {
		t.Errorf("without the table h4 -> h2:22 should connect (the probe itself works): %q", got)
	}
	run(t, h2, "systemctl start pm4ml-firewall.service")
	if got := firewallState(t, h2); got != beforeState {
		t.Errorf("pm4ml-firewall.service loaded another state:\n%s\nwant:\n%s", got, beforeState)
	}
	if got := probeFrom(t, &h4, h2.Address, sshPort); got != "timeout" {
		t.Errorf("after pm4ml-firewall.service: h4 -> h2:22 = %q, want timeout", got)
	}

	t.Logf("timings: hosts-up %.1fs, first run %.1fs, second run %.1fs, probes %.1fs, total %.1fs (before teardown)",
		boot.Seconds(), firstTook.Seconds(), secondTook.Seconds(), probesTook.Seconds(), time.Since(start).Seconds())
}
