package microceph

import (
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("microceph", files, "scripts/*.tmpl")

// Node is one storage host.
type Node struct {
	Name    string
	Address string
	// Disks are the data disks MicroCeph may wipe and take as OSDs (pm4ml:hosts[].cephDisks).
	Disks []string
}

// Plan is everything the scripts are rendered from.
type Plan struct {
	// Nodes are the storage hosts in configuration order; Nodes[0] bootstraps the cluster and
	// issues the join tokens, the others join in this order, one at a time.
	Nodes           []Node
	Channel         string // snap channel, e.g. squid/stable (pm4ml:ceph.channel)
	Pool            string // RBD pool for Kubernetes (pm4ml:ceph.pool)
	ReplicationSize int    // pool size (pm4ml:ceph.replicationSize)
	// Lost are storage hosts gone for good (pm4ml:hosts[].lost): in no list above, never reached;
	// each is removed from the bootstrap host (Rendered.Remove).
	Lost []Node
}

// Validate checks the plan; every problem names the configuration key and the fix.
func (p Plan) Validate() error {
	var errs []error
	add := func(key, problem, fix string) { errs = append(errs, fmt.Errorf("pm4ml:%s %s: %s", key, problem, fix)) }
	if len(p.Nodes) == 0 {
		add("hosts", "has no storage host", "give at least one host the storage role")
	}
	seen := map[string]bool{}
	for _, n := range p.Nodes {
		key := fmt.Sprintf("hosts (host %q)", n.Name)
		if !grammar.Hostname.OK(n.Name) {
			add(key+" name", "is not a host name MicroCeph accepts", "use lower-case letters, digits and '-' (it is also the host name)")
		}
		if seen[n.Name] {
			add(key+" name", "is listed twice", "give each storage host its own name")
		}
		seen[n.Name] = true
		if !grammar.IsIPv4(n.Address) {
			add(key+" address", fmt.Sprintf("%q is not an IPv4 address", n.Address), "give the storage host's private address")
		}
		if len(n.Disks) == 0 {
			add(key+" cephDisks", "is empty", "list the data disks MicroCeph may wipe and take, e.g. [/dev/sdb, /dev/sdc]")
		}
		disks := map[string]bool{}
		for _, d := range n.Disks {
			if !grammar.Disk.OK(d) {
				add(key+" cephDisks", fmt.Sprintf("%q is not a block device path", d), "use a path under /dev, e.g. /dev/sdb or /dev/disk/by-id/...")
			}
			if disks[d] {
				add(key+" cephDisks", fmt.Sprintf("%q is listed twice", d), "list each disk once")
			}
			disks[d] = true
		}
	}
	for _, n := range p.Lost {
		key := fmt.Sprintf("hosts (lost host %q)", n.Name)
		if !grammar.Hostname.OK(n.Name) {
			add(key+" name", "is not a host name MicroCeph accepts", "use lower-case letters, digits and '-'")
		}
		if seen[n.Name] {
			add(key+" lost", "is also a storage host that is not lost", "a host is either lost or a member")
		}
		seen[n.Name] = true
	}
	if !grammar.MicroCephChannel.OK(p.Channel) {
		add("ceph.channel", fmt.Sprintf("%q is not a pinned MicroCeph channel", p.Channel), "use <release>/<risk>, e.g. squid/stable")
	}
	if !grammar.Pool.OK(p.Pool) {
		add("ceph.pool", fmt.Sprintf("%q is not a Ceph pool name", p.Pool), "use letters, digits, '-', '_' or '.', e.g. rbd-pm4ml")
	}
	if p.ReplicationSize < 1 || p.ReplicationSize > len(p.Nodes) {
		add("ceph.replicationSize", fmt.Sprintf("%d does not fit %d storage host(s)", p.ReplicationSize, len(p.Nodes)), "use 1..number of storage hosts")
	}
	return errors.Join(errs...)
}

// MinSize is the pool's min_size for a size: Ceph's default rule, a majority of the replicas
// (1 for 1 and 2, 2 for 3).
func MinSize(size int) int { return size - size/2 }

// Markers frame the export step's output (ceph.conf, then the keyring) on stdout.
const (
	ConfBegin    = "-----BEGIN PM4ML CEPH CONF-----"
	ConfEnd      = "-----END PM4ML CEPH CONF-----"
	KeyringBegin = "-----BEGIN PM4ML CEPH KEYRING-----"
	KeyringEnd   = "-----END PM4ML CEPH KEYRING-----"
)

// NodeScripts are the scripts of one storage host's own steps.
type NodeScripts struct {
	Node Node
	// Install: the snap (every host, in series).
	Install remotecmd.Script
	// Member: bootstrap (Nodes[0]) or join (the others, token on stdin); DeleteBody leaves the
	// cluster. The step keeps one name whichever it is, so that another host becoming the first
	// never deletes (and so never removes) an existing member.
	Member remotecmd.Script
	// Add issues the join token; it runs on the bootstrap host. Nil for the bootstrap host.
	Add *remotecmd.Script
	// Disks adds the configured disks as OSDs; DeleteBody removes the host's OSDs.
	Disks remotecmd.Script
}

// Rendered is the whole cluster's scripts.
type Rendered struct {
	Bootstrap Node
	Nodes     []NodeScripts // plan order
	Lost      []Node        // the plan's lost hosts, each with its Remove script
	Pool      remotecmd.Script
	Export    remotecmd.Script // secret step: prints ceph.conf and the keyring between markers
	// Remove per lost host (on the bootstrap host): its OSDs out and purged, the member removed
	// with --force.
	Remove map[string]remotecmd.Script
}

type nodeData struct {
	Node
	Bootstrap string
	Channel   string
}

type removeData struct {
	Name string // where it runs: the bootstrap host
	Lost string
}

type poolData struct {
	Name            string
	Pool            string
	ReplicationSize int
	MinSize         int
}

type exportData struct {
	Name                                         string
	ConfBegin, ConfEnd, KeyringBegin, KeyringEnd string
}

// Render renders every script of the cluster. It contacts nothing and needs no secret: the join
// tokens and the keyring only exist on the hosts and pass through secret stdin/stdout.
func Render(p Plan) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	boot := p.Nodes[0]
	out := Rendered{Bootstrap: boot}
	render := func(step, file string, data any) (remotecmd.Script, error) {
		return remotecmd.Render(step, tmpl.Lookup(file), data)
	}
	for i, n := range p.Nodes {
		d := nodeData{Node: n, Bootstrap: boot.Name, Channel: p.Channel}
		ns := NodeScripts{Node: n}
		var err error
		if ns.Install, err = render("microceph-install", "install.sh.tmpl", d); err != nil {
			return out, err
		}
		memberFile, memberStep := "join.sh.tmpl", "microceph-join"
		if i == 0 {
			memberFile, memberStep = "bootstrap.sh.tmpl", "microceph-bootstrap"
		}
		if ns.Member, err = render(memberStep, memberFile, d); err != nil {
			return out, err
		}
		leave, err := render("microceph-leave", "leave.sh.tmpl", d)
		if err != nil {
			return out, err
		}
		ns.Member.DeleteBody = leave.Body
		if i > 0 {
			// The member step reads the token from stdin: it is a secret step too.
			ns.Member.Secret = true
			add, err := render("microceph-add-"+n.Name, "add.sh.tmpl", d)
			if err != nil {
				return out, err
			}
			add.Secret = true
			ns.Add = &add
		}
		if ns.Disks, err = render("microceph-disks", "disks.sh.tmpl", d); err != nil {
			return out, err
		}
		rm, err := render("microceph-disks-remove", "disks-remove.sh.tmpl", d)
		if err != nil {
			return out, err
		}
		ns.Disks.DeleteBody = rm.Body
		out.Nodes = append(out.Nodes, ns)
	}
	var err error
	if out.Pool, err = render("microceph-pool", "pool.sh.tmpl", poolData{Name: boot.Name, Pool: p.Pool, ReplicationSize: p.ReplicationSize, MinSize: MinSize(p.ReplicationSize)}); err != nil {
		return out, err
	}
	if out.Export, err = render("microceph-export", "export.sh.tmpl", exportData{Name: boot.Name, ConfBegin: ConfBegin, ConfEnd: ConfEnd, KeyringBegin: KeyringBegin, KeyringEnd: KeyringEnd}); err != nil {
		return out, err
	}
	out.Export.Secret = true
	out.Remove, out.Lost = map[string]remotecmd.Script{}, p.Lost
	for _, n := range p.Lost {
		if out.Remove[n.Name], err = render("microceph-remove-lost-"+n.Name, "remove-lost.sh.tmpl", removeData{Name: boot.Name, Lost: n.Name}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Component names the directory of this component's files in the render output.
const Component = "microceph"

// Files lists every script per host, numbered in execution order (10 install, 20 bootstrap or
// join, 30 join tokens on the bootstrap host, 40 disks, 45 lost hosts' removal, 50 pool, 60
// export). Delete-time scripts are listed beside the step they belong to.
func (r Rendered) Files() []remotecmd.File {
	var out []remotecmd.File
	addScript := func(host, name string, s remotecmd.Script) {
		out = append(out, remotecmd.ScriptFiles(host, Component, name, s)...)
	}
	for i, n := range r.Nodes {
		addScript(n.Node.Name, "10-install", n.Install)
		member := "20-join"
		if i == 0 {
			member = "20-bootstrap"
		}
		addScript(n.Node.Name, member, n.Member)
	}
	for _, n := range r.Nodes {
		if n.Add != nil {
			addScript(r.Bootstrap.Name, "30-add-"+n.Node.Name, *n.Add)
		}
	}
	for _, n := range r.Nodes {
		addScript(n.Node.Name, "40-disks", n.Disks)
	}
	for _, n := range r.Lost {
		addScript(r.Bootstrap.Name, "45-remove-lost-"+n.Name, r.Remove[n.Name])
	}
	addScript(r.Bootstrap.Name, "50-pool", r.Pool)
	addScript(r.Bootstrap.Name, "60-export", r.Export)
	return out
}

// ParseExport splits the export step's stdout into ceph.conf and the keyring (each ending in a
// newline).
func ParseExport(stdout string) (conf, keyring string, err error) {
	conf, err = between(stdout, ConfBegin, ConfEnd)
	if err != nil {
		return "", "", err
	}
	keyring, err = between(stdout, KeyringBegin, KeyringEnd)
	if err != nil {
		return "", "", err
	}
	return conf, keyring, nil
}

func between(s, begin, end string) (string, error) {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	start := -1
	for i, l := range lines {
		switch {
		case l == begin && start < 0:
			start = i + 1
		case l == end && start >= 0:
			body := strings.Join(lines[start:i], "\n")
			if strings.TrimSpace(body) == "" {
				return "", fmt.Errorf("microceph export: empty section %s", begin)
			}
			return body + "\n", nil
		}
	}
	return "", fmt.Errorf("microceph export: no section %s ... %s in the export step's output", begin, end)
}

var (
	monHostRe = regexp.MustCompile(`(?m)^\s*mon[ _]host\s*=\s*(.+)$`)
	monAddrRe = regexp.MustCompile(`v[12]:(\[[0-9a-fA-F:]+\]|[0-9.]+):\d+`)
)

// Monitors lists the monitor addresses named by a ceph.conf's mon_host, in order, without
// duplicates (a monitor appears once per messenger version).
func Monitors(conf string) []string {
	m := monHostRe.FindStringSubmatch(conf)
	if m == nil {
		return nil
	}
	var out []string
	add := func(a string) {
		a = strings.Trim(a, "[]")
		for _, x := range out {
			if x == a {
				return
			}
		}
		out = append(out, a)
	}
	if addrs := monAddrRe.FindAllStringSubmatch(m[1], -1); len(addrs) > 0 {
		for _, a := range addrs {
			add(a[1])
		}
		return out
	}
	// Legacy form: "mon host = 10.0.0.1,10.0.0.2:6789".
	for _, f := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		host := f
		if i := strings.LastIndex(f, ":"); i > 0 && !strings.Contains(f[:i], ":") {
			host = f[:i]
		}
		add(host)
	}
	return out
}
