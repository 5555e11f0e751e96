// Package grammar holds the one definition of every input grammar and numeric bound of the
// program: the stack validation (stacks) refuses what does not match, and the components assert
// the same definitions as invariants, so that a bound can never differ between the two.
//
// A Rule is a strict grammar for a string that reaches a host, a configuration file or a
// Kubernetes object. Free text never reaches a host unquoted: every string field of the stack
// configuration either has a Rule here or is passed through the shell `quote` function (the
// coverage test in stacks checks that no field is without one).
package grammar

import (
	"encoding/base64"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Rule is a named grammar: OK decides, Want says what a matching value is ("a DNS label"), Fix
// says how to write one.
type Rule struct {
	Name string
	Want string
	Fix  string
	OK   func(string) bool
}

func re(pattern string) func(string) bool { return regexp.MustCompile(pattern).MatchString }

var (
	dnsLabelRe  = re(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	k8sNameRe   = re(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	userRe      = re(`^[a-z_][a-z0-9_-]{0,31}$`)
	ifaceRe     = re(`^[A-Za-z0-9_.-]{1,15}$`)
	poolRe      = re(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	diskRe      = re(`^/dev(/[A-Za-z0-9_.:+-]+)+$`)
	absPathRe   = re(`^(/[A-Za-z0-9_.-]+)+$`)
	localPathRe = re(`^(/[A-Za-z0-9_.@!+~,=%:-]+)+/?$`)
	relPathRe   = re(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
	mk8sChanRe  = re(`^[0-9]+\.[0-9]+/(stable|candidate|beta|edge)$`)
	cephChanRe  = re(`^[a-z][a-z0-9]*/(stable|candidate|beta|edge)$`)
	versionRe   = re(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
	pm4mlIDRe   = re(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)
	mountRe     = re(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)
	revisionRe  = re(`^[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}$`)
	scpRe       = re(`^[a-z_][a-z0-9_-]{0,31}@[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?:[A-Za-z0-9_~][A-Za-z0-9._/~-]*$`)
	gitUserRe   = re(`^[A-Za-z0-9_][A-Za-z0-9._@+-]{0,63}$`)
	referenceRe = re(`^[A-Za-z0-9][A-Za-z0-9 ._:/#-]{0,119}$`)
	labelTextRe = re(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$`)
	pveNameRe   = re(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
)

// Hostname is an RFC 1123 label: hosts join MicroK8s and MicroCeph by it.
var Hostname = Rule{"hostname", "a hostname (RFC 1123 label)", "use lower-case letters, digits and '-', at most 63 characters", dnsLabelRe}

// DNSLabel is a Kubernetes namespace, Application or wave name.
var DNSLabel = Rule{"dns-label", "a DNS label", "use lower-case letters, digits and '-', at most 63 characters", dnsLabelRe}

// AppName is an Argo CD Application or wave name (a DNS label short enough for the pm4ml.io/ annotations).
var AppName = Rule{"app-name", "a valid name (DNS label of at most 53 characters)", "use lower-case letters, digits and '-'", func(s string) bool { return len(s) <= 53 && dnsLabelRe(s) }}

// Domain is a DNS name of at least two labels.
var Domain = Rule{"domain", "a DNS name", "use lower-case labels separated by dots, e.g. pm4ml.example.org", IsDomain}

// HostOrIP is a DNS name or an IP address (without an IPv6 zone).
var HostOrIP = Rule{"host-or-ip", "an IP address or a DNS name", "use e.g. 203.0.113.7 or bastion.example.org", func(s string) bool { return IsIP(s) || IsDomain(s) }}

// IP is an IPv4 or IPv6 address without a zone.
var IP = Rule{"ip", "an IP address", "use e.g. 10.10.0.2 (IPv6 without a %zone)", IsIP}

// IPv4 is a dotted IPv4 address.
var IPv4 = Rule{"ipv4", "an IPv4 address", "use a dotted IPv4 address, e.g. 10.10.1.11", IsIPv4}

// CIDR4 is an IPv4 address or network.
var CIDR4 = Rule{"cidr4", "an IPv4 address or CIDR", "use e.g. 10.10.250.0/24", func(s string) bool { _, ok := ParseCIDR4(s); return ok }}

// CIDR is an IPv4 or IPv6 network.
var CIDR = Rule{"cidr", "a CIDR", "use e.g. 10.201.0.0/24", func(s string) bool { _, err := netip.ParsePrefix(s); return err == nil }}

// User is a POSIX user name.
var User = Rule{"user", "a valid user name", "use a POSIX user name such as ubuntu (lower-case letters, digits, '_' and '-')", userRe}

// Interface is a Linux network interface name.
var Interface = Rule{"interface", "an interface name", "use the interface name, e.g. eth0 or ens18 (at most 15 characters)", ifaceRe}

// K8sName is a Kubernetes object name (DNS-1123 subdomain).
var K8sName = Rule{"k8s-name", "a valid name", "use lower-case letters, digits, '-' and '.'", k8sNameRe}

// Pool is a Ceph pool name.
var Pool = Rule{"ceph-pool", "a Ceph pool name", "use letters, digits, '-', '_' or '.', e.g. rbd-pm4ml", poolRe}

// Disk is a block device path.
var Disk = Rule{"disk", "a block device path", "use a path under /dev, e.g. /dev/sdb or /dev/disk/by-id/...", func(s string) bool { return diskRe(s) && cleanSegments(s) }}

// AbsPath is an absolute path without '.' or '..' segments.
var AbsPath = Rule{"abs-path", "an absolute path", "use an absolute path of letters, digits, '_', '-' and '.', without '..', e.g. /var/lib/pm4ml-local", func(s string) bool { return absPathRe(s) && cleanSegments(s) }}

// LocalPath is an absolute path on the machine that runs Pulumi (the program reads it there).
// Wider than AbsPath: a Go module cache path carries '@' and '!', mirrors often '+', '~', ',',
// '=', '%' or ':'. Still no blanks, quotes or other shell syntax, no '.' or '..' segments.
var LocalPath = Rule{"local-path", "an absolute path on the machine that runs Pulumi", "use an absolute path of letters, digits and _ - . @ ! + ~ , = % : without blanks or '..', e.g. /srv/mirror/argo-cd/install.yaml", func(s string) bool {
	return localPathRe(s) && cleanSegments(strings.TrimSuffix(s, "/"))
}}

// RelPath is a path inside a repository, without '.' or '..' segments.
var RelPath = Rule{"rel-path", "a relative path in the repository", "use e.g. apps/my-app (no leading '/', no '..')", func(s string) bool { return relPathRe(s) && cleanSegments("/"+s) }}

// MicroK8sChannel is a pinned MicroK8s snap channel <major>.<minor>/<risk>.
var MicroK8sChannel = Rule{"microk8s-channel", "a pinned MicroK8s channel", "use <major>.<minor>/<risk>, e.g. 1.31/stable (guide 2)", mk8sChanRe}

// MicroCephChannel is a pinned MicroCeph snap channel <release>/<risk> (not latest).
var MicroCephChannel = Rule{"microceph-channel", "a pinned MicroCeph channel", "use <release>/<risk>, e.g. squid/stable (not latest)", func(s string) bool { return cephChanRe(s) && !strings.HasPrefix(s, "latest/") }}

// Version is a pinned release tag vX.Y.Z.
var Version = Rule{"version", "a pinned version", "use a release tag such as v2.14.21", versionRe}

// PM4MLID is the id the hub operator assigned; a Vault path segment.
var PM4MLID = Rule{"pm4ml-id", "usable in a Vault path", "use lower-case letters, digits, '-' or '_'", pm4mlIDRe}

// VaultMount is a KV mount path.
var VaultMount = Rule{"vault-mount", "a mount path", "use the KV mount without slashes at the ends, default secret", mountRe}

// GitRevision is a branch, tag or commit (git check-ref-format, without blanks or '=').
var GitRevision = Rule{"git-revision", "a git branch, tag or commit", "use e.g. main, release/1.4 or v1.4.0 (no blanks, no '..')", IsGitRevision}

// GitURL is a repository URL Argo CD can clone.
var GitURL = Rule{"git-url", "a git URL", "use https://host/org/repo.git or git@host:org/repo.git", IsGitURL}

// GitUser is the user name of an HTTPS token.
var GitUser = Rule{"git-user", "a repository user name", "use letters, digits, '.', '_', '@', '+' or '-' (default git)", gitUserRe}

// HTTPURL is an http(s) URL with a host and no credentials.
var HTTPURL = Rule{"http-url", "an http(s) URL", "use e.g. https://portal.pm4ml.example.org/", func(s string) bool { return IsHTTPURL(s, false) }}

// HTTPSURL is an https URL with a host and no credentials.
var HTTPSURL = Rule{"https-url", "an https URL", "use e.g. https://pve.example.org:8006/", func(s string) bool { return IsHTTPURL(s, true) }}

// SSHHostKey is a public host key in authorized_keys form ("ssh-ed25519 AAAA...").
var SSHHostKey = Rule{"ssh-host-key", "an SSH public host key", "paste the line of `ssh-keyscan -t ed25519 <host>` without the host name, e.g. ssh-ed25519 AAAAC3...; a SHA256: fingerprint is not a key", IsSSHHostKey}

// WGKey is a WireGuard public key.
var WGKey = Rule{"wireguard-key", "a WireGuard public key", "paste the peer's key from `wg pubkey` (44 characters of base64)", IsWGKey}

// Endpoint is host:port (a WireGuard peer endpoint).
var Endpoint = Rule{"endpoint", "host:port", "use e.g. 203.0.113.7:51820 or vpn.example.org:51820", IsEndpoint}

// Reference is a ticket or document reference (e.g. a risk acceptance id).
var Reference = Rule{"reference", "a reference (letters, digits, blanks and . _ : / # -, at most 120 characters)", "give the reference of the approved document, e.g. RISK-2026-014", referenceRe}

// Label is a short human label (e.g. an endpoint's name in the verification table).
var Label = Rule{"label", "a short label (letters, digits, blanks, '.', '_', '-', at most 63 characters)", "use e.g. portal", labelTextRe}

// ProxmoxName is a Proxmox node or datastore name.
var ProxmoxName = Rule{"proxmox-name", "a Proxmox name", "use letters, digits, '-', '_' or '.', e.g. pve1 or local-lvm", pveNameRe}

// ReservedStorageClass is MicroK8s' own hostpath class (addon hostpath-storage): no class of the
// program may take its name.
const ReservedStorageClass = "microk8s-hostpath"

// Numeric bounds, one definition each.
const (
	PortMin, PortMax             = 1, 65535
	MaxConnMin, MaxConnMax       = 100, 500000
	StatsPortMin                 = 1024
	VLANMin, VLANMax             = 1, 4094
	VMIDMin                      = 100
	AppTimeoutMin, AppTimeoutMax = 30, 86400
	AttemptsMin, AttemptsMax     = 1, 100
	IntervalMin, IntervalMax     = 1, 3600
	SizingMax                    = 1 << 20
)

// IsDomain: lower-case labels, at least two, at most 253 characters.
func IsDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if !dnsLabelRe(l) {
			return false
		}
	}
	return true
}

// IsIP: an IPv4 or IPv6 address without a zone.
func IsIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// IsIPv4: a dotted IPv4 address.
func IsIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// ParseCIDR4 reads an IPv4 address (as /32) or an IPv4 network without host bits.
func ParseCIDR4(s string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return p, false
	}
	return p, true
}

// cleanSegments: no empty, '.' or '..' segment after the leading '/'.
func cleanSegments(p string) bool {
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// IsGitRevision follows git check-ref-format for branch and tag names (and accepts commit ids).
func IsGitRevision(s string) bool {
	if !revisionRe(s) || strings.Contains(s, "..") || strings.Contains(s, "//") ||
		strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") {
		return false
	}
	for _, seg := range strings.Split(s, "/") {
		if strings.HasPrefix(seg, ".") {
			return false
		}
	}
	return true
}

// IsGitURL: https/ssh/git/file URLs with a host (file: a path), or scp-like user@host:path.
func IsGitURL(s string) bool {
	if len(s) > 2048 || strings.ContainsAny(s, " \t\r\n=\"'`$\\") {
		return false
	}
	if scpRe(s) {
		return true
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https", "git":
		return hostOK(u.Hostname()) && u.User == nil
	case "ssh":
		_, hasPass := u.User.Password()
		return hostOK(u.Hostname()) && (u.User == nil || userRe(u.User.Username()) && !hasPass)
	case "file":
		return u.Host == "" && absPathRe(u.Path) && cleanSegments(u.Path)
	}
	return false
}

// IsHTTPURL: http(s) (or https only) with a valid host, no credentials, no blanks or quotes.
func IsHTTPURL(s string, httpsOnly bool) bool {
	if len(s) > 2048 || strings.ContainsAny(s, " \t\r\n\"'`\\") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" {
		return false
	}
	if u.Scheme != "https" && (httpsOnly || u.Scheme != "http") {
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < PortMin || n > PortMax {
			return false
		}
	}
	return hostOK(u.Hostname())
}

// hostOK: an IP address or a DNS name (upper case allowed in URLs; a single label allowed for
// in-cluster service names).
func hostOK(h string) bool {
	if IsIP(h) {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !dnsLabelRe(strings.ToLower(l)) {
			return false
		}
	}
	return true
}

// IsSSHHostKey: "<type> <base64>" that parses as an SSH public key.
func IsSSHHostKey(s string) bool {
	fields := strings.Fields(s)
	if len(fields) != 2 || s != fields[0]+" "+fields[1] {
		return false
	}
	k, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	return err == nil && len(rest) == 0 && k.Type() == fields[0]
}

// IsWGKey: 32 bytes of standard base64.
func IsWGKey(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 32 && base64.StdEncoding.EncodeToString(b) == s
}

// IsEndpoint: host:port with an IP (IPv6 in brackets) or a DNS name.
func IsEndpoint(e string) bool {
	h, p, err := net.SplitHostPort(e)
	if err != nil || h == "" {
		return false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < PortMin || n > PortMax || strconv.Itoa(n) != p {
		return false
	}
	return IsIP(h) || hostOK(h)
}
