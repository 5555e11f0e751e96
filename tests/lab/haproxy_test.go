package lab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// The lab's fixed addresses for this test (hosts-up.sh leaves .2-.10 to the root namespace and
// .100-.127 to VIPs).
const (
	publicVIP   = "10.77.0.100"
	internalVIP = "10.77.0.101"
	labIface    = "eth0"
	// A password that needs quoting everywhere: shell, HAProxy, HTTP basic auth.
	labStatsPassword = `p@ss w'o"rd $HOME \ #1`
)

var fakeWorkers = []haproxy.Node{{Name: "w1", Address: "10.77.0.2"}, {Name: "w2", Address: "10.77.0.3"}}

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// fakeWorker stands in for a worker's Istio gateways: on the external HTTPS NodePort it requires
// a PROXY v2 header and reports the client address it carries; on the internal one it reports
// whether a PROXY header came; on both status NodePorts it answers GET /healthz/ready with 200
// over plain HTTP (a PROXY header there would be a malformed request, so a check that sends one
// fails).
type fakeWorker struct {
	node      haproxy.Node
	listeners []net.Listener
	servers   []*http.Server
	checks    atomic.Int64
	wg        sync.WaitGroup
}

func startWorker(t *testing.T, n haproxy.Node) *fakeWorker {
	t.Helper()
	w := &fakeWorker{node: n}
	listen := func(id string) net.Listener {
		l, err := net.Listen("tcp", net.JoinHostPort(n.Address, fmt.Sprint(network.Lookup(id).Ports.From)))
		if err != nil {
			t.Fatal(err)
		}
		w.listeners = append(w.listeners, l)
		return l
	}
	for _, gw := range []struct{ id, name string }{{network.IstioExtHTTPS, "external"}, {network.IstioIntHTTPS, "internal"}} {
		l := listen(gw.id)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go w.serve(c, gw.name)
			}
		}()
	}
	for _, id := range []string{network.IstioExtStatus, network.IstioIntStatus} {
		l := listen(id)
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz/ready", func(rw http.ResponseWriter, r *http.Request) {
			w.checks.Add(1)
			_, _ = rw.Write([]byte("ok\n"))
		})
		s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		w.servers = append(w.servers, s)
		go func() { _ = s.Serve(l) }()
	}
	return w
}

func (w *fakeWorker) serve(c net.Conn, gateway string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	proxy := "none"
	if sig, err := r.Peek(len(proxyV2Sig)); err == nil && bytes.Equal(sig, proxyV2Sig) {
		hdr := make([]byte, 16)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[14:16]))
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		proxy = "v2"
		if hdr[13] == 0x11 && len(body) >= 12 { // TCP over IPv4: src, dst, sport, dport
			proxy = "v2 src=" + net.IP(body[0:4]).String()
		}
	}
	line, _ := r.ReadString('\n')
	fmt.Fprintf(c, "%s %s proxy=%s got=%s\n", w.node.Name, gateway, proxy, strings.TrimSpace(line))
}

func (w *fakeWorker) stop() {
	for _, s := range w.servers {
		_ = s.Close()
	}
	for _, l := range w.listeners {
		_ = l.Close()
	}
	w.wg.Wait()
}

// probe connects to addr, sends a line and returns the fake worker's answer.
func probe(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "pm4ml-lab-probe-0123456789\n"); err != nil {
		return "", err
	}
	out, err := ReadAllTimeout(c, 5*time.Second)
	return strings.TrimSpace(out), err
}

// curl runs curl against the lab with no proxy from the environment and a bounded time.
func curl(args ...string) (string, int) {
	cmd := exec.Command("curl", append([]string{"--noproxy", "*", "--max-time", "5", "-s"}, args...)...)
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return string(out), code
}

func hasAddr(ns, addr string) bool {
	out, err := exec.Command("ip", "-n", ns, "-o", "-4", "addr", "show", "dev", labIface).Output()
	return err == nil && strings.Contains(string(out), " inet "+addr+"/")
}

// TestHAProxyLab runs the haproxy component's rendered scripts for real on two lab hosts.
func TestHAProxyLab(t *testing.T) {
	Require(t)
	start := time.Now()
	lbs := Up(t, 2, 15*time.Minute)
	t.Logf("lab up after %.1fs", time.Since(start).Seconds())

	// hostprep's tuning step gives haproxy hosts net.ipv4.ip_nonlocal_bind=1; the lab hosts'
	// /proc/sys is read-only inside the container, so the root namespace sets it per namespace.
	for _, h := range lbs {
		if out, err := exec.Command("ip", "netns", "exec", h.Name, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1").CombinedOutput(); err != nil {
			t.Fatalf("%s: sysctl: %v %s", h.Name, err, out)
		}
	}
	// fake workers on extra addresses of br-lab in the root namespace
	for _, w := range fakeWorkers {
		if out, err := exec.Command("ip", "addr", "replace", w.Address+"/24", "dev", "br-lab").CombinedOutput(); err != nil {
			t.Fatalf("ip addr: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", w.Address+"/24", "dev", "br-lab").Run() })
		fw := startWorker(t, w)
		t.Cleanup(fw.stop)
		defer func(fw *fakeWorker) {
			if fw.checks.Load() == 0 {
				t.Errorf("%s: no health check reached the status ports", fw.node.Name)
			}
		}(fw)
	}

	// the plan, as the stack would build it
	// (the haproxy hosts and the backends are the topology's nodes)
	nodesWith := func(workers []haproxy.Node) []network.Node {
		var nodes []network.Node
		for _, h := range lbs {
			nodes = append(nodes, network.Node{Name: h.Name, Address: h.Address, Roles: hosts.NewRoles(hosts.RoleHAProxy)})
		}
		for _, w := range workers {
			nodes = append(nodes, network.Node{Name: w.Name, Address: w.Address, Roles: hosts.NewRoles(hosts.RoleWorker)})
		}
		return nodes
	}
	plan := haproxy.Plan{
		PublicVIP: publicVIP, InternalVIP: internalVIP, Interface: labIface,
		Stats:    haproxy.StatsSettings{Enabled: true, User: "admin"},
		Topology: network.Topology{Nodes: nodesWith(fakeWorkers), InternalSubnet: "10.77.0.0/24", StatsPort: network.DefaultStatsPort},
		// The lab hosts inherit this machine's hard open-files limit, which may be far below
		// what the default maxconn needs (about two descriptors per connection).
		MaxConn: 2000,
	}
	rendered, err := haproxy.Render(plan)
	if err != nil {
		t.Fatal(err)
	}

	// runAll runs every host's chain (install -> config -> keepalived) as pulumi-command would:
	// the command line of remotecmd.Invocation, the stats password on stdin of the secret step.
	runAll := func(round int) map[string]string {
		outs := map[string]string{}
		for i, r := range rendered {
			for _, s := range r.Scripts {
				stdin := ""
				if s.Secret {
					stdin = labStatsPassword
				}
				t0 := time.Now()
				stdout, stderr, err := Run(lbs[i], remotecmd.Invocation("root", s.Step, s.Body), stdin, 5*time.Minute)
				t.Logf("round %d %s %s (%.1fs):\n%s%s", round, lbs[i].Name, s.Step, time.Since(t0).Seconds(), stdout, stderr)
				if err != nil {
					t.Fatalf("round %d %s %s: %v\n%s", round, lbs[i].Name, s.Step, err, stderr)
				}
				if strings.Contains(stdout+stderr, labStatsPassword) {
					t.Errorf("%s %s printed the stats password", lbs[i].Name, s.Step)
				}
				outs[lbs[i].Name+" "+s.Step] = stdout
			}
		}
		return outs
	}

	workerPIDs := func(h Host) string {
		out, _, err := Run(h, `pid=$(systemctl show -p MainPID --value haproxy); echo "$pid $(pgrep -P "$pid" | sort | tr '\n' ' ')"`, "", 20*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		return strings.TrimSpace(out)
	}

	t0 := time.Now()
	first := runAll(1)
	t.Logf("first run: %.1fs", time.Since(t0).Seconds())
	for k, out := range first {
		step := strings.Fields(k)[1]
		if !strings.HasPrefix(LastLine(out), "pm4ml: "+step+": ") {
			t.Errorf("%s: no change summary, ends with %q", k, LastLine(out))
		}
		// the image already has the packages (lab hosts have no mirror): install changes nothing
		if step != "haproxy-install" && strings.HasSuffix(LastLine(out), "no change") {
			t.Errorf("%s first run should change something", k)
		}
	}
	for _, h := range lbs {
		if !strings.Contains(first[h.Name+" haproxy-config"], "changed: haproxy started") || !strings.Contains(first[h.Name+" haproxy-keepalived"], "changed: keepalived started") {
			t.Errorf("%s: haproxy/keepalived not started by the first run", h.Name)
		}
	}

	// the first host holds the VIPs (bounded wait for VRRP)
	ok, took := Poll(20*time.Second, 200*time.Millisecond, func() bool {
		return hasAddr(lbs[0].Name, publicVIP) && hasAddr(lbs[0].Name, internalVIP) && !hasAddr(lbs[1].Name, publicVIP)
	})
	if !ok {
		t.Fatalf("VIPs not on %s after %s", lbs[0].Name, took)
	}
	t.Logf("VIPs on %s after %s", lbs[0].Name, took.Round(time.Millisecond))

	// second run: no change anywhere, no reload
	pids := map[string]string{}
	for _, h := range lbs {
		pids[h.Name] = workerPIDs(h)
	}
	t0 = time.Now()
	second := runAll(2)
	t.Logf("second run: %.1fs", time.Since(t0).Seconds())
	for k, out := range second {
		step := strings.Fields(k)[1]
		if LastLine(out) != "pm4ml: "+step+": no change" || len(Lines(out, "changed:")) != 0 {
			t.Errorf("%s second run changed something:\n%s", k, out)
		}
	}
	for _, h := range lbs {
		if got := workerPIDs(h); got != pids[h.Name] {
			t.Errorf("%s: haproxy processes changed on the second run (%s -> %s): it was reloaded", h.Name, pids[h.Name], got)
		}
	}

	// the files on the hosts are the rendered ones; the secret only in the 0600 stats file
	for i, h := range lbs {
		out, _, err := Run(h, "cat "+haproxy.ConfigPath, "", 20*time.Second)
		if err != nil || out != rendered[i].HAProxyCfg {
			t.Errorf("%s: %s differs from the rendered file (%v)", h.Name, haproxy.ConfigPath, err)
		}
		out, _, err = Run(h, "stat -c '%a %U' "+haproxy.StatsPath+"; grep -c insecure-password "+haproxy.StatsPath, "", 20*time.Second)
		if err != nil || out != "600 root\n1\n" {
			t.Errorf("%s: stats file %q %v", h.Name, out, err)
		}
	}

	// HTTP on the public VIP: only a redirect to HTTPS
	out, code := curl("-I", "http://"+publicVIP+"/some/path")
	if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 301") || !strings.Contains(strings.ToLower(out), "location: https://"+publicVIP+"/some/path") {
		t.Errorf("curl -sI http://%s/: exit %d\n%s", publicVIP, code, out)
	}

	// HTTPS frontends: L4 to the workers, PROXY v2 with the client address on the public side
	seen := map[string]bool{}
	for range 6 {
		got, err := probe(net.JoinHostPort(publicVIP, fmt.Sprint(network.Lookup(network.PublicHTTPS).Ports.From)))
		if err != nil || !strings.Contains(got, " external proxy=v2 src=10.77.0.1 got=pm4ml-lab-probe-0123456789") {
			t.Errorf("public HTTPS probe: %q %v", got, err)
			break
		}
		seen[strings.Fields(got)[0]] = true
	}
	if !seen["w1"] || !seen["w2"] {
		t.Errorf("public HTTPS reached %v, want both workers", seen)
	}
	got, err := probe(net.JoinHostPort(internalVIP, fmt.Sprint(network.Lookup(network.PublicHTTPS).Ports.From)))
	if err != nil || !strings.Contains(got, " internal proxy=none got=pm4ml-lab-probe-0123456789") {
		t.Errorf("internal HTTPS probe: %q %v", got, err)
	}

	// stats: on each host's own address with authentication, never on the VIP
	statsPort := fmt.Sprint(network.DefaultStatsPort)
	for _, h := range lbs {
		url := "http://" + h.Address + ":" + statsPort + "/"
		if out, code := curl("-o", "/dev/null", "-w", "%{http_code}", url); code != 0 || out != "401" {
			t.Errorf("%s stats without auth: %q exit %d, want 401", h.Name, out, code)
		}
		if out, code := curl("-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:wrong", url); code != 0 || out != "401" {
			t.Errorf("%s stats with a wrong password: %q exit %d, want 401", h.Name, out, code)
		}
		ok, took := Poll(30*time.Second, 500*time.Millisecond, func() bool {
			csv, code := curl("-u", "admin:"+labStatsPassword, url+";csv")
			if code != 0 {
				return false
			}
			up := 0
			for _, l := range strings.Split(csv, "\n") {
				f := strings.Split(l, ",")
				if len(f) > 17 && (f[1] == "w1" || f[1] == "w2") && f[17] == "UP" {
					up++
				}
			}
			return up == 4 // two workers in two backends, health-checked on the status ports
		})
		if !ok {
			csv, _ := curl("-u", "admin:"+labStatsPassword, url+";csv")
			t.Errorf("%s: servers not all UP after %s:\n%s", h.Name, took, csv)
		}
	}
	if _, code := curl("-o", "/dev/null", "-u", "admin:"+labStatsPassword, "http://"+publicVIP+":"+statsPort+"/"); code != 7 {
		t.Errorf("stats answered on the public VIP (curl exit %d, want 7: connection refused)", code)
	}

	// HAProxy logs to the journal (through /dev/log)
	ok, _ = Poll(10*time.Second, 500*time.Millisecond, func() bool {
		out, _, err := Run(lbs[0], "journalctl --no-pager -q -t haproxy -n 200", "", 20*time.Second)
		return err == nil && strings.Contains(out, "public_http")
	})
	if !ok {
		t.Error("no haproxy log line for the public_http request in the journal")
	}

	// failover: stop haproxy on the active host, the VIPs move to the other
	if _, stderr, err := Run(lbs[0], "systemctl stop haproxy", "", 30*time.Second); err != nil {
		t.Fatalf("stop haproxy on %s: %v %s", lbs[0].Name, err, stderr)
	}
	ok, took = Poll(20*time.Second, 100*time.Millisecond, func() bool {
		return hasAddr(lbs[1].Name, publicVIP) && hasAddr(lbs[1].Name, internalVIP) && !hasAddr(lbs[0].Name, publicVIP)
	})
	if !ok {
		t.Fatalf("VIPs did not move to %s within %s", lbs[1].Name, took)
	}
	t.Logf("failover to %s after %s", lbs[1].Name, took.Round(time.Millisecond))
	ok, took = Poll(10*time.Second, 200*time.Millisecond, func() bool {
		out, code := curl("-I", "http://"+publicVIP+"/")
		return code == 0 && strings.HasPrefix(out, "HTTP/1.1 301")
	})
	if !ok {
		t.Errorf("no redirect from %s after the failover (%s)", lbs[1].Name, took)
	}
	if got, err := probe(net.JoinHostPort(publicVIP, fmt.Sprint(network.Lookup(network.PublicHTTPS).Ports.From))); err != nil || !strings.Contains(got, "proxy=v2") {
		t.Errorf("public HTTPS after the failover: %q %v", got, err)
	}

	// haproxy back on the first host: it takes the VIPs back (higher priority)
	if _, stderr, err := Run(lbs[0], "systemctl start haproxy", "", 30*time.Second); err != nil {
		t.Fatalf("start haproxy on %s: %v %s", lbs[0].Name, err, stderr)
	}
	ok, took = Poll(20*time.Second, 100*time.Millisecond, func() bool {
		return hasAddr(lbs[0].Name, publicVIP) && !hasAddr(lbs[1].Name, publicVIP)
	})
	if !ok {
		t.Errorf("VIPs did not return to %s within %s", lbs[0].Name, took)
	} else {
		t.Logf("VIPs back on %s after %s", lbs[0].Name, took.Round(time.Millisecond))
	}

	// A worker removed: only the config steps change; HAProxy reloads (same master process) and
	// a connection opened before the reload keeps working.
	httpsAddr := net.JoinHostPort(publicVIP, fmt.Sprint(network.Lookup(network.PublicHTTPS).Ports.From))
	held, err := net.DialTimeout("tcp", httpsAddr, 3*time.Second)
	if err != nil {
		t.Fatalf("connection before the reload: %v", err)
	}
	defer held.Close()
	masters := map[string]string{}
	for _, h := range lbs {
		masters[h.Name] = strings.Fields(workerPIDs(h))[0]
	}
	plan.Topology.Nodes = nodesWith(fakeWorkers[:1])
	if rendered, err = haproxy.Render(plan); err != nil {
		t.Fatal(err)
	}
	third := runAll(3)
	for _, h := range lbs {
		cfg := third[h.Name+" haproxy-config"]
		if !strings.Contains(cfg, "changed: "+haproxy.ConfigPath) || !strings.Contains(cfg, "changed: haproxy reloaded") {
			t.Errorf("%s: worker removed, want the configuration replaced and reloaded:\n%s", h.Name, cfg)
		}
		for _, step := range []string{"haproxy-install", "haproxy-keepalived"} {
			if LastLine(third[h.Name+" "+step]) != "pm4ml: "+step+": no change" {
				t.Errorf("%s %s changed on a backend change", h.Name, step)
			}
		}
		if got := strings.Fields(workerPIDs(h))[0]; got != masters[h.Name] {
			t.Errorf("%s: haproxy master %s -> %s: restarted, not reloaded", h.Name, masters[h.Name], got)
		}
	}
	if _, err := fmt.Fprintf(held, "pm4ml-lab-probe-held-connection\n"); err != nil {
		t.Errorf("held connection after the reload: %v", err)
	} else if got, _ := ReadAllTimeout(held, 5*time.Second); !strings.Contains(got, "got=pm4ml-lab-probe-held-connection") {
		t.Errorf("held connection after the reload answered %q", got)
	}
	for range 4 {
		if got, err := probe(httpsAddr); err != nil || !strings.HasPrefix(got, "w1 external") {
			t.Errorf("after removing w2: %q %v", got, err)
		}
	}
	t.Logf("total %.1fs (before teardown)", time.Since(start).Seconds())
}
