package lab

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// driftReport is the part of `pm4ml drift --json` the lab reads.
type driftReport struct {
	Hosts []struct {
		Host  string `json:"host"`
		Error string `json:"error"`
		Steps []struct {
			Step   string `json:"step"`
			Status string `json:"status"`
			Error  string `json:"error"`
			Drifts []struct {
				What string `json:"what"`
			} `json:"drifts"`
		} `json:"steps"`
	} `json:"hosts"`
	Drifts    int      `json:"drifts"`
	Unchecked []string `json:"unchecked"`
	Repaired  []struct {
		Host, Step string
	} `json:"repaired"`
}

// drifted is "host/step: what; what" per drifted step, sorted.
func (r driftReport) drifted() []string {
	var out []string
	for _, h := range r.Hosts {
		for _, s := range h.Steps {
			if s.Status != "drift" {
				continue
			}
			var w []string
			for _, d := range s.Drifts {
				w = append(w, d.What)
			}
			out = append(out, h.Host+"/"+s.Step+": "+strings.Join(w, "; "))
		}
	}
	sort.Strings(out)
	return out
}

// drift runs `pm4ml drift --json` (built from this checkout) inside the lab namespace, on the lab
// stack's file, the SSH key in the environment.
func (l *stackLab) drift(args ...string) (driftReport, int, string) {
	t := l.t
	t.Helper()
	bin := filepath.Join(l.dir, "pm4ml")
	if _, err := os.Stat(bin); err != nil {
		build := exec.Command("go", "build", "-o", bin, "./cmd/pm4ml")
		build.Dir = repoRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/pm4ml: %v\n%s", err, out)
		}
	}
	key, err := os.ReadFile(l.key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns, bin, "drift", "--config", l.cfgFile, "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "PM4ML_SSH_PRIVATE_KEY="+string(key))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pm4ml drift: %v", err)
	}
	var rep driftReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("pm4ml drift %v: exit %d, no JSON report: %v\n%s\n%s", args, code, err, out, stderr.String())
	}
	_ = os.WriteFile(filepath.Join(l.logs, "drift-"+time.Now().Format("150405")+".json"), out, 0o600)
	return rep, code, string(out)
}

// checkDrift: hand-made drift on several hosts is listed exactly by `pm4ml drift` (exit 2),
// `--repair` puts it back, drift is then clean (exit 0) and a preview still has no changes; a
// host down is named (exit 1) while the others are checked.
func (l *stackLab) checkDrift() {
	t := l.t
	rep, code, out := l.drift()
	if code != 0 || rep.Drifts != 0 {
		t.Fatalf("drift right after the up: exit %d, %v\n%s", code, rep.drifted(), tail(out, 80))
	}

	backup := "h6" // the VRRP backup: the load balancer that does not hold the public VIP
	if l.vipHolder() == "10.77.0.16" {
		backup = "h7"
	}
	addr := map[string]string{}
	for _, h := range l.hosts {
		addr[h.Name] = h.Address
	}
	l.mustSSH(addr[backup], `sed -i 's/^    timeout connect 5s$/    timeout connect 7s/' /etc/haproxy/haproxy.cfg`)
	l.mustSSH(addr["h5"], "nft delete table inet pm4ml")
	l.mustSSH(addr["h2"], "systemctl stop chrony")
	l.mustSSH(addr["h3"], "sysctl -q -w net.core.somaxconn=1024")
	l.mustSSH(addr["h4"], `sed -i 's/^10.77.0.12 h2$/10.77.0.12 h2 h2-by-hand/' /etc/hosts`)
	l.mustSSH(addr["h1"], "snap refresh --unhold microk8s")
	if out, err := l.kubectl("label", "node", "h4", "node-role.kubernetes.io/worker-"); err != nil {
		t.Fatalf("kubectl label: %v %s", err, out)
	}
	want := []string{
		backup + "/haproxy-config", "h1/microk8s-finalize", "h1/microk8s-install", "h2/hostprep-base",
		"h3/hostprep-tuning", "h4/hostprep-base", "h5/hostprep-firewall",
	}
	sort.Strings(want)
	whats := map[string]string{
		backup + "/haproxy-config": "/etc/haproxy/haproxy.cfg content differs", "h1/microk8s-finalize": "h4: label node-role.kubernetes.io/worker missing",
		"h1/microk8s-install": "microk8s refreshes held", "h2/hostprep-base": "chrony enabled and started",
		"h3/hostprep-tuning": "sysctl net.core.somaxconn = 32768 (was 1024)", "h4/hostprep-base": "/etc/hosts content differs",
		"h5/hostprep-firewall": "nftables table inet pm4ml loaded (the live table was missing)",
	}
	rep, code, out = l.drift()
	got := rep.drifted()
	var steps []string
	for _, g := range got {
		id, what, _ := strings.Cut(g, ": ")
		steps = append(steps, id)
		if w := whats[id]; w != "" && !strings.Contains(what, w) {
			t.Errorf("%s: %q, want it to mention %q", id, what, w)
		}
	}
	if code != 2 || !slices.Equal(steps, want) || len(rep.Unchecked) > 0 {
		t.Errorf("drift after the hand-made changes: exit %d (want 2), unchecked %v\n got: %v\nwant: %v", code, rep.Unchecked, got, want)
	}
	t.Logf("pm4ml drift found:\n  %s", strings.Join(got, "\n  "))

	rep, code, out = l.drift("--repair")
	var repaired []string
	for _, r := range rep.Repaired {
		repaired = append(repaired, r.Host+"/"+r.Step)
	}
	sort.Strings(repaired)
	if code != 0 || rep.Drifts != 0 || !slices.Equal(repaired, want) {
		t.Errorf("drift --repair: exit %d, drifts after %v, repaired %v (want %v)\n%s", code, rep.drifted(), repaired, want, tail(out, 60))
	}
	if rep, code, _ = l.drift(); code != 0 {
		t.Errorf("drift after the repair: exit %d %v", code, rep.drifted())
	}
	if out, err := l.kubectl("get", "node", "h4", "--show-labels"); err != nil || !strings.Contains(out, "node-role.kubernetes.io/worker=") {
		t.Errorf("h4's label not back: %v %s", err, out)
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after the repair a preview has changes: %v\n%s", err, tail(out, 40))
	}

	// A host down (its interface down: SSH times out): exit 1 naming it, the others checked.
	prefix := os.Getenv("PM4ML_STACKLAB_NSPREFIX")
	if prefix == "" {
		prefix = "sl-"
	}
	link := func(state string) {
		if out, err := exec.Command("ip", "netns", "exec", prefix+"h9", "ip", "link", "set", "eth0", state).CombinedOutput(); err != nil {
			t.Fatalf("h9 eth0 %s: %v %s", state, err, out)
		}
	}
	link("down")
	rep, code, out = l.drift()
	link("up")
	checked := 0
	for _, h := range rep.Hosts {
		if h.Error == "" && len(h.Steps) > 0 {
			checked++
		}
	}
	if code != 1 || !slices.Equal(rep.Unchecked, []string{"h9"}) || checked != len(l.hosts)-1 || rep.Drifts != 0 {
		t.Errorf("h9 down: exit %d (want 1), unchecked %v, %d hosts checked, drifts %v\n%s", code, rep.Unchecked, checked, rep.drifted(), tail(out, 40))
	}
}
