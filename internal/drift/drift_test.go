package drift

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

func loadStack(t *testing.T, name string) *stacks.Config {
	t.Helper()
	src, err := stacks.ReadStackFile("../../Pulumi." + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := stacks.LoadForRender(src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var stepRe = regexp.MustCompile(`(?m)^PM4ML_STEP=([a-z0-9-]+)$`)

type call struct {
	Host, Step, Stdin string
	Check             bool
	Cmd               string
}

// fakeHosts answers the invocations like hosts whose steps are in sync except the drifted ones;
// apply clears a step's drift. A host in down is unreachable.
type fakeHosts struct {
	mu      sync.Mutex
	drifted map[string]bool // host/step
	down    map[string]bool
	fail    map[string]bool // host/step whose check exits 1
	calls   []call
}

func (f *fakeHosts) Run(_ context.Context, t Target, cmd, stdin string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[t.Name] {
		return "", "", fmt.Errorf("dial tcp %s:22: connect: connection refused", t.Address)
	}
	m := stepRe.FindStringSubmatch(cmd)
	if m == nil {
		return "", "", errors.New("no step in the command")
	}
	step := m[1]
	check := strings.HasSuffix(cmd, `"${SSH_CONNECTION%% *}" check`)
	f.calls = append(f.calls, call{Host: t.Name, Step: step, Stdin: stdin, Check: check, Cmd: cmd})
	id := t.Name + "/" + step
	if f.fail[id] {
		return "", "pm4ml: " + step + ": error: boom\n", &ExitError{Code: 1, Stderr: "pm4ml: " + step + ": error: boom\n"}
	}
	if step == "microk8s-kubeconfig" {
		return "-----BEGIN PM4ML MICROK8S KUBECONFIG-----\napiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:16443\n  name: microk8s-cluster\n-----END PM4ML MICROK8S KUBECONFIG-----\n", "", nil
	}
	switch {
	case check && f.drifted[id]:
		return "unchanged: a\ndrift: " + step + " differs\n  -old\n  +new\npm4ml: " + step + ": 1 drift(s)\n", "", nil
	case check:
		return "unchanged: a\npm4ml: " + step + ": in sync\n", "", nil
	case f.drifted[id]:
		delete(f.drifted, id)
		return "changed: " + step + " repaired\npm4ml: " + step + ": 1 change(s)\n", "", nil
	}
	return "pm4ml: " + step + ": no change\n", "", nil
}

func (f *fakeHosts) applied() []string {
	var out []string
	for _, c := range f.calls {
		if !c.Check && c.Step != "microk8s-kubeconfig" {
			out = append(out, c.Host+"/"+c.Step)
		}
	}
	return out
}

func newChecker(t *testing.T, c *stacks.Config, f *fakeHosts) *Checker {
	t.Helper()
	ch, err := NewChecker(c, f, Secrets{SSHPrivateKey: "key-material", HAProxyStatsPassword: "stats-pw"})
	if err != nil {
		t.Fatal(err)
	}
	ch.Parallel = 3
	return ch
}

func TestCheckInSyncDriftAndUnreachable(t *testing.T) {
	c := loadStack(t, "prod")
	f := &fakeHosts{drifted: map[string]bool{}, down: map[string]bool{}}
	ch := newChecker(t, c, f)
	rep := ch.Check(context.Background())
	if rep.ExitCode() != ExitInSync || rep.Drifts != 0 {
		t.Fatalf("in sync: exit %d, %s", rep.ExitCode(), rep.Summary())
	}
	// every step was run with its check invocation (same user and sudo as the program), every
	// host checked, output-only steps skipped
	checked := 0
	for _, cl := range f.calls {
		if cl.Check {
			checked++
			if !strings.HasPrefix(cl.Cmd, "sudo -n bash -c ") && c.SSH.User != "root" {
				t.Errorf("%s: %s", cl.Step, cl.Cmd[:30])
			}
		}
	}
	outputs := 0
	for _, s := range ch.Steps() {
		if s.Output {
			outputs++
		}
	}
	if want := len(ch.Steps()) - outputs; outputs != 4 || checked != want { // prod: 3 masters' kubeconfigs, the Ceph export
		t.Errorf("%d checks, want %d (every step but the %d outputs, want 4)", checked, want, outputs)
	}
	// secret inputs as under Pulumi: the join token of the node, the stats password
	for _, cl := range f.calls {
		switch {
		case strings.HasPrefix(cl.Step, "microk8s-token-"):
			node := strings.TrimPrefix(cl.Step, "microk8s-token-")
			if cl.Stdin != microk8s.JoinToken("key-material", node)+"\n" {
				t.Errorf("token step of %s got stdin %q", node, cl.Stdin)
			}
		case cl.Step == "haproxy-config" && cl.Stdin != "stats-pw":
			t.Errorf("haproxy-config on %s got stdin %q", cl.Host, cl.Stdin)
		}
	}

	workers := c.MicroK8sPlan().Nodes
	worker := workers[len(workers)-1].Name
	lb := c.HostsWith("haproxy")[1].Name
	f.drifted = map[string]bool{lb + "/haproxy-config": true, worker + "/hostprep-firewall": true}
	f.down[c.HostsWith("storage")[0].Name] = true
	f.calls = nil
	rep = ch.Check(context.Background())
	if rep.ExitCode() != ExitUnchecked {
		t.Errorf("a host down: exit %d, want 1", rep.ExitCode())
	}
	if !slices.Equal(rep.Unchecked, []string{c.HostsWith("storage")[0].Name}) {
		t.Errorf("unchecked %v", rep.Unchecked)
	}
	if got := rep.Drifted(); !slices.Equal(got, []string{lb + "/haproxy-config", worker + "/hostprep-firewall"}) {
		t.Errorf("drifted %v", got)
	}
	var text strings.Builder
	rep.WriteText(&text)
	for _, w := range []string{"NOT CHECKED: dial tcp", "1 drift(s)\n      - haproxy-config differs\n          -old\n          +new\n", "pm4ml drift: 2 drift(s) in 2 step(s); NOT CHECKED: " + c.HostsWith("storage")[0].Name + " (exit 1)"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, text.String())
		}
	}
	if strings.Contains(text.String(), "unchanged: a") {
		t.Error("the report shows a script's other output")
	}

	// without the host down: exit 2
	delete(f.down, c.HostsWith("storage")[0].Name)
	if rep = ch.Check(context.Background()); rep.ExitCode() != ExitDrift {
		t.Errorf("drift: exit %d, want 2", rep.ExitCode())
	}
	// a check that fails is "not checked" (exit 1), named host/step
	f.fail = map[string]bool{worker + "/microk8s-install": true}
	if rep = ch.Check(context.Background()); rep.ExitCode() != ExitUnchecked || !slices.Contains(rep.Unchecked, worker+"/microk8s-install") {
		t.Errorf("a failing check: exit %d, unchecked %v", rep.ExitCode(), rep.Unchecked)
	}
}

func TestRepairRunsTheDriftedApplyScriptsInOrder(t *testing.T) {
	c := loadStack(t, "prod")
	steps, err := stacks.Steps(c)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := microk8s.Render(c.MicroK8sPlan())
	first := k.FirstMaster.Name
	w := k.JoinOrder[len(k.JoinOrder)-1] // a worker
	lb := c.HostsWith("haproxy")[0].Name
	// drifted in an order unlike the dependency order
	f := &fakeHosts{drifted: map[string]bool{
		first + "/microk8s-finalize": true, lb + "/haproxy-config": true, w + "/microk8s-join": true,
		first + "/microk8s-token-" + w: true, w + "/hostprep-base": true, w + "/microk8s-install": true,
	}, down: map[string]bool{}}
	ch := newChecker(t, c, f)
	rep := ch.Check(context.Background())
	if rep.ExitCode() != ExitDrift {
		t.Fatalf("exit %d", rep.ExitCode())
	}
	f.calls = nil
	done, err := ch.Repair(context.Background(), rep)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{w + "/hostprep-base", w + "/microk8s-install", first + "/microk8s-token-" + w, w + "/microk8s-join", first + "/microk8s-finalize", lb + "/haproxy-config"}
	if got := f.applied(); !slices.Equal(got, want) {
		t.Errorf("applied %v\nwant %v", got, want)
	}
	for i, d := range done {
		if len(d.Changed) != 1 || d.Host+"/"+d.Step != want[i] {
			t.Errorf("repair result %d: %+v", i, d)
		}
	}
	// exactly the apply invocation of the rendered script: never a delete script
	byID := map[string]stacks.Step{}
	for _, s := range steps {
		byID[s.ID()] = s
	}
	for _, cl := range f.calls {
		if cl.Check || cl.Step == "microk8s-kubeconfig" {
			continue
		}
		s := byID[cl.Host+"/"+cl.Step]
		if cl.Cmd != remotecmd.Invocation(c.SSH.User, s.Script.Step, s.Script.Body) {
			t.Errorf("%s/%s: not its apply invocation", cl.Host, cl.Step)
		}
		if cl.Step == "microk8s-join" && !strings.HasPrefix(cl.Stdin, microk8s.JoinToken("key-material", w)+"\napiVersion: v1\n") {
			t.Errorf("worker join stdin: %q", cl.Stdin)
		}
	}
	if rep = ch.Check(context.Background()); rep.ExitCode() != ExitInSync {
		t.Errorf("after the repair: %s", rep.Summary())
	}
}

func TestParseCheck(t *testing.T) {
	for _, tc := range []struct {
		out, status string
		drifts      int
	}{
		{"unchanged: x\npm4ml: s: in sync\n", InSync, 0},
		{"drift: a\n  -1\n  +2\ndrift: b\npm4ml: s: 2 drift(s)\n", Drifted, 2},
		{"changed: a\npm4ml: s: 1 change(s)\n", Failed, 0}, // an old script without check mode applied!
		{"PM4ML_JOIN_TOKEN=secret\n", Failed, 0},
		{"drift: a\npm4ml: s: in sync\n", Failed, 1},
	} {
		sr := StepResult{Step: "s"}
		parseCheck(&sr, tc.out, "")
		if sr.Status != tc.status || len(sr.Drifts) != tc.drifts {
			t.Errorf("%q: %s with %d drifts", tc.out, sr.Status, len(sr.Drifts))
		}
		if strings.Contains(fmt.Sprint(sr), "secret") {
			t.Errorf("%q: a line that is not a drift reached the result", tc.out)
		}
	}
}
