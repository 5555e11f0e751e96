// Package network holds the ONE definition of the guide's port tables (section 1.3) and resolves
// it, for a concrete set of hosts, into per-host firewall rules with concrete source addresses.
// The host firewall (hostprep), the HAProxy configuration, the README's port table and the policy
// pack all read this package; nothing else in the program writes a port number of the guide.
package network

import (
	"fmt"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// Proto is a transport protocol as nftables names it.
type Proto string

const (
	TCP  Proto = "tcp"
	UDP  Proto = "udp"
	VRRP Proto = "vrrp" // IP protocol 112, keepalived (guide 5.5); no ports
)

// PortRange is an inclusive port range; a single port has From == To.
type PortRange struct{ From, To int }

func (p PortRange) String() string {
	if p.From == p.To {
		return fmt.Sprint(p.From)
	}
	return fmt.Sprintf("%d-%d", p.From, p.To)
}

// Contains reports whether port is inside the range.
func (p PortRange) Contains(port int) bool { return port >= p.From && port <= p.To }

func port(n int) PortRange { return PortRange{n, n} }

// Source names a set of peers allowed to reach a port. Resolve turns it into addresses.
type Source string

const (
	// FromAnywhere: the public side (guide 1.3.1: 80/443 and WireGuard on HAProxy only).
	FromAnywhere Source = "anywhere"
	// FromAdminAllowlist: pm4ml:network.adminAllowlist plus the bastion hosts (guide 1.3.1 "SSH
	// restricted by IP whitelist", 5.6 "Restrict SSH access").
	FromAdminAllowlist Source = "admin-allowlist"
	// FromClusterNodes: every master and worker (guide 1.3.2 "control-plane ports must be
	// restricted to cluster nodes").
	FromClusterNodes Source = "cluster-nodes"
	// FromAPIClients: the cluster nodes plus pm4ml:network.apiAllowlist (default: the admin
	// allowlist), for the Kubernetes API only: the place `pulumi up` and `kubectl get nodes`
	// (guide 6.6) run from must reach it. The other control-plane ports stay FromClusterNodes.
	FromAPIClients Source = "api-clients"
	// FromHAProxy: the HAProxy hosts and pm4ml:network.haproxySourceIps (guide 1.3.2 "NodePorts
	// must be accessible only from HAProxy source IP addresses").
	FromHAProxy Source = "haproxy"
	// FromStorageNetwork: the storage nodes and the Ceph clients (the Kubernetes nodes that mount
	// RBD volumes) (guide 1.3.2 "Ceph cluster traffic must remain within the private storage
	// network").
	FromStorageNetwork Source = "storage-network"
	// FromStorageNodes: the storage nodes only (MicroCeph's own cluster traffic).
	FromStorageNodes Source = "storage-nodes"
	// FromHAProxyHosts: the HAProxy hosts only (VRRP between the pair).
	FromHAProxyHosts Source = "haproxy-hosts"
	// FromInternalSubnet: pm4ml:network.internalSubnet (private side only, e.g. HAProxy stats).
	FromInternalSubnet Source = "internal-subnet"
)

// Feature gates a rule on the stack's configuration.
type Feature string

const (
	Always           Feature = ""
	WhenWireGuard    Feature = "wireguard"
	WhenHAProxyStats Feature = "haproxy-stats"
	WhenVRRP         Feature = "vrrp" // more than one HAProxy host
)

// Rule is one row of the port matrix.
type Rule struct {
	ID      string
	Purpose string
	Proto   Proto
	Ports   PortRange // zero for VRRP
	// On: hosts with any of these roles open the port.
	On []hosts.Role
	// From: who may connect.
	From Source
	// Public marks the guide's public-network table (1.3.1): the only rules whose source may be
	// FromAnywhere, and only on HAProxy hosts.
	Public bool
	When   Feature
	// Ref says where the row comes from: a guide section, or the MicroK8s documentation where the
	// guide's table is incomplete for a working cluster.
	Ref string
}

// Stable IDs of the rows other components look up.
const (
	SSH               = "ssh"
	PublicHTTP        = "public-http"
	PublicHTTPS       = "public-https"
	WireGuard         = "wireguard"
	IstioExtHTTP      = "istio-external-http"
	IstioExtHTTPS     = "istio-external-https"
	IstioExtStatus    = "istio-external-status"
	IstioIntHTTP      = "istio-internal-http"
	IstioIntHTTPS     = "istio-internal-https"
	IstioIntStatus    = "istio-internal-status"
	HAProxyStats      = "haproxy-stats"
	KubeAPI           = "kube-api"
	KubeAPIMicroK8s   = "kube-api-microk8s"
	Kubelet           = "kubelet"
	ClusterAgent      = "microk8s-cluster-agent"
	Datastore         = "microk8s-datastore"
	Dqlite            = "microk8s-dqlite"
	CalicoVXLAN       = "calico-vxlan"
	CephMonV1         = "ceph-mon-v1"
	CephMonV2         = "ceph-mon-v2"
	CephOSD           = "ceph-osd"
	MicroCephCluster  = "microceph-cluster"
	KeepalivedVRRP    = "vrrp"
	DefaultWGPort     = 51820
	DefaultStatsPort  = 8404
	NodePortRangeFrom = 30000
	NodePortRangeTo   = 32767
)

var (
	k8sNodes = []hosts.Role{hosts.RoleMaster, hosts.RoleWorker}
	masters  = []hosts.Role{hosts.RoleMaster}
	workers  = []hosts.Role{hosts.RoleWorker}
	lbs      = []hosts.Role{hosts.RoleHAProxy}
	storage  = []hosts.Role{hosts.RoleStorage}
)

// Matrix is the guide's section 1.3 as data. Order is the guide's order; renderers keep it.
var Matrix = []Rule{
	// 1.3.1 Public network
	{ID: SSH, Purpose: "SSH", Proto: TCP, Ports: port(22), On: hosts.AllRoles, From: FromAdminAllowlist, Public: true, Ref: "guide 1.3.1"},
	{ID: PublicHTTP, Purpose: "HTTP, redirected to HTTPS", Proto: TCP, Ports: port(80), On: lbs, From: FromAnywhere, Public: true, Ref: "guide 1.3.1, 1.3.2 HAProxy"},
	{ID: PublicHTTPS, Purpose: "HTTPS, public API / portal (L4 to Istio)", Proto: TCP, Ports: port(443), On: lbs, From: FromAnywhere, Public: true, Ref: "guide 1.3.1, 1.3.2 HAProxy"},
	{ID: WireGuard, Purpose: "WireGuard VPN", Proto: UDP, Ports: port(DefaultWGPort), On: lbs, From: FromAnywhere, Public: true, When: WhenWireGuard, Ref: "guide 1.3.1 (port from pm4ml:wireguard.port)"},
	// 1.3.2 Private network: MicroK8s
	{ID: KubeAPI, Purpose: "Kubernetes API server (guide's table)", Proto: TCP, Ports: port(6443), On: masters, From: FromAPIClients, Ref: "guide 1.3.2 MicroK8s"},
	{ID: KubeAPIMicroK8s, Purpose: "Kubernetes API server as MicroK8s serves it", Proto: TCP, Ports: port(16443), On: masters, From: FromAPIClients, Ref: "MicroK8s docs, services and ports (not in the guide's table)"},
	{ID: Kubelet, Purpose: "Kubelet", Proto: TCP, Ports: port(10250), On: k8sNodes, From: FromClusterNodes, Ref: "guide 1.3.2 MicroK8s"},
	{ID: ClusterAgent, Purpose: "MicroK8s cluster agent (joins)", Proto: TCP, Ports: port(25000), On: k8sNodes, From: FromClusterNodes, Ref: "guide 1.3.2 MicroK8s"},
	{ID: Datastore, Purpose: "etcd (MicroK8s datastore)", Proto: TCP, Ports: PortRange{12379, 12380}, On: masters, From: FromClusterNodes, Ref: "guide 1.3.2 MicroK8s"},
	{ID: Dqlite, Purpose: "dqlite (MicroK8s HA datastore)", Proto: TCP, Ports: port(19001), On: masters, From: FromClusterNodes, Ref: "MicroK8s docs, services and ports (not in the guide's table)"},
	{ID: CalicoVXLAN, Purpose: "Calico VXLAN pod network", Proto: UDP, Ports: port(4789), On: k8sNodes, From: FromClusterNodes, Ref: "MicroK8s docs, services and ports (not in the guide's table)"},
	// 1.3.2 Istio ingress gateways (NodePort), HAProxy source IPs only
	{ID: IstioExtHTTP, Purpose: "External Istio gateway HTTP (NodePort)", Proto: TCP, Ports: port(32080), On: workers, From: FromHAProxy, Ref: "guide 1.3.2 External Istio Ingress Gateway"},
	{ID: IstioExtHTTPS, Purpose: "External Istio gateway HTTPS (NodePort)", Proto: TCP, Ports: port(32443), On: workers, From: FromHAProxy, Ref: "guide 1.3.2 External Istio Ingress Gateway"},
	{ID: IstioExtStatus, Purpose: "External Istio gateway status port 15021 (NodePort)", Proto: TCP, Ports: port(32081), On: workers, From: FromHAProxy, Ref: "guide 1.3.2 External Istio Ingress Gateway"},
	{ID: IstioIntHTTP, Purpose: "Internal Istio gateway HTTP (NodePort)", Proto: TCP, Ports: port(31080), On: workers, From: FromHAProxy, Ref: "guide 1.3.2 Internal Istio Ingress Gateway"},
	{ID: IstioIntHTTPS, Purpose: "Internal Istio gateway HTTPS (NodePort)", Proto: TCP, Ports: port(31443), On: workers, From: FromHAProxy, Ref: "guide 1.3.2 Internal Istio Ingress Gateway"},
	{ID: IstioIntStatus, Purpose: "Internal Istio gateway status port 15021 (NodePort)", Proto: TCP, Ports: port(31081), On: workers, From: FromHAProxy, Ref: "guide 1.3.2 Internal Istio Ingress Gateway"},
	// 1.3.2 MicroCeph
	{ID: CephMonV1, Purpose: "Ceph monitor (v1)", Proto: TCP, Ports: port(6789), On: storage, From: FromStorageNetwork, Ref: "guide 1.3.2 MicroCeph"},
	{ID: CephMonV2, Purpose: "Ceph monitor (v2)", Proto: TCP, Ports: port(3300), On: storage, From: FromStorageNetwork, Ref: "guide 1.3.2 MicroCeph"},
	{ID: CephOSD, Purpose: "Ceph OSD communication", Proto: TCP, Ports: PortRange{6800, 7300}, On: storage, From: FromStorageNetwork, Ref: "guide 1.3.2 MicroCeph"},
	{ID: MicroCephCluster, Purpose: "MicroCeph daemon (cluster joins, between storage nodes)", Proto: TCP, Ports: port(7443), On: storage, From: FromStorageNodes, Ref: "MicroCeph docs (not in the guide's table)"},
	// 1.3.2 HAProxy (80/443 are the public rows above)
	{ID: HAProxyStats, Purpose: "HAProxy statistics (private side only)", Proto: TCP, Ports: port(DefaultStatsPort), On: lbs, From: FromInternalSubnet, When: WhenHAProxyStats, Ref: "guide 1.3.2 HAProxy (port from pm4ml:haproxy.statsPort)"},
	{ID: KeepalivedVRRP, Purpose: "keepalived VRRP between the HAProxy pair", Proto: VRRP, On: lbs, From: FromHAProxyHosts, When: WhenVRRP, Ref: "guide 5.5 (VIP)"},
}

// Lookup returns the matrix row with the given ID; it panics on an unknown ID because IDs are
// compile-time constants of this package.
func Lookup(id string) Rule {
	for _, r := range Matrix {
		if r.ID == id {
			return r
		}
	}
	panic("network: no port-matrix rule " + id)
}

// NodePorts are the Istio gateway NodePorts of the matrix (the only NodePorts the platform uses).
func NodePorts() []Rule {
	var out []Rule
	for _, r := range Matrix {
		if r.From == FromHAProxy && r.Proto == TCP {
			out = append(out, r)
		}
	}
	return out
}
