package stacks

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
)

// badConfig is a shipped stack file with one mutation that the program must refuse.
type badConfig struct {
	name  string
	stack string   // "prod" or "stg": the valid file the mutation starts from
	mut   mutation // the one change
	// want is the exact set of keys the ConfigError names (full keys, e.g. pm4ml:hosts[3].roles).
	want []string
	// problem, when set, must appear in the Problem of the FieldError for want[0].
	problem string
}

// peer0 is the first peer of a wireguard mapping built by wgEnabled.
func peer0(w map[string]any) map[string]any { return w["peers"].([]any)[0].(map[string]any) }

// manyStrings is n strings formatted with 1..n.
func manyStrings(format string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i+1)
	}
	return out
}

// sshHostKey is a fresh host key line "ssh-ed25519 AAAA...".
func sshHostKey(t testing.TB) string { _, pub := newSSHKey(t); return pub }

// setForeign writes a key of another namespace into the stack file (a misspelt pm4ml:).
func setForeign(full, value string) mutation {
	return func(t testing.TB, src *FileSource) { src.SetForeign(full, value) }
}

func wgEnabled(peerKey string) map[string]any {
	return map[string]any{
		"enabled": true, "port": 51820, "address": "10.200.0.1/24",
		"peers": []any{map[string]any{"name": "hub", "publicKey": peerKey, "allowedIps": []any{"10.201.0.0/24"}}},
	}
}

func badConfigs(t testing.TB) []badConfig {
	wgKey := newWGKey(t)
	withWG := func(mod func(map[string]any)) mutation {
		w := wgEnabled(wgKey)
		if mod != nil {
			mod(w)
		}
		return all(set("wireguard", w), setSecret(SecretWireGuardKey, fakeSecret(SecretWireGuardKey)))
	}
	sshKey, _ := newSSHKey(t)
	return []badConfig{
		// basics
		{name: "environment missing", stack: "prod", mut: del("environment"), want: []string{"pm4ml:environment"}, problem: "not set"},
		{name: "environment invalid", stack: "prod", mut: set("environment", "production"), want: []string{"pm4ml:environment"}, problem: "production"},
		{name: "domain upper case", stack: "prod", mut: set("domain", "PM4ML.example.org"), want: []string{"pm4ml:domain"}},
		{name: "domain single label", stack: "stg", mut: set("domain", "pm4ml"), want: []string{"pm4ml:domain"}},
		{name: "domain missing", stack: "stg", mut: del("domain"), want: []string{"pm4ml:domain"}, problem: "not set"},
		{name: "pm4mlId invalid", stack: "prod", mut: set("pm4mlId", "FSP Prod"), want: []string{"pm4ml:pm4mlId"}},
		{name: "hostSource invalid", stack: "prod", mut: set("hostSource", "vmware"), want: []string{"pm4ml:hostSource"}, problem: "vmware"},
		{name: "hostSource missing", stack: "prod", mut: del("hostSource"), want: []string{"pm4ml:hostSource"}},
		{name: "lab in prod", stack: "prod", mut: set("lab", "true"), want: []string{"pm4ml:lab"}},
		{name: "lab not a boolean", stack: "stg", mut: set("lab", "yes"), want: []string{"pm4ml:lab"}, problem: "yes"},
		// ssh
		{name: "ssh.user missing", stack: "prod", mut: del("ssh.user"), want: []string{"pm4ml:ssh.user"}},
		{name: "ssh.user invalid", stack: "stg", mut: set("ssh.user", "Ubuntu Admin"), want: []string{"pm4ml:ssh.user"}},
		{name: "ssh.port out of range", stack: "prod", mut: set("ssh.port", 70000), want: []string{"pm4ml:ssh.port"}},
		{name: "ssh.bastion.host invalid", stack: "prod", mut: set("ssh.bastion.host", "bastion_host!"), want: []string{"pm4ml:ssh.bastion.host"}},
		{name: "ssh.hostKeys names no host", stack: "prod", mut: set("ssh.hostKeys", map[string]any{"prod-nohost": "ssh-ed25519 AAAA"}), want: []string{"pm4ml:ssh.hostKeys.prod-nohost"}},
		// secrets
		{name: "sshPrivateKey missing", stack: "prod", mut: del(SecretSSHPrivateKey), want: []string{"pm4ml:sshPrivateKey"}, problem: "not set"},
		{name: "sshPrivateKey in plain text", stack: "prod", mut: setPlain(SecretSSHPrivateKey, sshKey), want: []string{"pm4ml:sshPrivateKey"}, problem: "plain text"},
		{name: "optional secret in plain text", stack: "stg", mut: setPlain(SecretVaultToken, "hvs.token"), want: []string{"pm4ml:vaultToken"}, problem: "plain text"},
		{name: "plain setting stored as secret", stack: "prod", mut: setSecret("domain", "pm4ml.example.org"), want: []string{"pm4ml:domain"}, problem: "secret"},
		{name: "bastionPrivateKey without bastion", stack: "stg", mut: setSecret(SecretBastionKey, "k"), want: []string{"pm4ml:bastionPrivateKey"}},
		{name: "haproxyStatsPassword missing with stats", stack: "prod", mut: del(SecretHAProxyStatsPass), want: []string{"pm4ml:haproxyStatsPassword"}},
		{name: "proxmoxApiToken missing", stack: "stg", mut: del(SecretProxmoxAPIToken), want: []string{"pm4ml:proxmoxApiToken"}},
		// hosts
		{name: "hosts empty", stack: "prod", mut: set("hosts", []any{}), want: []string{"pm4ml:hosts", "pm4ml:ceph.replicationSize"}, problem: "empty"},
		{name: "host name invalid", stack: "prod", mut: set("hosts[0].name", "Prod_Master_1"), want: []string{"pm4ml:hosts[0].name"}},
		{name: "host name missing", stack: "stg", mut: del("hosts[2].name"), want: []string{"pm4ml:hosts[2].name"}},
		{name: "host name duplicate", stack: "prod", mut: set("hosts[1].name", "prod-master-1"), want: []string{"pm4ml:hosts[1].name"}, problem: "hosts[0]"},
		{name: "host address invalid", stack: "prod", mut: set("hosts[3].address", "10.10.2.300"), want: []string{"pm4ml:hosts[3].address"}},
		{name: "host address duplicate", stack: "prod", mut: set("hosts[4].address", "10.10.2.21"), want: []string{"pm4ml:hosts[4].address"}, problem: "hosts[3]"},
		{name: "host address outside the subnet", stack: "prod", mut: set("hosts[5].address", "192.168.2.23"), want: []string{"pm4ml:hosts[5].address"}, problem: "outside"},
		{name: "host address is the broadcast address", stack: "stg", mut: set("hosts[3].address", "10.10.255.255"), want: []string{"pm4ml:hosts[3].address"}, problem: "broadcast"},
		{name: "unknown role next to a valid one", stack: "prod", mut: set("hosts[3].roles", []any{"worker", "gpu"}), want: []string{"pm4ml:hosts[3].roles"}, problem: `"gpu"`},
		{name: "misspelt only role", stack: "prod", mut: set("hosts[3].roles", []any{"wroker"}), want: []string{"pm4ml:hosts[3].roles", "pm4ml:hosts"}, problem: `"wroker"`},
		{name: "roles empty", stack: "prod", mut: set("hosts[11].roles", []any{}), want: []string{"pm4ml:hosts[11].roles"}, problem: "empty"},
		{name: "prod master+worker without riskAcceptance", stack: "prod", mut: set("hosts[0].roles", []any{"master", "worker"}), want: []string{"pm4ml:hosts[0].roles"}, problem: "risk acceptance"},
		{name: "prod riskAcceptance placeholder", stack: "prod", mut: all(set("hosts[0].roles", []any{"master", "worker"}), set("riskAcceptance", "TODO")), want: []string{"pm4ml:riskAcceptance"}},
		{name: "prod haproxy combined with worker", stack: "prod", mut: set("hosts[6].roles", []any{"haproxy", "worker"}), want: []string{"pm4ml:hosts[6].roles"}, problem: "haproxy"},
		{name: "stg haproxy combined with worker", stack: "stg", mut: set("hosts[2].roles", []any{"haproxy", "worker"}), want: []string{"pm4ml:hosts[2].roles"}, problem: "haproxy"},
		{name: "bastion combined with master", stack: "prod", mut: set("hosts[11].roles", []any{"master", "bastion"}), want: []string{"pm4ml:hosts[11].roles", "pm4ml:hosts"}, problem: "bastion"},
		{name: "prod storage combined with worker", stack: "prod", mut: set("hosts[8].roles", []any{"storage", "worker"}), want: []string{"pm4ml:hosts[8].roles"}, problem: "storage"},
		{name: "prod 2 masters", stack: "prod", mut: set("hosts[2].roles", []any{"worker"}), want: []string{"pm4ml:hosts"}, problem: "2 master"},
		{name: "prod 2 workers", stack: "prod", mut: del("hosts[5]"), want: []string{"pm4ml:hosts"}, problem: "2 worker"},
		{name: "prod 1 haproxy", stack: "prod", mut: del("hosts[7]"), want: []string{"pm4ml:hosts"}, problem: "1 HAProxy"},
		{name: "prod 2 storage", stack: "prod", mut: del("hosts[10]"), want: []string{"pm4ml:hosts", "pm4ml:ceph.replicationSize"}, problem: "2 storage"},
		{name: "stg without storage", stack: "stg", mut: del("hosts[3]"), want: []string{"pm4ml:hosts"}, problem: "no storage"},
		{name: "storage host without cephDisks", stack: "prod", mut: del("hosts[8].cephDisks"), want: []string{"pm4ml:hosts[8].cephDisks"}},
		{name: "cephDisks on a worker", stack: "prod", mut: set("hosts[3].cephDisks", []any{"/dev/sdb"}), want: []string{"pm4ml:hosts[3].cephDisks"}},
		{name: "cephDisk not a device path", stack: "prod", mut: set("hosts[8].cephDisks[0]", "sdb"), want: []string{"pm4ml:hosts[8].cephDisks[0]"}},
		{name: "cephDisk listed twice", stack: "stg", mut: set("hosts[3].cephDisks[1]", "/dev/sdb"), want: []string{"pm4ml:hosts[3].cephDisks[1]"}},
		{name: "host sizing negative", stack: "stg", mut: set("hosts[0].sizing", map[string]any{"cpus": -1}), want: []string{"pm4ml:hosts[0].sizing"}},
		// network
		{name: "internalSubnet invalid", stack: "prod", mut: set("network.internalSubnet", "10.10.0.0/33"), want: []string{"pm4ml:network.internalSubnet"}},
		{name: "internalSubnet with host bits", stack: "prod", mut: set("network.internalSubnet", "10.10.0.1/16"), want: []string{"pm4ml:network.internalSubnet"}, problem: "host bits"},
		{name: "internalSubnet missing", stack: "stg", mut: del("network.internalSubnet"), want: []string{"pm4ml:network.internalSubnet"}},
		{name: "gateway outside the subnet", stack: "stg", mut: set("network.gateway", "192.168.0.1"), want: []string{"pm4ml:network.gateway"}},
		{name: "dns server not an address", stack: "stg", mut: set("network.dnsServers[0]", "dns.example.org"), want: []string{"pm4ml:network.dnsServers[0]"}},
		{name: "adminAllowlist empty", stack: "prod", mut: set("network.adminAllowlist", []any{}), want: []string{"pm4ml:network.adminAllowlist"}},
		// (apiAllowlist set explicitly: see TestValidateDefaultedAPIAllowlistNotReportedTwice)
		{name: "adminAllowlist anywhere", stack: "prod", mut: all(set("network.apiAllowlist", []any{"10.10.250.0/24"}), set("network.adminAllowlist", []any{"0.0.0.0/0"})), want: []string{"pm4ml:network.adminAllowlist[0]"}, problem: "anywhere"},
		{name: "adminAllowlist not a CIDR", stack: "stg", mut: all(set("network.apiAllowlist", []any{}), set("network.adminAllowlist[0]", "admins")), want: []string{"pm4ml:network.adminAllowlist[0]"}},
		{name: "apiAllowlist anywhere", stack: "prod", mut: set("network.apiAllowlist", []any{"10.10.250.0/24", "0.0.0.0/0"}), want: []string{"pm4ml:network.apiAllowlist[1]"}, problem: "anywhere"},
		{name: "apiAllowlist host bits", stack: "stg", mut: set("network.apiAllowlist", []any{"10.10.250.1/24"}), want: []string{"pm4ml:network.apiAllowlist[0]"}, problem: "host bits"},
		{name: "haproxySourceIps outside the subnet", stack: "prod", mut: set("network.haproxySourceIps", []any{"192.168.0.7"}), want: []string{"pm4ml:network.haproxySourceIps[0]"}},
		// haproxy
		{name: "publicVip outside the subnet", stack: "prod", mut: set("haproxy.publicVip", "192.168.0.10"), want: []string{"pm4ml:haproxy.publicVip"}, problem: "outside"},
		{name: "publicVip missing", stack: "stg", mut: del("haproxy.publicVip"), want: []string{"pm4ml:haproxy.publicVip"}},
		{name: "publicVip is a master's address", stack: "prod", mut: set("haproxy.publicVip", "10.10.1.11"), want: []string{"pm4ml:haproxy.publicVip"}, problem: "prod-master-1"},
		{name: "internalVip equals publicVip", stack: "prod", mut: set("haproxy.internalVip", "10.10.0.10"), want: []string{"pm4ml:haproxy.internalVip"}},
		{name: "internalVip is an LB address with 2 LBs", stack: "prod", mut: set("haproxy.internalVip", "10.10.0.11"), want: []string{"pm4ml:haproxy.internalVip"}, problem: "prod-lb-1"},
		{name: "stg publicVip on the LB host collides with the defaulted internalVip", stack: "stg", mut: set("haproxy.publicVip", "10.10.100.5"), want: []string{"pm4ml:haproxy.internalVip"}, problem: "publicVip"},
		{name: "internalVip missing with 2 LBs", stack: "prod", mut: del("haproxy.internalVip"), want: []string{"pm4ml:haproxy.internalVip"}},
		{name: "haproxy interface invalid", stack: "prod", mut: set("haproxy.interface", "eth 0"), want: []string{"pm4ml:haproxy.interface"}},
		{name: "haproxy maxConn out of range", stack: "prod", mut: set("haproxy.maxConn", 50), want: []string{"pm4ml:haproxy.maxConn"}},
		{name: "microk8s upgrade takes every worker down", stack: "prod", mut: set("microk8s.upgrade.maxUnavailable", 3), want: []string{"pm4ml:microk8s.upgrade.maxUnavailable"}, problem: "3 worker-only node(s)"},
		{name: "microk8s upgrade maxUnavailable negative", stack: "prod", mut: set("microk8s.upgrade.maxUnavailable", -1), want: []string{"pm4ml:microk8s.upgrade.maxUnavailable"}},
		{name: "stats port 443", stack: "prod", mut: set("haproxy.statsPort", 443), want: []string{"pm4ml:haproxy.statsPort"}},
		// cluster settings
		{name: "microk8s channel latest/edge", stack: "stg", mut: set("microk8s.channel", "latest/edge"), want: []string{"pm4ml:microk8s.channel"}, problem: "pinned"},
		{name: "microk8s channel without risk", stack: "prod", mut: set("microk8s.channel", "1.31"), want: []string{"pm4ml:microk8s.channel"}, problem: "pinned"},
		{name: "prod microk8s non-stable channel", stack: "prod", mut: set("microk8s.channel", "1.31/edge"), want: []string{"pm4ml:microk8s.channel"}, problem: "stable"},
		{name: "ceph channel unpinned", stack: "stg", mut: set("ceph.channel", "latest"), want: []string{"pm4ml:ceph.channel"}},
		{name: "local class equals ceph class", stack: "prod", mut: set("ceph.localStorageClass", "ceph-rbd"), want: []string{"pm4ml:ceph.localStorageClass"}},
		{name: "prod replication 2", stack: "prod", mut: set("ceph.replicationSize", 2), want: []string{"pm4ml:ceph.replicationSize"}},
		{name: "replication above storage hosts", stack: "stg", mut: set("ceph.replicationSize", 3), want: []string{"pm4ml:ceph.replicationSize"}},
		// wireguard
		{name: "wireguard bad port", stack: "prod", mut: withWG(func(w map[string]any) { w["port"] = 70000 }), want: []string{"pm4ml:wireguard.port"}},
		{name: "wireguard bad peer key", stack: "prod", mut: withWG(func(w map[string]any) { w["peers"].([]any)[0].(map[string]any)["publicKey"] = "not-a-key" }), want: []string{"pm4ml:wireguard.peers[0].publicKey"}},
		{name: "wireguard bad address", stack: "stg", mut: withWG(func(w map[string]any) { w["address"] = "10.200.0.1" }), want: []string{"pm4ml:wireguard.address"}},
		{name: "wireguard without peers", stack: "stg", mut: withWG(func(w map[string]any) { delete(w, "peers") }), want: []string{"pm4ml:wireguard.peers"}},
		{name: "wireguard missing wireguardPrivateKey", stack: "prod", mut: set("wireguard", wgEnabled(wgKey)), want: []string{"pm4ml:wireguardPrivateKey"}, problem: "not set"},
		{name: "wireguard peers while disabled", stack: "prod", mut: set("wireguard.peers", wgEnabled(wgKey)["peers"]), want: []string{"pm4ml:wireguard.peers"}, problem: "disabled"},
		// gitops
		{name: "gitops repoUrl missing", stack: "prod", mut: del("gitops.repoUrl"), want: []string{"pm4ml:gitops.repoUrl"}},
		{name: "gitops repoUrl bad scheme", stack: "prod", mut: set("gitops.repoUrl", "ftp://git.example.org/fsp/pm4ml-gitops.git"), want: []string{"pm4ml:gitops.repoUrl"}},
		{name: "gitops revision missing", stack: "stg", mut: del("gitops.revision"), want: []string{"pm4ml:gitops.revision"}},
		{name: "gitops ssh-key for an https repository", stack: "prod", mut: set("gitops.credentials", "ssh-key"), want: []string{"pm4ml:gitops.credentials"}},
		{name: "gitops https-token for an ssh repository", stack: "stg", mut: set("gitops.credentials", "https-token"), want: []string{"pm4ml:gitops.credentials"}},
		{name: "gitops unknown credential type", stack: "stg", mut: set("gitops.credentials", "password"), want: []string{"pm4ml:gitops.credentials"}},
		{name: "gitopsCredential missing", stack: "stg", mut: del(SecretGitOpsCredential), want: []string{"pm4ml:gitopsCredential"}},
		// vault
		{name: "vault kvVersion 3", stack: "prod", mut: set("vault.kvVersion", 3), want: []string{"pm4ml:vault.kvVersion"}},
		{name: "vault address over http in prod", stack: "prod", mut: all(set("vault.address", "http://vault.example.org"), setSecret(SecretVaultToken, "t")), want: []string{"pm4ml:vault.address"}, problem: "http"},
		{name: "vault address without vaultToken", stack: "stg", mut: all(set("vault.address", "https://vault.example.org"), del(SecretVaultToken)), want: []string{"pm4ml:vaultToken"}},
		// proxmox
		{name: "proxmox source without proxmox block", stack: "stg", mut: del("proxmox"), want: []string{"pm4ml:proxmox"}},
		{name: "proxmox endpoint not https", stack: "stg", mut: set("proxmox.endpoint", "http://pve.example.org:8006/"), want: []string{"pm4ml:proxmox.endpoint"}},
		{name: "proxmox without gateway", stack: "stg", mut: del("network.gateway"), want: []string{"pm4ml:network.gateway"}},
		{name: "proxmox duplicate vmId", stack: "stg", mut: set("hosts[1].proxmox.vmId", 3011), want: []string{"pm4ml:hosts[1].proxmox.vmId"}, problem: "hosts[0]"},
		{name: "proxmox vmId of the template", stack: "stg", mut: set("hosts[0].proxmox.vmId", 9000), want: []string{"pm4ml:hosts[0].proxmox.vmId"}},
		{name: "proxmox host without placement", stack: "stg", mut: del("hosts[0].proxmox"), want: []string{"pm4ml:hosts[0].proxmox"}},
		{name: "proxmox placement on an existing host", stack: "prod", mut: set("hosts[0].proxmox", map[string]any{"vmId": 3000}), want: []string{"pm4ml:hosts[0].proxmox"}},
		{name: "proxmox block with existing hosts", stack: "prod", mut: set("proxmox", map[string]any{"endpoint": "https://pve.example.org:8006/", "node": "pve1"}), want: []string{"pm4ml:proxmox"}},
		// platform (Argo CD and the app waves)
		{name: "argocd version unpinned", stack: "prod", mut: set("argocd", map[string]any{"version": "latest"}), want: []string{"pm4ml:argocd.version"}},
		{name: "argocd unknown deletion mode", stack: "stg", mut: set("argocd", map[string]any{"onDelete": "delete"}), want: []string{"pm4ml:argocd.onDelete"}},
		{name: "waves empty", stack: "stg", mut: set("waves", []any{}), want: []string{"pm4ml:waves"}, problem: "empty"},
		{name: "waves without vault", stack: "prod", mut: set("waves", []any{map[string]any{"name": "core", "apps": []any{map[string]any{"name": "pm4ml"}}}}), want: []string{"pm4ml:waves"}, problem: "vault"},
		{name: "wave app not in the guide and without path", stack: "stg",
			mut:  set("waves", []any{map[string]any{"name": "core", "apps": []any{map[string]any{"name": "vault"}, map[string]any{"name": "my-app"}}}}),
			want: []string{"pm4ml:waves[0].apps[1].name"}, problem: "my-app"},
		{name: "wave app listed twice", stack: "stg",
			mut: set("waves", []any{
				map[string]any{"name": "a", "apps": []any{map[string]any{"name": "vault"}}},
				map[string]any{"name": "b", "apps": []any{map[string]any{"name": "vault"}}},
			}),
			want: []string{"pm4ml:waves[1].apps[0].name"}},
		// decoding
		{name: "unknown top-level key", stack: "prod", mut: set("hots", []any{}), want: []string{"pm4ml:hots"}, problem: "not a setting"},
		{name: "unknown nested host field", stack: "prod", mut: set("hosts[0].rols", []any{"master"}), want: []string{"pm4ml:hosts[0].rols"}, problem: "not a field"},
		{name: "unknown nested ssh field", stack: "stg", mut: set("ssh.usr", "ubuntu"), want: []string{"pm4ml:ssh.usr"}, problem: "not a field"},
		{name: "wrong type", stack: "stg", mut: set("ssh.port", "22"), want: []string{"pm4ml:ssh.port"}, problem: `the text "22"`},
		// safe input (issue: one validation before anything exists)
		{name: "ntp server carrying a shell payload", stack: "prod", mut: set("network.ntpServers", []any{"pool.ntp.org' ; touch /tmp/pwned ; '"}), want: []string{"pm4ml:network.ntpServers[0]"}, problem: "IP address or a DNS name"},
		{name: "ntp server with a blank", stack: "stg", mut: set("network.ntpServers", []any{"time server"}), want: []string{"pm4ml:network.ntpServers[0]"}},
		{name: "too many ntp servers", stack: "prod", mut: set("network.ntpServers", manyStrings("10.10.0.%d", 17)), want: []string{"pm4ml:network.ntpServers"}, problem: "17 entries"},
		{name: "local storage path with ..", stack: "prod", mut: set("ceph.localStoragePath", "/var/lib/../etc"), want: []string{"pm4ml:ceph.localStoragePath"}, problem: "absolute path"},
		{name: "local storage path relative", stack: "stg", mut: set("ceph.localStoragePath", "data/local"), want: []string{"pm4ml:ceph.localStoragePath"}},
		{name: "local class named like MicroK8s' own", stack: "prod", mut: set("ceph.localStorageClass", "microk8s-hostpath"), want: []string{"pm4ml:ceph.localStorageClass"}, problem: "MicroK8s"},
		{name: "ceph class named like MicroK8s' own", stack: "stg", mut: set("ceph.storageClass", "microk8s-hostpath"), want: []string{"pm4ml:ceph.storageClass"}, problem: "MicroK8s"},
		{name: "wireguard endpoint without a port", stack: "prod", mut: withWG(func(w map[string]any) { peer0(w)["endpoint"] = "vpn.example.org" }), want: []string{"pm4ml:wireguard.peers[0].endpoint"}, problem: "host:port"},
		{name: "wireguard endpoint with a newline", stack: "prod", mut: withWG(func(w map[string]any) { peer0(w)["endpoint"] = "vpn.example.org:51820\nPostUp = touch /tmp/pwned" }), want: []string{"pm4ml:wireguard.peers[0].endpoint"}, problem: "control character"},
		{name: "wireguard endpoint port out of range", stack: "stg", mut: withWG(func(w map[string]any) { peer0(w)["endpoint"] = "203.0.113.7:70000" }), want: []string{"pm4ml:wireguard.peers[0].endpoint"}},
		{name: "wireguard peer key listed twice", stack: "prod", mut: withWG(func(w map[string]any) {
			w["peers"] = append(w["peers"].([]any), map[string]any{"name": "branch", "publicKey": peer0(w)["publicKey"], "allowedIps": []any{"10.202.0.0/24"}})
		}), want: []string{"pm4ml:wireguard.peers[1].publicKey"}, problem: "peers[0]"},
		{name: "wireguard CIDR routed to two peers", stack: "prod", mut: withWG(func(w map[string]any) {
			w["peers"] = append(w["peers"].([]any), map[string]any{"name": "branch", "publicKey": newWGKey(t), "allowedIps": []any{"10.201.0.0/24"}})
		}), want: []string{"pm4ml:wireguard.peers[1].allowedIps[0]"}, problem: "peers[0]"},
		{name: "wireguard peer name with blanks", stack: "stg", mut: withWG(func(w map[string]any) { peer0(w)["name"] = "Hub Office" }), want: []string{"pm4ml:wireguard.peers[0].name"}},
		{name: "wireguard peer names repeated", stack: "stg", mut: withWG(func(w map[string]any) {
			w["peers"] = append(w["peers"].([]any), map[string]any{"name": "hub", "publicKey": newWGKey(t), "allowedIps": []any{"10.202.0.0/24"}})
		}), want: []string{"pm4ml:wireguard.peers[1].name"}, problem: "peers[0]"},
		{name: "wireguard allowed IP not a CIDR", stack: "prod", mut: withWG(func(w map[string]any) { peer0(w)["allowedIps"] = []any{"10.201.0.0/33"} }), want: []string{"pm4ml:wireguard.peers[0].allowedIps[0]"}},
		{name: "wireguard port 0", stack: "prod", mut: withWG(func(w map[string]any) { w["port"] = 0 }), want: []string{"pm4ml:wireguard.port"}, problem: "is 0"},
		{name: "wireguard enabled written as text", stack: "stg", mut: withWG(func(w map[string]any) { w["enabled"] = "true" }), want: []string{"pm4ml:wireguard.enabled", "pm4ml:wireguard.peers"}, problem: "true or false"},
		{name: "gitops revision with a blank", stack: "prod", mut: set("gitops.revision", "release 1.0"), want: []string{"pm4ml:gitops.revision"}, problem: "branch, tag or commit"},
		{name: "gitops revision climbing up", stack: "stg", mut: set("gitops.revision", "../main"), want: []string{"pm4ml:gitops.revision"}},
		{name: "gitops revision like an option", stack: "prod", mut: set("gitops.revision", "-rf"), want: []string{"pm4ml:gitops.revision"}},
		{name: "gitops revision with =", stack: "stg", mut: set("gitops.revision", "main=1"), want: []string{"pm4ml:gitops.revision"}},
		{name: "gitops repoUrl with a blank", stack: "prod", mut: set("gitops.repoUrl", "https://git.example.org/fsp/pm4ml gitops.git"), want: []string{"pm4ml:gitops.repoUrl"}},
		{name: "gitops repoUrl with credentials inside", stack: "prod", mut: set("gitops.repoUrl", "https://fsp:hunter2@git.example.org/fsp/pm4ml-gitops.git"), want: []string{"pm4ml:gitops.repoUrl"}},
		{name: "gitops git:// with https-token", stack: "prod", mut: set("gitops.repoUrl", "git://git.example.org/fsp/pm4ml-gitops.git"), want: []string{"pm4ml:gitops.credentials"}, problem: "https-token"},
		{name: "gitops username with a blank", stack: "prod", mut: set("gitops.username", "fsp admin"), want: []string{"pm4ml:gitops.username"}},
		{name: "gitops credentials in capitals", stack: "stg", mut: set("gitops.credentials", "SSH-key"), want: []string{"pm4ml:gitops.credentials"}},
		{name: "verify attempts negative", stack: "prod", mut: set("verify", map[string]any{"attempts": -3}), want: []string{"pm4ml:verify.attempts"}, problem: "-3"},
		{name: "verify interval 0", stack: "stg", mut: set("verify", map[string]any{"intervalSeconds": 0}), want: []string{"pm4ml:verify.intervalSeconds"}, problem: "is 0"},
		{name: "verify interval a day", stack: "prod", mut: set("verify", map[string]any{"intervalSeconds": 86400}), want: []string{"pm4ml:verify.intervalSeconds"}},
		{name: "in-cluster check without a scheme", stack: "prod", mut: set("verify", map[string]any{"internalChecks": []any{"pm4ml.svc:8080/health"}}), want: []string{"pm4ml:verify.internalChecks[0]"}, problem: "http(s) URL"},
		{name: "verify endpoint without a scheme", stack: "stg", mut: set("verify", map[string]any{"endpoints": []any{map[string]any{"url": "portal.example.org"}}}), want: []string{"pm4ml:verify.endpoints[0].url"}},
		{name: "verify endpoint name carrying a command", stack: "prod", mut: set("verify", map[string]any{"endpoints": []any{map[string]any{"name": "portal$(id)", "url": "https://portal.pm4ml.example.org/"}}}), want: []string{"pm4ml:verify.endpoints[0].name"}},
		{name: "verify endpoint names repeated", stack: "prod", mut: set("verify", map[string]any{"endpoints": []any{map[string]any{"name": "portal", "url": "https://portal.pm4ml.example.org/"}, map[string]any{"name": "portal", "url": "https://api.pm4ml.example.org/"}}}), want: []string{"pm4ml:verify.endpoints[1].name"}, problem: "endpoints[0]"},
		{name: "verify endpoint named argocd", stack: "stg", mut: set("verify", map[string]any{"endpoints": []any{map[string]any{"name": "argocd", "url": "https://portal.pm4ml.example.org/"}}}), want: []string{"pm4ml:verify.endpoints[0].name"}, problem: "Argo CD"},
		{name: "verify expected status out of range", stack: "prod", mut: set("verify", map[string]any{"endpoints": []any{map[string]any{"url": "https://portal.pm4ml.example.org/", "expectStatus": []any{999}}}}), want: []string{"pm4ml:verify.endpoints[0].expectStatus[0]"}},
		{name: "verify resolve address a name", stack: "stg", mut: set("verify", map[string]any{"resolveAddress": "vip"}), want: []string{"pm4ml:verify.resolveAddress"}},
		{name: "verify CA file relative", stack: "prod", mut: set("verify", map[string]any{"caCertFile": "ca.pem"}), want: []string{"pm4ml:verify.caCertFile"}},
		{name: "verify insecure as text", stack: "stg", mut: set("verify", map[string]any{"insecure": "true"}), want: []string{"pm4ml:verify.insecure"}},
		// silent typos
		{name: "misspelt namespace", stack: "prod", mut: setForeign("pm4lm:wireguard", `{"enabled":true}`), want: []string{"pm4lm:wireguard"}, problem: "near miss"},
		{name: "namespace in capitals", stack: "stg", mut: setForeign("PM4ML:domain", "stg.pm4ml.example.org"), want: []string{"PM4ML:domain"}, problem: "near miss"},
		{name: "field name in other case", stack: "prod", mut: set("haproxy.publicVIP", "10.10.0.10"), want: []string{"pm4ml:haproxy.publicVIP"}, problem: "not a field"},
		{name: "top-level key in other case", stack: "stg", mut: set("pm4mlID", "fsp-stg"), want: []string{"pm4ml:pm4mlID"}, problem: "not a setting"},
		{name: "nested unknown field keeps its index", stack: "prod", mut: set("hosts[5].adress", "10.10.2.23"), want: []string{"pm4ml:hosts[5].adress"}, problem: "not a field"},
		{name: "unknown microk8s field", stack: "prod", mut: set("microk8s.chanel", "1.31/stable"), want: []string{"pm4ml:microk8s.chanel"}, problem: "not a field"},
		{name: "unknown wave field", stack: "stg", mut: set("waves", []any{map[string]any{"name": "core", "app": []any{"vault"}}}), want: []string{"pm4ml:waves[0].app", "pm4ml:waves[0].apps", "pm4ml:waves"}, problem: "not a field"},
		{name: "roles as text", stack: "prod", mut: set("hosts[0].roles", "master"), want: []string{"pm4ml:hosts[0].roles", "pm4ml:hosts"}, problem: "must be a list"},
		{name: "ssh as text", stack: "stg", mut: set("ssh", "ubuntu"), want: []string{"pm4ml:ssh"}, problem: "must be a mapping"},
		{name: "hosts as a mapping", stack: "stg", mut: set("hosts", map[string]any{"name": "stg-k8s-1"}), want: []string{"pm4ml:hosts", "pm4ml:haproxy.internalVip"}, problem: "must be a list"},
		{name: "templateVmId as text", stack: "stg", mut: set("proxmox.templateVmId", "9000"), want: []string{"pm4ml:proxmox.templateVmId"}, problem: "whole number"},
		{name: "sizing cpus as text", stack: "stg", mut: set("hosts[0].sizing", map[string]any{"cpus": "8"}), want: []string{"pm4ml:hosts[0].sizing.cpus"}},
		{name: "kvVersion as text", stack: "prod", mut: set("vault.kvVersion", "2"), want: []string{"pm4ml:vault.kvVersion"}},
		{name: "argocd ha as text", stack: "stg", mut: set("argocd", map[string]any{"ha": "no"}), want: []string{"pm4ml:argocd.ha"}},
		{name: "port as a fraction", stack: "prod", mut: set("ssh.port", 22.5), want: []string{"pm4ml:ssh.port"}, problem: "whole number"},
		{name: "lab in capitals", stack: "stg", mut: set("lab", "TRUE"), want: []string{"pm4ml:lab"}},
		{name: "role in capitals", stack: "stg", mut: set("hosts[0].roles", []any{"Master", "worker"}), want: []string{"pm4ml:hosts[0].roles"}, problem: "Master"},
		{name: "environment in capitals", stack: "prod", mut: set("environment", "Prod"), want: []string{"pm4ml:environment"}},
		// unchecked values
		{name: "allowlist halves of the Internet", stack: "prod", mut: set("network.adminAllowlist", []any{"0.0.0.0/1", "128.0.0.0/1"}), want: []string{"pm4ml:network.adminAllowlist[0]", "pm4ml:network.adminAllowlist[1]"}, problem: "addresses"},
		{name: "allowlist entry broader than /8", stack: "stg", mut: set("network.adminAllowlist", []any{"10.0.0.0/7"}), want: []string{"pm4ml:network.adminAllowlist[0]"}},
		{name: "allowlist many /8s together", stack: "prod", mut: set("network.adminAllowlist", manyStrings("%d.0.0.0/8", 5)), want: []string{"pm4ml:network.adminAllowlist"}, problem: "together"},
		{name: "apiAllowlist broad", stack: "stg", mut: set("network.apiAllowlist", []any{"0.0.0.0/4"}), want: []string{"pm4ml:network.apiAllowlist[0]"}},
		{name: "dns server with an IPv6 zone carrying a command", stack: "prod", mut: set("network.dnsServers", []any{"fe80::1%eth0;touch /tmp/pwned"}), want: []string{"pm4ml:network.dnsServers[0]"}},
		{name: "too many dns servers", stack: "stg", mut: set("network.dnsServers", manyStrings("10.10.0.%d", 9)), want: []string{"pm4ml:network.dnsServers"}},
		{name: "searchDomain with a blank", stack: "stg", mut: set("network.searchDomain", "example .org"), want: []string{"pm4ml:network.searchDomain"}},
		{name: "gateway carrying a command", stack: "stg", mut: set("network.gateway", "10.10.0.1;reboot"), want: []string{"pm4ml:network.gateway"}},
		{name: "internal subnet public", stack: "prod", mut: set("network.internalSubnet", "8.8.0.0/16"), want: []string{"pm4ml:network.internalSubnet", "pm4ml:network.gateway", "pm4ml:haproxy.publicVip", "pm4ml:haproxy.internalVip", "pm4ml:hosts[0].address", "pm4ml:hosts[1].address", "pm4ml:hosts[2].address", "pm4ml:hosts[3].address", "pm4ml:hosts[4].address", "pm4ml:hosts[5].address", "pm4ml:hosts[6].address", "pm4ml:hosts[7].address", "pm4ml:hosts[8].address", "pm4ml:hosts[9].address", "pm4ml:hosts[10].address", "pm4ml:hosts[11].address"}, problem: "private"},
		{name: "bastion user with a host", stack: "prod", mut: set("ssh.bastion.user", "admin@jump"), want: []string{"pm4ml:ssh.bastion.user"}},
		{name: "bastion port 0", stack: "prod", mut: set("ssh.bastion.port", 0), want: []string{"pm4ml:ssh.bastion.port"}, problem: "is 0"},
		{name: "host key given as a fingerprint", stack: "prod", mut: set("ssh.hostKeys", map[string]any{"prod-master-1": "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}), want: []string{"pm4ml:ssh.hostKeys.prod-master-1"}, problem: "SSH public host key"},
		{name: "host key with a trailing comment", stack: "prod", mut: set("ssh.hostKeys", map[string]any{"prod-master-1": sshHostKey(t) + " root@prod-master-1"}), want: []string{"pm4ml:ssh.hostKeys.prod-master-1"}},
		{name: "host key for a name with blanks", stack: "stg", mut: set("ssh.hostKeys", map[string]any{"Stg K8s 1": sshHostKey(t)}), want: []string{"pm4ml:ssh.hostKeys.Stg K8s 1"}},
		{name: "argocd project with blanks", stack: "prod", mut: set("argocd", map[string]any{"project": "pm4ml project"}), want: []string{"pm4ml:argocd.project"}},
		{name: "ssh port 0", stack: "prod", mut: set("ssh.port", 0), want: []string{"pm4ml:ssh.port"}, problem: "is 0"},
		{name: "riskAcceptance pasted document", stack: "prod", mut: all(set("hosts[0].roles", []any{"master", "worker"}), set("riskAcceptance", strings.Repeat("RISK ", 1<<20))), want: []string{"pm4ml:riskAcceptance", "pm4ml:hosts[0].roles"}, problem: "characters long"},
		{name: "riskAcceptance carrying a command", stack: "prod", mut: all(set("hosts[0].roles", []any{"master", "worker"}), set("riskAcceptance", "RISK-1$(reboot)")), want: []string{"pm4ml:riskAcceptance"}},
		{name: "domain with a trailing dot", stack: "prod", mut: set("domain", "pm4ml.example.org."), want: []string{"pm4ml:domain"}},
		{name: "pm4mlId too long", stack: "stg", mut: set("pm4mlId", strings.Repeat("f", 70)), want: []string{"pm4ml:pm4mlId"}},
		{name: "host name as an FQDN", stack: "prod", mut: set("hosts[0].name", "prod-master-1.example.org"), want: []string{"pm4ml:hosts[0].name"}},
		{name: "host address IPv6", stack: "stg", mut: set("hosts[2].address", "fd00::5"), want: []string{"pm4ml:hosts[2].address"}},
		{name: "ceph disk climbing out of /dev", stack: "prod", mut: set("hosts[8].cephDisks[0]", "/dev/../etc/passwd"), want: []string{"pm4ml:hosts[8].cephDisks[0]"}},
		{name: "too many ceph disks", stack: "stg", mut: set("hosts[3].cephDisks", manyStrings("/dev/disk%d", 33)), want: []string{"pm4ml:hosts[3].cephDisks"}},
		{name: "host sizing absurd", stack: "stg", mut: set("hosts[0].sizing", map[string]any{"memoryGb": 99999999}), want: []string{"pm4ml:hosts[0].sizing"}},
		{name: "ceph pool with a slash", stack: "prod", mut: set("ceph.pool", "rbd/pm4ml"), want: []string{"pm4ml:ceph.pool"}},
		{name: "ceph channel latest", stack: "stg", mut: set("ceph.channel", "latest/stable"), want: []string{"pm4ml:ceph.channel"}},
		{name: "microk8s channel with a newline", stack: "prod", mut: set("microk8s.channel", "1.31/stable\n"), want: []string{"pm4ml:microk8s.channel"}, problem: "control character"},
		{name: "haproxy maxConn a million", stack: "prod", mut: set("haproxy.maxConn", 1000000), want: []string{"pm4ml:haproxy.maxConn"}},
		{name: "haproxy interface alias", stack: "stg", mut: set("haproxy.interface", "eth0:1"), want: []string{"pm4ml:haproxy.interface"}},
		{name: "stats port without stats", stack: "stg", mut: set("haproxy.statsPort", 8404), want: []string{"pm4ml:haproxy.statsPort"}, problem: "statsEnabled"},
		{name: "stats user with a blank", stack: "prod", mut: set("haproxy.statsUser", "stats admin"), want: []string{"pm4ml:haproxy.statsUser"}},
		{name: "vault address without a scheme", stack: "prod", mut: set("vault.address", "vault.example.org"), want: []string{"pm4ml:vault.address"}},
		{name: "vault mount with slashes", stack: "stg", mut: set("vault.mount", "/secret/"), want: []string{"pm4ml:vault.mount"}},
		{name: "argocd manifest path relative", stack: "prod", mut: set("argocd", map[string]any{"manifestPath": "install.yaml"}), want: []string{"pm4ml:argocd.manifestPath"}},
		{name: "argocd manifest URL ftp", stack: "stg", mut: set("argocd", map[string]any{"manifestUrl": "ftp://mirror.example.org/install.yaml"}), want: []string{"pm4ml:argocd.manifestUrl"}},
		{name: "argocd path prefix absolute", stack: "prod", mut: set("argocd", map[string]any{"pathPrefix": "/apps"}), want: []string{"pm4ml:argocd.pathPrefix"}},
		{name: "argocd path prefix climbing up", stack: "stg", mut: set("argocd", map[string]any{"pathPrefix": "apps/../.."}), want: []string{"pm4ml:argocd.pathPrefix"}},
		{name: "argocd app timeout short", stack: "prod", mut: set("argocd", map[string]any{"appTimeoutSeconds": 10}), want: []string{"pm4ml:argocd.appTimeoutSeconds"}},
		{name: "argocd namespace with a blank", stack: "stg", mut: set("argocd", map[string]any{"namespace": "Argo CD"}), want: []string{"pm4ml:argocd.namespace"}},
		{name: "wave app path climbing up", stack: "stg", mut: set("waves", []any{map[string]any{"name": "core", "apps": []any{map[string]any{"name": "vault", "path": "../other/vault"}}}}), want: []string{"pm4ml:waves[0].apps[0].path"}},
		{name: "wave app namespace with a blank", stack: "prod", mut: set("waves", []any{map[string]any{"name": "core", "apps": []any{map[string]any{"name": "vault", "namespace": "kube system"}}}}), want: []string{"pm4ml:waves[0].apps[0].namespace"}},
		{name: "proxmox node with a blank", stack: "stg", mut: set("proxmox.node", "pve 1"), want: []string{"pm4ml:proxmox.node"}},
		{name: "proxmox datastore carrying a command", stack: "stg", mut: set("proxmox.datastore", "local;lvm"), want: []string{"pm4ml:proxmox.datastore"}},
		{name: "proxmox bridge with a blank", stack: "stg", mut: set("proxmox.bridge", "vmbr0 "), want: []string{"pm4ml:proxmox.bridge"}},
		{name: "proxmox vlan 5000", stack: "stg", mut: set("proxmox.vlan", 5000), want: []string{"pm4ml:proxmox.vlan"}},
		{name: "proxmox insecure as text", stack: "stg", mut: set("proxmox.insecure", "yes"), want: []string{"pm4ml:proxmox.insecure"}},
		{name: "proxmox placement node with blanks", stack: "stg", mut: set("hosts[0].proxmox.node", "Node One"), want: []string{"pm4ml:hosts[0].proxmox.node"}},
	}
}

// TestValidateRefusesBadConfig: every mutation of a valid stack file is reported under its exact
// key with a fix, by Load and by the running program, which then registers nothing.
func TestValidateRefusesBadConfig(t *testing.T) {
	cases := badConfigs(t)
	if len(cases) < 150 {
		t.Fatalf("only %d cases", len(cases))
	}
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			src := stackSource(t, tc.stack)
			if _, err := Load(src); err != nil {
				t.Fatalf("the unmutated %s stack does not load: %v", tc.stack, err)
			}
			tc.mut(t, src)

			_, err := Load(src)
			if err == nil {
				t.Fatalf("Load accepted the configuration; want problems at %v", tc.want)
			}
			assertProblems(t, err, tc.want, tc.problem)

			m, err := runStack(t, src)
			if err == nil {
				t.Fatalf("Deploy accepted the configuration (registered %d resources)", len(m.Resources))
			}
			if n := len(m.Resources); n != 0 {
				t.Errorf("Deploy registered %d resource(s) before refusing; want none: first %s %s", n, m.Resources[0].Type, m.Resources[0].Name)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Deploy's error is not a *ConfigError: %v", err)
			}
			assertProblems(t, ce, tc.want, tc.problem)
			if !strings.Contains(err.Error(), "nothing was created") {
				t.Errorf("Deploy's error does not say nothing was created: %v", err)
			}
		})
	}
}

// assertProblems checks the exact key set, and that each problem has a problem text and a fix.
func assertProblems(t *testing.T, err error, want []string, problem string) {
	t.Helper()
	got := errorKeys(t, err)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("problem keys = %v, want %v\n%v", got, w, err)
	}
	found := false
	for _, fe := range fieldErrors(t, err) {
		if fe.Problem == "" || fe.Fix == "" {
			t.Errorf("%s: problem %q / fix %q: both must be set", fe.Key, fe.Problem, fe.Fix)
		}
		if !strings.HasPrefix(fe.Key, Namespace+":") && !strings.Contains(fe.Problem, "near miss") {
			t.Errorf("key %q lacks the %s: namespace", fe.Key, Namespace)
		}
		if fe.Key == want[0] && strings.Contains(fe.Problem, problem) {
			found = true
		}
	}
	if !found {
		t.Errorf("no problem at %s mentions %q:\n%v", want[0], problem, err)
	}
}

// TestValidateDefaultedAPIAllowlistNotReportedTwice: network.apiAllowlist defaults to the admin
// allowlist; a bad admin allowlist is one mistake, reported once, at the key the user wrote, not
// a second time at pm4ml:network.apiAllowlist[0], a key absent from the stack file, with a fix
// ("list only the networks pulumi up and kubectl run from") that sends the user to the wrong key.
func TestValidateDefaultedAPIAllowlistNotReportedTwice(t *testing.T) {
	for _, tc := range []struct {
		name, value, problem string
	}{{"anywhere", "0.0.0.0/0", "anywhere"}, {"not a CIDR", "admins", "admins"}} {
		t.Run(tc.name, func(t *testing.T) {
			src := stackSource(t, "prod")
			set("network.adminAllowlist", []any{tc.value})(t, src)
			_, err := Load(src)
			assertProblems(t, err, []string{"pm4ml:network.adminAllowlist[0]"}, tc.problem)
		})
	}
}

// TestValidateAcceptsAllowedVariants: things the guide allows are not refused, and the program
// then registers the preparation of every host.
func TestValidateAcceptsAllowedVariants(t *testing.T) {
	wgKey := newWGKey(t)
	cases := []struct {
		name  string
		stack string
		mut   mutation
		check func(t *testing.T, c *Config)
	}{
		{name: "prod master+worker under a risk acceptance", stack: "prod",
			mut: all(set("hosts[0].roles", []any{"worker", "master"}), set("riskAcceptance", "RISK-2026-014")),
			check: func(t *testing.T, c *Config) {
				if got := rolesString(c.Hosts[0]); got != "master+worker" {
					t.Errorf("roles = %s, want master+worker (normalised)", got)
				}
			}},
		{name: "stg master+worker+storage", stack: "stg",
			mut: all(set("hosts[1].roles", []any{"master", "worker", "storage"}), set("hosts[1].cephDisks", []any{"/dev/sdb"})),
			check: func(t *testing.T, c *Config) {
				if c.Ceph.ReplicationSize != 2 {
					t.Errorf("ceph.replicationSize = %d, want the default min(3, 2 storage hosts) = 2", c.Ceph.ReplicationSize)
				}
			}},
		{name: "stg candidate channel", stack: "stg", mut: set("microk8s.channel", "1.32/candidate")},
		{name: "prod two workers at a time", stack: "prod", mut: set("microk8s.upgrade.maxUnavailable", 2), check: func(t *testing.T, c *Config) {
			if c.MicroK8s.Upgrade.MaxUnavailable != 2 || c.MicroK8sPlan().MaxUnavailable != 2 {
				t.Errorf("maxUnavailable %d", c.MicroK8s.Upgrade.MaxUnavailable)
			}
		}},
		{name: "stg lab", stack: "stg", mut: set("lab", "true"), check: func(t *testing.T, c *Config) {
			if !c.Lab {
				t.Error("Lab not set")
			}
		}},
		{name: "prod wireguard", stack: "prod",
			mut: all(set("wireguard", wgEnabled(wgKey)), setSecret(SecretWireGuardKey, fakeSecret(SecretWireGuardKey)))},
		{name: "prod wireguard default port", stack: "prod",
			mut: all(set("wireguard", wgEnabled(wgKey)), del("wireguard.port"), setSecret(SecretWireGuardKey, fakeSecret(SecretWireGuardKey))),
			check: func(t *testing.T, c *Config) {
				if c.WireGuard.Port != 51820 {
					t.Errorf("wireguard.port = %d, want the default 51820", c.WireGuard.Port)
				}
			}},
		{name: "stg publicVip free and internalVip defaulted", stack: "stg", check: func(t *testing.T, c *Config) {
			if c.HAProxy.InternalVIP != "10.10.100.5" {
				t.Errorf("internalVip = %q, want the single LB's address 10.10.100.5", c.HAProxy.InternalVIP)
			}
		}},
		{name: "prod bastion with its own key", stack: "prod", mut: setSecret(SecretBastionKey, fakeSecret(SecretBastionKey))},
		{name: "prod vault over https with token", stack: "prod",
			mut: all(set("vault.address", "https://vault.example.org"), set("vault.kvVersion", 2), setSecret(SecretVaultToken, "t"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := stackSource(t, tc.stack)
			if tc.mut != nil {
				tc.mut(t, src)
			}
			c, err := Load(src)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			m, err := runStack(t, src)
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if got := len(m.ByType(hostprep.Token)); got != len(c.Hosts) {
				t.Errorf("%d HostPrep components, want %d", got, len(c.Hosts))
			}
		})
	}
}

func rolesString(h HostSpec) string {
	s := make([]string, len(h.Roles))
	for i, r := range h.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, "+")
}

// TestValidateReportsAllProblemsAtOnce: five independent mistakes come back together.
func TestValidateReportsAllProblemsAtOnce(t *testing.T) {
	src := stackSource(t, "prod")
	all(
		set("domain", "not a domain"),
		set("hosts[4].address", "10.10.2.21"),
		set("microk8s.channel", "latest/edge"),
		set("vault.kvVersion", 3),
		del(SecretMCMClientSecret),
	)(t, src)
	want := []string{
		"pm4ml:domain", "pm4ml:hosts[4].address", "pm4ml:mcmClientSecret",
		"pm4ml:microk8s.channel", "pm4ml:vault.kvVersion",
	}
	_, err := Load(src)
	if got := errorKeys(t, err); !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "5 problem(s)") {
		t.Errorf("message does not count 5 problems: %v", err)
	}
	for _, k := range want {
		if !strings.Contains(err.Error(), "\n  - "+k+": ") {
			t.Errorf("message does not list %s on its own line: %v", k, err)
		}
	}
	m, err := runStack(t, src)
	if got := errorKeys(t, err); !slices.Equal(got, want) {
		t.Errorf("Deploy: keys = %v, want %v", got, want)
	}
	if len(m.Resources) != 0 {
		t.Errorf("Deploy registered %d resources", len(m.Resources))
	}
}

// TestShippedStacksLoad: both stack files load with their secrets, render-load without them, and
// without them Load names exactly the secrets the stack needs.
func TestShippedStacksLoad(t *testing.T) {
	for _, stack := range []string{"prod", "stg"} {
		t.Run(stack, func(t *testing.T) {
			c := loadStack(t, stack)
			if string(c.Environment) != stack {
				t.Errorf("environment = %q", c.Environment)
			}
			if want := len(stackFileHosts(t, stack)); len(c.Hosts) != want {
				t.Errorf("%d hosts, want %d", len(c.Hosts), want)
			}
			for _, k := range requiredSecrets[stack] {
				if st := c.Secrets[k]; !st.Set || !st.IsSecret {
					t.Errorf("secret %s: %+v", k, st)
				}
			}

			raw, err := ReadStackFile("../Pulumi." + stack + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			rc, err := LoadForRender(raw)
			if err != nil {
				t.Fatalf("LoadForRender without secrets: %v", err)
			}
			if len(rc.Hosts) != len(c.Hosts) || rc.MicroK8s.Channel != c.MicroK8s.Channel {
				t.Errorf("LoadForRender and Load disagree: %d/%d hosts, channel %q/%q", len(rc.Hosts), len(c.Hosts), rc.MicroK8s.Channel, c.MicroK8s.Channel)
			}
			for _, k := range SecretKeys {
				if rc.Secrets[k].Set {
					t.Errorf("LoadForRender reports %s as set; the file sets no secret", k)
				}
			}

			_, err = Load(raw)
			want := []string{}
			for _, k := range requiredSecrets[stack] {
				want = append(want, Namespace+":"+k)
			}
			slices.Sort(want)
			if got := errorKeys(t, err); !slices.Equal(got, want) {
				t.Errorf("Load without secrets names %v, want exactly the required secrets %v", got, want)
			}
		})
	}
}

// TestLoadForRenderRefusesPlainSecret: render does not need secret values, but a secret stored
// in plain text is still a problem to report.
func TestLoadForRenderRefusesPlainSecret(t *testing.T) {
	raw, err := ReadStackFile("../Pulumi.stg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := newSSHKey(t)
	raw.Set(SecretSSHPrivateKey, key, false)
	_, err = LoadForRender(raw)
	if got := errorKeys(t, err); !slices.Equal(got, []string{"pm4ml:sshPrivateKey"}) {
		t.Errorf("keys = %v", got)
	}
	// and other problems are found as by Load
	raw.Set(SecretSSHPrivateKey, key, true)
	raw.Set("domain", "Bad Domain", false)
	_, err = LoadForRender(raw)
	if got := errorKeys(t, err); !slices.Equal(got, []string{"pm4ml:domain"}) {
		t.Errorf("keys = %v", got)
	}
}

// TestMissingRequiredSecret: each required secret, when unset, is named with the
// `pulumi config set --secret` command that fixes it, and nothing is deployed.
func TestMissingRequiredSecret(t *testing.T) {
	for _, stack := range []string{"prod", "stg"} {
		for _, k := range requiredSecrets[stack] {
			t.Run(stack+"/"+k, func(t *testing.T) {
				src := stackSource(t, stack)
				src.Delete(k)
				_, err := Load(src)
				fes := fieldErrors(t, err)
				if len(fes) != 1 || fes[0].Key != Namespace+":"+k {
					t.Fatalf("want one problem at %s:%s, got %v", Namespace, k, err)
				}
				fe := fes[0]
				if fe.Problem != "is not set" {
					t.Errorf("problem = %q", fe.Problem)
				}
				if want := "pulumi config set --secret " + Namespace + ":" + k; !strings.Contains(fe.Fix, want) {
					t.Errorf("fix %q does not contain %q", fe.Fix, want)
				}
				m, err := runStack(t, src)
				if err == nil || !strings.Contains(err.Error(), Namespace+":"+k) {
					t.Errorf("Deploy error %v does not name %s", err, k)
				}
				if len(m.Resources) != 0 {
					t.Errorf("Deploy registered %d resources", len(m.Resources))
				}
			})
		}
	}
}
