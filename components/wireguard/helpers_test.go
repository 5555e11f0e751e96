package wireguard

import (
	"os"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/network"
)

// TEST-ONLY key material, generated once with `wg genkey | tee /dev/stderr | wg pubkey`. Never
// use these anywhere but in tests.
const (
	testServerPrivate = "SBFtpXeirx/FCnlj18dJHSvtgwWRLHkbW2DJFfylEG8="
	testServerPublic  = "Bl0uFXI3TCwzs9YJzSpVVtOq7aAayGEweVenHRnd5yk="
	testAlicePublic   = "kzhYwJbq2cg/1tkYCKSIivgpXGW9FQxxU+aN+fe+k2E="
	testBobPublic     = "H9AjqtpPluODlUctqEOymrXGCBSFqSy0Sa/A79YOh20="
)

var testPort = network.Lookup(network.WireGuard).Ports.From

// testSettings: two peers, one a site the server dials (Endpoint, so PersistentKeepalive) and one
// road warrior that dials in. alice's second CIDR is deliberately not masked (it is rendered
// masked, as wg applies it) and bob's CIDR is repeated (rendered once).
func testSettings() Settings {
	return Settings{
		Port:    testPort,
		Address: "10.200.0.1/24",
		Peers: []Peer{
			{Name: "alice", PublicKey: testAlicePublic, AllowedIPs: []string{"10.201.0.0/24", "10.201.1.7/24"}, Endpoint: "203.0.113.7:51820"},
			{Name: "bob", PublicKey: testBobPublic, AllowedIPs: []string{"10.202.0.2/32", "10.202.0.2/32"}},
		},
	}
}

// requireRoot skips tests that need network namespaces when not running as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, tun devices)")
	}
}
