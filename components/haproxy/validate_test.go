package haproxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"
)

// Validators: the real haproxy, keepalived and shellcheck on the rendered files. A missing tool
// fails the test unless PM4ML_SKIP_VALIDATORS=1.

// shapes are the configurations validated: prod (2 haproxy hosts, 3 workers, stats), stg (1
// host, 2 workers, keepalived holding the public VIP) and stg without keepalived.
func shapes() map[string]Plan {
	noKA := stgPlan()
	noKA.PublicVIP, noKA.InternalVIP = noKA.LBs()[0].Address, "10.20.0.101"
	return map[string]Plan{"prod": prodPlan(), "stg": stgPlan(), "stg-no-keepalived": noKA}
}

// dummyStats is a stats file as the config script writes it (single-quoted password).
const dummyStats = "userlist " + StatsUserlist + "\n    user admin insecure-password 'validator'\\''s dummy'\n"

func haproxyCheck(t *testing.T, bin string, files ...string) (string, error) {
	t.Helper()
	args := []string{"-c"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

func TestValidatorHAProxy(t *testing.T) {
	bin := testtool.Tool(t, "haproxy")
	dir := t.TempDir()
	stats := filepath.Join(dir, "pm4ml-stats.cfg")
	if err := os.WriteFile(stats, []byte(dummyStats), 0o600); err != nil {
		t.Fatal(err)
	}
	for shape, p := range shapes() {
		for _, r := range mustRender(t, p) {
			t.Run(shape+"/"+r.LB.Name, func(t *testing.T) {
				cfg := filepath.Join(dir, shape+"-"+r.LB.Name+".cfg")
				if err := os.WriteFile(cfg, []byte(r.HAProxyCfg), 0o644); err != nil {
					t.Fatal(err)
				}
				files := []string{cfg}
				if p.Stats.Enabled {
					files = append(files, stats)
				}
				out, err := haproxyCheck(t, bin, files...)
				if err != nil || !strings.Contains(out, "Configuration file is valid") {
					t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, r.HAProxyCfg)
				}
				if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
					t.Errorf("haproxy -c warns:\n%s", out)
				}
				if p.Stats.Enabled {
					// without the stats file the userlist is missing: the check can fail
					if out, err := haproxyCheck(t, bin, cfg); err == nil {
						t.Errorf("haproxy -c accepted the configuration without its stats userlist:\n%s", out)
					}
				}
			})
		}
	}
	// and a broken configuration is refused
	bad := filepath.Join(dir, "bad.cfg")
	cfg := mustRender(t, stgPlan())[0].HAProxyCfg
	if err := os.WriteFile(bad, []byte(strings.Replace(cfg, "mode tcp", "mode tpc", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := haproxyCheck(t, bin, bad); err == nil {
		t.Errorf("haproxy -c accepted a broken configuration:\n%s", out)
	}
}

// keepaliveCheck runs `keepalived -t` in a network namespace of its own that has one interface,
// named iface (keepalived refuses a configuration whose interface does not exist).
func keepalivedCheck(t *testing.T, bin, conf, iface string) (string, error) {
	t.Helper()
	unshare := testtool.Tool(t, "unshare")
	ip := testtool.Tool(t, "ip")
	flags := "-n"
	if os.Geteuid() != 0 {
		flags = "-rn" // an unprivileged user namespace owns the network namespace
	}
	script := fmt.Sprintf(`set -e
%[1]s link add %[2]s type dummy 2>/dev/null || %[1]s link add %[2]s type veth peer name pm4ml-peer
%[1]s link set %[2]s up
exec %[3]s -t -f %[4]s`, ip, iface, bin, conf)
	out, err := exec.Command(unshare, flags, "bash", "-c", script).CombinedOutput()
	return string(out), err
}

func TestValidatorKeepalived(t *testing.T) {
	bin := testtool.Tool(t, "keepalived")
	dir := t.TempDir()
	checked := 0
	for shape, p := range shapes() {
		for _, r := range mustRender(t, p) {
			if !r.Keepalived {
				continue
			}
			t.Run(shape+"/"+r.LB.Name, func(t *testing.T) {
				conf := filepath.Join(dir, shape+"-"+r.LB.Name+".conf")
				if err := os.WriteFile(conf, []byte(r.KeepalivedConf), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := keepalivedCheck(t, bin, conf, p.Interface); err != nil {
					t.Fatalf("keepalived -t in a namespace with %s: %v\n%s\n%s", p.Interface, err, out, r.KeepalivedConf)
				}
				// the same file where the interface is missing: refused
				if out, err := keepalivedCheck(t, bin, conf, "pm4ml-other"); err == nil {
					t.Errorf("keepalived -t accepted %s without interface %s:\n%s", conf, p.Interface, out)
				}
			})
			checked++
		}
	}
	if checked != 3 {
		t.Errorf("checked %d keepalived.conf, want 3 (prod lb1, lb2, stg)", checked)
	}
}

func TestValidatorShellcheck(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	dir := t.TempDir()
	var files []string
	for shape, p := range shapes() {
		for _, r := range mustRender(t, p) {
			for _, s := range r.Scripts {
				f := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.sh", shape, r.LB.Name, s.Step))
				if err := os.WriteFile(f, []byte(s.Body), 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
					t.Errorf("bash -n %s: %v\n%s", f, err, out)
				}
				files = append(files, f)
			}
		}
	}
	if len(files) != 3*2+3+2 {
		t.Errorf("%d scripts, want 11", len(files))
	}
	out, err := exec.Command(sc, append([]string{"-S", "style", "-s", "bash"}, files...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
