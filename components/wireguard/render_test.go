package wireguard

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"
)

const wantConfigLB1 = `# /etc/wireguard/wg0.conf on lb1: rendered by pm4ml-onprem (components/wireguard); do not edit on the host.
# WireGuard VPN (guide 1.3.1), terminated on the HAProxy hosts; UDP 51820 is the port matrix
# row "wireguard" (pm4ml:wireguard.port).
# HAProxy hosts lb1, lb2: the interface is up on every one of them, with the same
# server key (pm4ml:wireguardPrivateKey) and the same address 10.200.0.1/24. That is fine:
# the peers' Endpoint is the public VIP, so only the host that holds the VIP (keepalived) receives
# and answers their traffic; after a failover the new holder has the same identity and address
# and the peers simply handshake again. Caveat: a peer configured WITH an Endpoint here (a site
# that the server dials, PersistentKeepalive 25) is dialled by every host that runs
# the interface, not only by the VIP holder; that peer sees one key from several sources and
# roams between them. Give the server an Endpoint only for peers where that is acceptable.
[Interface]
Address = 10.200.0.1/24
ListenPort = 51820
# PrivateKey = <pm4ml:wireguardPrivateKey: secret, arrives on stdin on the host, never rendered>

# peer alice
[Peer]
PublicKey = kzhYwJbq2cg/1tkYCKSIivgpXGW9FQxxU+aN+fe+k2E=
AllowedIPs = 10.201.0.0/24, 10.201.1.0/24
Endpoint = 203.0.113.7:51820
PersistentKeepalive = 25

# peer bob
[Peer]
PublicKey = H9AjqtpPluODlUctqEOymrXGCBSFqSy0Sa/A79YOh20=
AllowedIPs = 10.202.0.2/32
`

func render(t *testing.T, s Settings, hostNames ...string) []Rendered {
	t.Helper()
	r, err := Render(Plan{Enabled: true, Settings: s, Hosts: hostNames})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(r) != len(hostNames) {
		t.Fatalf("Render returned %d hosts for %d", len(r), len(hostNames))
	}
	return r
}

func TestRenderConfigGolden(t *testing.T) {
	r := render(t, testSettings(), "lb1", "lb2")
	if r[0].Config != wantConfigLB1 {
		t.Errorf("wg0.conf for lb1:\n%s\nwant:\n%s", r[0].Config, wantConfigLB1)
	}
	// lb2 differs only in the header naming the host.
	if want := strings.Replace(wantConfigLB1, " on lb1:", " on lb2:", 1); r[1].Config != want {
		t.Errorf("wg0.conf for lb2:\n%s", r[1].Config)
	}
	if r[0].Host != "lb1" || r[1].Host != "lb2" || r[0].Interface != DefaultInterface {
		t.Errorf("hosts/interface: %q %q %q", r[0].Host, r[1].Host, r[0].Interface)
	}
}

func TestRenderSetConfIsStrip(t *testing.T) {
	r := render(t, testSettings(), "lb1")[0]
	want := strings.Replace(r.Config, "Address = 10.200.0.1/24\n", "", 1)
	if r.SetConf != want {
		t.Errorf("setconf form:\n%s\nwant the configuration without its Address line:\n%s", r.SetConf, want)
	}
	// Strip keeps [Peer] keys that look like wg-quick keys outside [Interface], and comments.
	in := "[Interface]\nAddress = 10.0.0.1/24\nmtu=1400\nDNS = 1.1.1.1\nPostUp = x # y\nListenPort = 1\n#Address = kept\n[Peer]\nAddress = kept-in-peer\n"
	if got, want := Strip(in), "[Interface]\nListenPort = 1\n#Address = kept\n[Peer]\nAddress = kept-in-peer\n"; got != want {
		t.Errorf("Strip:\n%q\nwant\n%q", got, want)
	}
}

func TestRenderSingleHostHasNoVIPNote(t *testing.T) {
	r := render(t, testSettings(), "lb1")[0]
	for _, text := range []string{r.Config, r.Script.Body} {
		if strings.Contains(text, "VIP") || strings.Contains(text, "every one of them") {
			t.Errorf("one HAProxy host, yet the note about several hosts is rendered:\n%s", text)
		}
	}
	two := render(t, testSettings(), "lb1", "lb2")[1]
	for _, want := range []string{"HAProxy host lb2 (2 of 2)", "HAProxy hosts lb1, lb2: the interface is up on every one of them", "only the host that holds the VIP"} {
		if !strings.Contains(two.Script.Body, want) {
			t.Errorf("lb2 script lacks %q", want)
		}
	}
}

func TestRenderKeepaliveOnlyWithEndpoint(t *testing.T) {
	s := testSettings()
	s.Peers[0].Endpoint = ""
	r := render(t, s, "lb1")[0]
	if strings.Contains(r.Config, "PersistentKeepalive") || strings.Contains(r.Config, "Endpoint =") {
		t.Errorf("no peer has an endpoint, yet:\n%s", r.Config)
	}
	if !strings.Contains(r.Script.Body, "peer "+testAlicePublic+" keepalive off allowed-ips 10.201.0.0/24 10.201.1.0/24\n") {
		t.Errorf("expected state for alice (no keepalive, masked CIDRs) missing from the script")
	}
}

func TestRenderScriptShape(t *testing.T) {
	s := testSettings()
	s.Interface = "wgpm"
	r := render(t, s, "lb1")[0]
	sc := r.Script
	if !sc.Secret || sc.Step != Step {
		t.Errorf("script: Secret=%v Step=%q, want a secret step %q", sc.Secret, sc.Step, Step)
	}
	for _, want := range []string{
		"key=$(cat)", // the key comes from stdin
		"ensure_packages wireguard-tools",
		`put_file "$CONF" 600`,
		`wg syncconf "$IFACE" <(wg-quick strip "$CONF")`,
		`systemctl enable --now "$UNIT"`,
		"IFACE='wgpm'",
		"CONF_DIR='/etc/wireguard'",
		Placeholder,
		"listen-port 51820\npeer " + testBobPublic + " keepalive off allowed-ips 10.202.0.2/32\npeer " + testAlicePublic + " keepalive 25 allowed-ips 10.201.0.0/24 10.201.1.0/24\nPM4ML_WG_STATE",
	} {
		if !strings.Contains(sc.Body, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	for _, want := range []string{`systemctl disable --now "$UNIT"`, `rm -f "$CONF"`, "CONF='/etc/wireguard/wgpm.conf'"} {
		if !strings.Contains(sc.DeleteBody, want) {
			t.Errorf("delete script lacks %q", want)
		}
	}
	names := map[string]bool{}
	for _, f := range r.Files() {
		names[f.Name()] = true
		if f.Content == "" {
			t.Errorf("file %s is empty", f.Name())
		}
	}
	for _, n := range []string{"wireguard.sh", "wireguard.delete.sh", "wgpm.conf"} {
		if !names[n] {
			t.Errorf("Files() lacks %s (have %v)", n, names)
		}
	}
	// the setconf form is derived on the host (wg-quick strip): no host receives it
	if names["wgpm.setconf"] {
		t.Errorf("Files() lists wgpm.setconf, which no host receives")
	}
}

// No rendered artifact carries a PrivateKey line with a value: only the placeholder comment.
func TestRenderNeverHoldsAKey(t *testing.T) {
	keyLine := regexp.MustCompile(`(?im)^\s*PrivateKey\s*=\s*[A-Za-z0-9+/]`)
	for _, r := range render(t, testSettings(), "lb1", "lb2") {
		texts := map[string]string{"setconf form": r.SetConf}
		for _, f := range r.Files() {
			texts[f.Name()] = f.Content
		}
		for name, content := range texts {
			if keyLine.MatchString(content) {
				t.Errorf("%s/%s has a PrivateKey line with a value", r.Host, name)
			}
			if strings.Contains(content, testServerPrivate) {
				t.Errorf("%s/%s contains the private key", r.Host, name)
			}
		}
		if strings.Count(r.Config, Placeholder) != 1 || strings.Count(r.SetConf, Placeholder) != 1 {
			t.Errorf("%s: the placeholder must appear exactly once in each configuration", r.Host)
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	a := render(t, testSettings(), "lb1", "lb2")
	b := render(t, testSettings(), "lb1", "lb2")
	for i := range a {
		if a[i].Script.Body != b[i].Script.Body || a[i].Config != b[i].Config || a[i].Script.DeleteBody != b[i].Script.DeleteBody {
			t.Errorf("rendering %s twice differs", a[i].Host)
		}
	}
}

func TestRenderDefaults(t *testing.T) {
	s := testSettings()
	s.Port = 0
	r := render(t, s, "lb1")[0]
	if !strings.Contains(r.Config, fmt.Sprintf("ListenPort = %d\n", testPort)) {
		t.Errorf("port 0 must default to the port matrix row's port %d:\n%s", testPort, r.Config)
	}
}

func TestValidateProblems(t *testing.T) {
	ok := testSettings()
	cases := []struct {
		name  string
		edit  func(*Settings)
		hosts []string
		want  []string
	}{
		{"port", func(s *Settings) { s.Port = 70000 }, nil, []string{"pm4ml:wireguard.port: 70000 is not a port"}},
		{"address without prefix", func(s *Settings) { s.Address = "10.200.0.1" }, nil, []string{"pm4ml:wireguard.address"}},
		{"address /32", func(s *Settings) { s.Address = "10.200.0.1/32" }, nil, []string{"pm4ml:wireguard.address"}},
		{"no peers", func(s *Settings) { s.Peers = nil }, nil, []string{"pm4ml:wireguard.peers: is empty"}},
		{"peer name injection", func(s *Settings) { s.Peers[0].Name = "a\nPostUp = rm -rf /" }, nil, []string{"pm4ml:wireguard.peers[0].name"}},
		{"repeated name", func(s *Settings) { s.Peers[1].Name = "alice" }, nil, []string{"pm4ml:wireguard.peers[1].name"}},
		{"bad key", func(s *Settings) { s.Peers[1].PublicKey = "abc" }, nil, []string{"pm4ml:wireguard.peers[1].publicKey: is not a WireGuard public key"}},
		{"repeated key", func(s *Settings) { s.Peers[1].PublicKey = testAlicePublic }, nil, []string{"pm4ml:wireguard.peers[1].publicKey: is the key of an earlier peer"}},
		{"no allowed ips", func(s *Settings) { s.Peers[1].AllowedIPs = nil }, nil, []string{"pm4ml:wireguard.peers[1].allowedIps: is empty"}},
		{"bad cidr", func(s *Settings) { s.Peers[0].AllowedIPs[1] = "10.201.1.0" }, nil, []string{"pm4ml:wireguard.peers[0].allowedIps[1]"}},
		{"cidr on two peers", func(s *Settings) { s.Peers[1].AllowedIPs = []string{"10.201.0.9/24"} }, nil, []string{`pm4ml:wireguard.peers[1].allowedIps[0]: 10.201.0.0/24 is already routed to peer "alice"`}},
		{"endpoint without port", func(s *Settings) { s.Peers[0].Endpoint = "203.0.113.7" }, nil, []string{"pm4ml:wireguard.peers[0].endpoint"}},
		{"endpoint injection", func(s *Settings) { s.Peers[0].Endpoint = "1.2.3.4:5\nPostUp = id" }, nil, []string{"pm4ml:wireguard.peers[0].endpoint"}},
		{"endpoint port 0", func(s *Settings) { s.Peers[0].Endpoint = "vpn.example.org:0" }, nil, []string{"pm4ml:wireguard.peers[0].endpoint"}},
		{"interface", func(s *Settings) { s.Interface = "wireguard-interface0" }, nil, []string{"wireguard: interface"}},
		{"no hosts", func(s *Settings) {}, []string{}, []string{"pm4ml:wireguard.enabled: is true but no host has the role haproxy"}},
		{"host name injection", func(s *Settings) {}, []string{"lb1\nrm -rf /"}, []string{"pm4ml:hosts: host name"}},
		{"everything at once", func(s *Settings) { s.Port = -1; s.Address = "x"; s.Peers[0].PublicKey = "" }, nil,
			[]string{"pm4ml:wireguard.port", "pm4ml:wireguard.address", "pm4ml:wireguard.peers[0].publicKey"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := testSettings()
			c.edit(&s)
			hosts := c.hosts
			if hosts == nil {
				hosts = []string{"lb1"}
			}
			_, err := Render(Plan{Enabled: true, Settings: s, Hosts: hosts})
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "fix: ") {
				t.Errorf("error %q does not say how to fix it", err)
			}
		})
	}
	for _, e := range []string{"[2001:db8::1]:51820", "vpn.example.org:51820", "203.0.113.7:1"} {
		s := ok
		s.Peers = append([]Peer(nil), ok.Peers...)
		s.Peers[0].Endpoint = e
		if _, err := Render(Plan{Enabled: true, Settings: s, Hosts: []string{"lb1"}}); err != nil {
			t.Errorf("endpoint %q refused: %v", e, err)
		}
	}
}

func TestPublicKeyKnownVector(t *testing.T) {
	got, err := PublicKey(testServerPrivate + "\n") // as `pulumi config` may hold it
	if err != nil {
		t.Fatal(err)
	}
	if got != testServerPublic {
		t.Errorf("PublicKey = %s, want %s (wg pubkey)", got, testServerPublic)
	}
	for _, bad := range []string{"", "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbm90LWEta2V5", "SBFtpXeirx/FCnlj18dJHSvtgwWRLHkbW2DJFfylEG8", testServerPrivate + "AAAA"} {
		_, err := PublicKey(bad)
		if err == nil {
			t.Errorf("PublicKey(%q) accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "pm4ml:wireguardPrivateKey") || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("error %q must name the key and not echo its value", err)
		}
	}
}

// The Go derivation equals the real `wg pubkey`, for fresh keys and for keys that are not
// clamped (wg clamps; so does X25519).
func TestPublicKeyMatchesWgPubkey(t *testing.T) {
	testtool.Tools(t, "wg")
	keys := []string{testServerPrivate, base64.StdEncoding.EncodeToString(bytesOf(0xff)), base64.StdEncoding.EncodeToString(bytesOf(0x01))}
	for range 5 {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, base64.StdEncoding.EncodeToString(b))
	}
	for _, k := range keys {
		cmd := exec.Command("wg", "pubkey")
		cmd.Stdin = strings.NewReader(k + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wg pubkey: %v", err)
		}
		got, err := PublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("PublicKey(%s) = %s, wg pubkey says %s", k, got, want)
		}
	}
}

func bytesOf(v byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = v
	}
	return b
}

func TestWithPrivateKey(t *testing.T) {
	r := render(t, testSettings(), "lb1")[0]
	full, err := WithPrivateKey(r.Config, testServerPrivate+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(full, Placeholder) || !strings.Contains(full, "\nListenPort = 51820\nPrivateKey = "+testServerPrivate+"\n\n# peer alice\n") {
		t.Errorf("completed configuration:\n%s", full)
	}
	if _, err := WithPrivateKey(r.Config, "nope"); err == nil || strings.Contains(err.Error(), "nope") {
		t.Errorf("a bad key: err=%v", err)
	}
	if _, err := WithPrivateKey(full, testServerPrivate); err == nil {
		t.Errorf("a configuration without placeholder was completed")
	}
}

// Strip equals the real `wg-quick strip` (which prints its result plus a newline).
func TestStripMatchesWgQuick(t *testing.T) {
	testtool.Tools(t, "wg-quick")
	requireRoot(t) // wg-quick re-executes itself with sudo otherwise
	r := render(t, testSettings(), "lb1")[0]
	full, err := WithPrivateKey(r.Config, testServerPrivate)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "wg0.conf")
	if err := os.WriteFile(p, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("wg-quick", "strip", p).Output()
	if err != nil {
		t.Fatalf("wg-quick strip: %v", err)
	}
	want, _ := WithPrivateKey(r.SetConf, testServerPrivate)
	if string(out) != want+"\n" {
		t.Errorf("wg-quick strip:\n%s\nSetConf completed:\n%s", out, want)
	}
}
