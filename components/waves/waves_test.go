package waves

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// guide is section 6.1 of the guide, as stacks maps it (paths apps/<name>, namespace = name).
func guide() []Wave {
	var out []Wave
	for _, s := range Guide {
		w := Wave{Name: s[0]}
		for _, n := range s[1:] {
			w.Apps = append(w.Apps, App{Name: n, Path: "apps/" + n, Namespace: n})
		}
		out = append(out, w)
	}
	return out
}

const repo = "https://git.example.org/pm4ml/gitops.git"

func run(t *testing.T, a Args, check func(*Waves)) *mocktest.Mocks {
	t.Helper()
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		ready, err := kubernetes.NewProvider(ctx, "argocd-ready", &kubernetes.ProviderArgs{}) // stands for argocd.Ready
		if err != nil {
			return err
		}
		a.Provider = p
		a.DependsOn = []pulumi.Resource{ready}
		w, err := New(ctx, "waves", &a)
		if err != nil {
			return err
		}
		if check != nil {
			check(w)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGuideWavesChain(t *testing.T) {
	ws := guide()
	var got *Waves
	m := run(t, Args{RepoURL: repo, Revision: "main", Waves: ws}, func(w *Waves) { got = w })

	apps := m.ByType("kubernetes:argoproj.io/v1alpha1:Application")
	if len(apps) != 24 {
		t.Fatalf("%d Applications, want the guide's 24", len(apps))
	}
	for i, w := range ws {
		for _, app := range w.Apps {
			r := m.Named(t, "waves-"+app.Name)
			if m.ParentName(r) != "waves" || !strings.Contains(r.Provider, "::k8s::") {
				t.Errorf("%s: parent %q provider %q", r.Name, m.ParentName(r), r.Provider)
			}
			if i == 0 {
				if !m.DependsOn(t, r.Name, "argocd-ready") {
					t.Errorf("%s (wave 1) does not depend on Argo CD's Ready", r.Name)
				}
				continue
			}
			// every app of wave N+1 depends on every app of wave N, on none of its own wave
			for _, prev := range ws[i-1].Apps {
				if !m.DependsOn(t, r.Name, "waves-"+prev.Name) {
					t.Errorf("%s (wave %s) does not depend on %s (wave %s)", app.Name, w.Name, prev.Name, ws[i-1].Name)
				}
			}
			for _, same := range w.Apps {
				if same.Name != app.Name && m.DependsOnTransitively(t, r.Name, "waves-"+same.Name) {
					t.Errorf("%s depends on %s of its own wave: apps of a wave must run in parallel", app.Name, same.Name)
				}
			}
			if !m.DependsOnTransitively(t, r.Name, "argocd-ready") {
				t.Errorf("%s does not reach Argo CD's Ready", r.Name)
			}
		}
	}
	// the last wave reaches the first transitively
	if !m.DependsOnTransitively(t, "waves-pm4ml", "waves-base-utils") {
		t.Error("pm4ml does not come after base-utils")
	}

	if !slices.Equal(got.Order, []string{"base-utilities", "storage", "certificate-management", "service-mesh", "dns-management",
		"vault-storage-backend", "vault-and-secrets", "stateful-resources", "monitoring", "identity-and-access", "pm4ml-core"}) {
		t.Errorf("Order = %v", got.Order)
	}
	if len(got.Ready) != 1 || got.Ready[0] != got.Apps["pm4ml"] {
		t.Errorf("Ready = %v", got.Ready)
	}
	vault := got.AfterApp("vault")
	if len(vault) != 4 || vault[1] != got.Apps["vault"] || got.WaveOf("vault") != "vault-and-secrets" {
		t.Errorf("AfterApp(vault) = %v", vault)
	}
	if !slices.Equal(got.After("vault-and-secrets"), vault) || got.After("no-such-wave") != nil || got.AfterApp("nope") != nil {
		t.Error("After/AfterApp disagree")
	}
}

// WaveDependsOn: the named wave (and so every wave after it) also waits for the given
// resources; the waves before it do not; a name that is no wave is refused.
func TestWaveDependsOn(t *testing.T) {
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		sc, err := kubernetes.NewProvider(ctx, "storageclasses", &kubernetes.ProviderArgs{}) // stands for storage.Ready
		if err != nil {
			return err
		}
		bad := Args{RepoURL: repo, Waves: guide(), Provider: p, WaveDependsOn: map[string][]pulumi.Resource{"no-such-wave": {sc}}}
		if _, err := New(ctx, "bad", &bad); err == nil || !strings.Contains(err.Error(), "no-such-wave") {
			t.Errorf("a WaveDependsOn of no wave: %v", err)
		}
		_, err = New(ctx, "waves", &Args{RepoURL: repo, Waves: guide(), Provider: p, WaveDependsOn: map[string][]pulumi.Resource{"storage": {sc}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.DependsOnTransitively(t, "waves-base-utils", "storageclasses") {
		t.Error("wave 1 waits for what only the storage wave needs")
	}
	if !m.DependsOn(t, "waves-storage-app", "storageclasses") || !m.DependsOn(t, "waves-storage-app", "waves-base-utils") {
		t.Error("the storage wave does not wait for both the wave before it and its own dependency")
	}
	if !m.DependsOnTransitively(t, "waves-pm4ml", "storageclasses") {
		t.Error("the last wave does not come after the storage wave's dependency")
	}
}

func TestApplicationAnnotationsAndSpecExactly(t *testing.T) {
	m := run(t, Args{RepoURL: repo, Revision: "v1.4.0", TimeoutSeconds: 900, Waves: guide()}, nil)
	r := m.Named(t, "waves-vault")
	md := r.Inputs["metadata"].ObjectValue()
	if mocktest.String(md, "name") != "vault" || mocktest.String(md, "namespace") != "argocd" {
		t.Errorf("metadata %v", md)
	}
	ann := map[string]string{}
	for k, v := range md["annotations"].ObjectValue() {
		ann[string(k)] = v.StringValue()
	}
	want := map[string]string{
		"pulumi.com/waitFor": `["jsonpath={.status.sync.comparedTo.source.repoURL}=https://git.example.org/pm4ml/gitops.git",` +
			`"jsonpath={.status.sync.comparedTo.source.path}=apps/vault",` +
			`"jsonpath={.status.sync.comparedTo.source.targetRevision}=v1.4.0",` +
			`"jsonpath={.status.sync.status}=Synced",` +
			`"jsonpath={.status.health.status}=Healthy"]`,
		"pulumi.com/timeoutSeconds": "900",
		"pm4ml.io/wave":             "vault-and-secrets",
		"pm4ml.io/on-failure":       `kubectl -n argocd get app vault -o jsonpath='{.status.operationState.message}{.status.conditions}'`,
	}
	if len(ann) != len(want) {
		t.Errorf("annotations %v", ann)
	}
	for k, v := range want {
		if ann[k] != v {
			t.Errorf("annotation %s\n got %s\nwant %s", k, ann[k], v)
		}
	}
	// waitFor is a JSON array of strings (what the provider parses, as measured in NOTES.md)
	var exprs []string
	if err := json.Unmarshal([]byte(ann["pulumi.com/waitFor"]), &exprs); err != nil || len(exprs) != 5 {
		t.Errorf("waitFor is not a JSON array of 5: %v", err)
	}
	if fs := md["finalizers"].ArrayValue(); len(fs) != 1 || fs[0].StringValue() != Finalizer {
		t.Errorf("finalizers %v", fs)
	}

	spec := r.Inputs["spec"].ObjectValue()
	got, _ := json.Marshal(spec.Mappable())
	wantSpec := `{"destination":{"namespace":"vault","server":"https://kubernetes.default.svc"},` +
		`"ignoreDifferences":[{"group":"apps","jqPathExpressions":[".spec.volumeClaimTemplates[]?"],"kind":"StatefulSet"}],` +
		`"project":"default",` +
		`"source":{"path":"apps/vault","repoURL":"https://git.example.org/pm4ml/gitops.git","targetRevision":"v1.4.0"},` +
		`"syncPolicy":{"automated":{"prune":true,"selfHeal":true},` +
		`"retry":{"backoff":{"duration":"5s","factor":2,"maxDuration":"3m"},"limit":5},` +
		`"syncOptions":["CreateNamespace=true","ServerSideApply=true"]}}`
	if string(got) != wantSpec {
		t.Errorf("spec\n got %s\nwant %s", got, wantSpec)
	}
	if mocktest.String(r.Inputs, "apiVersion") != "argoproj.io/v1alpha1" || mocktest.String(r.Inputs, "kind") != "Application" {
		t.Errorf("apiVersion/kind %v", r.Inputs)
	}
}

func TestCustomWaves(t *testing.T) {
	ws := []Wave{
		{Name: "infra", Apps: []App{{Name: "a", Path: "x/a", Namespace: "ns-a"}, {Name: "b", Path: "x/b", Namespace: "ns-b"}}},
		{Name: "middle", Apps: []App{{Name: "vault", Path: "x/vault", Namespace: "vault"}}},
		{Name: "top", Apps: []App{{Name: "c", Path: "x/c", Namespace: "c"}, {Name: "d", Path: "x/d", Namespace: "d"}}},
	}
	var got *Waves
	m := run(t, Args{RepoURL: repo, Revision: "main", Waves: ws, Retry: &Retry{Limit: 2, Duration: "1s", Factor: 2, MaxDuration: "5s"}}, func(w *Waves) { got = w })
	if n := len(m.ByType("kubernetes:argoproj.io/v1alpha1:Application")); n != 5 {
		t.Fatalf("%d Applications", n)
	}
	edges := map[string][]string{
		"waves-a": {"argocd-ready"}, "waves-b": {"argocd-ready"},
		"waves-vault": {"waves-a", "waves-b"},
		"waves-c":     {"waves-vault"}, "waves-d": {"waves-vault"},
	}
	for from, tos := range edges {
		var deps []string
		for _, d := range m.Named(t, from).Deps {
			deps = append(deps, d[strings.LastIndex(d, "::")+2:])
		}
		slices.Sort(deps)
		if !slices.Equal(deps, tos) {
			t.Errorf("%s depends on %v, want exactly %v", from, deps, tos)
		}
	}
	if got.WaveOf("vault") != "middle" || len(got.Ready) != 2 {
		t.Errorf("WaveOf(vault) %q Ready %d", got.WaveOf("vault"), len(got.Ready))
	}
	retry := m.Named(t, "waves-c").Inputs["spec"].ObjectValue()["syncPolicy"].ObjectValue()["retry"]
	if b, _ := json.Marshal(retry.Mappable()); string(b) != `{"backoff":{"duration":"1s","factor":2,"maxDuration":"5s"},"limit":2}` {
		t.Errorf("retry %s", b)
	}
}

func TestOnDelete(t *testing.T) {
	ws := []Wave{{Name: "w", Apps: []App{{Name: "a", Path: "apps/a", Namespace: "a"}}}}
	for _, c := range []struct {
		mode      OnDelete
		protect   bool
		finalizer bool
	}{{Cascade, false, true}, {Protect, true, false}, {Orphan, false, false}, {"", false, true}} {
		t.Run(string(c.mode), func(t *testing.T) {
			m := run(t, Args{RepoURL: repo, Waves: ws, OnDelete: c.mode}, nil)
			r := m.Named(t, "waves-a")
			if r.Protect != c.protect {
				t.Errorf("protect = %v, want %v", r.Protect, c.protect)
			}
			_, has := r.Inputs["metadata"].ObjectValue()["finalizers"]
			if has != c.finalizer {
				t.Errorf("finalizer present = %v, want %v", has, c.finalizer)
			}
			// revision defaults to HEAD, consistently in the spec and the guard
			if ann := r.Inputs["metadata"].ObjectValue()["annotations"].ObjectValue(); !strings.Contains(ann["pulumi.com/waitFor"].StringValue(), "targetRevision}=HEAD") {
				t.Errorf("waitFor %v", ann["pulumi.com/waitFor"])
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := func() Args {
		return Args{RepoURL: repo, Revision: "main", Waves: []Wave{{Name: "w", Apps: []App{{Name: "a", Path: "apps/a", Namespace: "a"}}}}}
	}
	cases := []struct {
		name string
		mod  func(*Args)
		want string
	}{
		{"= in repo", func(a *Args) { a.RepoURL = "https://g/x?ref=main" }, "pm4ml:gitops.repoUrl"},
		{"= in revision", func(a *Args) { a.Revision = "a=b" }, "pm4ml:gitops.revision"},
		{"no repo", func(a *Args) { a.RepoURL = "" }, "pm4ml:gitops.repoUrl"},
		{"short timeout", func(a *Args) { a.TimeoutSeconds = 5 }, "appTimeoutSeconds"},
		{"bad ondelete", func(a *Args) { a.OnDelete = "keep" }, "pm4ml:argocd.onDelete"},
		{"no waves", func(a *Args) { a.Waves = nil }, "pm4ml:waves"},
		{"empty wave", func(a *Args) { a.Waves = append(a.Waves, Wave{Name: "x"}) }, "has no apps"},
		{"dup wave", func(a *Args) {
			a.Waves = append(a.Waves, Wave{Name: "w", Apps: []App{{Name: "b", Path: "p", Namespace: "b"}}})
		}, "unique"},
		{"dup app", func(a *Args) {
			a.Waves = append(a.Waves, Wave{Name: "v", Apps: []App{{Name: "a", Path: "p", Namespace: "b"}}})
		}, "already in wave w"},
		{"path with =", func(a *Args) { a.Waves[0].Apps[0].Path = "apps/a=b" }, "apps[0].path"},
		{"absolute path", func(a *Args) { a.Waves[0].Apps[0].Path = "/apps/a" }, "apps[0].path"},
		{"bad app ns", func(a *Args) { a.Waves[0].Apps[0].Namespace = "" }, "apps[0].namespace"},
		{"bad retry", func(a *Args) { a.Retry = &Retry{Limit: 0, Duration: "x", Factor: 2, MaxDuration: "1m"} }, "retry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := ok()
			c.mod(&a)
			_, err := Applications(a)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if _, err := Applications(ok()); err != nil {
		t.Errorf("valid: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	a := Args{RepoURL: repo, Revision: "main", Waves: guide()}
	f1, err := Fingerprint(a)
	if err != nil {
		t.Fatal(err)
	}
	if f2, _ := Fingerprint(Args{RepoURL: repo, Revision: "main", Waves: guide()}); f2 != f1 {
		t.Error("fingerprint is not stable for equal args")
	}
	changes := map[string]func(*Args){
		"revision":  func(a *Args) { a.Revision = "v2" },
		"path":      func(a *Args) { a.Waves[3].Apps[1].Path = "apps/istio-v2" },
		"order":     func(a *Args) { a.Waves[0], a.Waves[1] = a.Waves[1], a.Waves[0] },
		"ondelete":  func(a *Args) { a.OnDelete = Orphan },
		"timeout":   func(a *Args) { a.TimeoutSeconds = 600 },
		"extra app": func(a *Args) { a.Waves[10].Apps = append(a.Waves[10].Apps, App{Name: "x", Path: "x", Namespace: "x"}) },
	}
	for name, mod := range changes {
		b := Args{RepoURL: repo, Revision: "main", Waves: guide()}
		mod(&b)
		if f, err := Fingerprint(b); err != nil || f == f1 {
			t.Errorf("%s: fingerprint unchanged (%v)", name, err)
		}
	}
	fps := make(chan string, 1)
	_, err = mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		p, _ := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		b := a
		b.Provider = p
		w, err := New(ctx, "waves", &b)
		if err != nil {
			return err
		}
		w.Fingerprint.ApplyT(func(s string) string { fps <- s; return s })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case fp := <-fps:
		if fp != f1 {
			t.Errorf("component fingerprint %q, want %q", fp, f1)
		}
	case <-time.After(10 * time.Second):
		t.Error("the component's Fingerprint output never resolved")
	}
}

func TestRenderYAML(t *testing.T) {
	y, err := RenderYAML(Args{RepoURL: repo, Revision: "main", Waves: guide()})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(y, "kind: Application\n"); n != 24 {
		t.Errorf("%d Applications rendered", n)
	}
	first, last := strings.Index(y, "name: base-utils\n"), strings.Index(y, "name: pm4ml\n")
	if first < 0 || last < first {
		t.Error("rendered out of wave order")
	}
	if !strings.Contains(y, fmt.Sprintf("%s: '[\"jsonpath=", AnnotationWaitFor)) {
		t.Errorf("waitFor not rendered as a string:\n%s", y[:600])
	}
}
