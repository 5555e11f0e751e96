package wireguard

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/hostsim"
)

var checkSummary = regexp.MustCompile(`(?m)^pm4ml: wireguard: (in sync|[0-9]+ drift\(s\))$`)

// TestCheckMode runs the WireGuard step in the hostsim sandbox, wg-quick@wg0 on a real userspace
// interface (wireguard-go): check on a fresh host drifts and changes nothing; after the apply it is
// in sync; a peer removed by hand from the live interface is drift, and apply syncs it back. The
// private key is never in an output.
func TestCheckMode(t *testing.T) {
	for _, tool := range []string{"wg", "wg-quick", "wireguard-go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is needed", tool)
		}
	}
	b := hostsim.New(t)
	s := testSettings()
	for i := range s.Peers {
		s.Peers[i].Endpoint = "" // nothing dialled, even inside the sandbox
	}
	r := render(t, s, "lb1")[0]
	key := genkey(t)
	script := b.Script("wg.sh", r.Script.Body)
	run := func(name, mode string) string {
		b.Stdin(name, key+"\n")
		return "run " + name + " " + script + " ''" + mode + "\n"
	}
	summary := func(name string) string {
		t.Helper()
		out := b.Out(name)
		if b.RC(name) != "0" {
			t.Fatalf("%s failed (rc %s):\n%s", name, b.RC(name), out)
		}
		if strings.Contains(out, key) {
			t.Errorf("%s shows the private key", name)
		}
		m := checkSummary.FindStringSubmatch(out)
		if m == nil {
			return ""
		}
		return m[1]
	}
	b.Session(run("c0", " check"))
	if got := summary("c0"); got == "in sync" || got == "" || b.Log() != "" {
		t.Errorf("fresh host: %q, log %q\n%s", got, b.Log(), b.Out("c0"))
	}
	b.Session(run("a1", "") + run("c1", " check") +
		"wg set wg0 peer " + testBobPublic + " remove\n" + run("c2", " check") + run("a2", "") + run("c3", " check") +
		"systemctl stop wg-quick@wg0\n")
	for _, c := range []string{"c1", "c3"} {
		if got := summary(c); got != "in sync" {
			t.Errorf("%s: %q\n%s", c, got, b.Out(c))
		}
	}
	if got := summary("c2"); got != "1 drift(s)" || !strings.Contains(b.Out("c2"), "drift: wg0 synced with /etc/wireguard/wg0.conf (wg syncconf)\n") {
		t.Errorf("a peer removed by hand: %q\n%s", got, b.Out("c2"))
	}
}
