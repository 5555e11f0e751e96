package waves

// Assessment of an Application: is its status about the source Pulumi applied, and is it
// Synced and Healthy? Pure: it reads the object the API server returned.

import (
	"fmt"
	"strings"
)

// Source is the source of an Application as Pulumi applied it: Argo CD's status must be about
// this source (status.sync.comparedTo.source) before it counts.
type Source struct {
	RepoURL  string
	Path     string
	Revision string
}

// Assessment is what Assess makes of one Application.
type Assessment struct {
	// Ready: Argo CD compared Want and reports Synced and Healthy (the waitFor condition).
	Ready bool
	// Failed: Argo CD gave up on Want: its sync operation of that source ended Failed or Error
	// after the retries. It does not try again by itself (a new spec or revision is needed).
	Failed bool
	// Troubled: Failed, or Degraded, or an error condition: worth a warning while waiting.
	Troubled bool
	// Reason is one line in Argo CD's words (empty when Ready).
	Reason string
}

// maxMessage bounds each quoted Argo CD message.
const maxMessage = 600

// Assess reads an Application (the object as the API server returns it) against the source
// Pulumi applied.
func Assess(app map[string]any, want Source) Assessment {
	st, _ := app["status"].(map[string]any)
	sync, _ := st["sync"].(map[string]any)
	health, _ := st["health"].(map[string]any)
	op, _ := st["operationState"].(map[string]any)
	got := sourceOf(dig(sync, "comparedTo", "source"))
	syncStatus, healthStatus := str(sync, "status"), str(health, "status")

	if got != want {
		if got == (Source{}) {
			return Assessment{Reason: "Argo CD has not reported on it yet (no status.sync.comparedTo: is the application-controller running and watching this namespace?)"}
		}
		return Assessment{Reason: fmt.Sprintf("Argo CD has not compared the applied source yet (it last compared %s, want %s)", got, want)}
	}
	if syncStatus == "Synced" && healthStatus == "Healthy" {
		return Assessment{Ready: true}
	}

	var a Assessment
	parts := []string{fmt.Sprintf("sync %s, health %s", or(syncStatus, "unknown"), or(healthStatus, "unknown"))}
	if m := str(health, "message"); m != "" {
		parts[0] += ": " + clip(m)
	}
	if healthStatus == "Degraded" {
		a.Troubled = true
	}
	opMsg := ""
	if phase := str(op, "phase"); phase != "" && phase != "Succeeded" {
		opSource := sourceOf(dig(op, "syncResult", "source"))
		opMsg = str(op, "message")
		parts = append(parts, fmt.Sprintf("sync operation %s: %s", phase, clip(opMsg)))
		// for good: the operation synced the applied source at the revision Argo CD targets
		// now (a newer commit gets a new automated sync)
		sr, _ := op["syncResult"].(map[string]any)
		rev, opRev := str(sync, "revision"), str(sr, "revision")
		if (phase == "Failed" || phase == "Error") && opSource == want && (rev == "" || opRev == "" || rev == opRev) {
			a.Failed, a.Troubled = true, true
		}
	}
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		t, msg := str(cm, "type"), str(cm, "message")
		if strings.HasSuffix(t, "Error") {
			a.Troubled = true
		}
		// a SyncError repeats the operation's message ("Failed sync attempt to REV: <message>")
		if t != "" && (opMsg == "" || !strings.Contains(msg, opMsg)) {
			parts = append(parts, fmt.Sprintf("%s: %s", t, clip(msg)))
		}
	}
	res, _ := st["resources"].([]any)
	var bad []string
	for _, r := range res {
		rm, _ := r.(map[string]any)
		h, _ := rm["health"].(map[string]any)
		hs := str(h, "status")
		if hs == "" || hs == "Healthy" {
			if str(rm, "status") != "OutOfSync" {
				continue
			}
			hs = "OutOfSync"
		}
		id := str(rm, "kind") + "/" + str(rm, "name")
		if ns := str(rm, "namespace"); ns != "" {
			id = ns + "/" + id
		}
		line := id + " " + hs
		if m := str(h, "message"); m != "" {
			line += ": " + clip(m)
		}
		bad = append(bad, line)
	}
	if len(bad) > 5 {
		bad = append(bad[:5], fmt.Sprintf("and %d more", len(bad)-5))
	}
	if len(bad) > 0 {
		parts = append(parts, "resources: "+strings.Join(bad, "; "))
	}
	a.Reason = strings.Join(parts, "; ")
	return a
}

func (s Source) String() string {
	return fmt.Sprintf("%s of %s at %s", or(s.Path, "(no path)"), or(s.RepoURL, "(no repo)"), or(s.Revision, "(no revision)"))
}

func sourceOf(v any) Source {
	m, _ := v.(map[string]any)
	return Source{RepoURL: str(m, "repoURL"), Path: str(m, "path"), Revision: str(m, "targetRevision")}
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		return s[:maxMessage] + "..."
	}
	return s
}
