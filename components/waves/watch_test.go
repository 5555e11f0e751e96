package waves

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

var want = Source{RepoURL: "git://127.0.0.1:9418/gitops", Path: "apps/vault", Revision: "HEAD"}

// app builds an Application object from a status given as JSON (as the API server returns it).
func app(t *testing.T, name, status string) map[string]any {
	t.Helper()
	var st map[string]any
	if status != "" {
		if err := json.Unmarshal([]byte(status), &st); err != nil {
			t.Fatalf("bad status fixture: %v", err)
		}
	}
	return map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "argocd"}, "status": st}
}

const compared = `"comparedTo":{"source":{"repoURL":"git://127.0.0.1:9418/gitops","path":"apps/vault","targetRevision":"HEAD"}}`

// statuses seen from Argo CD v2.14.21 in the e2e lab (tests/e2e), trimmed.
var (
	stHealthy  = `{"sync":{"status":"Synced",` + compared + `},"health":{"status":"Healthy"},"operationState":{"phase":"Succeeded","message":"successfully synced (all tasks run)"}}`
	stStale    = `{"sync":{"status":"Synced","comparedTo":{"source":{"repoURL":"git://127.0.0.1:9418/gitops","path":"apps/old","targetRevision":"HEAD"}}},"health":{"status":"Healthy"}}`
	stDegraded = `{"sync":{"status":"Synced",` + compared + `},"health":{"status":"Degraded"},"operationState":{"phase":"Succeeded"},
	  "resources":[{"group":"apps","kind":"Deployment","name":"vault","namespace":"vault","status":"Synced","health":{"status":"Degraded","message":"Deployment \"vault\" exceeded its progress deadline"}},
	               {"kind":"ConfigMap","name":"ok","namespace":"vault","status":"Synced"}]}`
	stSyncFailed = `{"sync":{"status":"OutOfSync",` + compared + `},"health":{"status":"Healthy"},
	  "conditions":[{"type":"SyncError","message":"Failed sync attempt to 89e0f45: one or more objects failed to apply, reason: .data.replicas: expected string (retried 1 times)."}],
	  "operationState":{"phase":"Failed","message":"one or more objects failed to apply, reason: .data.replicas: expected string (retried 1 times).",
	    "syncResult":{"revision":"89e0f45","source":{"repoURL":"git://127.0.0.1:9418/gitops","path":"apps/vault","targetRevision":"HEAD"}}},
	  "resources":[{"kind":"ConfigMap","name":"broken","namespace":"vault","status":"OutOfSync","health":{"status":"Missing"}}]}`
	// the previous source's failed sync is still in operationState, the new source is compared
	stOldFailure = `{"sync":{"status":"OutOfSync",` + compared + `},"health":{"status":"Healthy"},
	  "operationState":{"phase":"Failed","message":"one or more objects failed to apply","syncResult":{"source":{"repoURL":"git://127.0.0.1:9418/gitops","path":"apps/old","targetRevision":"HEAD"}}}}`
	stRetrying = `{"sync":{"status":"OutOfSync",` + compared + `},"health":{"status":"Missing"},
	  "operationState":{"phase":"Running","message":"one or more objects failed to apply. Retrying attempt #1 at 11:30PM.","syncResult":{"source":{"repoURL":"git://127.0.0.1:9418/gitops","path":"apps/vault","targetRevision":"HEAD"}}}}`
	stComparison = `{"sync":{"status":"Unknown",` + compared + `},"health":{"status":"Healthy"},
	  "conditions":[{"type":"ComparisonError","message":"Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = apps/vault: app path does not exist"}]}`
)

func TestAssess(t *testing.T) {
	cases := []struct {
		name                   string
		status                 string
		ready, failed, trouble bool
		reason                 []string // substrings
	}{
		{"no status", "", false, false, false, []string{"not reported on it yet"}},
		{"healthy", stHealthy, true, false, false, nil},
		{"stale (previous source)", stStale, false, false, false, []string{"has not compared the applied source", "apps/old", "apps/vault"}},
		{"degraded", stDegraded, false, false, true, []string{"sync Synced, health Degraded", `vault/Deployment/vault Degraded: Deployment "vault" exceeded its progress deadline`}},
		{"sync failed", stSyncFailed, false, true, true, []string{"sync operation Failed: one or more objects failed to apply, reason: .data.replicas: expected string", "vault/ConfigMap/broken Missing"}},
		{"failure of the previous source", stOldFailure, false, false, false, []string{"sync operation Failed"}},
		{"retrying", stRetrying, false, false, false, []string{"sync operation Running: one or more objects failed to apply. Retrying attempt #1"}},
		{"comparison error", stComparison, false, false, true, []string{"sync Unknown", "ComparisonError: Failed to load target state", "app path does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := Assess(app(t, "vault", c.status), want)
			if a.Ready != c.ready || a.Failed != c.failed || a.Troubled != c.trouble {
				t.Errorf("ready/failed/troubled = %v/%v/%v, want %v/%v/%v (%s)", a.Ready, a.Failed, a.Troubled, c.ready, c.failed, c.trouble, a.Reason)
			}
			if c.ready != (a.Reason == "") {
				t.Errorf("reason %q for ready=%v", a.Reason, a.Ready)
			}
			for _, s := range c.reason {
				if !strings.Contains(a.Reason, s) {
					t.Errorf("reason %q does not contain %q", a.Reason, s)
				}
			}
		})
	}
	// a failed sync of an older commit is not for good: Argo CD syncs the new one by itself
	newer := strings.Replace(stSyncFailed, `{"sync":{"status":"OutOfSync",`, `{"sync":{"status":"OutOfSync","revision":"a0a0a0a",`, 1)
	if a := Assess(app(t, "vault", newer), want); a.Failed {
		t.Errorf("a failure at an older revision counts as final: %+v", a)
	}
	same := strings.Replace(stSyncFailed, `{"sync":{"status":"OutOfSync",`, `{"sync":{"status":"OutOfSync","revision":"89e0f45",`, 1)
	if a := Assess(app(t, "vault", same), want); !a.Failed {
		t.Errorf("a failure at the targeted revision is not final: %+v", a)
	}
	// the SyncError condition repeats the operation's message: quoted once
	if r := Assess(app(t, "vault", stSyncFailed), want).Reason; strings.Count(r, ".data.replicas") != 1 || strings.Contains(r, "SyncError") {
		t.Errorf("the operation's message is not quoted exactly once: %s", r)
	}
	// a condition with its own message is quoted next to the operation's
	other := strings.Replace(stSyncFailed, `"Failed sync attempt to 89e0f45: one or more objects failed to apply, reason: .data.replicas: expected string (retried 1 times)."`, `"repository not accessible"`, 1)
	if r := Assess(app(t, "vault", other), want).Reason; !strings.Contains(r, "SyncError: repository not accessible") {
		t.Errorf("an unrelated condition is dropped: %s", r)
	}
	// a long message is clipped, and whitespace folded onto one line
	long := `{"sync":{"status":"OutOfSync",` + compared + `},"health":{"status":"Healthy"},"conditions":[{"type":"SyncError","message":"` + strings.Repeat("x\\n", 2000) + `"}]}`
	if r := Assess(app(t, "vault", long), want).Reason; len(r) > maxMessage+200 || strings.Contains(r, "\n") {
		t.Errorf("reason not clipped to one line: %d chars", len(r))
	}
	// another revision is not the applied source
	w2 := want
	w2.Revision = "v2"
	if a := Assess(app(t, "vault", stHealthy), w2); a.Ready {
		t.Error("Ready for another revision")
	}
}

// fakeAPI serves Applications from a map (name -> sequence of statuses, the last one repeats),
// over TLS with a client certificate required, or a bearer token.
type fakeAPI struct {
	mu       sync.Mutex
	statuses map[string][]string
	specPath map[string]string // optional spec.source.path per app (repo and revision of want)
	gets     map[string]int
	token    string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"kind":"Status","message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	const prefix = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/"
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodGet {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	f.gets[name]++
	seq, ok := f.statuses[name]
	if !ok {
		http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
		return
	}
	st := seq[min(f.gets[name]-1, len(seq)-1)]
	if st == "404" {
		http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
		return
	}
	var status map[string]any
	_ = json.Unmarshal([]byte(st), &status)
	obj := map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "argocd"}, "status": status}
	if p, ok := f.specPath[name]; ok {
		obj["spec"] = map[string]any{"source": map[string]any{"repoURL": want.RepoURL, "path": p, "targetRevision": want.Revision}}
	}
	_ = json.NewEncoder(w).Encode(obj)
}

// serve starts the fake API server; it returns its kubeconfig (CA pinned, token auth).
func serve(t *testing.T, f *fakeAPI) string {
	t.Helper()
	f.gets = map[string]int{}
	f.token = "s3cret-token"
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: u
  user:
    token: %s
contexts:
- name: other
  context: {cluster: nope, user: nope}
- name: lab
  context: {cluster: c, user: u}
`, srv.URL, base64.StdEncoding.EncodeToString(ca), f.token)
}

func TestKubeClient(t *testing.T) {
	f := &fakeAPI{statuses: map[string][]string{"vault": {stHealthy}}}
	kc := serve(t, f)
	cl, err := NewKubeClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	obj, found, err := cl.Application(context.Background(), "argocd", "vault")
	if err != nil || !found || !Assess(obj, want).Ready {
		t.Fatalf("Application(vault) = %v %v %v", obj, found, err)
	}
	if _, found, err := cl.Application(context.Background(), "argocd", "nope"); err != nil || found {
		t.Errorf("Application(nope) found=%v err=%v, want a clean not-found", found, err)
	}
	// a path to the kubeconfig works too (the provider accepts both)
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	if cl, err := NewKubeClient(p); err != nil {
		t.Error(err)
	} else if _, found, err := cl.Application(context.Background(), "argocd", "vault"); err != nil || !found {
		t.Errorf("from a path: %v %v", found, err)
	}
	// a wrong token is an error that says so (not a not-found)
	bad, err := NewKubeClient(strings.Replace(kc, "token: s3cret-token", "token: wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.Application(context.Background(), "argocd", "vault"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong token: %v", err)
	}
	// the server's certificate is verified against the kubeconfig's CA only
	ca := strings.SplitN(strings.SplitN(kc, "certificate-authority-data: ", 2)[1], "\n", 2)[0]
	mism := strings.Replace(kc, ca, base64.StdEncoding.EncodeToString(otherCA(t)), 1)
	if cl2, err := NewKubeClient(mism); err != nil {
		t.Fatal(err)
	} else if _, _, err := cl2.Application(context.Background(), "argocd", "vault"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a server with another CA was accepted: %v", err)
	}
	for name, bad := range map[string]string{
		"not yaml":       "{{{",
		"no context":     strings.Replace(kc, "current-context: lab", "current-context: gone", 1),
		"no cluster":     strings.Replace(kc, "- name: c\n", "- name: x\n", 1),
		"bad CA":         strings.Replace(kc, "certificate-authority-data: ", "certificate-authority-data: AAAA", 1),
		"bad client key": strings.Replace(kc, "    token: ", "    client-certificate-data: "+base64.StdEncoding.EncodeToString([]byte("x"))+"\n    token: ", 1),
	} {
		if _, err := NewKubeClient(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKubeClientCertificateAuth(t *testing.T) {
	f := &fakeAPI{statuses: map[string][]string{"vault": {stHealthy}}, gets: map[string]int{}}
	srv := httptest.NewUnstartedServer(f)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	// the server's own certificate and key serve as the client's (any client cert is required)
	cert := srv.TLS.Certificates[0]
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b64 := base64.StdEncoding.EncodeToString
	kc := fmt.Sprintf("clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\ncontexts:\n- name: only\n  context: {cluster: c, user: u}\n",
		srv.URL, b64(certPEM), b64(certPEM), b64(keyPEM))
	cl, err := NewKubeClient(kc) // no current-context: the only context
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := cl.Application(context.Background(), "argocd", "vault"); err != nil || !found {
		t.Fatalf("with a client certificate: %v %v", found, err)
	}
	noCert, _ := NewKubeClient(strings.Split(kc, "users:")[0] + "contexts:\n- name: only\n  context: {cluster: c, user: u}\n")
	if _, _, err := noCert.Application(context.Background(), "argocd", "vault"); err == nil {
		t.Error("the server that requires a client certificate accepted none")
	}
}

func TestWatcher(t *testing.T) {
	apps := []WatchedApp{{Name: "vault", Want: want}, {Name: "vault-app", Want: Source{RepoURL: want.RepoURL, Path: "apps/vault-app", Revision: "HEAD"}}}
	healthyVaultApp := strings.ReplaceAll(stHealthy, "apps/vault", "apps/vault-app")
	watch := func(t *testing.T, statuses map[string][]string, timeout time.Duration) (error, []string, *fakeAPI, time.Duration) {
		t.Helper()
		f := &fakeAPI{statuses: statuses}
		cl, err := NewKubeClient(serve(t, f))
		if err != nil {
			t.Fatal(err)
		}
		var warns []string
		w := &Watcher{Client: cl, Namespace: "argocd", Interval: 10 * time.Millisecond,
			Warn: func(app, reason string) { warns = append(warns, app+": "+reason) }}
		start := time.Now()
		err = w.Watch(context.Background(), "vault-and-secrets", apps, timeout)
		return err, warns, f, time.Since(start)
	}

	t.Run("comes up", func(t *testing.T) {
		err, warns, f, _ := watch(t, map[string][]string{
			"vault":     {"404", stStale, stStale, stHealthy},
			"vault-app": {stRetrying, healthyVaultApp},
		}, 5*time.Second)
		if err != nil || len(warns) != 0 {
			t.Fatalf("err %v warns %v", err, warns)
		}
		if f.gets["vault"] != 4 || f.gets["vault-app"] != 2 {
			t.Errorf("a ready app is read again: gets %v", f.gets)
		}
	})
	t.Run("degraded until the deadline", func(t *testing.T) {
		err, warns, _, took := watch(t, map[string][]string{
			"vault":     {stProgressing(), stDegraded},
			"vault-app": {healthyVaultApp},
		}, 300*time.Millisecond)
		var we *WaveError
		if !errors.As(err, &we) || we.Early || we.Wave != "vault-and-secrets" || len(we.Reasons) != 1 {
			t.Fatalf("err = %#v", err)
		}
		if took < 300*time.Millisecond {
			t.Errorf("gave up after %s, before the deadline", took)
		}
		msg := err.Error()
		for _, s := range []string{"waves: wave vault-and-secrets is not Synced and Healthy after", "Application vault: sync Synced, health Degraded", "exceeded its progress deadline"} {
			if !strings.Contains(msg, s) {
				t.Errorf("error %q does not contain %q", msg, s)
			}
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "vault: sync Synced, health Degraded") {
			t.Errorf("warned %v, want once for the Degraded app", warns)
		}
	})
	t.Run("sync failed for good ends the watch at once", func(t *testing.T) {
		err, warns, _, took := watch(t, map[string][]string{
			"vault":     {stRetrying, stSyncFailed},
			"vault-app": {healthyVaultApp},
		}, time.Minute)
		var we *WaveError
		if !errors.As(err, &we) || !we.Early || !strings.Contains(err.Error(), ".data.replicas: expected string") {
			t.Fatalf("err = %v", err)
		}
		if took > 10*time.Second {
			t.Errorf("took %s: a failed sync must not wait for the deadline", took)
		}
		if len(warns) != 1 {
			t.Errorf("warns %v", warns)
		}
	})
	t.Run("a failed app this update does not change is not failed early", func(t *testing.T) {
		// at the first read it already has the applied source: the update may not touch it
		f := &fakeAPI{statuses: map[string][]string{"vault": {stSyncFailed}, "vault-app": {healthyVaultApp}},
			specPath: map[string]string{"vault": "apps/vault"}}
		cl, _ := NewKubeClient(serve(t, f))
		start := time.Now()
		err := (&Watcher{Client: cl, Namespace: "argocd", Interval: 10 * time.Millisecond}).Watch(context.Background(), "w", apps, 200*time.Millisecond)
		var we *WaveError
		if !errors.As(err, &we) || we.Early || time.Since(start) < 200*time.Millisecond {
			t.Fatalf("err = %v after %s, want the deadline's WaveError", err, time.Since(start))
		}
	})
	t.Run("the engine done ends the watch, with a warning per app not ready", func(t *testing.T) {
		f := &fakeAPI{statuses: map[string][]string{"vault": {stDegraded}, "vault-app": {healthyVaultApp}},
			specPath: map[string]string{"vault": "apps/vault"}}
		cl, _ := NewKubeClient(serve(t, f))
		done := make(chan struct{})
		time.AfterFunc(100*time.Millisecond, func() { close(done) })
		var warns []string
		start := time.Now()
		err := (&Watcher{Client: cl, Namespace: "argocd", Interval: 10 * time.Millisecond, Done: done,
			Warn: func(app, reason string) { warns = append(warns, app+": "+reason) }}).Watch(context.Background(), "w", apps, time.Minute)
		if err != nil || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %s", err, time.Since(start))
		}
		if len(warns) != 2 || !strings.Contains(warns[1], "vault: not Synced and Healthy, but this update did not change it") ||
			!strings.Contains(warns[1], "exceeded its progress deadline") {
			t.Errorf("warnings %q", warns)
		}
	})
	t.Run("never created", func(t *testing.T) {
		err, _, _, _ := watch(t, map[string][]string{"vault-app": {healthyVaultApp}}, 100*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "Application vault: the Application does not exist") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		f := &fakeAPI{statuses: map[string][]string{"vault": {stStale}}}
		cl, _ := NewKubeClient(serve(t, f))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := (&Watcher{Client: cl, Namespace: "argocd", Interval: 20 * time.Millisecond}).Watch(ctx, "w", apps[:1], time.Minute)
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Fatalf("err = %v", err)
		}
	})
}

func stProgressing() string {
	return strings.Replace(stDegraded, `"health":{"status":"Degraded"}`, `"health":{"status":"Progressing"}`, 1)
}

// slowMocks delays the registration of one resource: the engine still awaiting it.
type slowMocks struct {
	*mocktest.Mocks
	slow  string
	delay time.Duration
}

func (m slowMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if args.Name == m.slow {
		time.Sleep(m.delay)
	}
	return m.Mocks.NewResource(args)
}

// The component wires one watch per wave: with Args.Kubeconfig, Watched lists the waves that
// passed; a wave whose Application fails while the engine still awaits it fails the program with
// Argo CD's reason; once the engine is done with a wave its watch passes; without a kubeconfig
// nothing is read.
func TestWavesWatch(t *testing.T) {
	ws := []Wave{
		{Name: "first", Apps: []App{{Name: "a", Path: "apps/a", Namespace: "a"}}},
		{Name: "second", Apps: []App{{Name: "b", Path: "apps/b", Namespace: "b"}, {Name: "c", Path: "apps/c", Namespace: "c"}}},
	}
	healthy := func(path string) string { return strings.ReplaceAll(stHealthy, "apps/vault", path) }
	runWatch := func(t *testing.T, f *fakeAPI, withKubeconfig bool, slow string) ([]string, error) {
		t.Helper()
		kc := serve(t, f)
		got := make(chan []string, 1)
		t.Setenv(pulumi.EnvConfig, "{}")
		t.Setenv("PULUMI_CONFIG_SECRET_KEYS", "[]")
		m := slowMocks{Mocks: &mocktest.Mocks{}, slow: slow, delay: 3 * time.Second}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
			if err != nil {
				return err
			}
			a := Args{Provider: p, RepoURL: want.RepoURL, Waves: ws, TimeoutSeconds: 30, WatchInterval: 10 * time.Millisecond}
			if withKubeconfig {
				a.Kubeconfig = pulumi.ToSecret(pulumi.String(kc)).(pulumi.StringOutput)
			}
			w, err := New(ctx, "waves", &a)
			if err != nil {
				return err
			}
			w.Watched.ApplyT(func(v []string) []string { got <- v; return v })
			return nil
		}, pulumi.WithMocks(mocktest.Project, mocktest.Stack, m))
		if err != nil {
			return nil, err
		}
		select {
		case v := <-got:
			return v, nil
		case <-time.After(10 * time.Second):
			t.Fatal("the component's Watched output never resolved")
			return nil, nil
		}
	}

	t.Run("ready while awaited", func(t *testing.T) {
		f := &fakeAPI{statuses: map[string][]string{"a": {healthy("apps/a")}, "b": {healthy("apps/b")}, "c": {"404", stStale, healthy("apps/c")}}}
		start := time.Now()
		got, err := runWatch(t, f, true, "waves-c")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"first", "second"}) {
			t.Errorf("Watched = %v", got)
		}
		if f.gets["c"] != 3 || time.Since(start) < 3*time.Second {
			t.Errorf("c read %d times: the watch did not follow it while the engine awaited it", f.gets["c"])
		}
	})
	t.Run("a sync failure while awaited fails the program with Argo CD's reason", func(t *testing.T) {
		failed := strings.ReplaceAll(stSyncFailed, "apps/vault", "apps/c")
		f := &fakeAPI{statuses: map[string][]string{"a": {healthy("apps/a")}, "b": {healthy("apps/b")}, "c": {"404", failed}}}
		_, err := runWatch(t, f, true, "waves-c")
		if err == nil {
			t.Fatal("the program succeeded although Argo CD's sync of c failed")
		}
		for _, s := range []string{"waves: wave second failed", "Application c:", "one or more objects failed to apply, reason: .data.replicas: expected string"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("program error %q does not contain %q", err, s)
			}
		}
	})
	t.Run("the engine done with a wave ends its watch", func(t *testing.T) {
		// nothing is slow: every await "passed" at once, so even a Degraded app (one this update
		// did not change) does not fail the update
		f := &fakeAPI{statuses: map[string][]string{"a": {healthy("apps/a")}, "b": {strings.ReplaceAll(stDegraded, "apps/vault", "apps/b")}, "c": {healthy("apps/c")}}}
		got, err := runWatch(t, f, true, "")
		if err != nil || !slices.Equal(got, []string{"first", "second"}) {
			t.Errorf("Watched %v err %v", got, err)
		}
	})
	t.Run("no kubeconfig, no watch", func(t *testing.T) {
		f := &fakeAPI{statuses: map[string][]string{}}
		got, err := runWatch(t, f, false, "")
		if err != nil || len(got) != 0 || len(f.gets) != 0 {
			t.Errorf("watched %v err %v reads %v", got, err, f.gets)
		}
	})
}

// otherCA is a self-signed CA certificate (PEM) unrelated to httptest's.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
