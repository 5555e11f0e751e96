// Package stacks turns a stack's configuration (Pulumi.<stack>.yaml, namespace "pm4ml") into one
// typed, validated Config, and wires the components for it (Deploy).
package stacks

import (
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// Namespace is the Pulumi config namespace of every key of this program.
const Namespace = "pm4ml"

// HostSource says where hosts come from.
type HostSource string

const (
	SourceExisting HostSource = "existing" // adopt hosts by address, reached over SSH
	SourceProxmox  HostSource = "proxmox"  // clone VMs on Proxmox VE from a cloud-init template
)

// Config is the whole stack configuration. Every field maps to a key `pm4ml:<json name>`;
// nested fields are addressed with dots and indexes in error messages, e.g. pm4ml:hosts[3].roles.
type Config struct {
	// Environment: prod (guide 4.1) or stg (guide 4.2); selects the environment policy and sizing.
	Environment hosts.Environment `json:"environment"`
	// Domain is the DNS zone PM4ML is served under (argocd.<domain>, guide 6.6).
	Domain string `json:"domain"`
	// PM4MLID is the id the hub operator assigned; names the Vault path secret/<pm4mlId>/ (guide 6.5).
	PM4MLID string `json:"pm4mlId"`
	// HostSource: existing (hosts reached over SSH) or proxmox (VMs cloned from a template).
	HostSource HostSource `json:"hostSource"`
	// SSH is how the program reaches every host.
	SSH SSH `json:"ssh"`
	// Network is the addressing and the firewall sources (guide 1.2, 1.3).
	Network Network `json:"network"`
	// Hosts lists every machine with its roles (master, worker, haproxy, storage, bastion).
	Hosts []HostSpec `json:"hosts" pm4ml:"max=500"`
	// Proxmox is the Proxmox VE endpoint and template (hostSource proxmox only).
	Proxmox *Proxmox `json:"proxmox,omitempty"`
	// MicroK8s is the Kubernetes distribution (guide 2).
	MicroK8s MicroK8s `json:"microk8s"`
	// Ceph is the MicroCeph cluster and the storage classes (guide 1.4).
	Ceph Ceph `json:"ceph"`
	// HAProxy is the L4 load balancer (guide 5).
	HAProxy HAProxy `json:"haproxy"`
	// WireGuard is the optional VPN (guide 1.3.1).
	WireGuard WireGuard `json:"wireguard"`
	// GitOps is the customer's repository Argo CD deploys from (guide 6).
	GitOps GitOps `json:"gitops"`
	// Vault is where the MCM client secret is written (guide 6.5).
	Vault Vault `json:"vault"`
	// ArgoCD is the GitOps engine (guide 6, playbook 2).
	ArgoCD ArgoCD `json:"argocd"`
	// Verify is the verification of guide 6.6 after the waves.
	Verify Verify `json:"verify"`
	// Waves are the Argo CD app waves, in order (default: the guide's 6.1).
	Waves []Wave `json:"waves,omitempty" pm4ml:"max=50"`
	// Checklist is the pre-deployment checklist gate over the GitOps repository (guide 6.3).
	Checklist Checklist `json:"checklist"`
	// RiskAcceptance is the reference of the formal risk acceptance (guide 4.3, 4.4) that allows
	// master+worker on one node in prod, e.g. a ticket id "RISK-2026-014".
	RiskAcceptance string `json:"riskAcceptance,omitempty"`
	// Lab marks a test lab: the preflight accepts Debian 12 besides Ubuntu 24.04 and skips the
	// sizing minimums. Never set it for a real environment (validation refuses it in prod).
	Lab bool `json:"lab,omitempty"`

	// Secrets records which secret keys are set (and whether they are stored as secrets); the
	// values themselves never enter Config: Deploy reads them as Pulumi secrets.
	Secrets map[string]SecretState `json:"-"`
}

// SSH is how the program reaches every host.
type SSH struct {
	// User logs in to every host; it needs passwordless sudo unless it is root.
	User string `json:"user"`
	Port int    `json:"port,omitempty" pm4ml:"nonzero"` // default 22
	// Bastion is an optional jump host (guide 4.1 "Bastion Host (Optional)").
	Bastion *Bastion `json:"bastion,omitempty"`
	// HostKeys optionally pins each host's SSH host key (name -> "ssh-ed25519 AAAA..."). Unset
	// hosts are accepted on first use, as pulumi-command does.
	HostKeys map[string]string `json:"hostKeys,omitempty" pm4ml:"max=500,maxlen=8192"`
}

// Bastion is a jump host; its private key is pm4ml:sshPrivateKey unless pm4ml:bastionPrivateKey
// is set.
type Bastion struct {
	Host string `json:"host"`                           // address or DNS name of the bastion
	User string `json:"user,omitempty"`                 // default: ssh.user
	Port int    `json:"port,omitempty" pm4ml:"nonzero"` // default 22
}

// Network is guide 1.2/1.3/5.7.
type Network struct {
	// InternalSubnet is the dedicated private subnet of all hosts, e.g. 10.10.0.0/16 (guide 1.2).
	InternalSubnet string `json:"internalSubnet"`
	// Gateway of the internal subnet (cloud-init of Proxmox VMs).
	Gateway string `json:"gateway,omitempty"`
	// DNSServers for the VMs (cloud-init).
	DNSServers []string `json:"dnsServers,omitempty" pm4ml:"max=8"`
	// SearchDomain for the VMs (cloud-init).
	SearchDomain string `json:"searchDomain,omitempty"`
	// AdminAllowlist are the CIDRs SSH is admitted from (the bastion hosts are added).
	AdminAllowlist []string `json:"adminAllowlist"`
	// APIAllowlist are the CIDRs admitted to the Kubernetes API server besides the cluster nodes:
	// where `pulumi up` and kubectl run. Default: the admin allowlist. Set [] to keep the API
	// strictly cluster-internal (then run pulumi up from a cluster node or through a tunnel).
	APIAllowlist []string `json:"apiAllowlist,omitempty"`
	// HAProxySourceIPs are extra addresses HAProxy connects to the NodePorts from (e.g. when
	// the LB SNATs); the HAProxy hosts' own addresses are always admitted.
	HAProxySourceIPs []string `json:"haproxySourceIps,omitempty"`
	// NTPServers for time sync (chrony); empty: the distribution's pool.
	NTPServers []string `json:"ntpServers,omitempty" pm4ml:"max=16"`
}

// HostSpec is one host of the stack.
type HostSpec struct {
	// Name is the hostname (RFC 1123 label); MicroK8s and MicroCeph join by it.
	Name string `json:"name"`
	// Address is the static IPv4 address in the internal subnet.
	Address string `json:"address"`
	// Roles: master, worker, haproxy, storage, bastion (combinations per environment policy).
	Roles []hosts.Role `json:"roles"`
	// CephDisks are the data disks MicroCeph takes (storage hosts only), e.g. /dev/sdb.
	CephDisks []string `json:"cephDisks,omitempty" pm4ml:"max=32"`
	// Proxmox places the VM (hostSource proxmox only).
	Proxmox *ProxmoxPlacement `json:"proxmox,omitempty"`
	// Sizing overrides the guide's sizing of the host's roles (larger values only).
	Sizing *hosts.Sizing `json:"sizing,omitempty"`
	// Lost marks a host gone for good (dead hardware, a VM that cannot come back): it is never
	// reached again. It leaves every other host's configuration (peers, firewall, HAProxy
	// backends, rolling order, verification) and its cluster memberships are removed from a
	// survivor (MicroK8s: remove-node --force from the first master); the steps that would reach
	// it are kept frozen in the state. Once an update with it lost has succeeded, remove the
	// entry: that update only forgets it. Role minimums count the hosts that are not lost.
	Lost bool `json:"lost,omitempty"`
}

// ProxmoxPlacement is where a VM is cloned.
type ProxmoxPlacement struct {
	Node string `json:"node,omitempty"` // default: proxmox.node
	VMID int    `json:"vmId"`           // unique Proxmox VM id
}

// Proxmox is the Proxmox VE endpoint and the template VMs are cloned from.
type Proxmox struct {
	Endpoint     string `json:"endpoint" pm4ml:"maxlen=2048"` // API URL, e.g. https://pve.example.org:8006/
	Insecure     bool   `json:"insecure,omitempty"`           // skip TLS verification (lab only)
	Node         string `json:"node"`                         // default Proxmox node of the VMs
	TemplateVMID int    `json:"templateVmId"`                 // the Ubuntu 24.04 cloud-init template
	Datastore    string `json:"datastore"`                    // datastore of the VM disks, e.g. local-lvm
	Bridge       string `json:"bridge"`                       // bridge of the internal network, e.g. vmbr0
	VLAN         int    `json:"vlan,omitempty"`               // VLAN tag of the NIC (optional)
	// PrefixLength of the static addresses (default: internalSubnet's).
	PrefixLength int `json:"prefixLength,omitempty" pm4ml:"nonzero"`
}

// MicroK8s is guide 2 (1.31/stable).
type MicroK8s struct {
	// Channel is the snap channel; changing it is a rolling upgrade (one minor version at a time).
	Channel string `json:"channel,omitempty"` // default 1.31/stable
	// Upgrade tunes the rolling upgrade a channel change runs (backup, masters, then workers).
	Upgrade MicroK8sUpgrade `json:"upgrade,omitempty"`
}

// MicroK8sUpgrade tunes the rolling upgrade a channel change runs.
type MicroK8sUpgrade struct {
	// MaxUnavailable worker-only nodes are upgraded at once (masters always one at a time).
	MaxUnavailable int `json:"maxUnavailable,omitempty" pm4ml:"nonzero"` // default 1
}

// Ceph is the MicroCeph cluster (guide 1.4, 4.1 storage).
type Ceph struct {
	Pool              string `json:"pool,omitempty"`                            // default "rbd-pm4ml"
	StorageClass      string `json:"storageClass,omitempty"`                    // default "ceph-rbd"
	LocalStorageClass string `json:"localStorageClass,omitempty"`               // default "local-nvme"
	LocalStoragePath  string `json:"localStoragePath,omitempty"`                // default "/var/lib/pm4ml-local"
	Channel           string `json:"channel,omitempty"`                         // default "squid/stable"
	ReplicationSize   int    `json:"replicationSize,omitempty" pm4ml:"nonzero"` // default min(3, storage nodes)
}

// HAProxy is guide 5.
type HAProxy struct {
	// PublicVIP is the address the perimeter firewall NATs the public IP to (guide 5.7); with two
	// HAProxy hosts it is the keepalived VRRP address (guide 5.5).
	PublicVIP string `json:"publicVip"`
	// InternalVIP is the private-side address of the internal frontend (internal Istio gateway,
	// guide 5.3); with two HAProxy hosts it is a second VRRP address, with one it defaults to that
	// host's address.
	InternalVIP string `json:"internalVip,omitempty"`
	// Interface carrying the VIP on the HAProxy hosts (default eth0).
	Interface    string `json:"interface,omitempty"`
	StatsEnabled bool   `json:"statsEnabled,omitempty"`
	StatsPort    int    `json:"statsPort,omitempty" pm4ml:"nonzero"` // default 8404
	StatsUser    string `json:"statsUser,omitempty"`                 // default "admin"
	// MaxConn is HAProxy's global maxconn (default 20000, guide 4.1 sizing); HAProxy needs about
	// two open files per connection, within its service's limit.
	MaxConn int `json:"maxConn,omitempty" pm4ml:"nonzero"`
}

// WireGuard is the optional VPN (guide 1.3.1), terminated on the HAProxy hosts.
type WireGuard struct {
	Enabled bool            `json:"enabled,omitempty"`
	Port    int             `json:"port,omitempty" pm4ml:"nonzero"` // default 51820
	Address string          `json:"address,omitempty"`              // interface address, e.g. 10.200.0.1/24
	Peers   []WireGuardPeer `json:"peers,omitempty" pm4ml:"max=256"`
}

// WireGuardPeer is one remote peer.
type WireGuardPeer struct {
	Name       string   `json:"name"`
	PublicKey  string   `json:"publicKey"`
	AllowedIPs []string `json:"allowedIps"`
	Endpoint   string   `json:"endpoint,omitempty"`
}

// GitOps is the customer's repository (guide 6).
type GitOps struct {
	RepoURL  string `json:"repoUrl" pm4ml:"maxlen=2048"` // https://... or git@host:org/repo.git
	Revision string `json:"revision"`                    // branch or tag Argo CD follows
	// Credentials: "https-token" (pm4ml:gitopsCredential is the token), "ssh-key" (the private
	// key) or "none" (a public or otherwise reachable repository).
	Credentials string `json:"credentials"`
	Username    string `json:"username,omitempty"` // for https-token (default "git")
}

// Vault is where the MCM client secret is written (guide 6.5).
type Vault struct {
	// Address of Vault as seen from where pulumi up runs; default https://vault.<domain> (the
	// in-cluster Vault of the reference deployment, behind the ingress).
	Address string `json:"address,omitempty" pm4ml:"maxlen=2048"`
	Mount   string `json:"mount,omitempty"`                     // default "secret"
	KV      int    `json:"kvVersion,omitempty" pm4ml:"nonzero"` // 1 or 2, default 1 (the reference deployment)
}

// SecretState is what the loader learnt about one secret key.
type SecretState struct {
	Set      bool // the key exists
	IsSecret bool // it is stored encrypted (pulumi config set --secret)
}

// Secret config keys. Their values are read only by Deploy, as Pulumi secrets.
const (
	SecretSSHPrivateKey    = "sshPrivateKey"
	SecretBastionKey       = "bastionPrivateKey"
	SecretProxmoxAPIToken  = "proxmoxApiToken"
	SecretHAProxyStatsPass = "haproxyStatsPassword"
	SecretGitOpsCredential = "gitopsCredential"
	SecretVaultToken       = "vaultToken"
	SecretMCMClientSecret  = "mcmClientSecret"
	SecretWireGuardKey     = "wireguardPrivateKey"
)

// SecretKeys lists every secret key the program knows.
var SecretKeys = []string{
	SecretSSHPrivateKey, SecretBastionKey, SecretProxmoxAPIToken, SecretHAProxyStatsPass,
	SecretGitOpsCredential, SecretVaultToken, SecretMCMClientSecret, SecretWireGuardKey,
}
