// The full-stack lab's plumbing (stack-up.sh / stack-down.sh around a test, the Pulumi CLI inside
// the lab namespace, SSH and kubectl there). TestStackLab (stack_test.go) uses it.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

const (
	stackLabFile = "testdata/Pulumi.stacklab.yaml"
	stackName    = "stacklab"
	vaultToken   = "lab-root-token" // stack-env.sh's default
)

func stackNS() string {
	if ns := os.Getenv("PM4ML_STACKLAB_NETNS"); ns != "" {
		return ns
	}
	return "pm4ml-lab"
}

func stackDir() string {
	if d := os.Getenv("PM4ML_STACKLAB_DIR"); d != "" {
		return d
	}
	return filepath.Join(cacheDir(), "lab", "stack")
}

// stackLabBinaries are what `scripts/tools.sh --pulumi --lab` builds into $PM4ML_CACHE/bin.
var stackLabBinaries = []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes",
	"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "argocd", "helm", "kustomize", "vault"}

var stackLabCommands = []string{"ip", "etcd", "redis-server", "git", "kubectl", "openssl", "curl",
	"losetup", "ssh", "scp", "go", "python3"}

// requireStackLab skips unless the lab is enabled (PM4ML_LAB=1, root) and its binaries are built.
func requireStackLab(t *testing.T) {
	t.Helper()
	Require(t)
	var missing []string
	for _, b := range stackLabBinaries {
		if fi, err := os.Stat(filepath.Join(cacheDir(), "bin", b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Join(cacheDir(), "bin", b))
		}
	}
	for _, c := range stackLabCommands {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Skipf("full-stack lab: missing %s: run `sudo bash scripts/tools.sh --pulumi --lab` (~55 min from an empty cache)", strings.Join(missing, ", "))
	}
}

// requireK8sLab skips unless the lab's control plane can start (its binaries built by
// `scripts/tools.sh --lab`; etcd, kubectl and openssl installed).
func requireK8sLab(t *testing.T) {
	t.Helper()
	var missing []string
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if fi, err := os.Stat(filepath.Join(cacheDir(), "bin", b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Join(cacheDir(), "bin", b))
		}
	}
	for _, c := range []string{"etcd", "kubectl", "openssl", "curl", "losetup"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Skipf("lab control plane: missing %s: run `sudo bash scripts/tools.sh --lab`", strings.Join(missing, ", "))
	}
}

// stackLab is a running full-stack lab and the lab stack's Pulumi workspace.
type stackLab struct {
	t       *testing.T
	proj    string            // the project dir: Pulumi.yaml with `main` pointing at this repository
	hosts   []stacks.HostSpec // the lab stack's hosts
	dir     string            // state
	ns      string
	cfgFile string // the stack's config file (a copy of stackLabFile with the secrets)
	env     []string
	key     string // the lab SSH key
	logs    string
	mu      sync.Mutex
	n       int
}

func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err != nil {
		t.Fatalf("project root %s: %v", d, err)
	}
	return d
}

// stackScript runs stack-up.sh / stack-down.sh (bounded), returning the output.
func stackScript(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{name}, args...)...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// pulumiEnv is the CLI's environment: the lab stand-in plugins (tests/lab/plugins) first on
// PATH, then the cache's binaries; a file backend and a passphrase in the lab's state; no plugin
// downloads; Go offline (the language host builds the program).
func pulumiEnv(t *testing.T, dir, labBin string) []string {
	t.Helper()
	gocache, _ := exec.Command("go", "env", "GOCACHE").Output()
	gomod, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	path := filepath.Join(cacheDir(), "bin") + ":" + os.Getenv("PATH")
	if labBin != "" {
		path = labBin + ":" + path
	}
	return []string{
		"PATH=" + path,
		"HOME=" + os.Getenv("HOME"),
		"PULUMI_HOME=" + filepath.Join(dir, "pulumi-home"),
		"PULUMI_BACKEND_URL=file://" + filepath.Join(dir, "pulumi-state"),
		"PULUMI_CONFIG_PASSPHRASE=lab",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_SKIP_CONFIRMATIONS=true",
		"GOFLAGS=-mod=mod",
		"GOPROXY=off",
		"GOCACHE=" + strings.TrimSpace(string(gocache)),
		"GOMODCACHE=" + strings.TrimSpace(string(gomod)),
		"NO_COLOR=1",
	}
}

// prebuiltProgram builds the program once (go build of the repository at repo into dir/program,
// with the CLI's environment env) and returns the project file py with its `runtime: go` line
// turned into the Go runtime's `binary` option naming that executable: every CLI run of the test
// then runs the same program without the language host linking it again (~15-30 s a run, 36
// `up`/`preview` runs in TestStackLab). A lab left up for a person (PM4ML_LAB_KEEP=1) keeps `runtime: go`,
// so that an edited program is what `scripts/lab.sh pulumi ...` runs.
func prebuiltProgram(t *testing.T, py []byte, repo, dir string, env []string) []byte {
	t.Helper()
	bin := filepath.Join(dir, "program")
	t0 := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = repo
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the program: %v\n%s", err, out)
	}
	t.Logf("the program built once into %s (%.0f s)", bin, time.Since(t0).Seconds())
	const line = "runtime: go\n"
	if !bytes.Contains(py, []byte(line)) {
		t.Fatalf("Pulumi.yaml has no line %q to turn into the binary option:\n%s", line, py)
	}
	opt := fmt.Sprintf("runtime:\n  name: go\n  options:\n    binary: %s\n", bin)
	return bytes.Replace(py, []byte(line), []byte(opt), 1)
}

// pulumi runs the CLI inside the lab namespace in the project directory; the output (stdout and
// stderr) goes to a numbered log file too. stream, when set, receives each output line as it
// comes.
func (l *stackLab) pulumi(timeout time.Duration, stdin string, stream func(string), args ...string) (string, error) {
	l.mu.Lock()
	l.n++
	log := filepath.Join(l.logs, fmt.Sprintf("%02d-pulumi-%s.log", l.n, args[0]))
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns, filepath.Join(cacheDir(), "bin", "pulumi")}, args...)...)
	cmd.Dir = l.proj
	cmd.Env = l.env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 30 * time.Second
	f, err := os.Create(log)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return "", err
	}
	pw.Close()
	var buf bytes.Buffer
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		buf.WriteString(line + "\n")
		fmt.Fprintln(f, line)
		if stream != nil {
			stream(line)
		}
	}
	pr.Close()
	err = cmd.Wait()
	if err != nil {
		err = fmt.Errorf("pulumi %s: %w (log %s)", strings.Join(args, " "), err, log)
	}
	return buf.String(), err
}

// stackArgs are the flags every stack command takes.
func (l *stackLab) stackArgs(args ...string) []string {
	return append(args, "--stack", stackName, "--config-file", l.cfgFile, "--non-interactive")
}

// sh runs a command line inside the lab namespace (bounded).
func (l *stackLab) sh(timeout time.Duration, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(l.dir, "e2e", "k8s", "kubeconfig"))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl runs kubectl against the lab apiserver (admin, from inside the namespace).
func (l *stackLab) kubectl(args ...string) (string, error) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = remotecmd.Quote(a)
	}
	return l.sh(time.Minute, "kubectl "+strings.Join(q, " "))
}

// ssh runs a command on a lab host as root, from 10.77.0.1 (the admin address), stdin given.
func (l *stackLab) ssh(addr, command, stdin string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, "ssh", "-i", l.key,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "root@"+addr, command)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustSSH is ssh that fails the test on error.
func (l *stackLab) mustSSH(addr, command string) string {
	l.t.Helper()
	out, err := l.ssh(addr, command, "", 2*time.Minute)
	if err != nil {
		l.t.Fatalf("ssh %s %q: %v\n%s", addr, command, err, out)
	}
	return out
}

// --- reading the state and the CLI's JSON

// stateResource is one resource of `pulumi stack export --show-secrets`.
type stateResource struct {
	URN          string         `json:"urn"`
	Type         string         `json:"type"`
	Inputs       map[string]any `json:"inputs"`
	Outputs      map[string]any `json:"outputs"`
	Dependencies []string       `json:"dependencies"`
	// RetainOnDelete: removing it from the program only forgets it (its delete never runs).
	RetainOnDelete bool `json:"retainOnDelete"`
}

func (l *stackLab) export() []stateResource {
	l.t.Helper()
	out, err := l.pulumi(2*time.Minute, "", nil, "stack", "export", "--show-secrets", "--stack", stackName, "--non-interactive")
	if err != nil {
		l.t.Fatalf("%v\n%s", err, tail(out, 40))
	}
	var d struct {
		Deployment struct {
			Resources []stateResource `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		l.t.Fatalf("stack export: %v", err)
	}
	return d.Deployment.Resources
}

// step is one step of `pulumi preview --json`.
type step struct {
	Op  string `json:"op"`
	URN string `json:"urn"`
}

// previewSteps runs `pulumi preview --json` and returns the steps that change something.
func (l *stackLab) previewSteps() []step {
	l.t.Helper()
	out, err := l.pulumi(10*time.Minute, "", nil, l.stackArgs("preview", "--json")...)
	if err != nil {
		l.t.Fatalf("%v\n%s", err, tail(out, 60))
	}
	var p struct {
		Steps []step `json:"steps"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &p); err != nil {
		l.t.Fatalf("preview --json: %v\n%s", err, tail(out, 40))
	}
	var changed []step
	for _, s := range p.Steps {
		if s.Op != "same" && s.Op != "read" {
			changed = append(changed, s)
		}
	}
	return changed
}

// jsonPart is the JSON document of an output that may carry warnings before it.
func jsonPart(out string) string {
	if i := strings.Index(out, "{\n"); i >= 0 {
		return out[i:]
	}
	return out
}

// resName is the name part of a URN.
func resName(urn string) string { return urn[strings.LastIndex(urn, "::")+2:] }

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// doneRe matches the CLI's progress line of a finished resource step, e.g.
// " +  command:remote:Command prep-h5-base created (3s)".
var doneRe = regexp.MustCompile(`^\s*[-+~]*\s*(\S+:\S+:\S+)\s+(\S+)\s+(created|updated|deleted|replaced)\b`)

// completed lists the resources a CLI output reports done (created/updated/deleted/replaced).
func completed(out string) []string {
	var done []string
	for _, line := range strings.Split(out, "\n") {
		if m := doneRe.FindStringSubmatch(line); m != nil {
			done = append(done, m[2])
		}
	}
	slices.Sort(done)
	return slices.Compact(done)
}
