package waves

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

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
		if len(warns) != 2 || !strings.Contains(warns[1], "vault: not Synced and Healthy after the update finished the wave; this update did not change it") ||
			!strings.Contains(warns[1], "exceeded its progress deadline") {
			t.Errorf("warnings %q", warns)
		}
	})
	t.Run("the engine done: only a read taken after it is reported", func(t *testing.T) {
		// The awaits pass between two polls: the last poll saw both apps still syncing. A
		// warning from that poll would be false when printed (the await had just seen vault
		// Synced and Healthy); the read after done shows vault ready and vault-app Degraded.
		degradedVaultApp := strings.ReplaceAll(stDegraded, "apps/vault", "apps/vault-app")
		done := make(chan struct{})
		f := &fakeAPI{statuses: map[string][]string{"vault": {stRetrying, stHealthy}, "vault-app": {stRetrying, degradedVaultApp}},
			onGet: func(name string, n int) {
				if name == "vault-app" && n == 1 {
					close(done) // the engine finishes the wave right after the first poll
				}
			}}
		cl, _ := NewKubeClient(serve(t, f))
		var warns []string
		err := (&Watcher{Client: cl, Namespace: "argocd", Interval: time.Hour, Done: done,
			Warn: func(app, reason string) { warns = append(warns, app+": "+reason) }}).Watch(context.Background(), "w", apps, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if f.gets["vault"] != 2 || f.gets["vault-app"] != 2 {
			t.Errorf("gets %v, want each app read again once the engine is done", f.gets)
		}
		if len(warns) != 1 || !strings.HasPrefix(warns[0], "vault-app: not Synced and Healthy right after the update finished the wave") ||
			!strings.Contains(warns[0], "health Degraded") || strings.Contains(warns[0], "Retrying") {
			t.Errorf("warnings %q, want one for vault-app from the read after done", warns)
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
	runWatch := func(t *testing.T, f *fakeAPI, withKubeconfig bool, slow string, gate ...pulumi.StringInput) ([]string, error) {
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
			if len(gate) > 0 {
				a.Gate = gate[0]
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
	t.Run("a failed checklist gate: no watch, the update fails at once", func(t *testing.T) {
		f := &fakeAPI{statuses: map[string][]string{"a": {healthy("apps/a")}, "b": {healthy("apps/b")}, "c": {healthy("apps/c")}}}
		failed := pulumi.String("x").ToStringOutput().ApplyT(func(string) (string, error) {
			return "", errors.New("checklist: 1 failure(s)")
		}).(pulumi.StringOutput)
		_, err := runWatch(t, f, true, "", failed)
		if err == nil || !strings.Contains(err.Error(), "checklist: 1 failure(s)") {
			t.Errorf("program error %v, want the gate's", err)
		}
		if n := f.gets["a"] + f.gets["b"] + f.gets["c"]; n != 0 {
			t.Errorf("%d Application reads after the gate failed (a failed gate registers no Application: nothing to watch)", n)
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
