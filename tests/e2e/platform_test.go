package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/argocd"
	"github.com/pm4ml/pm4ml-onprem/components/waves"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// Settings of the deployed platform layer.
const (
	argocdVersion = "v2.14.21"
	argocdNS      = "argocd"
	// appTimeout is pulumi.com/timeoutSeconds of every Application: a healthy stand-in app is
	// Synced+Healthy in ~4 s, so this only bounds the failure scenarios.
	appTimeout = 45
	stackName  = "e2e"
	project    = "pm4ml-e2e"
)

// the lab's Argo CD retry: one retry after 1 s, so a broken sync fails for good within seconds
var labRetry = &waves.Retry{Limit: 1, Duration: "1s", Factor: 1, MaxDuration: "1s"}

// guideApps are the 24 app names of stacks.GuideWaves, in order.
func guideApps() []string {
	var out []string
	for _, w := range stacks.GuideWaves {
		for _, a := range w.Apps {
			out = append(out, a.Name)
		}
	}
	return out
}

// guideWaves maps stacks.GuideWaves onto the component: app X at apps/X (or the override) of
// the lab repository, deployed to namespace X.
func guideWaves(paths map[string]string) []waves.Wave {
	var out []waves.Wave
	for _, w := range stacks.GuideWaves {
		wv := waves.Wave{Name: w.Name}
		for _, a := range w.Apps {
			p := "apps/" + a.Name
			if o, ok := paths[a.Name]; ok {
				p = o
			}
			wv.Apps = append(wv.Apps, waves.App{Name: a.Name, Path: p, Namespace: a.Name})
		}
		out = append(out, wv)
	}
	return out
}

// TestPlatformE2E deploys the platform layer (Argo CD + the guide's 24 apps in 11 waves) with the
// real Pulumi CLI and kubernetes provider against the lab, then breaks it in the ways the issue
// names. Outside the namespace it brings the lab up and re-executes itself inside it.
func TestPlatformE2E(t *testing.T) {
	if os.Getenv(envInner) == "1" {
		platformScenarios(t)
		return
	}
	require(t)
	start := time.Now()
	labUp(t, guideApps())
	t.Logf("TIMING lab up: %.1fs", time.Since(start).Seconds())
	budget := 9 * time.Minute
	if dl, ok := t.Deadline(); ok {
		budget = min(budget, time.Until(dl)-45*time.Second)
	}
	inner(t, budget, "E2E_ARGOCD_MANIFESTS="+argocdManifests(t))
	t.Logf("TIMING whole e2e (lab up, scenarios, destroy): %.1fs", time.Since(start).Seconds())
}

// lab is what the scenarios run against (inside the namespace).
type lab struct {
	kubeconfig     string // path
	kubeconfigText string
	installYAML    string
}

// program is the platform layer as stacks.Build wires it (buildPlatform): the Kubernetes
// provider, Argo CD from the pinned upstream install manifest, then the waves after Argo CD's
// Ready. withWaves false registers Argo CD only (removing every Application).
func (l *lab) program(withWaves bool, paths map[string]string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		k8s, err := argocd.NewKubernetesProvider(ctx, "lab-kubernetes", "pm4ml-e2e-lab", pulumi.String(l.kubeconfigText))
		if err != nil {
			return err
		}
		acd, err := argocd.New(ctx, "argocd", &argocd.Args{
			Provider: k8s, Namespace: argocdNS, Version: argocdVersion, ManifestPath: l.installYAML,
			Domain: "e2e.example.invalid", Repo: argocd.Repo{URL: repoURL, Type: argocd.RepoNone},
		})
		if err != nil {
			return err
		}
		if !withWaves {
			return nil
		}
		w, err := waves.New(ctx, "waves", &waves.Args{
			Provider: k8s, Namespace: argocdNS, RepoURL: repoURL, Revision: "HEAD",
			Waves: guideWaves(paths), TimeoutSeconds: appTimeout, OnDelete: waves.Cascade, Retry: labRetry,
			DependsOn: acd.Ready, Kubeconfig: pulumi.ToSecret(pulumi.String(l.kubeconfigText)).(pulumi.StringOutput),
		})
		if err != nil {
			return err
		}
		ctx.Export("watched", w.Watched)
		return nil
	}
}

// run is one `pulumi up` as recorded.
type run struct {
	res      auto.UpResult
	err      error
	took     time.Duration
	events   []timedEvent
	apps     []appEvent // the independent kubectl watch
	changed  []string   // Applications whose desired state the update changed (the watch)
	errTexts []string   // error diagnostics of the engine
}

type timedEvent struct {
	at time.Time
	e  events.EngineEvent
}

func (r *run) summary() map[string]int {
	if r.res.Summary.ResourceChanges == nil {
		return nil
	}
	return *r.res.Summary.ResourceChanges
}

// errorText is the engine's error diagnostics of the update.
func (r *run) errorText() string { return strings.Join(r.errTexts, "\n") }

// errLine is the first line of the Automation API error (the rest repeats the CLI's output,
// which up logs).
func (r *run) errLine() string {
	if r.err == nil {
		return "<nil>"
	}
	return strings.SplitN(r.err.Error(), "\n", 2)[0]
}

// errorWith returns the first error diagnostic of the update that contains every one of want.
func (r *run) errorWith(want ...string) (string, bool) {
	for _, d := range r.errTexts {
		all := true
		for _, w := range want {
			all = all && strings.Contains(d, w)
		}
		if all {
			return d, true
		}
	}
	return "", false
}

// opTimes returns, per Application name, when the engine started (ResourcePreEvent) and finished
// (ResOutputsEvent) its step of op ("create", "update", ...).
func (r *run) opTimes(op apitype.OpType) (started, finished map[string]time.Time) {
	started, finished = map[string]time.Time{}, map[string]time.Time{}
	for _, te := range r.events {
		e := te.e
		switch {
		case e.ResourcePreEvent != nil && e.ResourcePreEvent.Metadata.Op == op && e.ResourcePreEvent.Metadata.Type == "kubernetes:argoproj.io/v1alpha1:Application":
			started[urnName(e.ResourcePreEvent.Metadata.URN)] = te.at
		case e.ResOutputsEvent != nil && e.ResOutputsEvent.Metadata.Op == op && e.ResOutputsEvent.Metadata.Type == "kubernetes:argoproj.io/v1alpha1:Application":
			finished[urnName(e.ResOutputsEvent.Metadata.URN)] = te.at
		}
	}
	return started, finished
}

// urnName is the Application name of a waves child URN (waves-<app>).
func urnName(urn string) string {
	return strings.TrimPrefix(urn[strings.LastIndex(urn, "::")+2:], "waves-")
}

type scenarios struct {
	t     *testing.T
	lab   *lab
	stack auto.Stack
}

// up runs one update of the given program, with a bounded time, recording the engine's events
// and the Applications' watch events.
func (s *scenarios) up(name string, prog pulumi.RunFunc, limit time.Duration) *run {
	t := s.t
	t.Helper()
	s.stack.Workspace().SetProgram(prog)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	w := watchApps(t, s.lab.kubeconfig, argocdNS)
	ch := make(chan events.EngineEvent, 256)
	r := &run{}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			mu.Lock()
			r.events = append(r.events, timedEvent{at: time.Now(), e: e})
			if d := e.DiagnosticEvent; d != nil && d.Severity == "error" {
				r.errTexts = append(r.errTexts, strings.TrimSpace(d.Message))
			}
			mu.Unlock()
		}
	}()
	var out strings.Builder
	start := time.Now()
	r.res, r.err = s.stack.Up(ctx, optup.EventStreams(ch), optup.ProgressStreams(&out), optup.Color("never"))
	r.took = time.Since(start)
	<-done
	r.apps = w.stop()
	r.changed = w.changed(r.apps)
	if ctx.Err() != nil {
		t.Fatalf("%s: `up` did not finish within %s:\n%s", name, limit, out.String())
	}
	t.Logf("TIMING %s: %.1fs (err=%v) changes=%v", name, r.took.Seconds(), r.err != nil, r.summary())
	t.Logf("%s: CLI output:\n%s", name, tail(out.String(), 60))
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// platformScenarios runs inside the namespace.
func platformScenarios(t *testing.T) {
	state := os.Getenv("E2E_STATE")
	manifests := os.Getenv("E2E_ARGOCD_MANIFESTS")
	if state == "" || manifests == "" {
		t.Fatal("the inner e2e test needs E2E_STATE and E2E_ARGOCD_MANIFESTS (run it through TestPlatformE2E)")
	}
	l := &lab{kubeconfig: filepath.Join(state, "k8s", "kubeconfig"), installYAML: filepath.Join(manifests, "install.yaml")}
	b, err := os.ReadFile(l.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	l.kubeconfigText = string(b)
	// only lo and no IPv4 route in here: nothing the CLI or the provider does can leave the machine
	if out, err := os.ReadFile("/proc/net/route"); err != nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("the inner test must run in a namespace without IPv4 routes; /proc/net/route:\n%s", out)
	}
	if ifs, err := os.ReadDir("/sys/class/net"); err != nil || len(ifs) != 1 || ifs[0].Name() != "lo" {
		t.Fatalf("the inner test must run in a namespace whose only interface is lo: %v %v", ifs, err)
	}

	backend := filepath.Join(state, "pulumi-state")
	home := filepath.Join(state, "pulumi-home")
	for _, d := range []string{backend, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"PULUMI_CONFIG_PASSPHRASE":                    "",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_HOME":                                 home,
		"PATH":                                        os.Getenv("PATH"),
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	proj := workspace.Project{
		Name:    tokens.PackageName(project),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		Backend: &workspace.ProjectBackend{URL: "file://" + backend},
	}
	stack, err := auto.UpsertStackInlineSource(ctx, stackName, project, l.program(true, nil),
		auto.Project(proj), auto.SecretsProvider("passphrase"), auto.PulumiHome(home), auto.EnvVars(env))
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	s := &scenarios{t: t, lab: l, stack: stack}
	t.Cleanup(func() { s.destroy() })

	s.freshUp()
	s.noChangeUp()
	s.brokenUpdate()
	s.brokenWave3()
}

// destroy removes everything the stack made, bounded; Argo CD still runs, so the
// Applications' cascade finalizers are honoured.
func (s *scenarios) destroy() {
	t := s.t
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out strings.Builder
	start := time.Now()
	_, err := s.stack.Destroy(ctx, optdestroy.ProgressStreams(&out), optdestroy.Color("never"))
	t.Logf("TIMING destroy: %.1fs (err=%v)", time.Since(start).Seconds(), err)
	if err != nil {
		t.Errorf("destroy: %v\n%s", err, tail(out.String(), 40))
		return
	}
	if left, err := kubectl(t, s.lab.kubeconfig, "get", "applications.argoproj.io", "-A", "-o", "name"); err == nil && strings.TrimSpace(left) != "" {
		t.Errorf("Applications left after destroy: %s", left)
	}
	if err := s.stack.Workspace().RemoveStack(ctx, stackName); err != nil {
		t.Errorf("remove stack: %v", err)
	}
}

// apps reads every Application: name -> object.
func (s *scenarios) apps() map[string]map[string]any {
	t := s.t
	t.Helper()
	out, err := kubectl(t, s.lab.kubeconfig, "-n", argocdNS, "get", "applications.argoproj.io", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]map[string]any{}
	for _, it := range list.Items {
		md, _ := it["metadata"].(map[string]any)
		m[fmt.Sprint(md["name"])] = it
	}
	return m
}

// assertReady checks that every named Application is Synced and Healthy for its path now, and
// that its stand-in ConfigMap exists in its namespace.
func (s *scenarios) assertReady(names []string, paths map[string]string) {
	t := s.t
	t.Helper()
	apps := s.apps()
	for _, n := range names {
		p := "apps/" + n
		if o, ok := paths[n]; ok {
			p = o
		}
		a := waves.Assess(apps[n], waves.Source{RepoURL: repoURL, Path: p, Revision: "HEAD"})
		if apps[n] == nil || !a.Ready {
			t.Errorf("Application %s is not Synced+Healthy for %s: %s", n, p, a.Reason)
		}
		if p == "apps/"+n {
			if _, err := kubectl(t, s.lab.kubeconfig, "-n", n, "get", "configmap", n+"-standin"); err != nil {
				t.Errorf("app %s: its stand-in ConfigMap is missing: %v", n, err)
			}
		}
	}
}

// a. A fresh `up` with all 24 apps good: every app of wave N+1 is created only after every app of
// wave N is Synced+Healthy, seen both by the API server's event order and by the engine.
func (s *scenarios) freshUp() {
	t := s.t
	r := s.up("a. fresh up (Argo CD + 24 apps in 11 waves)", s.lab.program(true, nil), 6*time.Minute)
	if r.err != nil {
		t.Fatalf("fresh up failed: %s\n%s", r.errLine(), r.errorText())
	}
	if got := r.summary()["create"]; got < 24+1+59+1+2 {
		t.Errorf("fresh up created %d resources, want at least the 24 Applications, the provider, the 59 install objects, the repo secret and the components", got)
	}
	ms := appMilestones(r.apps)
	_, finished := r.opTimes(apitype.OpCreate)
	started, _ := r.opTimes(apitype.OpCreate)
	gw := stacks.GuideWaves
	var lines []string
	for i, w := range gw {
		var firstAdded, lastReady *appEvent
		for _, a := range w.Apps {
			m := ms[a.Name]
			if m == nil || m.Added == nil || m.Ready == nil {
				t.Fatalf("wave %s: Application %s was never seen created and Synced+Healthy by the watch (%+v)", w.Name, a.Name, m)
			}
			if firstAdded == nil || m.Added.Seq < firstAdded.Seq {
				firstAdded = m.Added
			}
			if lastReady == nil || m.Ready.Seq > lastReady.Seq {
				lastReady = m.Ready
			}
			if _, ok := finished[a.Name]; !ok {
				t.Errorf("the engine reported no finished create of %s", a.Name)
			}
		}
		lines = append(lines, fmt.Sprintf("wave %2d %-24s first created %s  all Synced+Healthy %s", i+1, w.Name,
			firstAdded.At.Format("15:04:05.000"), lastReady.At.Format("15:04:05.000")))
		if i == 0 {
			continue
		}
		// every app of this wave appeared after the last app of the previous wave was ready
		for _, prev := range gw[i-1].Apps {
			pr := ms[prev.Name].Ready
			for _, a := range w.Apps {
				ad := ms[a.Name].Added
				if ad.Seq < pr.Seq {
					t.Errorf("wave order: %s (wave %s) was created (event %d, %s) before %s (wave %s) was Synced+Healthy (event %d, %s)",
						a.Name, w.Name, ad.Seq, ad.At.Format("15:04:05.000"), prev.Name, gw[i-1].Name, pr.Seq, pr.At.Format("15:04:05.000"))
				}
				if st, fin := started[a.Name], finished[prev.Name]; !st.After(fin) {
					t.Errorf("engine order: the create of %s started at %s, not after the create of %s finished at %s",
						a.Name, st.Format("15:04:05.000"), prev.Name, fin.Format("15:04:05.000"))
				}
			}
		}
	}
	t.Logf("wave order (kubectl watch of the Applications):\n%s", strings.Join(lines, "\n"))
	// the objects agree at second granularity: creationTimestamp of wave N+1 >= the
	// operationState.finishedAt of every app of wave N
	apps := s.apps()
	for i := 1; i < len(gw); i++ {
		for _, prev := range gw[i-1].Apps {
			fin := objTime(apps[prev.Name], "status", "operationState", "finishedAt")
			for _, a := range gw[i].Apps {
				cr := objTime(apps[a.Name], "metadata", "creationTimestamp")
				if fin.IsZero() || cr.IsZero() || cr.Before(fin) {
					t.Errorf("%s created %s before %s finished syncing %s", a.Name, cr, prev.Name, fin)
				}
			}
		}
	}
	s.assertReady(guideApps(), nil)
	if seen, _ := r.res.Outputs["watched"].Value.([]any); len(seen) != len(gw) {
		t.Errorf("the program's watch passed %v, want all %d waves", r.res.Outputs["watched"].Value, len(gw))
	}
}

// b. A second `up` changes nothing.
func (s *scenarios) noChangeUp() {
	t := s.t
	r := s.up("b. second up (no change)", s.lab.program(true, nil), 3*time.Minute)
	if r.err != nil {
		t.Fatalf("second up failed: %s\n%s", r.errLine(), r.errorText())
	}
	for op, n := range r.summary() {
		if op != string(apitype.OpSame) && n != 0 {
			t.Errorf("second up: %d %s (want no changes: %v)", n, op, r.summary())
		}
	}
	if r.summary()["same"] < 24 {
		t.Errorf("second up: summary %v", r.summary())
	}
	if len(r.changed) != 0 {
		t.Errorf("the second up changed the Applications %v", r.changed)
	}
}

// d. Updating a healthy wave (storage, wave 2) to a broken path fails the update: no stale pass
// on the previous Synced+Healthy. Then the repair succeeds.
func (s *scenarios) brokenUpdate() {
	t := s.t
	broken := map[string]string{"storage-app": "apps/degraded"}
	r := s.up("d. update storage-app (wave 2) to a Degraded path", s.lab.program(true, broken), 4*time.Minute)
	if r.err == nil {
		t.Fatalf("the update of storage-app to apps/degraded succeeded: a stale pass on the old Synced+Healthy status")
	}
	// one error names the app and quotes Argo CD: the health and the resource's message
	if _, ok := r.errorWith("wave storage", "Application storage-app", "health Degraded",
		`Deployment "degraded-standin" exceeded its progress deadline`); !ok {
		t.Errorf("no error of the failed update names storage-app with Argo CD's reason:\n%s", r.errorText())
	}
	t.Logf("d. error diagnostics of the failed update:\n%s", r.errorText())
	if r.took < time.Duration(appTimeout-waves.WatchMargin.Seconds()-1)*time.Second {
		t.Errorf("the failed update took only %s: the await cannot have waited for the new spec", r.took)
	}
	// only storage-app changed: nothing after the failed wave was touched
	if !slices.Equal(r.changed, []string{"storage-app"}) {
		t.Errorf("the failed update of wave 2 changed the Applications %v, want only storage-app", r.changed)
	}

	r = s.up("d. repair storage-app", s.lab.program(true, nil), 3*time.Minute)
	if r.err != nil {
		t.Fatalf("repairing storage-app failed: %s\n%s", r.errLine(), r.errorText())
	}
	s.assertReady([]string{"storage-app"}, nil)
	if _, err := kubectl(t, s.lab.kubeconfig, "-n", "storage-app", "get", "deployment", "degraded-standin"); err == nil {
		t.Error("the repaired storage-app still has the Degraded Deployment (prune)")
	}
}

// c. A broken app in wave 3 stops the update at wave 3, with Argo CD's reason, and nothing of
// waves 4..11 is created. First the Applications are removed (Argo CD stays).
func (s *scenarios) brokenWave3() {
	t := s.t
	r := s.up("c. remove the 24 Applications (Argo CD stays)", s.lab.program(false, nil), 4*time.Minute)
	if r.err != nil {
		t.Fatalf("removing the Applications failed: %s\n%s", r.errLine(), r.errorText())
	}
	if got := r.summary()["delete"]; got < 25 {
		t.Errorf("removing the waves deleted %d resources, want the 24 Applications and the component", got)
	}
	if left := s.apps(); len(left) != 0 {
		t.Fatalf("Applications left after removing the waves: %v", sortedKeys(left))
	}
	if _, err := kubectl(t, s.lab.kubeconfig, "-n", "pm4ml", "get", "configmap", "pm4ml-standin"); err == nil {
		t.Error("the pm4ml app's ConfigMap outlived its Application (cascade finalizer)")
	}

	broken := map[string]string{"certmanager-app": "apps/broken"}
	r = s.up("c. fresh waves with certmanager-app (wave 3) broken", s.lab.program(true, broken), 4*time.Minute)
	if r.err == nil {
		t.Fatal("the update with a broken certmanager-app succeeded")
	}
	// one error names the app and quotes Argo CD's sync failure (operationState.message)
	if _, ok := r.errorWith("wave certificate-management", "Application certmanager-app", "sync operation Failed",
		"one or more objects failed to apply", ".data.replicas: expected string"); !ok {
		t.Errorf("no error of the failed update names certmanager-app with Argo CD's reason:\n%s", r.errorText())
	}
	t.Logf("c. error diagnostics of the failed update:\n%s", r.errorText())
	apps := s.apps()
	gw := stacks.GuideWaves
	var good []string // the apps of waves 1..3 but the broken one
	for i, w := range gw {
		for _, a := range w.Apps {
			_, exists := apps[a.Name]
			if i >= 3 && exists {
				t.Errorf("%s (wave %d, %s) exists although wave 3 failed", a.Name, i+1, w.Name)
			}
			if i < 3 && !exists {
				t.Errorf("%s (wave %d) was not created", a.Name, i+1)
			}
			if i < 3 && a.Name != "certmanager-app" {
				good = append(good, a.Name)
			}
		}
	}
	s.assertReady(good, nil)
	a := waves.Assess(apps["certmanager-app"], waves.Source{RepoURL: repoURL, Path: "apps/broken", Revision: "HEAD"})
	if !a.Failed {
		t.Errorf("certmanager-app: Argo CD's sync is not Failed for apps/broken: %s", a.Reason)
	}
	// and nothing Argo CD would have deployed for them: every object Argo CD tracks belongs to
	// an app of waves 1..3 (the namespaces of the removed apps stay: Argo CD never deletes a
	// namespace it created with CreateNamespace=true)
	out, err := kubectl(t, s.lab.kubeconfig, "get", "configmaps", "-A", "-l", "app.kubernetes.io/instance",
		"-o", `jsonpath={range .items[*]}{.metadata.labels.app\.kubernetes\.io/instance}{"\n"}{end}`)
	if err != nil {
		t.Fatal(err)
	}
	deployed := strings.Fields(out)
	slices.Sort(deployed)
	want := slices.Clone(good)
	slices.Sort(want)
	if !slices.Equal(deployed, want) {
		t.Errorf("Argo CD deployed the ConfigMaps of %v, want exactly those of the good apps of waves 1..3 %v", deployed, want)
	}
}

func objTime(obj map[string]any, path ...string) time.Time {
	var v any = obj
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	tm, _ := time.Parse(time.RFC3339, s)
	return tm
}
