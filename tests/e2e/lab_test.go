// Package e2e is the end-to-end test of the platform layer (README.md): the real Pulumi CLI and
// kubernetes provider deploy components/argocd and components/waves through the Automation API
// against a real kube-apiserver (kwok nodes) and a real Argo CD application-controller and
// repo-server, all local processes in one loopback-only network namespace.
//
// This file holds the lab plumbing: the gate, the scripts beside it, the re-execution of the test
// inside the namespace, and the observers the assertions use.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment of the test.
const (
	envForce = "PM4ML_E2E"       // 1: a missing prerequisite fails instead of skipping
	envInner = "PM4ML_E2E_INNER" // set on the re-executed test inside the namespace
	envKeep  = "PM4ML_E2E_KEEP"  // 1: leave the lab up afterwards (tear down with the scripts)
)

// Lab names (the scripts' defaults are the same; the test passes them explicitly).
const (
	netns   = "pm4ml-e2e"
	repoDir = "gitops" // under the state dir, served as git://127.0.0.1:9418/gitops
	repoURL = "git://127.0.0.1:9418/" + repoDir
)

func cacheDir() string {
	if d := os.Getenv("PM4ML_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "pm4ml-onprem")
}

func binDir() string   { return filepath.Join(cacheDir(), "bin") }
func stateDir() string { return filepath.Join(cacheDir(), "e2e") }

// labBinaries are what `scripts/tools.sh --pulumi --lab` puts into $PM4ML_CACHE/bin.
var labBinaries = []string{"pulumi", "pulumi-resource-kubernetes", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "argocd", "helm", "kustomize"}

// labCommands are the Debian tools of `scripts/tools.sh --lab`.
var labCommands = []string{"ip", "etcd", "redis-server", "redis-cli", "git", "kubectl", "openssl", "curl", "go"}

// require skips (or, with PM4ML_E2E=1, fails) unless the test can run: root, the lab binaries,
// the Debian tools.
func require(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	for _, b := range labBinaries {
		if fi, err := os.Stat(filepath.Join(binDir(), b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Join(binDir(), b))
		}
	}
	for _, c := range labCommands {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		// the argo-cd module (CRDs, install.yaml) in a module cache: looked up offline
		cmd := exec.Command("bash", "-c", `. "$1/lib.sh" && argocd_module_dir`, "-", here(t))
		cmd.Env = labEnv()
		if err := cmd.Run(); err != nil {
			missing = append(missing, "the module github.com/argoproj/argo-cd/v2@v2.14.21 in the Go module cache")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("e2e: missing %s: run `bash scripts/tools.sh --pulumi --lab` as root, then run this test as root", strings.Join(missing, ", "))
	if os.Getenv(envForce) == "1" {
		t.Fatal(msg + " (PM4ML_E2E=1: failing instead of skipping)")
	}
	t.Skip(msg)
}

// here is this package's directory (the scripts).
func here(t *testing.T) string {
	t.Helper()
	_, f, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test's directory")
	}
	return filepath.Dir(f)
}

// labEnv is the environment of the scripts and of the inner test.
func labEnv() []string {
	return append(os.Environ(),
		"E2E_STATE="+stateDir(), "E2E_NETNS="+netns, "BIN="+binDir(),
		"PATH="+binDir()+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// script runs one of the scripts beside this file, bounded by timeout; it returns the output.
func script(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(here(t), name)}, args...)...)
	cmd.Env = labEnv()
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %s: %w", name, timeout, err)
	}
	t.Logf("%s %s (%.1fs): %s", name, strings.Join(args, " "), time.Since(start).Seconds(), strings.TrimSpace(string(out)))
	return string(out), err
}

// lock holds an exclusive lock on the lab's state directory until the test ends: one e2e run at
// a time per cache (they share the namespace name and the state).
func lock(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(stateDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(stateDir(), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("another e2e run holds %s", f.Name())
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { f.Close() })
}

// labUp starts the lab (stopping leftovers of an earlier run first) and registers its teardown.
func labUp(t *testing.T, apps []string) {
	t.Helper()
	lock(t)
	// leftovers of an interrupted run: stopped by their recorded PIDs
	if _, err := script(t, time.Minute, "argocd-down.sh"); err != nil {
		t.Fatalf("argocd-down.sh: %v", err)
	}
	if _, err := script(t, time.Minute, "k8s-down.sh", "--purge"); err != nil {
		t.Fatalf("k8s-down.sh: %v", err)
	}
	for _, d := range []string{"pulumi-state", "pulumi-home", repoDir} {
		if err := os.RemoveAll(filepath.Join(stateDir(), d)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if os.Getenv(envKeep) == "1" {
			t.Logf("PM4ML_E2E_KEEP=1: the lab stays up (netns %s, state %s); stop it with tests/e2e/argocd-down.sh and k8s-down.sh", netns, stateDir())
			return
		}
		if _, err := script(t, time.Minute, "argocd-down.sh"); err != nil {
			t.Errorf("argocd-down.sh: %v", err)
		}
		if _, err := script(t, time.Minute, "k8s-down.sh", "--purge"); err != nil {
			t.Errorf("k8s-down.sh: %v", err)
		}
		if out, _ := exec.Command("ip", "netns", "list").Output(); bytes.Contains(out, []byte(netns)) {
			t.Errorf("netns %s still exists after k8s-down.sh", netns)
		}
	})
	if _, err := script(t, 3*time.Minute, "k8s-up.sh"); err != nil {
		t.Fatalf("k8s-up.sh: %v", err)
	}
	if _, err := script(t, time.Minute, "make-gitops.sh", append([]string{filepath.Join(stateDir(), repoDir)}, apps...)...); err != nil {
		t.Fatalf("make-gitops.sh: %v", err)
	}
	if _, err := script(t, 3*time.Minute, "argocd-up.sh"); err != nil {
		t.Fatalf("argocd-up.sh: %v", err)
	}
}

// argocdManifests is the argo-cd module's manifests directory (lib.sh's argocd_module_dir).
func argocdManifests(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", `. "$1/lib.sh" && argocd_module_dir`, "-", here(t))
	cmd.Env = labEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the argo-cd module: %v %s", err, out)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "manifests")
}

// inner re-executes this test binary inside the namespace (ip netns exec), so the Pulumi CLI,
// the provider and the program reach nothing but the namespace's loopback. Its output is
// logged line by line with a prefix; it fails the test when the inner test fails.
func inner(t *testing.T, timeout time.Duration, env ...string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", netns, self,
		"-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", fmt.Sprintf("-test.timeout=%s", timeout-15*time.Second))
	cmd.Env = append(append(labEnv(), envInner+"=1"), env...)
	cmd.Dir = here(t)
	cmd.WaitDelay = 20 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			t.Log("inner| " + sc.Text())
		}
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if ctx.Err() != nil {
		t.Fatalf("the test inside the namespace did not finish within %s", timeout)
	}
	if err != nil {
		t.Fatalf("the test inside the namespace failed: %v", err)
	}
}

// kubectl runs kubectl against the lab (inside the namespace), bounded.
func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// appEvent is one watch event of an Application, in the API server's order.
type appEvent struct {
	Seq     int
	At      time.Time
	Type    string // ADDED, MODIFIED, DELETED
	Name    string
	Path    string // spec.source.path
	Desired string // desiredKey
	// Ready: comparedTo is the spec's source and Synced + Healthy.
	Ready bool
}

// appWatch records every Application event (kubectl get --watch) while it runs: the
// independent observer of the wave order.
type appWatch struct {
	mu     sync.Mutex
	events []appEvent
	// baseline is the desired state (desiredKey) of each Application before the update.
	baseline map[string]string
	cancel   context.CancelFunc
	done     chan struct{}
}

func watchApps(t *testing.T, kubeconfig, namespace string) *appWatch {
	t.Helper()
	out, err := kubectl(t, kubeconfig, "-n", namespace, "get", "applications.argoproj.io", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	w := &appWatch{cancel: cancel, done: make(chan struct{}), baseline: map[string]string{}}
	for _, it := range list.Items {
		md, _ := it["metadata"].(map[string]any)
		w.baseline[fmt.Sprint(md["name"])] = desiredKey(it)
	}
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "-n", namespace, "get", "applications.argoproj.io",
		"--watch", "--output-watch-events", "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		dec := json.NewDecoder(stdout)
		for {
			var ev struct {
				Type   string         `json:"type"`
				Object map[string]any `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				break
			}
			md, _ := ev.Object["metadata"].(map[string]any)
			spec, _ := ev.Object["spec"].(map[string]any)
			src, _ := spec["source"].(map[string]any)
			st, _ := ev.Object["status"].(map[string]any)
			syn, _ := st["sync"].(map[string]any)
			cmp, _ := syn["comparedTo"].(map[string]any)
			csrc, _ := cmp["source"].(map[string]any)
			health, _ := st["health"].(map[string]any)
			e := appEvent{At: time.Now(), Type: ev.Type, Name: fmt.Sprint(md["name"]), Path: fmt.Sprint(src["path"]), Desired: desiredKey(ev.Object)}
			e.Ready = ev.Type != "DELETED" && csrc["path"] == src["path"] && csrc["repoURL"] == src["repoURL"] &&
				csrc["targetRevision"] == src["targetRevision"] && syn["status"] == "Synced" && health["status"] == "Healthy"
			w.mu.Lock()
			e.Seq = len(w.events)
			w.events = append(w.events, e)
			w.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	// the watch lists what exists (ADDED events) before it watches: give it a moment to attach
	time.Sleep(2 * time.Second)
	return w
}

// stop ends the watch and returns its events.
func (w *appWatch) stop() []appEvent {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]appEvent(nil), w.events...)
}

// desiredKey is an Application's spec, labels and annotations: what Pulumi sets (Argo CD writes
// only status and operation), to tell a change by Pulumi from Argo CD's status updates.
func desiredKey(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	b, _ := json.Marshal([]any{obj["spec"], md["labels"], md["annotations"]})
	return string(b)
}

// milestones of one app in a watch: the first ADDED event and the first Ready event after it.
type milestones struct {
	Added, Ready *appEvent
}

func appMilestones(evs []appEvent) map[string]*milestones {
	m := map[string]*milestones{}
	for i := range evs {
		e := &evs[i]
		ms := m[e.Name]
		if ms == nil {
			ms = &milestones{}
			m[e.Name] = ms
		}
		if e.Type == "ADDED" && ms.Added == nil {
			ms.Added = e
		}
		if e.Ready && ms.Added != nil && ms.Ready == nil {
			ms.Ready = e
		}
	}
	return m
}

// changed lists the Applications created, deleted or with another desired state (spec, labels,
// annotations) during the watch than before it.
func (w *appWatch) changed(evs []appEvent) []string {
	var out []string
	for _, e := range evs {
		d, existed := w.baseline[e.Name]
		if (!existed || e.Type == "DELETED" || d != e.Desired) && !slices.Contains(out, e.Name) {
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
