package haproxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

func mustRender(t *testing.T, p Plan) []Rendered {
	t.Helper()
	rs, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// section is one section of haproxy.cfg: its header and its directive lines (comments dropped).
type section struct {
	header string
	lines  []string
}

func sections(cfg string) map[string]section {
	out := map[string]section{}
	var cur string
	for _, l := range strings.Split(cfg, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if !strings.HasPrefix(l, " ") {
			cur = t
			out[cur] = section{header: t}
			continue
		}
		s := out[cur]
		s.lines = append(s.lines, t)
		out[cur] = s
	}
	return out
}

// directives drops comment lines (comments may explain what a directive must not be).
func directives(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func port(id string) int { return network.Lookup(id).Ports.From }

func TestRenderHAProxyCfg(t *testing.T) {
	p := prodPlan()
	for _, r := range mustRender(t, p) {
		t.Run(r.LB.Name, func(t *testing.T) {
			cfg := directives(r.HAProxyCfg)
			if m := regexp.MustCompile(`(?i)\b(ssl|crt|ca-file|verify)\b`).FindString(cfg); m != "" {
				t.Errorf("haproxy.cfg mentions %q: no TLS termination allowed", m)
			}
			for _, secret := range []string{"insecure-password", "stats auth", "password"} {
				if strings.Contains(cfg, secret) {
					t.Errorf("haproxy.cfg contains %q: the stats credentials belong in %s", secret, StatsPath)
				}
			}
			s := sections(cfg)
			want := map[string][]string{
				"frontend public_https": {fmt.Sprintf("bind %s:%d", p.PublicVIP, port(network.PublicHTTPS)), "mode tcp", "option tcplog", "default_backend " + BackendExternal},
				"frontend public_http": {fmt.Sprintf("bind %s:%d", p.PublicVIP, port(network.PublicHTTP)), "mode http", "option httplog",
					"http-request redirect scheme https code 301"},
				"frontend internal_https": {fmt.Sprintf("bind %s:%d", p.InternalVIP, port(network.PublicHTTPS)), "mode tcp", "option tcplog", "default_backend " + BackendInternal},
			}
			for h, lines := range want {
				if got := s[h].lines; !slices.Equal(got, lines) {
					t.Errorf("%s:\n got %q\nwant %q", h, got, lines)
				}
			}
			stats := s["frontend stats"].lines
			bind := fmt.Sprintf("bind %s:%d", r.LB.Address, network.DefaultStatsPort)
			if len(stats) == 0 || stats[0] != bind || r.StatsBind != strings.TrimPrefix(bind, "bind ") {
				t.Errorf("stats frontend %q, want %q on the host's own address", stats, bind)
			}
			if !slices.Contains(stats, "http-request auth realm pm4ml-stats unless { http_auth("+StatsUserlist+") }") || !slices.Contains(stats, "stats enable") {
				t.Errorf("stats frontend without authentication: %q", stats)
			}
			for _, l := range regexp.MustCompile(`(?m)^\s*bind\s+(\S+)`).FindAllStringSubmatch(cfg, -1) {
				if strings.HasPrefix(l[1], "*") || strings.HasPrefix(l[1], ":") || strings.HasPrefix(l[1], "0.0.0.0") {
					t.Errorf("wildcard bind %s", l[1])
				}
				if strings.HasSuffix(l[1], fmt.Sprintf(":%d", network.DefaultStatsPort)) && !strings.HasPrefix(l[1], r.LB.Address+":") {
					t.Errorf("stats bound to %s", l[1])
				}
			}
			ext := s["backend "+BackendExternal].lines
			in := s["backend "+BackendInternal].lines
			for _, b := range [][]string{ext, in} {
				if !slices.Contains(b, "mode tcp") || !slices.Contains(b, "option httpchk GET /healthz/ready") || !slices.Contains(b, "http-check expect status 200") {
					t.Errorf("backend %q", b)
				}
			}
			var extServers, inServers []string
			for _, w := range p.Workers() {
				extServers = append(extServers, fmt.Sprintf("server %s %s:%d check port %d send-proxy-v2", w.Name, w.Address, port(network.IstioExtHTTPS), port(network.IstioExtStatus)))
				inServers = append(inServers, fmt.Sprintf("server %s %s:%d check port %d", w.Name, w.Address, port(network.IstioIntHTTPS), port(network.IstioIntStatus)))
			}
			if got := ext[len(ext)-len(extServers):]; !slices.Equal(got, extServers) {
				t.Errorf("external servers (config order)\n got %q\nwant %q", got, extServers)
			}
			if got := in[len(in)-len(inServers):]; !slices.Equal(got, inServers) {
				t.Errorf("internal servers\n got %q\nwant %q", got, inServers)
			}
			if strings.Contains(cfg, "check-send-proxy") {
				t.Error("health checks must not send the PROXY header to the status port")
			}
			g, d := s["global"].lines, s["defaults"].lines
			for _, l := range []string{"log /dev/log local0 info", "maxconn 20000"} {
				if !slices.Contains(g, l) {
					t.Errorf("global lacks %q", l)
				}
			}
			for _, l := range []string{"mode tcp", "log global", "timeout connect 5s", "timeout client 60s", "timeout server 60s", "timeout check 5s"} {
				if !slices.Contains(d, l) {
					t.Errorf("defaults lack %q", l)
				}
			}
			if !strings.HasSuffix(r.HAProxyCfg, "\n") || strings.HasSuffix(r.HAProxyCfg, "\n\n") {
				t.Error("haproxy.cfg must end with exactly one newline")
			}
		})
	}
}

func TestRenderStatsDisabled(t *testing.T) {
	r := mustRender(t, stgPlan())[0]
	if strings.Contains(r.HAProxyCfg, "frontend stats") || r.StatsBind != "" || r.DropIn != "" {
		t.Error("stats disabled but rendered")
	}
	if r.Scripts[1].Secret || strings.Contains(r.Scripts[1].Body, "read -r stats_password") {
		t.Error("stats disabled, yet the config step reads a password")
	}
	if !strings.Contains(r.Scripts[1].Body, "rm -f '"+DropInPath+"'") {
		t.Error("disabling stats must remove the drop-in")
	}
}

func TestRenderKeepalivedProd(t *testing.T) {
	p := prodPlan()
	rs := mustRender(t, p)
	prio := regexp.MustCompile(`(?m)^\s*priority (\d+)$`)
	var prios []string
	for i, r := range rs {
		c := directives(r.KeepalivedConf)
		other := rs[1-i].LB.Address
		for _, want := range []string{
			"interface eth0", "unicast_src_ip " + r.LB.Address, "unicast_peer {\n        " + other + "\n    }",
			p.PublicVIP + "/32 dev eth0", p.InternalVIP + "/32 dev eth0", `script "` + TrackScript + `"`,
			"track_script {\n        pm4ml_haproxy_alive", "virtual_router_id 51", "enable_script_security",
		} {
			if !strings.Contains(c, want) {
				t.Errorf("%s keepalived.conf lacks %q", r.LB.Name, want)
			}
		}
		for _, bad := range []string{"auth_pass", "authentication {", "mcast", "static_ipaddress"} {
			if strings.Contains(c, bad) {
				t.Errorf("%s keepalived.conf has %q", r.LB.Name, bad)
			}
		}
		m := prio.FindStringSubmatch(c)
		if m == nil {
			t.Fatalf("%s: no priority", r.LB.Name)
		}
		prios = append(prios, m[1])
		if !r.VRRP || !r.Keepalived || !slices.Equal(r.VIPs, []string{p.PublicVIP, p.InternalVIP}) {
			t.Errorf("%s: VRRP %v keepalived %v VIPs %v", r.LB.Name, r.VRRP, r.Keepalived, r.VIPs)
		}
		if len(r.Scripts) != 3 || r.Scripts[2].Step != "haproxy-keepalived" || !strings.Contains(r.Scripts[0].Body, "ensure_packages haproxy keepalived") {
			t.Errorf("%s scripts %v", r.LB.Name, r.Scripts)
		}
	}
	if prios[0] <= prios[1] {
		t.Errorf("priorities %v: the first haproxy host must be preferred", prios)
	}
}

func TestRenderKeepalivedSingle(t *testing.T) {
	p := stgPlan()
	r := mustRender(t, p)[0]
	if !r.Keepalived || r.VRRP || !slices.Equal(r.VIPs, []string{p.PublicVIP}) {
		t.Fatalf("keepalived %v VRRP %v VIPs %v", r.Keepalived, r.VRRP, r.VIPs)
	}
	if !strings.Contains(r.KeepalivedConf, "static_ipaddress {\n    "+p.PublicVIP+"/32 dev ens18\n}") || strings.Contains(r.KeepalivedConf, "vrrp_instance") {
		t.Errorf("single host keepalived.conf:\n%s", r.KeepalivedConf)
	}

	p.PublicVIP, p.InternalVIP = p.LBs()[0].Address, "10.20.0.101"
	r = mustRender(t, p)[0]
	if r.Keepalived || r.KeepalivedConf != "" || len(r.Scripts) != 2 || strings.Contains(r.Scripts[0].Body, "keepalived") {
		t.Errorf("public VIP = host address: want no keepalived, got %v, %d scripts", r.VIPs, len(r.Scripts))
	}
	if got := p.LocalVIPsOf(p.LBs()[0]); !slices.Equal(got, []string{p.LBs()[0].Address, "10.20.0.101"}) {
		t.Errorf("local VIPs %v", got)
	}
}

// The config script validates the candidate files before it replaces the live ones, reloads
// (not restarts) on a configuration change, and embeds exactly the rendered haproxy.cfg.
func TestRenderScriptOrder(t *testing.T) {
	for _, r := range mustRender(t, prodPlan()) {
		cfg := r.Scripts[1]
		if cfg.Step != "haproxy-config" || !cfg.Secret {
			t.Fatalf("%s config step %s secret=%v", r.LB.Name, cfg.Step, cfg.Secret)
		}
		b := cfg.Body
		order := []string{
			`IFS= read -r stats_password`,
			`stage_file "$stage/pm4ml-stats.cfg" 600`,
			`stage_file "$stage/haproxy.cfg" 644 < <(haproxy_cfg <<'PM4ML_HAPROXY_CFG'`,
			`haproxy -c -q "${check[@]}"`,
			`put_file '` + StatsPath + `' 600`,
			`put_file '` + DropInPath + `' 644`,
			`put_file '` + ConfigPath + `' 644`,
			`mut systemctl reload haproxy`,
		}
		last := -1
		for _, s := range order {
			i := strings.Index(b, s)
			if i < 0 || i < last {
				t.Errorf("%s: %q missing or out of order", r.LB.Name, s)
			}
			last = i
		}
		if !strings.Contains(b, `check=(-f "$stage/haproxy.cfg" -f "$stage/pm4ml-stats.cfg")`) {
			t.Error("haproxy -c must check both files")
		}
		if got := stagedCfg(t, b); got != r.HAProxyCfg {
			t.Errorf("%s: the config step stages another haproxy.cfg than the rendered one:\n%s", r.LB.Name, got)
		}
		if !strings.Contains(b, "-f "+ConfigPath+" -f "+StatsPath) || !strings.Contains(r.DropIn, "ExecStart=/usr/sbin/haproxy -Ws -f "+ConfigPath+" -f "+StatsPath) {
			t.Error("the drop-in does not load the stats file")
		}
		ka := r.Scripts[2].Body
		if i, j := strings.Index(ka, `keepalived -t -f "$stage/keepalived.conf"`), strings.Index(ka, "put_file '"+KeepalivedPath+"'"); i < 0 || j < i {
			t.Error("keepalived -t must run before the live keepalived.conf is replaced")
		}
		for _, s := range r.Scripts {
			if strings.Contains(s.Body, statsPassword) {
				t.Errorf("%s contains a password", s.Step)
			}
			if !strings.HasPrefix(s.Body, "#!/usr/bin/env bash\n") || !strings.HasSuffix(s.Body, "\nfinish\n") {
				t.Errorf("%s is not wrapped by remotecmd", s.Step)
			}
		}
	}
}

// Ports come from the port matrix: change a row and the rendered configuration follows.
func TestPortsFromMatrix(t *testing.T) {
	i := slices.IndexFunc(network.Matrix, func(r network.Rule) bool { return r.ID == network.IstioExtHTTPS })
	saved := network.Matrix[i]
	t.Cleanup(func() { network.Matrix[i] = saved })
	network.Matrix[i].Ports = network.PortRange{From: 30999, To: 30999}
	p := prodPlan()
	p.Topology.StatsPort = 9100
	r := mustRender(t, p)[0]
	if !strings.Contains(r.HAProxyCfg, "10.20.0.31:30999 check port") || !strings.Contains(r.HAProxyCfg, "bind 10.20.0.11:9100") || r.StatsBind != "10.20.0.11:9100" {
		t.Errorf("ports not taken from the matrix/topology:\n%s", r.HAProxyCfg)
	}
}

// No port of the guide is written literally in this package's code or templates.
func TestNoLiteralPorts(t *testing.T) {
	var ports []string
	for _, id := range []string{network.PublicHTTP, network.PublicHTTPS, network.IstioExtHTTPS, network.IstioExtStatus,
		network.IstioIntHTTPS, network.IstioIntStatus, network.IstioExtHTTP, network.IstioIntHTTP} {
		ports = append(ports, fmt.Sprint(port(id)))
	}
	ports = append(ports, fmt.Sprint(network.DefaultStatsPort))
	re := regexp.MustCompile(`\b(` + strings.Join(ports, "|") + `)\b`)
	srcs, _ := filepath.Glob("*.go")
	tmpls, _ := filepath.Glob("scripts/*.tmpl")
	checked := 0
	for _, f := range append(srcs, tmpls...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, l := range strings.Split(string(b), "\n") {
			if m := re.FindString(l); m != "" {
				t.Errorf("%s:%d: literal port %s: look it up in the port matrix", f, n+1, m)
			}
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("checked %d files", checked)
	}
}

// Under pipefail, `cmd | grep -q` fails when grep exits at the first match and cmd then gets
// SIGPIPE (seen in the lab with the VIPs making `ip addr` longer): the templates never do it.
func TestNoPipeIntoGrepQ(t *testing.T) {
	tmpls, _ := filepath.Glob("scripts/*.sh.tmpl")
	re := regexp.MustCompile(`\|\s*grep\s+-[a-zA-Z]*q`)
	for _, f := range tmpls {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, l := range strings.Split(string(b), "\n") {
			if re.MatchString(l) && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				t.Errorf("%s:%d: %s", f, n+1, l)
			}
		}
	}
	if len(tmpls) != 3 {
		t.Errorf("%d script templates", len(tmpls))
	}
}

func TestPlanValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *Plan)
		key    string
	}{
		{"no haproxy host", func(p *Plan) { p.Topology = topology(nil, p.Workers(), p.Topology.StatsPort) }, "pm4ml:hosts"},
		{"no worker", func(p *Plan) { p.Topology = topology(p.LBs(), nil, p.Topology.StatsPort) }, "pm4ml:hosts"},
		{"bad public VIP", func(p *Plan) { p.PublicVIP = "10.20.0" }, "pm4ml:haproxy.publicVip"},
		{"VIP is a haproxy host (two hosts)", func(p *Plan) { p.InternalVIP = "10.20.0.12" }, "pm4ml:haproxy.internalVip"},
		{"internal equals public", func(p *Plan) { p.InternalVIP = p.PublicVIP }, "pm4ml:haproxy.internalVip"},
		{"bad interface", func(p *Plan) { p.Interface = "eth 0" }, "pm4ml:haproxy.interface"},
		{"stats port not in the matrix", func(p *Plan) { p.Topology.StatsPort = 0 }, "pm4ml:haproxy.statsPort"},
		{"bad stats user", func(p *Plan) { p.Stats.User = "a:b" }, "pm4ml:haproxy.statsUser"},
		{"bad server name", func(p *Plan) {
			ws := p.Workers()
			ws[0].Name = "w 1"
			p.Topology = topology(p.LBs(), ws, p.Topology.StatsPort)
		}, "pm4ml:hosts"},
		{"duplicate worker", func(p *Plan) {
			ws := p.Workers()
			ws[1].Name = ws[0].Name
			p.Topology = topology(p.LBs(), ws, p.Topology.StatsPort)
		}, "pm4ml:hosts"},
		{"VRID", func(p *Plan) { p.VirtualRouterID = 256 }, "pm4ml:haproxy"},
		{"maxconn", func(p *Plan) { p.MaxConn = 10 }, "pm4ml:haproxy.maxConn"},
	}
	if errs := prodPlan().Validate(); len(errs) != 0 {
		t.Fatalf("prod plan: %v", errs)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := prodPlan()
			c.mutate(&p)
			errs := p.Validate()
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), c.key+":") {
				t.Fatalf("errors %v, want one naming %s", errs, c.key)
			}
			if _, err := Render(p); err == nil || !strings.Contains(err.Error(), c.key) {
				t.Errorf("Render: %v", err)
			}
		})
	}
}

func TestRenderMaxConn(t *testing.T) {
	p := prodPlan()
	p.MaxConn = 2000
	s := sections(mustRender(t, p)[0].HAProxyCfg)
	if !slices.Contains(s["global"].lines, "maxconn 2000") || !slices.Contains(s["defaults"].lines, "maxconn 1000") {
		t.Errorf("maxconn not applied: %q %q", s["global"].lines, s["defaults"].lines)
	}
}

func TestRenderHost(t *testing.T) {
	r, err := RenderHost(prodPlan(), "lb2")
	if err != nil || r.LB.Name != "lb2" || !strings.Contains(r.HAProxyCfg, "bind 10.20.0.12:") {
		t.Fatalf("RenderHost lb2: %v", err)
	}
	if _, err := RenderHost(prodPlan(), "w1"); err == nil {
		t.Error("w1 is not a haproxy host")
	}
}

func TestRenderedFiles(t *testing.T) {
	var names []string
	for _, f := range mustRender(t, prodPlan())[0].Files() {
		names = append(names, f.Name())
		if f.Content == "" {
			t.Errorf("%s is empty", f.Path)
		}
		if f.Host() != "lb1" || !strings.HasPrefix(f.Path, "lb1/haproxy/") {
			t.Errorf("%s: not lb1/haproxy/<file>", f.Path)
		}
		if (f.Name() == "haproxy.cfg") != (f.Carried != "") || (f.Carried != "" && !strings.Contains(mustRender(t, prodPlan())[0].Scripts[1].Body, f.Carried)) {
			t.Errorf("%s: carried %d bytes; only haproxy.cfg is carried otherwise, by the config step", f.Path, len(f.Carried))
		}
	}
	want := []string{"10-install.sh", "20-config.sh", "30-keepalived.sh", "haproxy.cfg", "haproxy.service.d-pm4ml-stats.conf", "keepalived.conf"}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	p := stgPlan()
	p.PublicVIP, p.InternalVIP = p.LBs()[0].Address, "10.20.0.101"
	names = nil
	for _, f := range mustRender(t, p)[0].Files() {
		names = append(names, f.Name())
	}
	if !slices.Equal(names, []string{"10-install.sh", "20-config.sh", "haproxy.cfg"}) {
		t.Errorf("stg files without keepalived or stats: %v", names)
	}
}

// stagedCfg runs the part of a config step that writes the candidate haproxy.cfg (the workers'
// data lines, the expansion of the "# pm4ml-servers" lines) under bash and returns what it stages.
func stagedCfg(t *testing.T, script string) string {
	t.Helper()
	const from, to = "workers=$(cat <<'PM4ML_WORKERS'", "PM4ML_HAPROXY_CFG\n) || true\n"
	i, j := strings.Index(script, from), strings.Index(script, to)
	if i < 0 || j < i {
		t.Fatalf("the config step has no staging of haproxy.cfg from the workers' data")
	}
	out, err := exec.Command("bash", "-c", "set -euo pipefail\nstage_file() { cat; }\nstage=x\n"+script[i:j+len(to)]).CombinedOutput()
	if err != nil {
		t.Fatalf("staging haproxy.cfg: %v\n%s", err, out)
	}
	return string(out)
}

// TestServersAsData: at 300 workers the config step carries each worker once, as a data line;
// the haproxy.cfg it stages is the rendered one byte for byte (two server lines per worker), and
// the step stays far below Linux's single-argument limit.
func TestServersAsData(t *testing.T) {
	p := prodPlan()
	var ws []Node
	for i := range 300 {
		ws = append(ws, Node{fmt.Sprintf("prod-worker-%d", i+1), fmt.Sprintf("10.10.%d.%d", 20+i/240, 11+i%240)})
	}
	p.Topology = topology(p.LBs(), ws, p.Topology.StatsPort)
	r := mustRender(t, p)[0]
	body := r.Scripts[1].Body
	if n := strings.Count(r.HAProxyCfg, "\n    server prod-worker-"); n != 600 {
		t.Fatalf("rendered haproxy.cfg has %d server lines, want 600", n)
	}
	if n := strings.Count(body, "prod-worker-17 "); n != 1 {
		t.Errorf("the config step names a worker %d times, want once (as data)", n)
	}
	if got := stagedCfg(t, body); got != r.HAProxyCfg {
		t.Errorf("staged haproxy.cfg differs from the rendered one")
	}
	if n := len(remotecmd.Invocation("ubuntu", "haproxy-config", body)); n > 32*1024 {
		t.Errorf("the config step's command line is %d bytes at 300 workers, want < 32 KiB", n)
	}
}
