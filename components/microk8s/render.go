// Package microk8s builds the Kubernetes cluster (guide 2, 4.1, 4.2, 4.4 and playbook
// 1.microk8s_setup of guide 6.4): the MicroK8s snap on every master and worker, the first master
// as the bootstrap node, the other masters joined one at a time (dqlite), the workers joined after
// them, role labels, control-plane taints for dedicated masters, the addons, and the admin
// kubeconfig as a Pulumi secret.
//
// Join tokens are derived from the stack's join secret (JoinToken) and reach the hosts only on
// stdin. What a host runs is rendered here, by Render, for the component and the render command
// alike; CONTRACT.md lists every snap/microk8s command line the scripts rely on.
package microk8s

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("microk8s", files, "scripts/*.tmpl")

// DefaultChannel is guide 2's MicroK8s version.
const DefaultChannel = "1.31/stable"

// DefaultAddons are enabled on every cluster: cluster DNS, RBAC, Helm 3 and the hostpath
// provisioner. No metallb: HAProxy reaches the Istio gateways on their NodePorts (guide 5).
var DefaultAddons = []string{"dns", "rbac", "helm3", "hostpath-storage"}

// Timings of the scripts, in seconds.
const (
	// TokenTTL is how long a registered join token stays valid on the first master.
	TokenTTL = 900
	// ReadyTimeout bounds every wait: a node ready, a join completing, a drain, all nodes Ready.
	ReadyTimeout = 600
	// DrainTimeout bounds the drain of one node in a rolling upgrade (evictions honour
	// PodDisruptionBudgets, so a budget that never allows one stops the rollout there).
	DrainTimeout = 300
)

// DefaultMaxUnavailable is how many worker-only nodes a rolling upgrade takes down at once
// (pm4ml:microk8s.upgrade.maxUnavailable); masters always go one at a time.
const DefaultMaxUnavailable = 1

// Labels and taints the finalize step manages on the configured nodes.
const (
	LabelMaster  = "node-role.kubernetes.io/master"
	LabelWorker  = "node-role.kubernetes.io/worker"
	TaintKey     = "node-role.kubernetes.io/control-plane"
	TaintEffect  = "NoSchedule"
	kubeconfigB  = "-----BEGIN PM4ML MICROK8S KUBECONFIG-----"
	kubeconfigE  = "-----END PM4ML MICROK8S KUBECONFIG-----"
	tokenContext = "microk8s-join/"
)

// Paths are where the MicroK8s snap keeps what the scripts look at. Tests point them elsewhere;
// Render always uses DefaultPaths.
type Paths struct {
	// SnapData is $SNAP_DATA of the snap.
	SnapData string
	// Kubectl is the snap's own kubectl binary: on a worker-only node the `microk8s kubectl`
	// wrapper refuses to run, so the scripts call the binary with an explicit kubeconfig.
	Kubectl string
	// Common is $SNAP_COMMON of the snap (kept across refreshes): the datastore backups and the
	// rolling upgrade's cordon marker live there.
	Common string
}

// DefaultPaths are the MicroK8s snap's.
var DefaultPaths = Paths{SnapData: "/var/snap/microk8s/current", Kubectl: "/snap/microk8s/current/kubectl", Common: "/var/snap/microk8s/common"}

// BackupFile is where the datastore backup before the upgrade to channel is kept on the first
// master (`microk8s dbctl backup -o`).
func (p Paths) BackupFile(channel string) string {
	return p.Common + "/pm4ml-backups/dqlite-before-" + strings.ReplaceAll(channel, "/", "-") + ".tar.gz"
}

// UpgradeMarker exists on a node while its upgrade step holds it cordoned.
func (p Paths) UpgradeMarker() string { return p.Common + "/pm4ml-upgrade-cordoned" }

// MemberMarker is written on a node once it is a member of the cluster pm4ml-onprem manages
// (after its join; on the first master by the finalize step): a node that carries it is never
// joined to another cluster (which would replace its datastore).
func (p Paths) MemberMarker() string { return p.Common + "/pm4ml-cluster-member" }

// ClusterLock exists on a node joined with --worker (MicroK8s' own marker).
func (p Paths) ClusterLock() string { return p.SnapData + "/var/lock/clustered.lock" }

// Node is one Kubernetes node as the scripts see it. Its name is its hostname (host preparation
// sets it) and so its Kubernetes node name.
type Node struct {
	Name    string
	Address string
	Roles   hosts.Roles
}

// Master reports whether the node runs the control plane.
func (n Node) Master() bool { return n.Roles.Has(hosts.RoleMaster) }

// Worker reports whether the node runs workloads.
func (n Node) Worker() bool { return n.Roles.Has(hosts.RoleWorker) }

// Plan is everything the scripts are rendered from: pure data, no secrets.
type Plan struct {
	Environment hosts.Environment
	Channel     string
	// Nodes are the masters and workers in configuration order (a master+worker host once).
	Nodes []Node
	// DedicatedMasters taints masters that are not workers with
	// node-role.kubernetes.io/control-plane=:NoSchedule (guide 4.1, 4.4); when false the taint is
	// removed from every node.
	DedicatedMasters bool
	// User is the SSH user; it is added to group microk8s (sudo is used unless it is root).
	User string
	// Addons to enable; nil means DefaultAddons.
	Addons []string
	// MaxUnavailable worker-only nodes are upgraded at once in a rolling upgrade; 0 means
	// DefaultMaxUnavailable.
	MaxUnavailable int
	// Lost are nodes gone for good (pm4ml:hosts[].lost): in no list above, never reached; each is
	// removed from the cluster from the first master (Rendered.Remove).
	Lost []Node
}

// Rendered is what every node runs, keyed by node name.
type Rendered struct {
	Plan Plan // with defaults applied
	// FirstMaster is the first node with the master role in configuration order: on day 1 the
	// cluster grows around it; on every run the kubeconfig, the worker tokens and drains, the
	// finalize and the backup steps run there. It is not special otherwise: when it leaves the
	// configuration, the next master takes these steps over (updated in place, nothing rebuilt).
	FirstMaster Node
	// JoinOrder are the nodes with a membership (token and join) step, in order: the masters
	// other than the first one, one at a time in configuration order, then the first master (on
	// day 1 the others joined it already, so its steps only check that; they remove it when it
	// leaves), then the worker-only nodes. Every node has these steps whatever the topology, so
	// that masters coming or going never delete (and so run the delete scripts of) a remaining
	// node's membership steps.
	JoinOrder []string
	// Via names, per node, the master its token is registered on and whose cluster it joins:
	// the first master; for the first master the next one, or itself when it is the only one.
	// When a node leaves the configuration, its token step's delete removes it from there.
	Via map[string]string
	// APIServer is the server of the kubeconfig: the first master on the MicroK8s API port.
	APIServer string
	Install   map[string]remotecmd.Script // every node
	Token     map[string]remotecmd.Script // per node of JoinOrder; runs on Via[node]
	Join      map[string]remotecmd.Script // per node of JoinOrder; runs on that node
	// Drain per node of JoinOrder; runs on Via[node]: creating it checks membership, its delete
	// drains the node (before the node's join delete makes it leave).
	Drain map[string]remotecmd.Script
	// Kubeconfig per master prints the admin kubeconfig between markers (a secret step; the
	// same credentials on every master). The program uses the first master's; every master has
	// its own so that, when the first master leaves, the next one's is already there and known
	// in the preview (an unknown kubeconfig leaves the Kubernetes provider unconfigured there).
	Kubeconfig map[string]remotecmd.Script
	// Finalize labels, taints, enables the addons and waits for every node (first master).
	Finalize remotecmd.Script
	// Backup takes the datastore backup before a rolling upgrade (first master); BackupFile is
	// where it keeps it.
	Backup     remotecmd.Script
	BackupFile string
	// Upgrade per node: the rolling upgrade of that node to the plan's channel (on the node
	// itself; secret on worker-only nodes, whose stdin is the worker join's: token, kubeconfig).
	Upgrade map[string]remotecmd.Script
	// RollOrder are the batches of the rolling upgrade, in order: each master alone (first
	// master first, configuration order), then the worker-only nodes MaxUnavailable at a time.
	RollOrder [][]string
	// Remove per lost node: `microk8s remove-node --force` from the first master, which never
	// reaches the node (the same script as a token step's delete; a control-plane node also
	// leaves dqlite). It reports no change once the node is gone.
	Remove map[string]remotecmd.Script
}

// Masters are the nodes with the master role, in configuration order.
func (r Rendered) Masters() []string { return names(r.Plan.Nodes, Node.Master) }

// Workers are the nodes with the worker role (combined master+worker hosts included).
func (r Rendered) Workers() []string { return names(r.Plan.Nodes, Node.Worker) }

// Tainted reports whether a node gets the control-plane NoSchedule taint.
func (r Rendered) Tainted(n Node) bool { return r.Plan.DedicatedMasters && n.Master() && !n.Worker() }

func names(ns []Node, keep func(Node) bool) []string {
	out := []string{}
	for _, n := range ns {
		if keep(n) {
			out = append(out, n.Name)
		}
	}
	return out
}

// Component names the directory of this component's files in the render output.
const Component = "microk8s"

// Files lists every script per node in configuration order, each node's in execution order;
// delete scripts follow the script they belong to.
func (r Rendered) Files() []remotecmd.File {
	var out []remotecmd.File
	add := func(host, name string, s remotecmd.Script) {
		out = append(out, remotecmd.ScriptFiles(host, Component, name, s)...)
	}
	for _, n := range r.Plan.Nodes {
		add(n.Name, "10-install", r.Install[n.Name])
		add(n.Name, "20-join", r.Join[n.Name])
		if k, ok := r.Kubeconfig[n.Name]; ok {
			add(n.Name, "25-kubeconfig", k)
		}
		for i, j := range r.JoinOrder {
			if r.Via[j] != n.Name {
				continue
			}
			add(n.Name, fmt.Sprintf("30-token-%02d-%s", i+1, j), r.Token[j])
			add(n.Name, fmt.Sprintf("40-drain-%02d-%s", i+1, j), r.Drain[j])
		}
		if n.Name == r.FirstMaster.Name {
			for _, l := range r.Plan.Lost {
				add(n.Name, "35-remove-lost-"+l.Name, r.Remove[l.Name])
			}
			add(n.Name, "90-finalize", r.Finalize)
			add(n.Name, "91-backup", r.Backup)
		}
		add(n.Name, "92-upgrade", r.Upgrade[n.Name])
	}
	return out
}

var (
	addonRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)?$`)
)

// normalize validates a plan and applies defaults; every problem is reported at once.
func normalize(p Plan) (Plan, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("microk8s: "+format, a...)) }
	if p.Channel == "" {
		p.Channel = DefaultChannel
	}
	if !grammar.MicroK8sChannel.OK(p.Channel) {
		bad("pm4ml:microk8s.channel %q is not a snap channel: use <track>/<risk>, e.g. %s (guide 2)", p.Channel, DefaultChannel)
	}
	if !grammar.User.OK(p.User) {
		bad("pm4ml:ssh.user %q is not a user name: set the SSH user the hosts are reached with", p.User)
	}
	if p.Addons == nil {
		p.Addons = slices.Clone(DefaultAddons)
	}
	if p.MaxUnavailable == 0 {
		p.MaxUnavailable = DefaultMaxUnavailable
	}
	if p.MaxUnavailable < 0 {
		bad("pm4ml:microk8s.upgrade.maxUnavailable %d is not a number of nodes: use 1 or more", p.MaxUnavailable)
	}
	for _, a := range p.Addons {
		if !addonRe.MatchString(a) {
			bad("addon %q is not a MicroK8s addon name (e.g. dns, hostpath-storage, core/dns)", a)
		}
	}
	if len(p.Nodes) == 0 {
		bad("pm4ml:hosts has no Kubernetes node: give hosts the role master or worker (guide 1.1)")
	}
	seen := map[string]bool{}
	masters := 0
	for i, n := range p.Nodes {
		switch {
		case !grammar.Hostname.OK(n.Name):
			bad("node %d name %q is not a DNS label (pm4ml:hosts[].name): the name is the hostname and the Kubernetes node name", i, n.Name)
		case seen[n.Name]:
			bad("node %q is listed twice: pass each master/worker host once, combined roles in one entry", n.Name)
		}
		seen[n.Name] = true
		if n.Address == "" || strings.ContainsAny(n.Address, " /'\"") {
			bad("node %q has no usable address %q (pm4ml:hosts[].address)", n.Name, n.Address)
		}
		if !n.Roles.IsKubernetesNode() {
			bad("host %q has roles %q, neither master nor worker: pass only Kubernetes nodes", n.Name, n.Roles.String())
		}
		if n.Master() {
			masters++
		}
	}
	for _, n := range p.Lost {
		switch {
		case !grammar.Hostname.OK(n.Name):
			bad("lost node name %q is not a DNS label (pm4ml:hosts[].name)", n.Name)
		case seen[n.Name]:
			bad("node %q is listed as lost and as a node: a lost host is removed, not joined", n.Name)
		}
		seen[n.Name] = true
	}
	if len(p.Nodes) > 0 && masters == 0 {
		bad("pm4ml:hosts has no host with the role master: MicroK8s needs a first master to bootstrap the cluster; give at least one host the role master")
	}
	return p, errors.Join(errs...)
}

// Render renders every node's scripts. It is pure: no secrets, no Pulumi, no network.
func Render(p Plan) (Rendered, error) { return render(p, DefaultPaths) }

// readyTimeout is ReadyTimeout; tests of scripts that must time out lower it.
var readyTimeout = ReadyTimeout

func render(p Plan, paths Paths) (Rendered, error) {
	p, err := normalize(p)
	if err != nil {
		return Rendered{}, err
	}
	r := Rendered{Plan: p, Install: map[string]remotecmd.Script{}, Token: map[string]remotecmd.Script{}, Join: map[string]remotecmd.Script{},
		Drain: map[string]remotecmd.Script{}, Via: map[string]string{}}
	var masters []Node
	for _, n := range p.Nodes {
		if n.Master() {
			masters = append(masters, n)
		}
	}
	r.FirstMaster = masters[0]
	for _, n := range masters[1:] {
		r.JoinOrder = append(r.JoinOrder, n.Name)
		r.Via[n.Name] = r.FirstMaster.Name
	}
	// the first master through the next one; alone, through itself (its steps then only check,
	// and keep their place for when masters come or go)
	r.JoinOrder = append(r.JoinOrder, r.FirstMaster.Name)
	r.Via[r.FirstMaster.Name] = r.FirstMaster.Name
	if len(masters) > 1 {
		r.Via[r.FirstMaster.Name] = masters[1].Name
	}
	for _, n := range p.Nodes {
		if !n.Master() {
			r.JoinOrder = append(r.JoinOrder, n.Name)
			r.Via[n.Name] = r.FirstMaster.Name
		}
	}
	apiPort := network.Lookup(network.KubeAPIMicroK8s).Ports.From
	agentPort := network.Lookup(network.ClusterAgent).Ports.From
	r.APIServer = fmt.Sprintf("https://%s:%d", r.FirstMaster.Address, apiPort)
	common := commonData{Paths: paths, Lock: paths.ClusterLock(), Marker: paths.MemberMarker(), Timeout: readyTimeout, FirstMaster: r.FirstMaster.Name}
	byName := map[string]Node{}
	for _, n := range p.Nodes {
		byName[n.Name] = n
		s, err := remotecmd.Render("microk8s-install", tmpl.Lookup("install.sh.tmpl"), installData{commonData: common, Node: n, Channel: p.Channel, User: p.User})
		if err != nil {
			return r, err
		}
		r.Install[n.Name] = s
	}
	for _, name := range r.JoinOrder {
		n := byName[name]
		via := byName[r.Via[name]]
		td := tokenData{commonData: common, Node: n, TTL: TokenTTL, Via: via}
		tok, err := renderWithDelete("microk8s-token-"+name, "token.sh.tmpl", "token-delete.sh.tmpl", td, true)
		if err != nil {
			return r, err
		}
		r.Token[name] = tok
		jd := joinData{commonData: common, Node: n, Worker: !n.Master(), Via: via, AgentPort: agentPort}
		join, err := renderWithDelete("microk8s-join", "join.sh.tmpl", "join-delete.sh.tmpl", jd, true)
		if err != nil {
			return r, err
		}
		r.Join[name] = join
		// no token, no kubeconfig: its output is shown
		if r.Drain[name], err = renderWithDelete("microk8s-drain-"+name, "drain.sh.tmpl", "drain-delete.sh.tmpl", td, false); err != nil {
			return r, err
		}
	}
	r.Kubeconfig = map[string]remotecmd.Script{}
	for _, m := range masters {
		if r.Kubeconfig[m.Name], err = secretScript("microk8s-kubeconfig", "kubeconfig.sh.tmpl", kubeconfigData{commonData: common, Node: m, Begin: kubeconfigB, End: kubeconfigE}); err != nil {
			return r, err
		}
	}
	fd := finalizeData{commonData: common, Addons: p.Addons, Dedicated: p.DedicatedMasters, Environment: string(p.Environment),
		LabelMaster: LabelMaster, LabelWorker: LabelWorker, Taint: TaintKey + ":" + TaintEffect, TaintKey: TaintKey}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for _, n := range p.Nodes {
		fd.Nodes = append(fd.Nodes, []string{n.Name, yes(n.Master()), yes(n.Worker()), yes(r.Tainted(n))})
	}
	if r.Finalize, err = remotecmd.Render("microk8s-finalize", tmpl.Lookup("finalize.sh.tmpl"), fd); err != nil {
		return r, err
	}
	if err := r.renderUpgrade(common); err != nil {
		return r, err
	}
	r.Remove = map[string]remotecmd.Script{}
	for _, n := range p.Lost {
		td := tokenData{commonData: common, Node: n, Via: r.FirstMaster, Lost: true}
		if r.Remove[n.Name], err = remotecmd.Render("microk8s-remove-lost-"+n.Name, tmpl.Lookup("token-delete.sh.tmpl"), td); err != nil {
			return r, err
		}
	}
	return r, nil
}

// renderUpgrade renders the rolling upgrade: the backup, each node's upgrade step, the order.
func (r *Rendered) renderUpgrade(common commonData) error {
	p := r.Plan
	major, minor, _ := ChannelVersion(p.Channel) // the grammar was checked by normalize
	gate := gateData{commonData: common, Channel: p.Channel, Major: major, Minor: minor}
	r.BackupFile = common.Paths.BackupFile(p.Channel)
	var err error
	if r.Backup, err = remotecmd.Render("microk8s-backup", tmpl.Lookup("backup.sh.tmpl"), backupData{gateData: gate, File: r.BackupFile}); err != nil {
		return err
	}
	r.Upgrade = map[string]remotecmd.Script{}
	var workers []string
	for _, n := range p.Nodes {
		if n.Master() {
			r.RollOrder = append(r.RollOrder, []string{n.Name})
		} else {
			workers = append(workers, n.Name)
		}
		d := upgradeData{gateData: gate, Node: n, Worker: !n.Master(), Drain: !r.Tainted(n), DrainTimeout: DrainTimeout,
			Version: fmt.Sprintf("v%d.%d.", major, minor), Marker: common.Paths.UpgradeMarker()}
		s, err := remotecmd.Render("microk8s-upgrade", tmpl.Lookup("upgrade.sh.tmpl"), d)
		if err != nil {
			return err
		}
		s.Secret = d.Worker // its stdin carries the join token and the admin kubeconfig
		r.Upgrade[n.Name] = s
	}
	for len(workers) > 0 {
		k := min(p.MaxUnavailable, len(workers))
		r.RollOrder = append(r.RollOrder, workers[:k])
		workers = workers[k:]
	}
	return nil
}

// ChannelVersion is the Kubernetes major and minor version of a MicroK8s channel
// <major>.<minor>/<risk>.
func ChannelVersion(channel string) (major, minor int, ok bool) {
	track, _, found := strings.Cut(channel, "/")
	a, b, dot := strings.Cut(track, ".")
	if !found || !dot {
		return 0, 0, false
	}
	var err1, err2 error
	major, err1 = strconv.Atoi(a)
	minor, err2 = strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil
}

// renderWithDelete renders a step and its delete script; secret: its stdin carries the token
// (logging none, secret outputs).
func renderWithDelete(step, create, del string, data any, secret bool) (remotecmd.Script, error) {
	s, err := remotecmd.Render(step, tmpl.Lookup(create), data)
	if err != nil {
		return s, err
	}
	s.Secret = secret
	d, err := remotecmd.Render(step+"-delete", tmpl.Lookup(del), data)
	if err != nil {
		return s, err
	}
	s.DeleteBody = d.Body
	return s, nil
}

func secretScript(step, name string, data any) (remotecmd.Script, error) {
	s, err := remotecmd.Render(step, tmpl.Lookup(name), data)
	s.Secret = true
	return s, err
}

type commonData struct {
	Paths       Paths
	Lock        string
	Marker      string
	Timeout     int
	FirstMaster string
}

type installData struct {
	commonData
	Node    Node
	Channel string
	User    string
}

type tokenData struct {
	commonData
	Node Node
	TTL  int
	Via  Node // the master the step runs on
	Lost bool // Node is gone for good: the delete script is the create of its removal step
}

type joinData struct {
	commonData
	Node      Node
	Worker    bool
	Via       Node // the master whose cluster the node joins
	AgentPort int
}

type gateData struct {
	commonData
	Channel      string
	Major, Minor int
}

type backupData struct {
	gateData
	File string
}

type upgradeData struct {
	gateData
	Node         Node
	Worker       bool
	Drain        bool
	DrainTimeout int
	Version      string // "v<major>.<minor>.": the kubelet version prefix of the channel
	Marker       string
}

type kubeconfigData struct {
	commonData
	Node       Node
	Begin, End string
}

type finalizeData struct {
	commonData
	// Nodes are the data lines (remotecmd.Table): name, master label, worker label, taint (yes|no).
	Nodes                    [][]string
	Addons                   []string
	Dedicated                bool
	Environment              string
	LabelMaster, LabelWorker string
	Taint, TaintKey          string
}

// JoinToken is the join token of a node: HMAC-SHA256(secret, "microk8s-join/"+node) as hex,
// first 32 characters (MicroK8s' token length). Stable across runs, different per node, and
// useless without the secret.
func JoinToken(secret, node string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(tokenContext + node))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// KubeconfigFromOutput takes the kubeconfig step's stdout, keeps what is between the markers and
// points every cluster entry at server (the first master's address, which `microk8s config` may
// not use on a host with several interfaces). An empty stdout (nothing ran: mocks) gives "".
func KubeconfigFromOutput(stdout, server string) (string, error) {
	if strings.TrimSpace(stdout) == "" {
		return "", nil
	}
	_, rest, ok := strings.Cut(stdout, kubeconfigB+"\n")
	body, _, ok2 := strings.Cut(rest, "\n"+kubeconfigE)
	if !ok || !ok2 {
		return "", errors.New("microk8s: the kubeconfig step printed no kubeconfig between its markers: run `microk8s config` on the first master to see why")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		return "", fmt.Errorf("microk8s: the first master's kubeconfig is not YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "", errors.New("microk8s: the first master's kubeconfig is not a YAML mapping")
	}
	clusters := mapValue(doc.Content[0], "clusters")
	if clusters == nil || clusters.Kind != yaml.SequenceNode || len(clusters.Content) == 0 {
		return "", errors.New("microk8s: the first master's kubeconfig has no clusters")
	}
	for _, c := range clusters.Content {
		cl := mapValue(c, "cluster")
		srv := mapValue(cl, "server")
		if srv == nil {
			return "", errors.New("microk8s: a cluster of the first master's kubeconfig has no server")
		}
		srv.Value, srv.Tag, srv.Style = server, "!!str", 0
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return "", fmt.Errorf("microk8s: re-encoding the kubeconfig: %w", err)
	}
	return string(out), nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
