// Package policy runs the policy pack (policy/) through the real Pulumi CLI: `pulumi preview
// --policy-pack policy` on a small Kubernetes program (testdata/k8sprog), with the CLI, the Go
// language host and the kubernetes provider built by `bash scripts/tools.sh --pulumi`.
//
// Network safety: every CLI command, and everything it starts (language host, policy pack,
// provider, go build), runs inside a fresh network namespace (unshare -n) with only a loopback
// interface: no route leaves it. The program's kubeconfig points at a closed loopback port; a
// preview does not need a reachable cluster.
//
// The test needs root (for unshare -n) and the binaries. Without them it fails with how to get
// them, unless PM4ML_SKIP_E2E=1.
package policy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/policy/rules"
)

var binaries = []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes"}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "policy", "PulumiPolicy.yaml")); err != nil {
		t.Fatalf("not the repository root %s: %v", root, err)
	}
	return root
}

// toolsDir is where scripts/tools.sh --pulumi puts the binaries; it fails (or skips with
// PM4ML_SKIP_E2E=1) when they, root or unshare are missing.
func toolsDir(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("PM4ML_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "pm4ml-onprem")
	}
	bin := filepath.Join(cache, "bin")
	var missing []string
	for _, b := range binaries {
		if st, err := os.Stat(filepath.Join(bin, b)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Join(bin, b))
		}
	}
	why := ""
	switch {
	case len(missing) > 0:
		why = "missing " + strings.Join(missing, ", ") + ": build them with `bash scripts/tools.sh --pulumi` (about 20 minutes the first time)"
	case os.Geteuid() != 0:
		why = "not root: the CLI runs in a network namespace of its own (unshare -n), which needs root"
	default:
		for _, tool := range []string{"unshare", "ip", "go"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = tool + " is not on PATH (util-linux, iproute2, the Go toolchain)"
			}
		}
	}
	if why != "" {
		if os.Getenv("PM4ML_SKIP_E2E") == "1" {
			t.Skip("PM4ML_SKIP_E2E=1: " + why)
		}
		t.Fatalf("the real-CLI policy test cannot run: %s (or set PM4ML_SKIP_E2E=1 to skip it)", why)
	}
	return bin
}

// lab is a project directory and a local file backend under a temp dir.
type lab struct {
	t    *testing.T
	root string
	bin  string
	dir  string // project directory (Pulumi.yaml with main: the program in testdata)
	env  []string
}

func newLab(t *testing.T) *lab {
	root := repoRoot(t)
	bin := toolsDir(t)
	tmp := t.TempDir()
	l := &lab{t: t, root: root, bin: bin, dir: filepath.Join(tmp, "proj")}
	for _, d := range []string{l.dir, filepath.Join(tmp, "state"), filepath.Join(tmp, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prog, err := filepath.Rel(l.dir, filepath.Join(root, "tests", "policy", "testdata", "k8sprog"))
	if err != nil {
		t.Fatal(err)
	}
	// The program stays in the repository (it builds inside this Go module); the project file
	// and the stack files live in the temp dir.
	writeFile(t, filepath.Join(l.dir, "Pulumi.yaml"), "name: pm4ml-policy-e2e\nruntime: go\nmain: "+prog+"\n")
	// A kubeconfig for a loopback port nothing listens on (the namespace has nothing else).
	writeFile(t, filepath.Join(tmp, "kubeconfig"), `apiVersion: v1
kind: Config
clusters:
- name: none
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: none
  context: {cluster: none, user: none}
current-context: none
users:
- name: none
  user: {token: e2e-only}
`)
	l.env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(tmp, "home"),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(tmp, "state"),
		"PULUMI_CONFIG_PASSPHRASE=",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"GOPROXY=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local",
	)
	kc, err := os.ReadFile(filepath.Join(tmp, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range []string{"prod", "stg"} {
		l.must("stack", "init", stack, "--non-interactive")
		l.must("config", "set", "--stack", stack, "pm4ml:environment", stack)
		l.must("config", "set", "--stack", stack, "kubeconfig", string(kc))
	}
	return l
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs a command in a new network namespace with only loopback up (the CLI, and everything
// it starts, cannot send a packet off the machine); it returns the combined output and the exit
// code.
func (l *lab) run(argv []string, env ...string) (string, int) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-n", "--", "bash", "-c",
		`ip link set lo up && exec "$@"`, "netns"}, argv...)...)
	cmd.Dir = l.dir
	cmd.Env = append(append([]string{}, l.env...), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			l.t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		l.t.Fatalf("%v timed out:\n%s", argv, out)
	}
	return string(out), code
}

// pulumi runs the CLI (see run).
func (l *lab) pulumi(args ...string) (string, int) {
	l.t.Helper()
	return l.run(append([]string{filepath.Join(l.bin, "pulumi")}, args...))
}

func (l *lab) must(args ...string) string {
	l.t.Helper()
	out, code := l.pulumi(args...)
	if code != 0 {
		l.t.Fatalf("pulumi %v: exit %d\n%s", args, code, out)
	}
	return out
}

// preview runs `pulumi preview --policy-pack policy` of a stack and program variant.
func (l *lab) preview(stack, variant string, extra ...string) (string, int) {
	l.t.Helper()
	l.must("config", "set", "--stack", stack, "variant", variant)
	args := append([]string{"preview", "--non-interactive", "--diff", "--stack", stack,
		"--policy-pack", filepath.Join(l.root, "policy")}, extra...)
	return l.pulumi(args...)
}

// line reports whether a policy line of the CLI's output has the level, policy and resource.
func line(out, level, policy, resource string) bool {
	re := regexp.MustCompile(`\[` + level + `\]\s+` + regexp.QuoteMeta(policy) + `\s+\(` + regexp.QuoteMeta(resource) + `\)`)
	return re.MatchString(out)
}

func TestPolicyPackThroughTheCLI(t *testing.T) {
	l := newLab(t)
	svc, dep := "kubernetes:core/v1:Service: portal", "kubernetes:apps/v1:Deployment: portal"

	t.Run("violations block the preview", func(t *testing.T) {
		out, code := l.preview("prod", "violations")
		t.Logf("exit %d", code)
		if code == 0 {
			t.Fatalf("preview exited 0 with two violations:\n%s", out)
		}
		for _, want := range []string{
			"portal (kubernetes:core/v1:Service): is a Service of type NodePort",
			"Fix: make it type ClusterIP",
			"portal (kubernetes:apps/v1:Deployment): container portal has no requests.cpu, requests.memory, limits.cpu, limits.memory",
			"error: preview failed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if !line(out, "mandatory", "no-public-nodeports", svc) || !line(out, "mandatory", "pre-deployment-checklist", dep) {
			t.Errorf("the two violations are not mandatory:\n%s", out)
		}
	})

	t.Run("policy-pack-config turns policies advisory", func(t *testing.T) {
		both := filepath.Join(t.TempDir(), "both.json")
		writeFile(t, both, `{"no-public-nodeports": "advisory", "pre-deployment-checklist": {"enforcementLevel": "advisory"}}`)
		out, code := l.preview("prod", "violations", "--policy-pack-config", both)
		t.Logf("both advisory: exit %d", code)
		if code != 0 || !line(out, "advisory", "no-public-nodeports", svc) || !line(out, "advisory", "pre-deployment-checklist", dep) {
			t.Fatalf("with both policies advisory: exit %d\n%s", code, out)
		}
		one := filepath.Join(t.TempDir(), "one.json")
		writeFile(t, one, `{"no-public-nodeports": {"enforcementLevel": "advisory"}}`)
		out, code = l.preview("prod", "violations", "--policy-pack-config", one)
		t.Logf("one advisory: exit %d", code)
		if code == 0 || !line(out, "advisory", "no-public-nodeports", svc) || !line(out, "mandatory", "pre-deployment-checklist", dep) {
			t.Fatalf("with one policy advisory: exit %d\n%s", code, out)
		}
	})

	t.Run("compliant objects pass", func(t *testing.T) {
		out, code := l.preview("prod", "compliant")
		t.Logf("exit %d", code)
		if code != 0 || strings.Contains(out, "[mandatory]") || strings.Contains(out, "[advisory]") {
			t.Fatalf("compliant preview: exit %d\n%s", code, out)
		}
	})

	t.Run("component outputs reach AnalyzeStack, judged per environment", func(t *testing.T) {
		out, code := l.preview("prod", "cluster")
		t.Logf("prod: exit %d", code)
		if code == 0 || !line(out, "mandatory", rules.Rules[0].Name, "pm4ml:microk8s:Cluster: microk8s") ||
			!strings.Contains(out, "m1 is both master and worker") || !line(out, "mandatory", "high-availability", "pm4ml:microk8s:Cluster: microk8s") {
			t.Fatalf("prod cluster: exit %d\n%s", code, out)
		}
		out, code = l.preview("stg", "cluster")
		t.Logf("stg: exit %d", code)
		if code != 0 || !line(out, "advisory", "dedicated-masters", "pm4ml:microk8s:Cluster: microk8s") || strings.Contains(out, "[mandatory]") {
			t.Fatalf("stg cluster (reduced redundancy is advisory): exit %d\n%s", code, out)
		}
	})

	t.Run("up is blocked before anything is created", func(t *testing.T) {
		l.must("config", "set", "--stack", "prod", "variant", "violations")
		out, code := l.pulumi("up", "--yes", "--non-interactive", "--stack", "prod", "--policy-pack", filepath.Join(l.root, "policy"))
		t.Logf("exit %d", code)
		if code == 0 || !strings.Contains(out, "preview failed") || !line(out, "mandatory", "no-public-nodeports", svc) {
			t.Fatalf("up: exit %d\n%s", code, out)
		}
		state := l.must("stack", "export", "--stack", "prod")
		if strings.Contains(state, "kubernetes:core/v1:Service") || strings.Contains(state, "kubernetes:apps/v1:Deployment") {
			t.Fatalf("up created resources despite the violations:\n%s", state)
		}
	})

	t.Run("change window: plan before, apply exactly the plan", func(t *testing.T) {
		plans := filepath.Join(t.TempDir(), "plans")
		script := filepath.Join(l.root, "scripts", "change-window.sh")
		cw := func(args ...string) (string, int) {
			t.Helper()
			return l.run(append([]string{"bash", script}, args...), "PM4ML_PROJECT_DIR="+l.dir, "PM4ML_PLANS_DIR="+plans)
		}
		l.must("config", "set", "--stack", "prod", "variant", "violations")
		out, code := cw("plan", "prod")
		t.Logf("plan with violations: exit %d", code)
		if code == 0 || !line(out, "mandatory", "no-public-nodeports", svc) || !strings.Contains(out, "no plan was saved") {
			t.Fatalf("plan with violations: exit %d\n%s", code, out)
		}
		if m, _ := filepath.Glob(filepath.Join(plans, "prod-*.json")); len(m) != 0 {
			t.Fatalf("a plan was kept despite the violations: %v", m)
		}
		l.must("config", "set", "--stack", "prod", "variant", "compliant")
		l.must("config", "set", "--stack", "prod", "version", "1.0.0")
		out, code = cw("plan", "prod")
		t.Logf("plan: exit %d", code)
		m, _ := filepath.Glob(filepath.Join(plans, "prod-*.json"))
		if code != 0 || len(m) != 1 {
			t.Fatalf("plan: exit %d, plans %v\n%s", code, m, out)
		}
		plan := m[0]
		base := strings.TrimSuffix(plan, ".json")
		for _, f := range []string{base + ".preview.txt", base + ".sha256"} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("plan: %v", err)
			}
		}
		if txt, _ := os.ReadFile(base + ".preview.txt"); !strings.Contains(string(txt), "kubernetes:apps/v1:Deployment") {
			t.Errorf("the saved preview does not show the diff:\n%s", txt)
		}
		if out, code := cw("apply", "stg", plan); code != 2 || !strings.Contains(out, "is not a plan of stack stg") {
			t.Errorf("apply to another stack: exit %d\n%s", code, out)
		}
		// What runs is what was reviewed: a change after the plan is refused by the engine.
		l.must("config", "set", "--stack", "prod", "version", "1.0.1")
		out, code = cw("apply", "prod", plan)
		t.Logf("apply after a change: exit %d", code)
		if code == 0 || !strings.Contains(out, "violates plan") {
			t.Fatalf("apply of a changed program: exit %d\n%s", code, out)
		}
		// A plan file edited after review is refused before pulumi runs.
		f, err := os.OpenFile(plan, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString("\n")
		f.Close()
		if out, code := cw("apply", "prod", plan); code != 2 || !strings.Contains(out, "the plan changed after review") {
			t.Errorf("apply of an edited plan: exit %d\n%s", code, out)
		}
		state := l.must("stack", "export", "--stack", "prod")
		if strings.Contains(state, "kubernetes:apps/v1:Deployment") {
			t.Fatalf("the refused applies created resources:\n%s", state)
		}
	})
}
