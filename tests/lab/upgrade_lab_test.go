package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The rolling MicroK8s upgrade in the full-stack lab (TestStackLab's 6-rolling-upgrade): the lab
// stack's channel 1.31/stable -> 1.32/stable with the real Pulumi CLI. The preview lists the
// backup and the nodes in rolling order; a refresh failure injected on the second master stops
// the rollout there (the third master and the workers untouched); after the fault is cleared the
// rerun finishes and a preview is empty. During both updates a client loop through the public VIP
// sees no failed request, and the nodes (polled from the apiserver) are cordoned or NotReady at
// most one at a time, masters before workers.

const (
	upgradeFrom = "1.31/stable"
	upgradeTo   = "1.32/stable"
)

var (
	labMasters = []string{"h1", "h2", "h3"}
	labWorkers = []string{"h4", "h5"}
)

// nodeSample is one poll of the nodes: those cordoned or not Ready at that moment.
type nodeSample struct {
	at   time.Time
	down []string
}

// watchNodes polls the lab apiserver's nodes every 500 ms until stop is closed.
func (l *stackLab) watchNodes(stop <-chan struct{}) func() []nodeSample {
	var mu sync.Mutex
	var samples []nodeSample
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			out, err := l.kubectl("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}|{.status.conditions[?(@.type=="Ready")].status}|{.spec.unschedulable}{"\n"}{end}`)
			if err == nil {
				s := nodeSample{at: time.Now()}
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					f := strings.Split(line, "|")
					if len(f) == 3 && (f[1] != "True" || f[2] == "true") {
						s.down = append(s.down, f[0])
					}
				}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return func() []nodeSample { <-done; mu.Lock(); defer mu.Unlock(); return samples }
}

// clientLoop requests https://argocd.<domain>/ through the public VIP every 250 ms (at most 2400
// requests) until stop is closed; it returns the number of requests and the failures.
func (l *stackLab) clientLoop(stop <-chan struct{}) func() (int, []string) {
	var n int
	var failed []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n < 2400 {
			out, err := l.sh(15*time.Second, "curl -sSk -m 5 -o /dev/null -w '%{http_code}' --resolve argocd.lab.pm4ml.example.org:443:10.77.0.100 https://argocd.lab.pm4ml.example.org/")
			n++
			if err != nil || strings.TrimSpace(out) != "200" {
				failed = append(failed, fmt.Sprintf("%s: %v %s", time.Now().Format(time.TimeOnly), err, strings.TrimSpace(out)))
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return func() (int, []string) { <-done; return n, failed }
}

// downOrder are the nodes in the order they were first seen down, and the most down at once.
func downOrder(samples []nodeSample) ([]string, int, []string) {
	var order, log []string
	most := 0
	prev := ""
	for _, s := range samples {
		most = max(most, len(s.down))
		for _, n := range s.down {
			if !slices.Contains(order, n) {
				order = append(order, n)
			}
		}
		if cur := strings.Join(s.down, ","); cur != prev {
			log = append(log, fmt.Sprintf("%s down=[%s]", s.at.Format("15:04:05.0"), cur))
			prev = cur
		}
	}
	return order, most, log
}

// fault makes the lab doubles fail as NAME says (a file in their shared state's faults/, holding
// the reason); the returned func clears it.
func (l *stackLab) fault(name, reason string) func() {
	l.t.Helper()
	f := filepath.Join(l.dir, "shared", "state", "faults", name)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(reason), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return func() {
		l.t.Helper()
		if err := os.Remove(f); err != nil {
			l.t.Fatal(err)
		}
	}
}

// tracking is the microk8s channel each Kubernetes host tracks.
func (l *stackLab) tracking() map[string]string {
	out := map[string]string{}
	for _, h := range append(slices.Clone(labMasters), labWorkers...) {
		s := l.mustSSH(l.addr(h), "snap list microk8s | awk 'NR == 2 {print $4}'")
		out[h] = strings.TrimSpace(s)
	}
	return out
}

func (l *stackLab) addr(host string) string {
	for _, h := range l.hosts {
		if h.Name == host {
			return h.Address
		}
	}
	l.t.Fatalf("no host %s", host)
	return ""
}

// upWatched runs `pulumi up` with the client loop and the node watch around it.
func (l *stackLab) upWatched(what string) (string, []string, error) {
	t := l.t
	stop := make(chan struct{})
	samples := l.watchNodes(stop)
	client := l.clientLoop(stop)
	t0 := time.Now()
	out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	took := time.Since(t0)
	time.Sleep(time.Second)
	close(stop)
	n, failed := client()
	order, most, log := downOrder(samples())
	t.Logf("%s: pulumi up %.0f s (%s); %d requests through the VIP, %d failed; nodes down in order %v, at most %d at once:\n%s",
		what, took.Seconds(), summary(out), n, len(failed), order, most, strings.Join(log, "\n"))
	if len(failed) > 0 {
		t.Errorf("%s: %d of %d requests through the VIP failed:\n%s", what, len(failed), n, strings.Join(failed, "\n"))
	}
	if n < 10 {
		t.Errorf("%s: only %d requests through the VIP", what, n)
	}
	if most > 1 {
		t.Errorf("%s: %d nodes cordoned or NotReady at once (want at most 1)", what, most)
	}
	return out, order, err
}

func (l *stackLab) rollingUpgrade() {
	t := l.t
	if got := l.tracking(); got["h1"] != upgradeFrom || got["h5"] != upgradeFrom {
		t.Fatalf("the lab does not run %s: %v", upgradeFrom, got)
	}
	if out, err := l.pulumi(time.Minute, "", nil, l.stackArgs("config", "set", "--path", "pm4ml:microk8s.channel", upgradeTo)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// The preview: the backup, then each node's upgrade in rolling order (masters, then workers).
	var order []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		switch {
		case n == "microk8s-backup" || strings.HasSuffix(n, "-upgrade") && strings.HasPrefix(n, "microk8s-"):
			if s.Op != "update" {
				t.Errorf("preview: %s %s (want update)", s.Op, n)
			}
			order = append(order, n)
		case strings.HasPrefix(n, "microk8s-") && strings.HasSuffix(n, "-install") && s.Op == "update":
		default:
			t.Logf("preview also: %s %s", s.Op, n)
		}
	}
	want := []string{"microk8s-backup", "microk8s-h1-upgrade", "microk8s-h2-upgrade", "microk8s-h3-upgrade", "microk8s-h4-upgrade", "microk8s-h5-upgrade"}
	t.Logf("preview rolling order: %v", order)
	if !slices.Equal(order, want) {
		t.Errorf("preview order %v, want %v", order, want)
	}

	// A refresh that fails on the second master stops the rollout there.
	clearFault := l.fault("snap-refresh-h2", "Download snap \"microk8s\" (8205) from channel \"1.32/stable\" (lab fault: connection reset)\n")
	out, down, err := l.upWatched("up with a fault on h2's refresh")
	if err == nil {
		t.Fatalf("the up succeeded although h2's refresh fails:\n%s", tail(out, 40))
	}
	errs := strings.Join(errorLines(out), "\n")
	t.Logf("the up stopped with:\n%s", errs)
	if !strings.Contains(errs, "microk8s-h2-upgrade") || !strings.Contains(errs, "h2: upgrade to 1.32/stable stopped at stage refresh") || !strings.Contains(errs, "lab fault: connection reset") {
		t.Errorf("the error does not name h2's step, the stage and the reason")
	}
	// h2 is down only between its cordon and the failed refresh (uncordoned at once: Ready), which
	// a 500 ms poll may miss; nothing after h2 may have been touched.
	if len(down) == 0 || down[0] != "h1" || len(down) > 2 || len(down) == 2 && down[1] != "h2" {
		t.Errorf("nodes taken down %v, want h1 (then h2) only", down)
	}
	got := l.tracking()
	for h, ch := range map[string]string{"h1": upgradeTo, "h2": upgradeFrom, "h3": upgradeFrom, "h4": upgradeFrom, "h5": upgradeFrom} {
		if got[h] != ch {
			t.Errorf("after the failed rollout %s tracks %s, want %s", h, got[h], ch)
		}
	}
	if out, _ := l.kubectl("get", "nodes", "-o", `jsonpath={range .items[?(@.spec.unschedulable)]}{.metadata.name} {end}`); strings.TrimSpace(out) != "" {
		t.Errorf("nodes left cordoned after the failure (all are Ready): %s", out)
	}
	backup := "/var/snap/microk8s/common/pm4ml-backups/dqlite-before-1.32-stable.tar.gz"
	if out := l.mustSSH(l.addr("h1"), "tar -tzf "+backup); !strings.Contains(out, "nodes.json") {
		t.Errorf("the backup on h1 %s: %s", backup, out)
	}

	// Cleared: the rerun continues at h2 and finishes; then nothing is left to do.
	clearFault()
	out, down, err = l.upWatched("rerun after the fault was cleared")
	if err != nil {
		t.Fatalf("the rerun failed: %v\n%s", err, tail(out, 60))
	}
	if !slices.Equal(down, []string{"h2", "h3", "h4", "h5"}) {
		t.Errorf("nodes taken down in the rerun %v, want h2, h3, h4, h5 (h1 done already)", down)
	}
	for h, ch := range l.tracking() {
		if ch != upgradeTo {
			t.Errorf("%s tracks %s after the rerun", h, ch)
		}
	}
	out, kerr := l.kubectl("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.nodeInfo.kubeletVersion}/{.spec.unschedulable} {end}`)
	t.Logf("nodes after the upgrade: %s", out)
	if kerr != nil || strings.Count(out, "=v1.32.") != 5 || strings.Contains(out, "true") {
		t.Errorf("after the upgrade every node must report v1.32 and be schedulable: %v %s", kerr, out)
	}
	for _, r := range l.export() {
		if r.Type == "pm4ml:microk8s:Cluster" {
			if got, _ := r.Outputs["backupPath"].(string); got != backup {
				t.Errorf("the cluster's backupPath output is %q, want %s", got, backup)
			}
		}
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after the rollout a preview still has changes: %v\n%s", err, tail(out, 40))
	}
}

// lbChange (TestStackLab's 7-lb-change): a HAProxy configuration change (pm4ml:haproxy.maxConn
// 8000 -> 7000) reaches the VRRP backup first and the active LB after it; the VIP stays on the
// active LB during the whole update (polled every 250 ms) and requests through it keep working.
func (l *stackLab) lbChange() {
	t := l.t
	active := l.vipHolder()
	if active == "" {
		t.Fatal("no HAProxy host holds the public VIP")
	}
	b, err := os.ReadFile(l.cfgFile)
	if err != nil || !strings.Contains(string(b), "maxConn: 8000") {
		t.Fatalf("the lab stack file has no maxConn: 8000: %v", err)
	}
	if err := os.WriteFile(l.cfgFile, []byte(strings.Replace(string(b), "maxConn: 8000", "maxConn: 7000", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, s := range l.previewSteps() {
		planned = append(planned, s.Op+" "+resName(s.URN))
	}
	t.Logf("preview: %v", planned)
	stop := make(chan struct{})
	client := l.clientLoop(stop)
	var holders []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			h := l.vipHolder()
			if len(holders) == 0 || holders[len(holders)-1] != h {
				holders = append(holders, h)
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	close(stop)
	<-done
	n, failed := client()
	if err != nil {
		t.Fatalf("up: %v\n%s", err, tail(out, 40))
	}
	var order []string
	for _, line := range strings.Split(out, "\n") {
		if m := doneRe.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[2], "haproxy-") {
			order = append(order, m[2])
		}
	}
	backup := map[string]string{"10.77.0.16": "h7", "10.77.0.17": "h6"}[active]
	act := map[string]string{"10.77.0.16": "h6", "10.77.0.17": "h7"}[active]
	t.Logf("maxConn change: %s; haproxy steps done in order %v; VIP holders during the update %v; %d requests through the VIP, %d failed",
		summary(out), order, holders, n, len(failed))
	if want := []string{"haproxy-" + backup + "-config", "haproxy-" + act + "-config"}; !slices.Equal(order, want) {
		t.Errorf("haproxy steps in order %v, want %v (the backup first)", order, want)
	}
	if len(holders) != 1 || holders[0] != active {
		t.Errorf("the VIP moved during a configuration change: holders %v (active was %s)", holders, active)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d requests through the VIP failed:\n%s", len(failed), n, strings.Join(failed, "\n"))
	}
}
