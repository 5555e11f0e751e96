package hostprep_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/hostsim"
)

var (
	changedLine  = regexp.MustCompile(`(?m)^changed: `)
	checkSummary = regexp.MustCompile(`(?m)^pm4ml: (hostprep-[a-z]+): (in sync|[0-9]+ drift\(s\))$`)
)

func summaryOf(t *testing.T, b *hostsim.Box, run string) string {
	t.Helper()
	out := b.Out(run)
	if b.RC(run) != "0" {
		t.Fatalf("%s failed (rc %s):\n%s", run, b.RC(run), out)
	}
	if strings.HasPrefix(run, "c") && changedLine.MatchString(out) {
		t.Errorf("check %s printed a change:\n%s", run, out)
	}
	m := checkSummary.FindStringSubmatch(out)
	if strings.HasPrefix(run, "c") && m == nil {
		t.Fatalf("%s: no check summary:\n%s", run, out)
	}
	if m == nil {
		return ""
	}
	return m[2]
}

func driftLines(out string) []string {
	var d []string
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(l, "drift: "); ok {
			d = append(d, s)
		}
	}
	return d
}

// TestCheckMode runs the base, tuning and firewall steps of a worker in the hostsim sandbox: check
// on a fresh host reports drift and changes nothing; after the apply every check is in sync;
// hand-made drift (the /etc/hosts block edited, chrony stopped, a sysctl changed, a rule added to
// table inet pm4ml, then the table deleted) is reported exactly, and apply puts it back.
func TestCheckMode(t *testing.T) {
	b := hostsim.New(t)
	r := render(t, plans(t, hosts.Prod, prodHosts, false)["w1"])
	steps := []string{"base", "tuning", "firewall"}
	path := map[string]string{}
	for _, s := range steps {
		path[s] = b.Script(s+".sh", script(t, r, s))
	}
	phase := func(prefix, mode string) string {
		var d strings.Builder
		for _, s := range steps {
			d.WriteString("run " + prefix + "-" + s + " " + path[s] + " ''" + mode + "\n")
		}
		return d.String()
	}
	check, apply := " check", ""

	// 1. A fresh host: checks only.
	iface := hostsim.Iface("ens18", "10.20.2.21/16")
	b.Session(iface + phase("c0", check))
	for _, s := range steps {
		if sum := summaryOf(t, b, "c0-"+s); sum == "in sync" {
			t.Errorf("%s on a fresh host: in sync:\n%s", s, b.Out("c0-"+s))
		}
	}
	if l := b.Log(); l != "" {
		t.Errorf("check mode changed the host:\n%s", l)
	}
	if es, _ := os.ReadDir(filepath.Join(b.Dir, "upper")); len(es) != 0 {
		t.Errorf("check mode wrote into /etc: %v", es)
	}
	if !strings.Contains(b.Out("c0-base"), "drift: hostname w1 (was fresh-host)") ||
		!strings.Contains(b.Out("c0-tuning"), "drift: sysctl vm.swappiness = 1 (was 0)") ||
		!strings.Contains(b.Out("c0-firewall"), "drift: nftables table inet pm4ml loaded (the live table was missing)") {
		t.Errorf("fresh host drift:\n%s\n%s\n%s", b.Out("c0-base"), b.Out("c0-tuning"), b.Out("c0-firewall"))
	}

	// 2. Apply, check, hand-made drift, check, apply, check; then the table deleted, check,
	// apply, check. One session: the network namespace (the live nftables table) persists.
	b.Session(iface + phase("a1", apply) + phase("c1", check) + `
sed -i 's/^10.20.2.22 w2$/10.20.2.99 w2/' /etc/hosts
systemctl stop chrony
sysctl -q -w vm.swappiness=60
nft add rule inet pm4ml input tcp dport 9999 accept
` + phase("c2", check) + phase("a2", apply) + phase("c3", check) + `
nft delete table inet pm4ml
` + phase("c4", check) + phase("a4", apply) + phase("c5", check))
	for _, s := range steps {
		if sum := summaryOf(t, b, "a1-"+s); !strings.HasSuffix(sum, "change(s)") && sum != "" {
			t.Errorf("apply %s: %s", s, sum)
		}
		for _, c := range []string{"c1", "c3", "c5"} {
			if sum := summaryOf(t, b, c+"-"+s); sum != "in sync" {
				t.Errorf("%s %s: %s\n%s", c, s, sum, b.Out(c+"-"+s))
			}
		}
	}
	want := map[string][]string{
		"c2-base": {"/etc/hosts content differs (- on the host, + rendered):", "w2 resolves to 10.20.2.99, not 10.20.2.22, although /etc/hosts pins it: make /etc/nsswitch.conf consult files before dns",
			"chrony enabled and started (was enabled/inactive)"},
		"c2-tuning":   {"sysctl vm.swappiness = 1 (was 60)"},
		"c2-firewall": {"nftables table inet pm4ml loaded (the live table differed from the ruleset)"},
		"c4-base":     nil,
		"c4-tuning":   nil,
		"c4-firewall": {"nftables table inet pm4ml loaded (the live table was missing)"},
	}
	for run, w := range want {
		got := driftLines(b.Out(run))
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s drift:\n%s\nwant:\n%s\n(output:\n%s)", run, strings.Join(got, "\n"), strings.Join(w, "\n"), b.Out(run))
		}
	}
	if !strings.Contains(b.Out("c2-base"), "  -10.20.2.99 w2\n  +10.20.2.22 w2\n") {
		t.Errorf("no diff of /etc/hosts:\n%s", b.Out("c2-base"))
	}
}
