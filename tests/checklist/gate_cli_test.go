// Package checklist runs the checklist gate through the real Pulumi CLI: `pulumi up` of a small
// program (testdata/gateprog: the gate and two waves of Applications) with a broken GitOps
// working tree fails at the gate with the failure lines and registers no Application; a preview
// with the clean tree passes the gate and plans the Applications.
//
// Network safety: every CLI command runs in a fresh network namespace (unshare -n) with only
// loopback up; the provider's kubeconfig points at a closed loopback port.
//
// Needs root and the binaries of `bash scripts/tools.sh --pulumi`; without them the test fails
// saying so, unless PM4ML_SKIP_E2E=1.
package checklist

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var binaries = []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes"}

func toolsDir(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("PM4ML_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "pm4ml-onprem")
	}
	bin := filepath.Join(cache, "bin")
	why := ""
	for _, b := range binaries {
		if st, err := os.Stat(filepath.Join(bin, b)); err != nil || st.Mode()&0o111 == 0 {
			why = "missing " + filepath.Join(bin, b) + ": build it with `bash scripts/tools.sh --pulumi`"
		}
	}
	if why == "" && os.Geteuid() != 0 {
		why = "not root: the CLI runs in a network namespace of its own (unshare -n)"
	}
	for _, tool := range []string{"unshare", "ip", "go"} {
		if _, err := exec.LookPath(tool); why == "" && err != nil {
			why = tool + " is not on PATH"
		}
	}
	if why != "" {
		if os.Getenv("PM4ML_SKIP_E2E") == "1" {
			t.Skip("PM4ML_SKIP_E2E=1: " + why)
		}
		t.Fatalf("the gate's real-CLI test cannot run: %s (or set PM4ML_SKIP_E2E=1 to skip it)", why)
	}
	return bin
}

type cli struct {
	t        *testing.T
	bin, dir string
	env      []string
}

func newCLI(t *testing.T) *cli {
	bin := toolsDir(t)
	tmp := t.TempDir()
	c := &cli{t: t, bin: bin, dir: filepath.Join(tmp, "proj")}
	for _, d := range []string{c.dir, filepath.Join(tmp, "state"), filepath.Join(tmp, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prog, err := filepath.Abs(filepath.Join("testdata", "gateprog"))
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(c.dir, prog)
	write(t, filepath.Join(c.dir, "Pulumi.yaml"), "name: pm4ml-checklist-e2e\nruntime: go\nmain: "+rel+"\n")
	c.env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(tmp, "home"),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(tmp, "state"),
		"PULUMI_CONFIG_PASSPHRASE=",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"GOPROXY=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local",
	)
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: none\n  context: {cluster: none, user: none}\ncurrent-context: none\nusers:\n- name: none\n  user: {token: e2e-only}\n"
	c.must("stack", "init", "e2e", "--non-interactive")
	c.must("config", "set", "--secret", "kubeconfig", kc)
	return c
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pulumi runs the CLI in a new network namespace with only loopback up.
func (c *cli) pulumi(args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	argv := append([]string{"-n", "--", "bash", "-c", `ip link set lo up && exec "$@"`, "netns", filepath.Join(c.bin, "pulumi")}, args...)
	cmd := exec.CommandContext(ctx, "unshare", argv...)
	cmd.Dir, cmd.Env = c.dir, c.env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		c.t.Fatalf("pulumi %v timed out:\n%s", args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("pulumi %v: %v", args, err)
	}
	return string(out), code
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, code := c.pulumi(args...)
	if code != 0 {
		c.t.Fatalf("pulumi %v: exit %d\n%s", args, code, out)
	}
	return out
}

// copyRepo copies the checklist's clean GitOps repository, replacing old with repl in file.
func copyRepo(t *testing.T, file, old, repl string) string {
	t.Helper()
	src := filepath.Join("..", "..", "components", "checklist", "testdata", "gitops")
	dst := filepath.Join(t.TempDir(), "gitops")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if filepath.ToSlash(rel) == file {
			if !strings.Contains(string(b), old) {
				t.Fatalf("%s lacks %q", file, old)
			}
			b = []byte(strings.Replace(string(b), old, repl, 1))
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestGateThroughTheCLI(t *testing.T) {
	c := newCLI(t)

	// broken: the external gateway's HTTPS NodePort is not the port matrix's
	c.must("config", "set", "repoDir", copyRepo(t, "apps/istio-gateways-app/charts/gateways/values.yaml", "https: 32443", "https: 30443"))
	out, code := c.pulumi("up", "--yes", "--non-interactive", "--skip-preview")
	if code == 0 {
		t.Fatalf("pulumi up passed a failing checklist:\n%s", out)
	}
	t.Logf("pulumi up (exit %d):\n%s", code, out)
	want := "FAIL gateway-nodeports app=istio-gateways-app Service/istio-ingress/istio-ingressgateway field=spec.ports[https].nodePort: the external gateway's https port uses NodePort 30443, not the port matrix's 32443"
	if !strings.Contains(out, want) {
		t.Errorf("the update's output lacks the failure line %q:\n%s", want, out)
	}
	var state struct {
		Deployment struct {
			Resources []struct {
				Type string `json:"type"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(c.must("stack", "export")), &state); err != nil {
		t.Fatal(err)
	}
	for _, r := range state.Deployment.Resources {
		if r.Type == "kubernetes:argoproj.io/v1alpha1:Application" {
			t.Errorf("an Application is in the state after the gate failed")
		}
	}

	// clean: the preview passes the gate and plans the Applications
	c.must("config", "set", "repoDir", copyRepo(t, "README.md", "A GitOps", "A GitOps"))
	out, code = c.pulumi("preview", "--non-interactive")
	if code != 0 || strings.Contains(out, "FAIL ") || !strings.Contains(out, "kubernetes:argoproj.io/v1alpha1:Application") {
		t.Errorf("clean preview: exit %d\n%s", code, out)
	}
}
