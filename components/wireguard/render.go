// Package wireguard is the optional WireGuard VPN (guide 1.3.1 "51820 UDP WireGuard VPN, if
// WireGuard VPN is enabled"). It terminates on the HAProxy hosts, the public side where the port
// matrix row network.WireGuard opens the configured UDP port. Every HAProxy host runs the same
// server identity (one private key, pm4ml:wireguardPrivateKey) so that a keepalived VIP failover
// keeps the key the peers know.
//
// Render is pure: it returns, per host, the script that runs there, the wg-quick configuration
// with the private key replaced by a placeholder comment (what a reviewer reads), and the wg(8)
// "setconf" form of that configuration (what `wg-quick strip` yields, for validation). The key
// only ever reaches a host on the step's stdin.
package wireguard

import (
	"bufio"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/curve25519"

	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("wireguard", files, "scripts/*.tmpl")

const (
	// DefaultInterface is the interface (and wg-quick@ unit instance) name.
	DefaultInterface = "wg0"
	// DefaultConfDir is where wg-quick looks for <interface>.conf.
	DefaultConfDir = "/etc/wireguard"
	// Keepalive is the PersistentKeepalive (seconds) of every peer that has an Endpoint.
	Keepalive = 25
	// Step names the remote script ($0 on the host, file name in the render output).
	Step = "wireguard"
	// Placeholder stands for the PrivateKey line in every rendered configuration; the script
	// replaces it with the key read from stdin.
	Placeholder = "# PrivateKey = <pm4ml:wireguardPrivateKey: secret, arrives on stdin on the host, never rendered>"
)

// Peer is one remote peer (pm4ml:wireguard.peers[i]).
type Peer struct {
	Name       string
	PublicKey  string
	AllowedIPs []string
	// Endpoint is optional (host:port); with it the server also dials the peer and keeps the
	// tunnel open (PersistentKeepalive).
	Endpoint string
}

// Settings are the stack-wide WireGuard settings; every HAProxy host gets the same.
type Settings struct {
	Interface string // default DefaultInterface
	// Port is pm4ml:wireguard.port, the UDP port of the port matrix row network.WireGuard
	// (0: the row's default).
	Port    int
	Address string // pm4ml:wireguard.address, the interface address with prefix, e.g. 10.200.0.1/24
	Peers   []Peer
	// ConfDir is where the configuration goes (default DefaultConfDir; tests point it elsewhere).
	ConfDir string
}

// Rendered is what one host receives.
type Rendered struct {
	Host      string
	Interface string
	// Script is the apply step (Secret: the key arrives on stdin); Script.DeleteBody stops the
	// interface and removes the configuration when WireGuard leaves the host.
	Script remotecmd.Script
	// Config is <ConfDir>/<Interface>.conf as written on the host, except that the PrivateKey
	// line is Placeholder.
	Config string
	// SetConf is the wg(8) setconf form of Config (what `wg-quick strip` yields): Config without
	// the wg-quick-only Address line. It carries Placeholder too; WithPrivateKey completes it.
	SetConf string
}

// Component names the package's directory in the render output (<host>/wireguard/...).
const Component = "wireguard"

// Files lists what Render produced for a host, for the render command: the apply and delete
// scripts and the redacted configuration (what the host receives; the setconf form is derived
// from it on the host by `wg-quick strip`, so it is not among them).
func (r Rendered) Files() []remotecmd.File {
	return append(remotecmd.ScriptFiles(r.Host, Component, Step, r.Script),
		remotecmd.ConfigFile(r.Host, Component, r.Interface+".conf", r.Config, 0o600))
}

var (
	hostName  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$`)
	ifaceName = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`) // what wg-quick accepts
)

func withDefaults(s Settings) Settings {
	if s.Interface == "" {
		s.Interface = DefaultInterface
	}
	if s.ConfDir == "" {
		s.ConfDir = DefaultConfDir
	}
	if s.Port == 0 {
		s.Port = network.Lookup(network.WireGuard).Ports.From
	}
	return s
}

func problem(key, what, fix string) error {
	return fmt.Errorf("pm4ml:%s: %s; fix: %s", key, what, fix)
}

// Validate returns every problem of the settings (errors.Join), each naming its config key. The
// stack's config validation checks the same keys; this guards the component's own inputs, which
// reach a shell script and a configuration file.
func (s Settings) Validate() error {
	s = withDefaults(s)
	var errs []error
	if !ifaceName.MatchString(s.Interface) {
		errs = append(errs, fmt.Errorf("wireguard: interface %q is not an interface name; fix: use up to 15 characters of [a-zA-Z0-9_=+.-] (default wg0)", s.Interface))
	}
	if !strings.HasPrefix(s.ConfDir, "/") || strings.ContainsAny(s.ConfDir, "\n\r") {
		errs = append(errs, fmt.Errorf("wireguard: configuration directory %q is not an absolute path; fix: leave it empty for /etc/wireguard", s.ConfDir))
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, problem("wireguard.port", fmt.Sprintf("%d is not a port", s.Port), "use the UDP port of the firewall mapping, default 51820 (guide 1.3.1)"))
	}
	if p, err := netip.ParsePrefix(s.Address); err != nil || !p.Addr().Is4() || p.Bits() == 32 {
		errs = append(errs, problem("wireguard.address", fmt.Sprintf("%q is not an IPv4 interface address with prefix", s.Address), "use e.g. 10.200.0.1/24 (outside the internal subnet)"))
	}
	if len(s.Peers) == 0 {
		errs = append(errs, problem("wireguard.peers", "is empty while WireGuard is enabled", "list the peers (name, publicKey, allowedIps)"))
	}
	names := map[string]bool{}
	keys := map[string]bool{}
	routed := map[netip.Prefix]string{} // allowed IP -> peer: wg gives a prefix to one peer only
	for i, p := range s.Peers {
		if !grammar.DNSLabel.OK(p.Name) || names[p.Name] {
			errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].name", i), fmt.Sprintf("%q is empty, invalid or repeated", p.Name), "give each peer a unique lower-case name"))
		}
		names[p.Name] = true
		if !isKey(p.PublicKey) {
			errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].publicKey", i), "is not a WireGuard public key", "paste the peer's key from `wg pubkey` (44 characters of base64)"))
		} else if keys[p.PublicKey] {
			errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].publicKey", i), "is the key of an earlier peer", "each peer has its own key pair"))
		}
		keys[p.PublicKey] = true
		if len(p.AllowedIPs) == 0 {
			errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].allowedIps", i), "is empty", "list the CIDRs routed to this peer"))
		}
		for j, a := range p.AllowedIPs {
			pfx, err := netip.ParsePrefix(a)
			if err != nil {
				errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].allowedIps[%d]", i, j), fmt.Sprintf("%q is not a CIDR", a), "use e.g. 10.201.0.0/24"))
				continue
			}
			if other, ok := routed[pfx.Masked()]; ok && other != p.Name {
				errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].allowedIps[%d]", i, j), fmt.Sprintf("%s is already routed to peer %q", pfx.Masked(), other), "route each CIDR to one peer only (WireGuard keeps the last one)"))
			}
			routed[pfx.Masked()] = p.Name
		}
		if p.Endpoint != "" && !grammar.IsEndpoint(p.Endpoint) {
			errs = append(errs, problem(fmt.Sprintf("wireguard.peers[%d].endpoint", i), fmt.Sprintf("%q is not host:port", p.Endpoint), "use e.g. 203.0.113.7:51820 or vpn.example.org:51820, or leave it empty for a peer that dials in"))
		}
	}
	return errors.Join(errs...)
}

// isKey reports whether s is a WireGuard key: 32 bytes in standard base64.
func isKey(s string) bool { return grammar.IsWGKey(s) }

// decodeKey decodes a private key; errors name the secret, never its value.
func decodeKey(privateKey string) ([]byte, error) {
	k := strings.TrimSpace(privateKey)
	if !isKey(k) {
		return nil, errors.New("pm4ml:wireguardPrivateKey: is not a WireGuard private key (32 bytes of base64); fix: wg genkey | pulumi config set --secret pm4ml:wireguardPrivateKey")
	}
	b, _ := base64.StdEncoding.DecodeString(k)
	return b, nil
}

// PublicKey derives the server's public key from its private key, as `wg pubkey` does
// (X25519 of the clamped key and the base point). The result is not secret.
func PublicKey(privateKey string) (string, error) {
	k, err := decodeKey(privateKey)
	if err != nil {
		return "", err
	}
	pub, err := curve25519.X25519(k, curve25519.Basepoint)
	if err != nil {
		return "", fmt.Errorf("pm4ml:wireguardPrivateKey: %v; fix: generate a new key with wg genkey", err)
	}
	var zero [32]byte
	if subtle.ConstantTimeCompare(pub, zero[:]) == 1 {
		return "", errors.New("pm4ml:wireguardPrivateKey: yields the zero public key; fix: generate a new key with wg genkey")
	}
	return base64.StdEncoding.EncodeToString(pub), nil
}

// WithPrivateKey completes a rendered configuration (Config or SetConf) with the key, exactly as
// the script does on the host: the Placeholder line becomes "PrivateKey = <key>". For tests and
// validators; the program itself never holds a completed configuration.
func WithPrivateKey(conf, privateKey string) (string, error) {
	if _, err := decodeKey(privateKey); err != nil {
		return "", err
	}
	if strings.Count(conf, Placeholder) != 1 {
		return "", errors.New("wireguard: the configuration has no (or more than one) private key placeholder")
	}
	return strings.Replace(conf, Placeholder, "PrivateKey = "+strings.TrimSpace(privateKey), 1), nil
}

// Strip is `wg-quick strip` in Go: the configuration without the keys only wg-quick knows
// (Address, DNS, MTU, Table, Pre/PostUp/Down, SaveConfig in [Interface]); comments stay.
func Strip(conf string) string {
	quickOnly := []string{"address", "dns", "mtu", "table", "preup", "predown", "postup", "postdown", "saveconfig"}
	var b strings.Builder
	inInterface := false
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		line := sc.Text()
		stripped, _, _ := strings.Cut(line, "#")
		k, _, _ := strings.Cut(stripped, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(k, "[") {
			inInterface = k == "[interface]"
		}
		if inInterface && slices.Contains(quickOnly, k) {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// planData is what the templates see for one host.
type planData struct {
	Settings
	Host        string
	Index       int // 1-based position among Hosts
	Hosts       []string
	ConfPath    string
	Placeholder string
	Keepalive   int
	Config      string // the redacted configuration (for the script)
	State       string // what `wg show` must report, normalised (for the script)
}

// maskedCIDRs returns the (valid) CIDRs masked, in order, without repeats.
func maskedCIDRs(cidrs []string) []string {
	out := make([]string, 0, len(cidrs))
	for _, a := range cidrs {
		m := netip.MustParsePrefix(a).Masked().String()
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// state is the expected live state in the form the script's live_state prints: the listen port,
// then per peer (sorted) its keepalive and allowed IPs (masked and sorted, as wg shows them).
func state(s Settings) string {
	var peers []string
	for _, p := range s.Peers {
		ips := maskedCIDRs(p.AllowedIPs)
		slices.Sort(ips)
		ka := "off"
		if p.Endpoint != "" {
			ka = strconv.Itoa(Keepalive)
		}
		peers = append(peers, fmt.Sprintf("peer %s keepalive %s allowed-ips %s", p.PublicKey, ka, strings.Join(ips, " ")))
	}
	slices.Sort(peers)
	return fmt.Sprintf("listen-port %d\n", s.Port) + strings.Join(peers, "\n") + "\n"
}

// Plan is the VPN as stacks builds it, for render and deploy alike.
type Plan struct {
	// Enabled is pm4ml:wireguard.enabled. When false the component registers no children and
	// nothing else is read.
	Enabled bool
	// Settings are pm4ml:wireguard (port, address, peers; the interface defaults to wg0).
	Settings Settings
	// Hosts are the live HAProxy hosts (role haproxy), by name: the public side, where the port
	// matrix row network.WireGuard opens the port and the interface runs.
	Hosts []string
	// Lost are HAProxy hosts gone for good (pm4ml:hosts[].lost), by name: their steps stay
	// registered, frozen, so that their delete (which stops the interface) never tries to reach
	// them.
	Lost []string
}

// Render renders what each of the plan's live HAProxy hosts receives, in the plan's order. The
// same rendering is used by the component, so what a reviewer reads is what runs.
func Render(p Plan) ([]Rendered, error) {
	s, hostNames := withDefaults(p.Settings), p.Hosts
	var errs []error
	if err := s.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(hostNames) == 0 {
		errs = append(errs, problem("wireguard.enabled", "is true but no host has the role haproxy", "give the HAProxy hosts the role haproxy (WireGuard terminates there), or disable WireGuard"))
	}
	seen := map[string]bool{}
	for _, h := range hostNames {
		if !hostName.MatchString(h) || seen[h] {
			errs = append(errs, problem("hosts", fmt.Sprintf("host name %q is invalid or repeated", h), "use unique host names of letters, digits, dots and hyphens"))
		}
		seen[h] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// AllowedIPs are written masked and without repeats, as WireGuard applies them (it routes
	// 10.201.1.7/24 as 10.201.1.0/24 and warns about the host part).
	peers := make([]Peer, len(s.Peers))
	for i, p := range s.Peers {
		p.AllowedIPs = maskedCIDRs(p.AllowedIPs)
		peers[i] = p
	}
	s.Peers = peers
	out := make([]Rendered, 0, len(hostNames))
	for i, h := range hostNames {
		d := planData{
			Settings:    s,
			Host:        h,
			Index:       i + 1,
			Hosts:       hostNames,
			ConfPath:    strings.TrimRight(s.ConfDir, "/") + "/" + s.Interface + ".conf",
			Placeholder: Placeholder,
			Keepalive:   Keepalive,
			State:       state(s),
		}
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, "wg.conf.tmpl", d); err != nil {
			return nil, fmt.Errorf("render %s for %s: %w", d.ConfPath, h, err)
		}
		d.Config = strings.TrimRight(b.String(), "\n") + "\n"
		script, err := remotecmd.Render(Step, tmpl.Lookup("wireguard.sh.tmpl"), d)
		if err != nil {
			return nil, err
		}
		del, err := remotecmd.Render(Step+"-delete", tmpl.Lookup("wireguard-delete.sh.tmpl"), d)
		if err != nil {
			return nil, err
		}
		script.DeleteBody = del.Body
		script.Secret = true
		out = append(out, Rendered{Host: h, Interface: s.Interface, Script: script, Config: d.Config, SetConf: Strip(d.Config)})
	}
	return out, nil
}
