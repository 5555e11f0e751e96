package storage

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/contract"
	"github.com/pm4ml/pm4ml-onprem/internal/testtool"
)

func plan(sc string) Plan {
	return Plan{Master: "m1", Pool: "rbd-pm4ml", StorageClass: sc, LocalStorageClass: "local-nvme", LocalStoragePath: "/var/lib/pm4ml-local"}
}

func TestValidateNamesKeys(t *testing.T) {
	if err := plan("").Validate(); err != nil {
		t.Fatalf("valid plan refused: %v", err)
	}
	for name, c := range map[string]struct {
		mut  func(*Plan)
		want string
	}{
		"no master":       {func(p *Plan) { p.Master = "" }, "pm4ml:hosts has no master"},
		"pool":            {func(p *Plan) { p.Pool = "a;b" }, "pm4ml:ceph.pool"},
		"class name":      {func(p *Plan) { p.StorageClass = "Ceph_RBD" }, "pm4ml:ceph.storageClass"},
		"local name":      {func(p *Plan) { p.LocalStorageClass = "" }, "pm4ml:ceph.localStorageClass"},
		"same names":      {func(p *Plan) { p.LocalStorageClass = "ceph-rbd" }, `pm4ml:ceph.localStorageClass "ceph-rbd" is taken`},
		"addon's name":    {func(p *Plan) { p.LocalStorageClass = "microk8s-hostpath" }, "is taken"},
		"relative path":   {func(p *Plan) { p.LocalStoragePath = "data" }, "pm4ml:ceph.localStoragePath"},
		"path with space": {func(p *Plan) { p.LocalStoragePath = "/a b" }, "pm4ml:ceph.localStoragePath"},
		"path with dots":  {func(p *Plan) { p.LocalStoragePath = "/var/../etc" }, "pm4ml:ceph.localStoragePath"},
	} {
		t.Run(name, func(t *testing.T) {
			p := plan("")
			c.mut(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if _, err := Render(p); err == nil {
				t.Fatal("Render accepted it")
			}
		})
	}
}

func TestFiles(t *testing.T) {
	r, err := Render(plan(""))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.Files() {
		names = append(names, f.Name())
		if f.Secret != (f.Name() == "20-connect.sh") {
			t.Errorf("%s secret=%v", f.Name(), f.Secret)
		}
	}
	if want := []string{"10-rook-ceph.sh", "20-connect.sh", "30-storageclasses.sh", "local-storageclass.yaml"}; !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	if !strings.Contains(r.Scripts[2].Body, r.LocalManifest) {
		t.Error("the storageclasses step does not apply the rendered manifest")
	}
}

func TestShellcheckAndYamllint(t *testing.T) {
	sc, yl := testtool.Tool(t, "shellcheck"), testtool.Tool(t, "yamllint")
	dir := t.TempDir()
	var scripts []string
	for _, name := range []string{"ceph-rbd", "cold-rbd"} {
		r, err := Render(plan(name))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Files() {
			p := filepath.Join(dir, name+"-"+f.Name())
			if err := os.WriteFile(p, []byte(f.Content), 0o644); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f.Name(), ".sh") {
				scripts = append(scripts, p)
				continue
			}
			if out, err := exec.Command(yl, "-s", "-d", "{extends: default, rules: {document-start: disable}}", p).CombinedOutput(); err != nil {
				t.Errorf("yamllint %s:\n%s", f.Name(), out)
			}
		}
	}
	if out, err := exec.Command(sc, append([]string{"-S", "style", "-s", "bash"}, scripts...)...).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck -S style:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("a: 1\na: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if exec.Command(yl, "-s", bad).Run() == nil {
		t.Fatal("yamllint accepted a duplicate key")
	}
}

func TestContractCoversScripts(t *testing.T) {
	used := map[string]bool{}
	for _, name := range []string{"ceph-rbd", "cold-rbd"} {
		r, err := Render(plan(name))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Scripts {
			for v := range contract.Verbs(s.Body) {
				used[v] = true
			}
		}
	}
	listed := contract.Listed(t, "../microceph/CONTRACT.md", "microk8s")
	if len(used) < 8 {
		t.Fatalf("only %d command lines found in the scripts", len(used))
	}
	for v := range used {
		if !strings.HasPrefix(v, "microk8s") {
			t.Errorf("the storage scripts run %q on the master", v)
		}
		if !listed[v] {
			t.Errorf("scripts run %q, which CONTRACT.md does not list", v)
		}
	}
	for v := range listed {
		if !used[v] {
			t.Errorf("CONTRACT.md lists %q, which no storage script runs", v)
		}
	}
}

// --- the scripts against the microk8s test double (testdata/fakebin/microk8s)

type double struct {
	t                  *testing.T
	state, bin, runDir string
	logDir             string
}

func newDouble(t *testing.T) *double {
	t.Helper()
	bin, err := filepath.Abs("testdata/fakebin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is needed by the scripts and the double")
	}
	return &double{t: t, state: t.TempDir(), bin: bin, runDir: t.TempDir(), logDir: t.TempDir()}
}

func (d *double) run(body, stdin string, args ...string) (string, error) {
	body = strings.ReplaceAll(body, "/run/pm4ml-ceph.", d.runDir+"/pm4ml-ceph.")
	body = strings.ReplaceAll(body, "/var/log/pm4ml", d.logDir+"/pm4ml")
	cmd := exec.Command("bash", append([]string{"-c", body, "step", ""}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+d.bin+":"+os.Getenv("PATH"), "FAKE_STATE="+d.state)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s%s", err, errb.String(), out.String())
	}
	return out.String(), nil
}

func (d *double) all(r Rendered, stdin string) []string {
	d.t.Helper()
	var outs []string
	for _, s := range r.Scripts {
		in := ""
		if s.Secret {
			in = stdin
		}
		out, err := d.run(s.Body, in)
		if err != nil {
			d.t.Fatalf("%s: %v", s.Step, err)
		}
		outs = append(outs, out)
	}
	return outs
}

func (d *double) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(d.state, name))
	return string(b)
}

func lastLine(out string) string {
	l := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return l[len(l)-1]
}

func TestDoubleConnectAndTiers(t *testing.T) {
	for _, name := range []string{"ceph-rbd", "cold-rbd"} {
		t.Run(name, func(t *testing.T) {
			d := newDouble(t)
			r, err := Render(plan(name))
			if err != nil {
				t.Fatal(err)
			}
			stdin := Bundle(testConf, testKeyring)
			first := d.all(r, stdin)
			for i, out := range first {
				if !strings.HasSuffix(lastLine(out), "change(s)") {
					t.Errorf("first run of %s: %s", Steps[i], lastLine(out))
				}
			}
			if d.file("seen-ceph.conf") != testConf || d.file("seen-ceph.keyring") != testKeyring {
				t.Errorf("connect-external-ceph got conf %q keyring %q", d.file("seen-ceph.conf"), d.file("seen-ceph.keyring"))
			}
			if _, err := os.Stat(strings.TrimSpace(d.file("seen-dir"))); !os.IsNotExist(err) {
				t.Error("the staged ceph.conf/keyring were not removed")
			}
			second := d.all(r, stdin)
			for i, out := range second {
				if !strings.HasSuffix(lastLine(out), ": no change") {
					t.Errorf("second run of %s: %s", Steps[i], lastLine(out))
				}
			}
			if n := strings.Count(d.file("calls.log"), "connect-external-ceph"); n != 1 {
				t.Errorf("connect-external-ceph ran %d times", n)
			}
			// the classes as the policy pack expects them
			classes, err := d.run("microk8s kubectl get storageclass -o json", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range plan(name).Classes() {
				q := fmt.Sprintf(`.items[] | select(.metadata.name == %q) | "\(.metadata.annotations["pm4ml.io/tier"])|\(.metadata.annotations["storageclass.kubernetes.io/is-default-class"])|\(.provisioner)"`, c.Name)
				cmd := exec.Command("jq", "-r", q)
				cmd.Stdin = strings.NewReader(classes)
				got, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("%s|%v|%s", c.Tier, c.Default, c.Provisioner)
				if strings.TrimSpace(string(got)) != want {
					t.Errorf("class %s: %q, want %q", c.Name, strings.TrimSpace(string(got)), want)
				}
			}
			if name != RookStorageClass && strings.Contains(classes, `"name":"ceph-rbd"`) {
				t.Error("Rook's ceph-rbd class is left beside the renamed one")
			}
		})
	}
}

func TestDoubleLocalPathChangeRecreatesTheClass(t *testing.T) {
	d := newDouble(t)
	r, _ := Render(plan(""))
	d.all(r, Bundle(testConf, testKeyring))
	p := plan("")
	p.LocalStoragePath = "/srv/nvme"
	r2, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.run(r2.Scripts[2].Body, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "changed: storageclass local-nvme recreated (was: microk8s.io/hostpath|/var/lib/pm4ml-local|Retain|WaitForFirstConsumer)") {
		t.Errorf("out: %s", out)
	}
	if !strings.Contains(d.file("sc/local-nvme.json"), `"pvDir":"/srv/nvme"`) {
		t.Errorf("class: %s", d.file("sc/local-nvme.json"))
	}
}

func TestDoubleConnectFailurePointsAtTheLog(t *testing.T) {
	d := newDouble(t)
	r, _ := Render(plan(""))
	if _, err := d.run(r.Scripts[0].Body, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.state, "fail-connect"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := d.run(r.Scripts[1].Body, Bundle(testConf, testKeyring))
	if err == nil || !strings.Contains(err.Error(), "connect-external-ceph failed on m1; read") {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(strings.TrimSpace(d.file("seen-dir"))); !os.IsNotExist(serr) {
		t.Error("the staged keyring survived a failed connect")
	}
	if st, err := os.Stat(filepath.Join(d.logDir, "pm4ml")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("log directory: %v %v", st, err)
	}
	// no stdin: refuse rather than connect without credentials
	_, err = d.run(r.Scripts[1].Body, "")
	if err == nil || !strings.Contains(err.Error(), "no ceph.conf/keyring came on stdin") {
		t.Fatalf("err = %v", err)
	}
}

func TestDoubleMicroK8sNotRunningFails(t *testing.T) {
	d := newDouble(t)
	r, _ := Render(plan(""))
	if err := os.WriteFile(filepath.Join(d.state, "not-running"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := d.run(r.Scripts[0].Body, "")
	if err == nil || !strings.Contains(err.Error(), "MicroK8s on m1 is not running after 10 minutes") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(d.file("calls.log"), "enable rook-ceph") {
		t.Error("rook-ceph enabled on a MicroK8s that is not running")
	}
}
