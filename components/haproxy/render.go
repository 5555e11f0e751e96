// Package haproxy is the ingress load balancer of guide 5: HAProxy on the haproxy hosts, layer 4
// only (no TLS termination: the Istio ingress gateways terminate TLS, guide 5.2 and 5.4), in front
// of the Istio gateways' NodePorts on the worker hosts, with keepalived holding the public and
// internal VIPs (guide 5.5, 5.7). Every port comes from the port matrix (components/network).
//
// Per haproxy host the chain is install -> config -> keepalived (the last only where keepalived
// holds a VIP). Render is pure: the render command and the component produce the same files.
//
// Design notes:
//   - The external backend sends PROXY protocol v2 (send-proxy-v2) so that the external Istio
//     gateway sees the client address; its listener must expect the header. The health checks
//     go to the gateway's status NodePort ("check port"), and HAProxy sends a PROXY header on a
//     check only when the server uses PROXY and no check port/addr is set, or with
//     check-send-proxy. The status port (15021) is a plain HTTP listener of the gateway without
//     the proxy-protocol filter, so the checks must not carry it: check-send-proxy is not set.
//   - The stats password is in /etc/haproxy/pm4ml-stats.cfg (userlist, 0600), loaded with a second
//     -f by a systemd drop-in; haproxy.cfg and the scripts hold no secret.
//   - keepalived: two or more haproxy hosts share both VIPs in one unicast VRRP instance that
//     tracks haproxy; one host holds the VIPs that are not its own address statically (no VRRP
//     peer exists), and none when the public VIP is its own address.
package haproxy

import (
	"embed"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("haproxy", files, "scripts/*.tmpl")

// Steps of one haproxy host, in execution order. "keepalived" is absent where no VIP needs it.
var Steps = []string{"install", "config", "keepalived"}

// Paths on the haproxy hosts.
const (
	ConfigPath     = "/etc/haproxy/haproxy.cfg"
	StatsPath      = "/etc/haproxy/pm4ml-stats.cfg" // userlist with the stats password, 0600
	DropInPath     = "/etc/systemd/system/haproxy.service.d/pm4ml-stats.conf"
	StagingDir     = "/etc/haproxy/pm4ml-staging"
	KeepalivedPath = "/etc/keepalived/keepalived.conf"
	// KeepalivedStagingDir holds the candidate keepalived.conf while it is checked.
	KeepalivedStagingDir = "/etc/keepalived/pm4ml-staging"
	// HealthCheckPath is the Istio gateways' readiness endpoint on the status port (15021).
	HealthCheckPath = "/healthz/ready"
	// StatsUserlist names the userlist (in StatsPath) the stats frontend authenticates against.
	StatsUserlist = "pm4ml_stats"
	// TrackScript is keepalived's "is haproxy alive" check. pgrep is procps, at /usr/bin on both
	// Ubuntu 24.04 and Debian 12 (merged /usr); -x matches the process name exactly, which is
	// "haproxy" for the master and the workers of `haproxy -Ws`.
	TrackScript = "/usr/bin/pgrep -x haproxy"
	// DefaultVirtualRouterID is the VRRP router id when Plan.VirtualRouterID is 0. VRRP runs
	// unicast between the haproxy hosts, so it cannot collide with other VRRP routers on the
	// segment that use the same id.
	DefaultVirtualRouterID = 51
	// DefaultMaxConn is HAProxy's global connection limit when Plan.MaxConn is 0 (guide 4.1
	// HAProxy sizing: 4 CPU / 16 GB). HAProxy needs about two file descriptors per connection and
	// raises its own limit at start, within the service's hard limit (524288 under systemd).
	DefaultMaxConn = 20000
)

// Frontend and backend names in haproxy.cfg.
const (
	FrontendPublicHTTPS   = "public_https"
	FrontendPublicHTTP    = "public_http"
	FrontendInternalHTTPS = "internal_https"
	FrontendStats         = "stats"
	BackendExternal       = "istio_external_https"
	BackendInternal       = "istio_internal_https"
)

// Node is a host as this package needs it.
type Node struct {
	Name    string
	Address string
}

// StatsSettings are the stats page's settings (pm4ml:haproxy.statsEnabled/statsUser); its port
// is the port matrix's (Topology.StatsPort, from pm4ml:haproxy.statsPort), so the host firewall
// opens the port HAProxy listens on. The password is never part of a plan: it reaches the
// config step on stdin.
type StatsSettings struct {
	Enabled bool
	User    string
}

// Plan is everything the files of all haproxy hosts are rendered from.
type Plan struct {
	PublicVIP   string
	InternalVIP string
	// Interface carries the VIPs (pm4ml:haproxy.interface).
	Interface string
	Stats     StatsSettings
	// Topology is the port matrix's view of the stack: every port is read from it, and its
	// nodes are the haproxy hosts (LBs) and the backends (Workers).
	Topology network.Topology
	// VirtualRouterID of the VRRP instance; 0 means DefaultVirtualRouterID.
	VirtualRouterID int
	// MaxConn is HAProxy's global maxconn; 0 means DefaultMaxConn. Each frontend may take half.
	MaxConn int
}

// Frontend is one listening section of haproxy.cfg (for outputs and the policy pack).
type Frontend struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Mode    string `json:"mode"` // "tcp" or "http"
	// TLSTermination is always false: no certificate is configured anywhere (guide 5.4).
	TLSTermination bool `json:"tlsTermination"`
	// Public is true for the frontends on the public VIP (reached through the perimeter firewall).
	Public bool `json:"public"`
	// Backend is the default backend ("" for the redirect and the stats frontends).
	Backend string `json:"backend,omitempty"`
	// Redirect describes an HTTP redirect answered by the frontend itself, e.g. "https 301".
	Redirect string `json:"redirect,omitempty"`
}

// Server is one backend server: a worker's NodePort, health-checked on its status NodePort.
type Server struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Port      int    `json:"port"`
	CheckPort int    `json:"checkPort"`
}

// Backend is one backend section of haproxy.cfg.
type Backend struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	// SendProxy: HAProxy sends a PROXY protocol v2 header on every connection, so the gateway
	// sees the client address; the gateway's listener must then expect it.
	SendProxy bool `json:"sendProxy"`
	// HealthCheck is the HTTP check sent to CheckPort, e.g. "GET /healthz/ready".
	HealthCheck string   `json:"healthCheck"`
	Servers     []Server `json:"servers"`
	// Port and CheckPort are every server's (the workers' NodePorts).
	Port      int `json:"-"`
	CheckPort int `json:"-"`
}

// Rendered is what one haproxy host receives.
type Rendered struct {
	LB        Node
	Frontends []Frontend
	Backends  []Backend
	// StatsBind is "address:port" of the stats frontend (the host's own private address), ""
	// when stats are disabled.
	StatsBind string
	// VIPs are the addresses keepalived holds on this host (none when the VIPs are the host's
	// own address); VRRP is true when they fail over between two or more hosts.
	VIPs       []string
	Keepalived bool
	VRRP       bool
	// HAProxyCfg is /etc/haproxy/haproxy.cfg: no secret, no certificate.
	HAProxyCfg string
	// carriedCfg is haproxy.cfg as the config step carries it: its servers as data.
	carriedCfg string
	// DropIn is the systemd drop-in that adds StatsPath as a second -f ("" without stats).
	DropIn string
	// KeepalivedConf is /etc/keepalived/keepalived.conf ("" without keepalived).
	KeepalivedConf string
	// Scripts in Steps order (keepalived only when Keepalived). The config script is Secret
	// when stats are enabled: it reads the stats password on stdin.
	Scripts []remotecmd.Script
}

// port reads a port-matrix row through the topology.
func (p Plan) port(id string) int { return p.Topology.PortsOf(network.Lookup(id)).From }

// LBs are the haproxy hosts in configuration order: the first has the highest VRRP priority.
func (p Plan) LBs() []Node { return p.nodesWith(hosts.RoleHAProxy) }

// Workers are the backends (the hosts with the worker role), in configuration order.
func (p Plan) Workers() []Node { return p.nodesWith(hosts.RoleWorker) }

func (p Plan) nodesWith(r hosts.Role) []Node {
	var out []Node
	for _, n := range p.Topology.Nodes {
		if n.Roles.Has(r) {
			out = append(out, Node{Name: n.Name, Address: n.Address})
		}
	}
	return out
}

// statsPort is the stats port (the port matrix's).
func (p Plan) statsPort() int { return p.port(network.HAProxyStats) }

func (p Plan) maxConn() int {
	if p.MaxConn == 0 {
		return DefaultMaxConn
	}
	return p.MaxConn
}

func (p Plan) vrid() int {
	if p.VirtualRouterID == 0 {
		return DefaultVirtualRouterID
	}
	return p.VirtualRouterID
}

func ipv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// Validate reports every problem of the plan, each naming the config key and the fix.
func (p Plan) Validate() []error {
	var errs []error
	lbs, workers := p.LBs(), p.Workers()
	add := func(key, problem, fix string) {
		errs = append(errs, fmt.Errorf("pm4ml:%s: %s; %s", key, problem, fix))
	}
	if len(lbs) == 0 {
		add("hosts", "no host has the haproxy role", "give one (stg) or two (prod) hosts the haproxy role")
	}
	if len(workers) == 0 {
		add("hosts", "no host has the worker role: HAProxy would have no backend", "give the Kubernetes workers the worker role")
	}
	for _, set := range []struct {
		role  string
		nodes []Node
	}{{"haproxy", lbs}, {"worker", workers}} {
		seen := map[string]bool{}
		for _, n := range set.nodes {
			if !grammar.Hostname.OK(n.Name) {
				add("hosts", fmt.Sprintf("host name %q cannot name a HAProxy server", n.Name), "use letters, digits, '.', '-' or '_'")
			}
			if !ipv4(n.Address) {
				add("hosts", fmt.Sprintf("%s host %s: address %q is not an IPv4 address", set.role, n.Name, n.Address), "give the host its private IPv4 address")
			}
			if seen[n.Name] {
				add("hosts", fmt.Sprintf("%s host name %s appears twice", set.role, n.Name), "give every host a unique name")
			}
			seen[n.Name] = true
		}
	}
	lbAddr := map[string]bool{}
	for _, l := range lbs {
		lbAddr[l.Address] = true
	}
	if !ipv4(p.PublicVIP) {
		add("haproxy.publicVip", fmt.Sprintf("%q is not an IPv4 address", p.PublicVIP), "set the private address the perimeter firewall NATs the public IP to (guide 5.7)")
	}
	if !ipv4(p.InternalVIP) {
		add("haproxy.internalVip", fmt.Sprintf("%q is not an IPv4 address", p.InternalVIP), "set the private-side address of the internal frontend")
	} else if p.InternalVIP == p.PublicVIP {
		add("haproxy.internalVip", "equals pm4ml:haproxy.publicVip", "use a separate address: the public and internal frontends both listen on the HTTPS port")
	}
	if len(lbs) > 1 {
		for key, vip := range map[string]string{"haproxy.publicVip": p.PublicVIP, "haproxy.internalVip": p.InternalVIP} {
			if lbAddr[vip] {
				add(key, fmt.Sprintf("%s is the address of a haproxy host", vip), "with two haproxy hosts use a free address (a VRRP VIP)")
			}
		}
	}
	if !grammar.Interface.OK(p.Interface) {
		add("haproxy.interface", fmt.Sprintf("%q is not an interface name", p.Interface), "use the haproxy hosts' interface name, e.g. eth0 or ens18")
	}
	if v := p.VirtualRouterID; v < 0 || v > 255 {
		add("haproxy", fmt.Sprintf("VRRP router id %d", v), "use 1..255")
	}
	if m := p.MaxConn; m != 0 && (m < grammar.MaxConnMin || m > grammar.MaxConnMax) {
		add("haproxy.maxConn", fmt.Sprintf("%d is out of range", m), fmt.Sprintf("use %d..%d (default %d)", grammar.MaxConnMin, grammar.MaxConnMax, DefaultMaxConn))
	}
	if p.Stats.Enabled {
		mp := p.port(network.HAProxyStats)
		if mp == 0 {
			add("haproxy.statsPort", "stats are enabled but the port matrix has no stats port, so the host firewall would not admit it", "build the topology from the same configuration (Topology.StatsPort)")
		}
		if !grammar.User.OK(p.Stats.User) {
			add("haproxy.statsUser", fmt.Sprintf("%q is not a valid user name", p.Stats.User), "use letters, digits, '-' or '_'")
		}
	}
	return errs
}

// Frontends of every haproxy host (the stats frontend is per host: see Rendered.StatsBind).
func (p Plan) Frontends() []Frontend {
	return []Frontend{
		{Name: FrontendPublicHTTPS, Address: p.PublicVIP, Port: p.port(network.PublicHTTPS), Mode: "tcp", Public: true, Backend: BackendExternal},
		{Name: FrontendPublicHTTP, Address: p.PublicVIP, Port: p.port(network.PublicHTTP), Mode: "http", Public: true, Redirect: "https 301"},
		// The internal frontend serves HTTPS on the same port as the public one (guide 1.3.2,
		// HAProxy table: "Frontend HTTPS"), on the internal VIP.
		{Name: FrontendInternalHTTPS, Address: p.InternalVIP, Port: p.port(network.PublicHTTPS), Mode: "tcp", Backend: BackendInternal},
	}
}

// Backends: every worker, in configuration order, on the gateways' NodePorts.
func (p Plan) Backends() []Backend {
	mk := func(name string, port, check string, proxy bool) Backend {
		b := Backend{Name: name, Mode: "tcp", SendProxy: proxy, HealthCheck: "GET " + HealthCheckPath, Port: p.port(port), CheckPort: p.port(check)}
		for _, w := range p.Workers() {
			b.Servers = append(b.Servers, Server{Name: w.Name, Address: w.Address, Port: b.Port, CheckPort: b.CheckPort})
		}
		return b
	}
	return []Backend{
		mk(BackendExternal, network.IstioExtHTTPS, network.IstioExtStatus, true),
		mk(BackendInternal, network.IstioIntHTTPS, network.IstioIntStatus, false),
	}
}

// VIPsOf are the VIPs keepalived holds on lb. With two or more haproxy hosts: both VIPs (VRRP).
// With one: none when the public VIP is the host's own address (the other VIP must then be an
// address the host already has, e.g. on its private-side interface, guide 5.3: the config step
// checks it); otherwise the VIPs that are not the host's own address.
func (p Plan) VIPsOf(lb Node) []string {
	n := len(p.LBs())
	if n == 1 && p.PublicVIP == lb.Address {
		return nil
	}
	var out []string
	for _, v := range p.VIPs() {
		if n > 1 || v != lb.Address {
			out = append(out, v)
		}
	}
	return out
}

// LocalVIPsOf are the VIPs lb binds that keepalived does not hold: they must already be
// addresses of the host.
func (p Plan) LocalVIPsOf(lb Node) []string {
	held := p.VIPsOf(lb)
	var out []string
	for _, v := range p.VIPs() {
		if !slices.Contains(held, v) {
			out = append(out, v)
		}
	}
	return out
}

// VIPs are the distinct VIPs of the stack.
func (p Plan) VIPs() []string {
	if p.InternalVIP == p.PublicVIP {
		return []string{p.PublicVIP}
	}
	return []string{p.PublicVIP, p.InternalVIP}
}

// UsesKeepalived reports whether keepalived runs on the haproxy hosts.
func (p Plan) UsesKeepalived() bool {
	lbs := p.LBs()
	return len(lbs) > 0 && len(p.VIPsOf(lbs[0])) > 0
}

// cfgData is what the haproxy.cfg template reads.
type cfgData struct {
	LB            Node
	Frontends     []Frontend
	Backends      []Backend
	Stats         bool
	StatsBind     string
	StatsUserlist string
	MaxConn       int
	// FrontendMaxConn is each frontend's share (defaults maxconn).
	FrontendMaxConn int
	// ServersAsData writes each backend's server lines as one "# pm4ml-servers PORT CHECKPORT
	// [send-proxy-v2]" line, which the config step expands from the workers' data lines (one
	// server line per worker): the form the step carries (O(workers) bytes once, not per backend).
	ServersAsData bool
}

type kaData struct {
	LB          Node
	Interface   string
	VIPs        []string
	VRRP        bool
	Priority    int
	Peers       []string
	VRID        int
	TrackScript string
}

type scriptData struct {
	LB            Node
	Keepalived    bool
	Stats         bool
	StatsUser     string
	StatsUserlist string
	// HAProxyCfg is haproxy.cfg with its servers as data (cfgData.ServersAsData); Workers are
	// the data lines, "name address" (remotecmd.Table).
	HAProxyCfg     string
	Workers        [][]string
	DropIn         string
	KeepalivedConf string
	Interface      string
	// NonlocalBind: keepalived holds a VIP this host binds, so HAProxy binds it before (or
	// without) the VIP being there: net.ipv4.ip_nonlocal_bind=1 (set by hostprep's tuning).
	NonlocalBind bool
	// LocalVIPs are bound but not held by keepalived: the host must have them already.
	LocalVIPs  []string
	ConfigPath string
	StatsPath  string
	DropInPath string
	StagingDir string
	KAPath     string
	KAStaging  string
}

func execute(name string, data any) (string, error) {
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	// a file ends with exactly one newline (the scripts' heredocs rely on it)
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

// Render renders the files and scripts of every haproxy host, in Plan.LBs order. It fails with
// every problem of the plan at once.
func Render(p Plan) ([]Rendered, error) {
	if errs := p.Validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("haproxy: %d problem(s):\n  %s", len(errs), strings.Join(msgs, "\n  "))
	}
	lbs := p.LBs()
	out := make([]Rendered, 0, len(lbs))
	for i, lb := range lbs {
		r, err := p.renderLB(i, lb, lbs)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RenderHost renders one haproxy host by name.
func RenderHost(p Plan, name string) (Rendered, error) {
	all, err := Render(p)
	if err != nil {
		return Rendered{}, err
	}
	for _, r := range all {
		if r.LB.Name == name {
			return r, nil
		}
	}
	return Rendered{}, fmt.Errorf("haproxy: %s is not a haproxy host", name)
}

func (p Plan) renderLB(i int, lb Node, lbs []Node) (Rendered, error) {
	r := Rendered{LB: lb, Frontends: p.Frontends(), Backends: p.Backends(), VIPs: p.VIPsOf(lb)}
	r.Keepalived = len(r.VIPs) > 0
	r.VRRP = len(lbs) > 1
	if p.Stats.Enabled {
		r.StatsBind = fmt.Sprintf("%s:%d", lb.Address, p.statsPort())
	}
	var err error
	cfg := cfgData{
		LB: lb, Frontends: r.Frontends, Backends: r.Backends, Stats: p.Stats.Enabled, StatsBind: r.StatsBind,
		StatsUserlist: StatsUserlist, MaxConn: p.maxConn(), FrontendMaxConn: p.maxConn() / 2,
	}
	if r.HAProxyCfg, err = execute("haproxy.cfg.tmpl", cfg); err != nil {
		return r, err
	}
	cfg.ServersAsData = true
	if r.carriedCfg, err = execute("haproxy.cfg.tmpl", cfg); err != nil {
		return r, err
	}
	ws := p.Workers()
	workers := make([][]string, len(ws))
	for i, w := range ws {
		workers[i] = []string{w.Name, w.Address}
	}
	if p.Stats.Enabled {
		if r.DropIn, err = execute("haproxy-dropin.conf.tmpl", scriptData{ConfigPath: ConfigPath, StatsPath: StatsPath}); err != nil {
			return r, err
		}
	}
	if r.Keepalived {
		var peers []string
		for _, o := range lbs {
			if o != lb {
				peers = append(peers, o.Address)
			}
		}
		if r.KeepalivedConf, err = execute("keepalived.conf.tmpl", kaData{
			LB: lb, Interface: p.Interface, VIPs: r.VIPs, VRRP: r.VRRP, Priority: 150 - 10*i, Peers: peers,
			VRID: p.vrid(), TrackScript: TrackScript,
		}); err != nil {
			return r, err
		}
	}
	data := scriptData{
		LB: lb, Keepalived: r.Keepalived, Stats: p.Stats.Enabled, StatsUser: p.Stats.User, StatsUserlist: StatsUserlist,
		HAProxyCfg: r.carriedCfg, Workers: workers, DropIn: r.DropIn, KeepalivedConf: r.KeepalivedConf, Interface: p.Interface,
		NonlocalBind: r.Keepalived, LocalVIPs: p.LocalVIPsOf(lb),
		ConfigPath: ConfigPath, StatsPath: StatsPath, DropInPath: DropInPath, StagingDir: StagingDir,
		KAPath: KeepalivedPath, KAStaging: KeepalivedStagingDir,
	}
	for _, step := range Steps {
		if step == "keepalived" && !r.Keepalived {
			continue
		}
		s, err := remotecmd.Render("haproxy-"+step, tmpl.Lookup(step+".sh.tmpl"), data)
		if err != nil {
			return r, err
		}
		s.Secret = step == "config" && p.Stats.Enabled
		r.Scripts = append(r.Scripts, s)
	}
	return r, nil
}

// Component names the package's directory in the render output (<host>/haproxy/...).
const Component = "haproxy"

// Files are what the render command writes for review for this host: the scripts in execution
// order ("10-install.sh", ...), then the configuration files they install. haproxy.cfg is the
// file as the config step writes it on the host; the step carries it with its servers as data
// (Carried). The stats userlist is not among them: it holds the password and only the config
// step writes it, on the host.
func (r Rendered) Files() []remotecmd.File {
	var out []remotecmd.File
	for i, s := range r.Scripts {
		out = append(out, remotecmd.ScriptFiles(r.LB.Name, Component, remotecmd.NumberedName(i, strings.TrimPrefix(s.Step, "haproxy-")), s)...)
	}
	cfg := remotecmd.ConfigFile(r.LB.Name, Component, "haproxy.cfg", r.HAProxyCfg, remotecmd.ConfigMode)
	cfg.Carried = r.carriedCfg
	out = append(out, cfg)
	if r.DropIn != "" {
		out = append(out, remotecmd.ConfigFile(r.LB.Name, Component, "haproxy.service.d-pm4ml-stats.conf", r.DropIn, remotecmd.ConfigMode))
	}
	if r.KeepalivedConf != "" {
		out = append(out, remotecmd.ConfigFile(r.LB.Name, Component, "keepalived.conf", r.KeepalivedConf, remotecmd.ConfigMode))
	}
	return out
}
