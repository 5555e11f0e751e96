package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"

	"github.com/pm4ml/pm4ml-onprem/components/waves"
)

// The lab scripts are shellcheck-clean, each followed into lib.sh (runs without root or lab).
func TestE2EScriptsShellcheck(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	files, err := filepath.Glob(filepath.Join(here(t), "*.sh"))
	if err != nil || len(files) < 6 {
		t.Fatalf("scripts: %v %v", files, err)
	}
	for _, f := range files {
		if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, out)
		}
		cmd := exec.Command(sc, "-x", "-S", "style", filepath.Base(f))
		cmd.Dir = here(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s:\n%s", filepath.Base(f), out)
		}
	}
}

// make-gitops.sh makes the stand-in repository the e2e test syncs from.
func TestMakeGitops(t *testing.T) {
	testtool.Tool(t, "git")
	dir := filepath.Join(t.TempDir(), "gitops")
	run := func(args ...string) (string, error) {
		out, err := exec.Command("bash", append([]string{filepath.Join(here(t), "make-gitops.sh")}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run(append([]string{dir}, guideApps()...)...); err != nil {
		t.Fatalf("make-gitops.sh: %v\n%s", err, out)
	}
	for _, n := range guideApps() {
		b, err := os.ReadFile(filepath.Join(dir, "apps", n, "configmap.yaml"))
		if err != nil || !strings.Contains(string(b), "name: "+n+"-standin\n") {
			t.Errorf("apps/%s: %v %q", n, err, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "apps/broken/configmap.yaml")); !strings.Contains(string(b), "replicas: [two]") {
		t.Errorf("apps/broken is not the invalid ConfigMap: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "apps/degraded/deployment.yaml")); !strings.Contains(string(b), "progressDeadlineSeconds: 1") {
		t.Errorf("apps/degraded has no short progress deadline: %q", b)
	}
	// one commit on main holding everything, and a clean tree
	out, err := exec.Command("git", "-C", dir, "log", "--format=%s", "main").Output()
	if err != nil || strings.TrimSpace(string(out)) != "stand-in apps" {
		t.Errorf("git log: %v %q", err, out)
	}
	if out, _ := exec.Command("git", "-C", dir, "status", "--porcelain").Output(); len(out) != 0 {
		t.Errorf("uncommitted files: %s", out)
	}
	files, _ := exec.Command("git", "-C", dir, "ls-files").Output()
	// each app's ConfigMap, broken and degraded
	if n := len(strings.Fields(string(files))); n != len(guideApps())+2 {
		t.Errorf("%d files committed, want %d", n, len(guideApps())+2)
	}
	// --realistic: every app the checklist's clean repository has is a copy of it, file for file;
	// the others stay stand-ins
	real := filepath.Join(here(t), "..", "..", "components", "checklist", "testdata", "gitops", "apps")
	if out, err := run(append([]string{"--realistic", dir}, guideApps()...)...); err != nil {
		t.Fatalf("make-gitops.sh --realistic: %v\n%s", err, out)
	}
	copied := 0
	for _, n := range guideApps() {
		src := filepath.Join(real, n)
		if _, err := os.Stat(src); err != nil {
			if _, err := os.Stat(filepath.Join(dir, "apps", n, "configmap.yaml")); err != nil {
				t.Errorf("apps/%s: no stand-in: %v", n, err)
			}
			continue
		}
		copied++
		err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(real, p)
			want, _ := os.ReadFile(p)
			got, err := os.ReadFile(filepath.Join(dir, "apps", rel))
			if err != nil || string(got) != string(want) {
				t.Errorf("apps/%s differs from the checklist's clean repository: %v", rel, err)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "apps", n, "configmap.yaml")); err == nil {
			t.Errorf("apps/%s: a stand-in ConfigMap beside the realistic app", n)
		}
	}
	// certmanager-helm, certmanager-clusterissuers, istio-app, istio-gateways-app,
	// common-stateful-resources-app, pm4ml
	if copied != 6 {
		t.Errorf("%d realistic apps, want 6", copied)
	}
	if out, _ := exec.Command("git", "-C", dir, "status", "--porcelain").Output(); len(out) != 0 {
		t.Errorf("uncommitted files: %s", out)
	}
	// a rerun starts over (idempotent result), bad arguments are refused
	if out, err := run(dir, "only-one"); err != nil {
		t.Fatalf("rerun: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps", "pm4ml")); !os.IsNotExist(err) {
		t.Error("a rerun kept the previous repository's apps")
	}
	for _, args := range [][]string{{dir}, {"relative/dir", "a"}, {dir, "Not_A_Label"}} {
		if out, err := run(args...); err == nil {
			t.Errorf("make-gitops.sh %v accepted: %s", args, out)
		}
	}
}

// The waves the e2e deploys are the guide's 24 apps in 11 waves, valid for the component, each
// at apps/<name> of the lab repository unless overridden.
func TestLabWaves(t *testing.T) {
	ws := guideWaves(map[string]string{"certmanager-app": "apps/broken"})
	apps, err := waves.Applications(waves.Args{RepoURL: repoURL, Revision: "HEAD", Waves: ws, TimeoutSeconds: appTimeout, Retry: labRetry})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 11 || len(apps) != 24 {
		t.Fatalf("%d waves, %d apps; want the guide's 11 and 24", len(ws), len(apps))
	}
	for _, a := range apps {
		src := a.Object["spec"].(map[string]any)["source"].(map[string]any)
		wantPath := "apps/" + a.Name
		if a.Name == "certmanager-app" {
			wantPath = "apps/broken"
		}
		if src["path"] != wantPath || src["repoURL"] != repoURL {
			t.Errorf("%s: source %v", a.Name, src)
		}
		retry := a.Object["spec"].(map[string]any)["syncPolicy"].(map[string]any)["retry"].(map[string]any)
		if retry["limit"] != 1 {
			t.Errorf("%s: retry %v, want the lab's single retry", a.Name, retry)
		}
	}
	if ws[2].Name != "certificate-management" || ws[2].Apps[1].Name != "certmanager-app" {
		t.Errorf("wave 3 is %s with %v: the broken-wave scenario expects certmanager-app there", ws[2].Name, ws[2].Apps)
	}
}
