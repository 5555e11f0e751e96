package drift

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMicroK8s answers the Kubernetes step's four queries from files in dir.
const fakeMicroK8s = `#!/usr/bin/env bash
d=$(dirname "$0")
case "$*" in
  "kubectl get nodes -o jsonpath="*) cat "$d/nodes" ;;
  "kubectl get storageclass -o jsonpath="*) cat "$d/classes" ;;
  "kubectl get crd applications.argoproj.io") [ -f "$d/apps" ] ;;
  "kubectl -n argocd get applications.argoproj.io -o jsonpath="*) cat "$d/apps" ;;
  *) echo "fake microk8s: $*" >&2; exit 64 ;;
esac
`

func TestKubernetesStep(t *testing.T) {
	c := loadStack(t, "stg")
	k, err := kubernetesStep(c, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		f := filepath.Join(t.TempDir(), "k.sh")
		_ = os.WriteFile(f, []byte(k.Script.Body), 0o644)
		if out, err := exec.Command(sc, "-S", "style", f).CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %s", out)
		}
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("microk8s", fakeMicroK8s)
	var nodes, apps strings.Builder
	for _, n := range c.MicroK8sPlan().Nodes {
		nodes.WriteString(n.Name + " True\n")
	}
	for _, w := range c.Waves {
		for _, a := range w.Apps {
			apps.WriteString(a.Name + " Synced Healthy\n")
		}
	}
	sp := c.StoragePlan()
	write("nodes", nodes.String())
	write("classes", sp.LocalStorageClass+" true\n"+sp.StorageClass+"\n")
	write("apps", apps.String())
	run := func() (string, StepResult) {
		cmd := exec.Command("bash", "-c", k.Script.Body, "kubernetes", "", "check")
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		sr := StepResult{Step: "kubernetes"}
		parseCheck(&sr, string(out), "")
		return string(out), sr
	}
	if out, sr := run(); sr.Status != InSync || len(sr.Info) < 3 {
		t.Errorf("in sync: %s %v\n%s", sr.Status, sr.Info, out)
	}
	first := c.MicroK8sPlan().Nodes[0].Name
	app := c.Waves[0].Apps[0].Name
	write("nodes", strings.Replace(nodes.String(), first+" True", first+" False", 1))
	write("apps", strings.Replace(apps.String(), app+" Synced Healthy", app+" OutOfSync Degraded", 1))
	write("classes", sp.LocalStorageClass+" true\n")
	out, sr := run()
	want := []string{"node " + first + " is not Ready (False)", "storageclass " + sp.StorageClass + " is missing", "application " + app + " is OutOfSync/Degraded, not Synced/Healthy"}
	var got []string
	for _, d := range sr.Drifts {
		got = append(got, d.What)
	}
	if sr.Status != Drifted || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("drift: %s\n%s\nwant\n%s\n(output %s)", sr.Status, strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	// apply mode refuses: the step only checks
	cmd := exec.Command("bash", "-c", k.Script.Body, "kubernetes", "")
	if err := cmd.Run(); err == nil {
		t.Error("the Kubernetes step ran in apply mode")
	}
}
