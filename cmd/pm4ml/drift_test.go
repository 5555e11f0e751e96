package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/internal/drift"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

var stepRe = regexp.MustCompile(`(?m)^PM4ML_STEP=([a-z0-9-]+)$`)

// hosts answers like hosts in sync except drifted ("host/step"), which apply repairs.
type hosts struct{ drifted map[string]bool }

func (h *hosts) Run(_ context.Context, t drift.Target, cmd, _ string) (string, string, error) {
	step := stepRe.FindStringSubmatch(cmd)[1]
	id := t.Name + "/" + step
	switch {
	case step == "microk8s-kubeconfig":
		return "", "", nil
	case strings.HasSuffix(cmd, " check") && h.drifted[id]:
		return "drift: " + step + " edited by hand\npm4ml: " + step + ": 1 drift(s)\n", "", nil
	case strings.HasSuffix(cmd, " check"):
		return "pm4ml: " + step + ": in sync\n", "", nil
	}
	delete(h.drifted, id)
	return "changed: " + step + " put back\npm4ml: " + step + ": 1 change(s)\n", "", nil
}

func loadStg(t *testing.T) *stacks.Config {
	t.Helper()
	src, err := stacks.ReadStackFile("../../Pulumi.stg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := stacks.LoadForRender(src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDriftCommand(t *testing.T) {
	c := loadStg(t)
	lb := c.HostsWith("haproxy")[0].Name
	h := &hosts{drifted: map[string]bool{lb + "/haproxy-config": true}}
	sec := drift.Secrets{SSHPrivateKey: "k", HAProxyStatsPassword: "p", WireGuardPrivateKey: "w"}
	out := filepath.Join(t.TempDir(), "drift.json")
	var stdout, stderr bytes.Buffer
	o := driftOptions{Parallel: 4, Timeout: time.Minute, Out: out}
	if code := driftWith(c, h, sec, o, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "      - haproxy-config edited by hand\n") || !strings.Contains(stdout.String(), "pm4ml drift: 1 drift(s) in 1 step(s) (exit 2)") {
		t.Errorf("text report:\n%s", stdout.String())
	}
	var rep drift.Report
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &rep); err != nil || rep.Drifts != 1 {
		t.Errorf("--out report: %v %d\n%s", err, rep.Drifts, b)
	}

	stdout.Reset()
	o.Repair, o.JSON = true, true
	if code := driftWith(c, h, sec, o, &stdout, &stderr); code != 0 {
		t.Fatalf("--repair: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	rep = drift.Report{}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Drifts != 0 || len(rep.Repaired) != 1 || rep.Repaired[0].Changed[0] != "haproxy-config put back" {
		t.Errorf("--repair --json: %v %+v", err, rep)
	}
}

func TestDriftCommandNeedsTheSSHKey(t *testing.T) {
	t.Setenv(secretEnv(stacks.SecretSSHPrivateKey), "")
	t.Setenv("PATH", t.TempDir()) // no pulumi CLI: the stack's secrets are not readable
	var stdout, stderr bytes.Buffer
	if code := run([]string{"drift", "--config", "../../Pulumi.stg.yaml"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "PM4ML_SSH_PRIVATE_KEY") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"drift"}, &stdout, &stderr); code != 2 {
		t.Errorf("no stack: exit %d", code)
	}
	if got := secretEnv("haproxyStatsPassword"); got != "PM4ML_HAPROXY_STATS_PASSWORD" {
		t.Errorf("secretEnv: %s", got)
	}
}
