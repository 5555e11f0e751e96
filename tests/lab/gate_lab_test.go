package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// --- 2c. the pre-deployment checklist gate (guide 6.3) in the full-stack lab

// checkGate points the stack at a broken variant of the lab's GitOps repository (a branch whose
// external Istio gateway no longer accepts the PROXY v2 header HAProxy sends: the Kustomization
// inflates the vendored gateways chart without its proxy_protocol listener filter) and runs `pulumi up`:
// it must fail at the gate with the checklist's failure line, and no Application may move to that
// revision. Back on the clean revision, the next `pulumi up` changes nothing.
func (l *stackLab) checkGate() {
	t := l.t
	repo := filepath.Join(l.dir, "e2e", "gitops")
	gw := filepath.Join(repo, "apps", "istio-gateways-app", "kustomization.yaml")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=lab", "-c", "user.email=lab@example.invalid"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("checkout", "-q", "-B", "gate-broken", "main")
	b, err := os.ReadFile(gw)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), "    proxyProtocol: true\n", "    proxyProtocol: false\n", 1)
	if broken == string(b) {
		t.Fatalf("%s has no valuesInline proxyProtocol: true to turn off", gw)
	}
	if err := os.WriteFile(gw, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "external gateway without PROXY protocol")
	git("checkout", "-q", "main")

	setRevision := func(rev string) {
		t.Helper()
		c, err := os.ReadFile(l.cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		s := string(c)
		for _, from := range []string{"    revision: main\n", "    revision: gate-broken\n"} {
			s = strings.Replace(s, from, "    revision: "+rev+"\n", 1)
		}
		if !strings.Contains(s, "    revision: "+rev+"\n") {
			t.Fatalf("no pm4ml:gitops.revision line in %s", l.cfgFile)
		}
		if err := os.WriteFile(l.cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setRevision("gate-broken")
	defer setRevision("main")

	t0 := time.Now()
	out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview")...)
	if err == nil {
		t.Fatalf("pulumi up on the broken revision succeeded:\n%s", tail(out, 40))
	}
	const line = "FAIL proxy-protocol app=istio-gateways-app Service/istio-ingress/istio-ingressgateway field=spec.selector"
	if !strings.Contains(out, line) {
		t.Errorf("the failed up does not print the checklist's failure line %q:\n%s", line, tail(out, 60))
	}
	t.Logf("up on the broken revision failed at the gate in %.0f s; %s", time.Since(t0).Seconds(), summary(out))
	revs, err := l.kubectl("get", "applications.argoproj.io", "-A", "-o", "jsonpath={range .items[*]}{.spec.source.targetRevision}{\"\\n\"}{end}")
	if err != nil {
		t.Fatalf("kubectl: %v\n%s", err, revs)
	}
	n := 0
	for _, r := range strings.Fields(revs) {
		n++
		if r != "main" {
			t.Errorf("an Application moved to revision %q although the gate failed", r)
		}
	}
	if n == 0 {
		t.Errorf("no Application found")
	}

	setRevision("main")
	out, err = l.pulumi(20*time.Minute, "", nil, l.stackArgs("up", "--yes", "--skip-preview", "--expect-no-changes")...)
	if err != nil {
		t.Errorf("back on the clean revision, pulumi up changed something or failed: %v\n%s", err, tail(out, 60))
	}
	t.Logf("%d Applications stayed on main; back on main: %s", n, summary(out))
}
