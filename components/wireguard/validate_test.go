package wireguard

// Validators: the real shellcheck, wg, wg-quick and wireguard-go on the rendered artifacts. The
// WireGuard ones run inside a network namespace created here, with no default route (only its own
// loopback, left down), and delete it at the end; the processes started there are stopped by PID.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"
)

func TestValidatorShellcheck(t *testing.T) {
	testtool.Tools(t, "shellcheck")
	one := testSettings()
	var scripts []string
	for _, r := range append(render(t, one, "lb1"), render(t, one, "lb1", "lb2")...) {
		scripts = append(scripts, r.Script.Body, r.Script.DeleteBody)
	}
	for i, body := range scripts {
		cmd := exec.Command("shellcheck", "-S", "style", "-s", "bash", "-")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck -S style on script %d: %v\n%s", i, err, out)
		}
	}
}

var nsSeq atomic.Int32

// netns creates a network namespace pm4ml-wgtest-<pid>-<n> and a unique interface name; the
// cleanup stops the processes inside it (all started by this test) by PID and deletes it.
func netns(t *testing.T) (ns, iface string) {
	t.Helper()
	n := nsSeq.Add(1)
	ns = fmt.Sprintf("pm4ml-wgtest-%d-%d", os.Getpid(), n)
	iface = fmt.Sprintf("pm4wg%d%c", os.Getpid()%1000000, 'a'+rune(n%26))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			pids := nsPIDs(ns)
			if len(pids) == 0 {
				break
			}
			for _, pid := range pids {
				_ = syscall.Kill(pid, sig)
			}
			for range 50 {
				if len(nsPIDs(ns)) == 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", ns, err, out)
		}
		_ = os.Remove("/var/run/wireguard/" + iface + ".sock")
	})
	assertNoDefaultRoute(t, ns)
	return ns, iface
}

func nsPIDs(ns string) []int {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertNoDefaultRoute(t *testing.T, ns string) {
	t.Helper()
	for _, fam := range []string{"-4", "-6"} {
		out, err := exec.Command("ip", "netns", "exec", ns, "ip", fam, "route", "show", "default").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("namespace %s must have no default route (%s): %v %s", ns, fam, err, out)
		}
	}
}

func inNS(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func genkey(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("wg", "genkey").Output()
	if err != nil {
		t.Fatalf("wg genkey: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// wgDump is `wg show <if> dump` parsed.
type wgDump struct {
	private, public string
	port            int
	peers           map[string]peerDump // by public key
}

type peerDump struct{ endpoint, allowedIPs, keepalive string }

func dump(t *testing.T, ns, iface string) wgDump {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(inNS(t, ns, "wg", "show", iface, "dump")), "\n")
	head := strings.Split(lines[0], "\t")
	if len(head) != 4 {
		t.Fatalf("wg show dump: interface line %q", lines[0])
	}
	port, _ := strconv.Atoi(head[2])
	d := wgDump{private: head[0], public: head[1], port: port, peers: map[string]peerDump{}}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 8 {
			t.Fatalf("wg show dump: peer line %q", l)
		}
		ips := strings.Split(f[3], ",")
		slices.Sort(ips)
		d.peers[f[0]] = peerDump{endpoint: f[2], allowedIPs: strings.Join(ips, ","), keepalive: f[7]}
	}
	return d
}

// The setconf form, completed with a freshly generated key, loads with the real `wg setconf`
// onto a userspace interface (wireguard-go), and `wg show dump` shows the port and both peers.
func TestValidatorWgSetconf(t *testing.T) {
	testtool.Tools(t, "wg", "wireguard-go", "ip")
	requireRoot(t)
	key := genkey(t)
	r := render(t, testSettings(), "lb1", "lb2")[0]
	conf, err := WithPrivateKey(r.SetConf, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "wg.setconf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ns, iface := netns(t)

	ctx, cancel := context.WithCancel(context.Background())
	wggo := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "wireguard-go", iface)
	wggo.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1")
	var log strings.Builder
	wggo.Stdout, wggo.Stderr = &log, &log
	if err := wggo.Start(); err != nil {
		t.Fatalf("wireguard-go: %v", err)
	}
	t.Cleanup(func() {
		cancel() // kills this process (ip netns exec execs wireguard-go, same PID)
		_ = wggo.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("ip", "netns", "exec", ns, "wg", "show", iface).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("wireguard-go did not create %s:\n%s", iface, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	inNS(t, ns, "wg", "setconf", iface, file)
	d := dump(t, ns, iface)
	pub, err := PublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if d.private != key || d.public != pub {
		t.Errorf("interface keys: public %s, want %s (PublicKey in Go); private key matches: %v", d.public, pub, d.private == key)
	}
	if d.port != testPort {
		t.Errorf("listen port %d, want %d", d.port, testPort)
	}
	want := map[string]peerDump{
		testAlicePublic: {endpoint: "203.0.113.7:51820", allowedIPs: "10.201.0.0/24,10.201.1.0/24", keepalive: "25"},
		testBobPublic:   {endpoint: "(none)", allowedIPs: "10.202.0.2/32", keepalive: "off"},
	}
	if len(d.peers) != 2 {
		t.Errorf("%d peers, want 2: %+v", len(d.peers), d.peers)
	}
	for k, w := range want {
		if d.peers[k] != w {
			t.Errorf("peer %s: %+v, want %+v", k, d.peers[k], w)
		}
	}
	assertNoDefaultRoute(t, ns)
}

// fakeSystemctl stands in for systemd's wg-quick@.service (ExecStart=wg-quick up %i, ExecStop=
// wg-quick down %i, RemainAfterExit): it runs the real wg-quick against the test's directory.
const fakeSystemctl = `#!/usr/bin/env bash
# Test double of systemctl for wg-quick@ units (components/wireguard validator test).
set -euo pipefail
state=${PM4ML_FAKE_SYSTEMD:?}
now=no
args=()
for a in "$@"; do
  case $a in
    --quiet | -q) ;;
    --now) now=yes ;;
    *) args+=("$a") ;;
  esac
done
verb=${args[0]} unit=${args[1]}
[[ $unit == wg-quick@* ]] || { echo "fake systemctl: unexpected unit $unit" >&2; exit 2; }
conf="$PM4ML_WG_CONF_DIR/${unit#wg-quick@}.conf"
printf '%s %s now=%s\n' "$verb" "$unit" "$now" >>"$state/calls"
case $verb in
  is-active) [ -e "$state/$unit.active" ] ;;
  is-enabled) [ -e "$state/$unit.enabled" ] ;;
  enable)
    touch "$state/$unit.enabled"
    if [ "$now" = yes ] && [ ! -e "$state/$unit.active" ]; then wg-quick up "$conf"; touch "$state/$unit.active"; fi ;;
  disable)
    rm -f "$state/$unit.enabled"
    if [ "$now" = yes ] && [ -e "$state/$unit.active" ]; then wg-quick down "$conf"; rm -f "$state/$unit.active"; fi ;;
  restart)
    if [ -e "$state/$unit.active" ]; then wg-quick down "$conf" || true; fi
    wg-quick up "$conf"
    touch "$state/$unit.active" ;;
  *) echo "fake systemctl: unexpected verb $verb" >&2; exit 2 ;;
esac
`

// lifecycle runs rendered scripts the way remotecmd.Invocation does (bash -c <script> <step>
// <client>), as root inside the namespace, with systemctl faked and apt-get forbidden.
type lifecycle struct {
	t                   *testing.T
	ns, iface           string
	bin, state, confDir string
	key                 string
	outputs             []string
}

func (l *lifecycle) run(body, step, stdin string) (stdout string, err error) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, "bash", "-c", body, step, "127.0.0.1")
	cmd.Env = append(os.Environ(),
		"PATH="+l.bin+":"+os.Getenv("PATH"),
		"PM4ML_FAKE_SYSTEMD="+l.state,
		"PM4ML_WG_CONF_DIR="+l.confDir)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	l.outputs = append(l.outputs, out.String(), errb.String())
	l.t.Logf("%s (exit %v):\n%s%s", step, err, out.String(), errb.String())
	if err != nil {
		return out.String(), fmt.Errorf("%w\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	return out.String(), nil
}

func (l *lifecycle) apply(s Settings, wantLines ...string) Rendered {
	l.t.Helper()
	r := render(l.t, s, "lb1", "lb2")[0]
	out, err := l.run(r.Script.Body, r.Script.Step, l.key+"\n")
	if err != nil {
		l.t.Fatalf("apply: %v", err)
	}
	for _, w := range wantLines {
		if !strings.Contains(out, w+"\n") {
			l.t.Errorf("apply output lacks %q:\n%s", w, out)
		}
	}
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// The real apply and delete scripts, run twice each, against the real wg-quick, wg and
// wireguard-go: first run creates, second changes nothing and says so; config drift, peer and
// port changes, a new address, a missing or an unmanaged interface are all repaired; the delete
// script removes the interface and the key; the key never appears in any output.
func TestValidatorScriptLifecycle(t *testing.T) {
	testtool.Tools(t, "wg", "wg-quick", "wireguard-go", "ip", "bash")
	requireRoot(t)
	ns, iface := netns(t)
	dir := t.TempDir()
	l := &lifecycle{t: t, ns: ns, iface: iface, bin: filepath.Join(dir, "bin"), state: filepath.Join(dir, "state"), confDir: filepath.Join(dir, "wireguard"), key: genkey(t)}
	for _, d := range []string{l.bin, l.state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"systemctl": fakeSystemctl,
		"apt-get":   "#!/bin/sh\necho 'apt-get must not run in this test (wireguard-tools is installed)' >&2\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(l.bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unit := "wg-quick@" + iface
	s := testSettings()
	s.Interface, s.ConfDir = iface, l.confDir
	// The endpoint peer is dialled once the link is up: keep it on the namespace's loopback
	// (down, so nothing is sent at all).
	s.Peers[0].Endpoint = fmt.Sprintf("127.0.0.1:%d", testPort+1)
	pub, _ := PublicKey(l.key)
	conf := filepath.Join(l.confDir, iface+".conf")

	checkLive := func(port int, peers map[string]peerDump, addr string) {
		t.Helper()
		d := dump(t, ns, iface)
		if d.private != l.key || d.public != pub || d.port != port {
			t.Errorf("live interface: public %s port %d (want %s %d), private key matches %v", d.public, d.port, pub, port, d.private == l.key)
		}
		if len(d.peers) != len(peers) {
			t.Errorf("live peers %+v, want %+v", d.peers, peers)
		}
		for k, w := range peers {
			if got := d.peers[k]; got.allowedIPs != w.allowedIPs || got.keepalive != w.keepalive {
				t.Errorf("live peer %s: %+v, want %+v", k, got, w)
			}
		}
		if a := inNS(t, ns, "ip", "-o", "-4", "addr", "show", "dev", iface); !strings.Contains(a, " inet "+addr+" ") {
			t.Errorf("%s addresses: %s, want %s", iface, a, addr)
		}
	}
	both := map[string]peerDump{
		testAlicePublic: {allowedIPs: "10.201.0.0/24,10.201.1.0/24", keepalive: "25"},
		testBobPublic:   {allowedIPs: "10.202.0.2/32", keepalive: "off"},
	}

	// An interface of that name that the unit does not manage (e.g. a manual wireguard-go).
	inNS(t, ns, "wireguard-go", iface)

	// 1. first apply
	r := l.apply(s,
		"changed: removed "+iface+" that "+unit+" did not manage",
		"changed: "+l.confDir+" mode 700",
		"changed: "+conf,
		"changed: "+unit+" enabled and started",
		"unchanged: "+unit+" enabled at boot",
	)
	checkLive(testPort, both, "10.200.0.1/24")
	st, err := os.Stat(conf)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v mode %v, want 0600", conf, err, st.Mode())
	}
	if st, err := os.Stat(l.confDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want 0700", l.confDir, st.Mode())
	}
	got, _ := os.ReadFile(conf)
	if want, _ := WithPrivateKey(r.Config, l.key); string(got) != want {
		t.Errorf("%s on the host:\n%s\nwant the rendered configuration with the key:\n%s", conf, got, want)
	}
	stripped := inNS(t, ns, "wg-quick", "strip", conf)
	if want, _ := WithPrivateKey(r.SetConf, l.key); stripped != want+"\n" {
		t.Errorf("wg-quick strip of the host's file differs from the rendered setconf form:\n%s", stripped)
	}

	// 2. second apply: nothing to do
	l.apply(s, "unchanged: "+conf, "unchanged: "+iface+" up with "+conf, "pm4ml: wireguard: no change")

	// 3. drift: a peer removed by hand comes back through wg syncconf
	inNS(t, ns, "wg", "set", iface, "peer", testBobPublic, "remove")
	l.apply(s, "unchanged: "+conf, "changed: "+iface+" synced with "+conf+" (wg syncconf)", "pm4ml: wireguard: 1 change(s)")
	checkLive(testPort, both, "10.200.0.1/24")

	// 4. a peer less and another port: the file changes, the live interface follows (no restart)
	s2 := s
	s2.Port = testPort + 2
	s2.Peers = s.Peers[:1]
	calls := func() string { b, _ := os.ReadFile(filepath.Join(l.state, "calls")); return string(b) }
	before := strings.Count(calls(), "restart ")
	l.apply(s2, "changed: "+conf, "changed: "+iface+" synced with "+conf+" (wg syncconf)")
	checkLive(testPort+2, map[string]peerDump{testAlicePublic: both[testAlicePublic]}, "10.200.0.1/24")
	if strings.Count(calls(), "restart ") != before {
		t.Errorf("a peer/port change restarted the unit; wg syncconf should do:\n%s", calls())
	}

	// 5. a new address needs a restart (syncconf does not touch addresses)
	s3 := s2
	s3.Address = "10.200.0.2/24"
	l.apply(s3, "changed: "+unit+" restarted for address 10.200.0.2/24")
	checkLive(testPort+2, map[string]peerDump{testAlicePublic: both[testAlicePublic]}, "10.200.0.2/24")
	l.apply(s3, "pm4ml: wireguard: no change")

	// 6. the unit says active but the interface is gone
	inNS(t, ns, "ip", "link", "delete", "dev", iface)
	l.apply(s3, "changed: "+unit+" restarted: "+iface+" was missing", "pm4ml: wireguard: 1 change(s)")
	checkLive(testPort+2, map[string]peerDump{testAlicePublic: both[testAlicePublic]}, "10.200.0.2/24")

	// 7. not a key on stdin: refused, naming the secret and not echoing what came
	if _, err := l.run(r.Script.Body, r.Script.Step, "not-a-key-value\n"); err == nil ||
		!strings.Contains(err.Error(), "pm4ml:wireguardPrivateKey") || strings.Contains(err.Error(), "not-a-key-value") {
		t.Errorf("a bad key on stdin: %v", err)
	}

	// 8. delete: interface down, unit disabled, key file gone; twice
	out, err := l.run(r.Script.DeleteBody, r.Script.Step+"-delete", "")
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, w := range []string{"changed: " + unit + " stopped and disabled", "unchanged: no interface " + iface, "changed: " + conf + " removed"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("delete output lacks %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(conf); !os.IsNotExist(err) {
		t.Errorf("%s still exists after delete", conf)
	}
	if exec.Command("ip", "netns", "exec", ns, "ip", "link", "show", "dev", iface).Run() == nil {
		t.Errorf("%s still exists after delete", iface)
	}
	out, err = l.run(r.Script.DeleteBody, r.Script.Step+"-delete", "")
	if err != nil || lastLine(out) != "pm4ml: wireguard-delete: no change" {
		t.Errorf("second delete: %v\n%s", err, out)
	}

	for i, o := range l.outputs {
		if strings.Contains(o, l.key) {
			t.Errorf("output %d of the scripts contains the private key", i)
		}
	}
	assertNoDefaultRoute(t, ns)
}
