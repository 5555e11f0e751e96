package microceph

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/contract"
	"github.com/pm4ml/pm4ml-onprem/internal/testtool"
)

func prodPlan() Plan {
	return Plan{Nodes: []Node{{"s1", "10.0.0.1", sixDisks()}, {"s2", "10.0.0.2", sixDisks()}, {"s3", "10.0.0.3", sixDisks()}},
		Channel: "squid/stable", Pool: "rbd-pm4ml", ReplicationSize: 3}
}

func stgPlan() Plan {
	return Plan{Nodes: []Node{{"stg-ceph", "10.1.0.5", []string{"/dev/sdb", "/dev/sdc"}}}, Channel: "squid/stable", Pool: "rbd-pm4ml", ReplicationSize: 1}
}

func TestValidateNamesKeys(t *testing.T) {
	ok := prodPlan()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid plan refused: %v", err)
	}
	cases := map[string]struct {
		mut  func(*Plan)
		want string
	}{
		"no hosts":        {func(p *Plan) { p.Nodes = nil }, "pm4ml:hosts has no storage host"},
		"bad name":        {func(p *Plan) { p.Nodes[0].Name = "S_1" }, `pm4ml:hosts (host "S_1") name`},
		"duplicate name":  {func(p *Plan) { p.Nodes[1].Name = "s1" }, "is listed twice"},
		"bad address":     {func(p *Plan) { p.Nodes[0].Address = "ceph1" }, `pm4ml:hosts (host "s1") address`},
		"no disks":        {func(p *Plan) { p.Nodes[2].Disks = nil }, `pm4ml:hosts (host "s3") cephDisks is empty`},
		"disk not in dev": {func(p *Plan) { p.Nodes[0].Disks = []string{"sdb"} }, `"sdb" is not a block device path`},
		"disk with quote": {func(p *Plan) { p.Nodes[0].Disks = []string{"/dev/sd'b"} }, "is not a block device path"},
		"disk twice":      {func(p *Plan) { p.Nodes[0].Disks = []string{"/dev/sdb", "/dev/sdb"} }, `"/dev/sdb" is listed twice`},
		"channel":         {func(p *Plan) { p.Channel = "latest" }, "pm4ml:ceph.channel"},
		"pool":            {func(p *Plan) { p.Pool = "a b" }, "pm4ml:ceph.pool"},
		"size zero":       {func(p *Plan) { p.ReplicationSize = 0 }, "pm4ml:ceph.replicationSize 0 does not fit 3"},
		"size too big":    {func(p *Plan) { p.ReplicationSize = 4 }, "pm4ml:ceph.replicationSize 4 does not fit 3"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := prodPlan()
			p.Nodes = slices.Clone(p.Nodes)
			c.mut(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, rerr := Render(p); rerr == nil {
				t.Fatal("Render accepted an invalid plan")
			}
		})
	}
}

func TestMinSize(t *testing.T) {
	for size, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3} {
		if got := MinSize(size); got != want {
			t.Errorf("MinSize(%d) = %d, want %d", size, got, want)
		}
	}
}

func TestParseExport(t *testing.T) {
	conf, key, err := ParseExport(sampleExport)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conf, "# minimal ceph.conf") || !strings.HasSuffix(conf, "6789/0]\n") || strings.Contains(conf, "BEGIN") {
		t.Errorf("conf = %q", conf)
	}
	if !strings.HasPrefix(key, "[client.admin]\n") || !strings.Contains(key, sampleKey) || strings.Contains(key, "pm4ml:") {
		t.Errorf("keyring = %q", key)
	}
	for name, out := range map[string]string{
		"empty":         "",
		"no keyring":    ConfBegin + "\n[global]\n" + ConfEnd + "\n",
		"unterminated":  ConfBegin + "\n[global]\n" + KeyringBegin + "\nk\n" + KeyringEnd + "\n",
		"empty section": ConfBegin + "\n\n" + ConfEnd + "\n" + KeyringBegin + "\nk\n" + KeyringEnd + "\n",
	} {
		if _, _, err := ParseExport(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMonitors(t *testing.T) {
	for conf, want := range map[string][]string{
		"[global]\n\tmon_host = [v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] [v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0]\n": {"10.0.0.1", "10.0.0.2"},
		"[global]\nmon host = 10.0.0.1,10.0.0.2:6789 10.0.0.3\n":                                                   {"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		"mon_host = [v2:[fd00::1]:3300/0,v1:[fd00::1]:6789/0]\n":                                                   {"fd00::1"},
		"[global]\nfsid = x\n": nil,
	} {
		if got := Monitors(conf); !slices.Equal(got, want) {
			t.Errorf("Monitors(%q) = %v, want %v", conf, got, want)
		}
	}
}

func TestFilesPerHost(t *testing.T) {
	r, err := Render(prodPlan())
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string][]string{}
	for _, f := range r.Files() {
		byHost[f.Host()] = append(byHost[f.Host()], f.Name())
		if f.Step == "" || f.Mode != remotecmd.ScriptMode {
			t.Errorf("%s: step %q mode %o", f.Path, f.Step, f.Mode)
		}
		if !strings.HasPrefix(f.Content, "#!/usr/bin/env bash\n") {
			t.Errorf("%s is not a complete script", f.Path)
		}
		if strings.Contains(f.Content, "{{") {
			t.Errorf("%s has unrendered template text", f.Path)
		}
	}
	want := map[string][]string{
		"s1": {"10-install.sh", "20-bootstrap.sh", "20-bootstrap.delete.sh", "30-add-s2.sh", "30-add-s3.sh", "40-disks.sh", "40-disks.delete.sh", "50-pool.sh", "60-export.sh"},
		"s2": {"10-install.sh", "20-join.sh", "20-join.delete.sh", "40-disks.sh", "40-disks.delete.sh"},
		"s3": {"10-install.sh", "20-join.sh", "20-join.delete.sh", "40-disks.sh", "40-disks.delete.sh"},
	}
	for h, w := range want {
		if !slices.Equal(byHost[h], w) {
			t.Errorf("%s: %v, want %v", h, byHost[h], w)
		}
	}
	if !slices.ContainsFunc(r.Files(), func(f remotecmd.File) bool { return f.Path == "s1/microceph/50-pool.sh" && f.Step == "microceph-pool" }) {
		t.Errorf("no s1/microceph/50-pool.sh of step microceph-pool")
	}
	secret := map[string]bool{}
	for _, f := range r.Files() {
		if f.Secret {
			secret[f.Host()+"/"+f.Name()] = true
		}
	}
	if len(secret) != 5 || !secret["s1/30-add-s2.sh"] || !secret["s2/20-join.sh"] || !secret["s1/60-export.sh"] {
		t.Errorf("secret steps: %v", secret)
	}
}

// allScripts renders the prod and stg plans: every script body and delete body.
func allScripts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	lost := prodPlan() // a storage host gone for good: its removal script
	lost.Lost = []Node{{Name: "prod-storage-9", Address: "10.10.3.39", Disks: []string{"/dev/sdb"}}}
	for env, p := range map[string]Plan{"prod": prodPlan(), "stg": stgPlan(), "lost": lost} {
		r, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Files() {
			out[env+"/"+f.Path] = f.Content
		}
	}
	return out
}

func TestShellcheckRenderedScripts(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	dir := t.TempDir()
	var paths []string
	for name, body := range allScripts(t) {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	if len(paths) < 15 {
		t.Fatalf("only %d scripts rendered", len(paths))
	}
	out, err := exec.Command(sc, append([]string{"-S", "style", "-s", "bash"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck -S style:\n%s", out)
	}
	// shellcheck itself must catch a problem (the harness is not vacuous)
	bad := filepath.Join(dir, "bad.sh")
	if err := os.WriteFile(bad, []byte("#!/usr/bin/env bash\necho $1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(sc, "-S", "style", bad).Run(); err == nil {
		t.Fatal("shellcheck accepted an unquoted expansion")
	}
}

func TestContractCoversScripts(t *testing.T) {
	used := map[string]bool{}
	for _, body := range allScripts(t) {
		for v := range contract.Verbs(body) {
			used[v] = true
		}
	}
	listed := contract.Listed(t, "CONTRACT.md", "snap", "microceph", "microceph.ceph", "microceph.rbd")
	if len(used) < 20 || len(listed) < 20 {
		t.Fatalf("too few command lines found: %d used, %d listed", len(used), len(listed))
	}
	for v := range used {
		if !listed[v] {
			t.Errorf("scripts run %q, which CONTRACT.md does not list", v)
		}
	}
	for v := range listed {
		if !used[v] {
			t.Errorf("CONTRACT.md lists %q, which no script runs", v)
		}
	}
}
