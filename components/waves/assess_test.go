package waves

import (
	"encoding/json"
	"strings"
	"testing"
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
