package waves

// The wave watch: while the Kubernetes provider awaits the Applications of a wave (which, when
// they fail, says only "timed out waiting for the condition"), the program reads the same
// Applications from the API server and, when the wave does not come up, fails the update with
// Argo CD's own reason. See the package doc ("When a wave fails").

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// WatchedApp is one Application a wave watch reads.
type WatchedApp struct {
	Name string
	Want Source
}

// WaveError is the failure of a wave watch: the wave and, per Application that is not ready,
// Argo CD's reason.
type WaveError struct {
	Wave    string
	After   time.Duration
	Early   bool              // an Application's sync failed for good before the deadline
	Reasons map[string]string // Application name -> reason
}

func (e *WaveError) Error() string {
	names := make([]string, 0, len(e.Reasons))
	for n := range e.Reasons {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	if e.Early {
		fmt.Fprintf(&b, "waves: wave %s failed after %s: Argo CD gave up syncing", e.Wave, e.After.Round(time.Second))
	} else {
		fmt.Fprintf(&b, "waves: wave %s is not Synced and Healthy after %s", e.Wave, e.After.Round(time.Second))
	}
	for _, n := range names {
		fmt.Fprintf(&b, "; Application %s: %s", n, e.Reasons[n])
	}
	return b.String()
}

// Watcher polls the Applications of a wave until they are all ready, the engine is done with
// them, one of them failed for good, or the deadline passes.
type Watcher struct {
	Client    *KubeClient
	Namespace string
	Interval  time.Duration
	// Done, when closed, says the engine finished the wave's Applications: the provider's await
	// passed for each it created or updated, so the watch passes. (When an await fails, Done is
	// never closed and the watch runs to its deadline.)
	Done <-chan struct{}
	// Warn receives a line whenever an Application's trouble (Degraded, a sync error) changes,
	// and, once Done closes, for each Application that is not ready in a read taken after
	// that (never from a poll taken before the provider's await passed).
	Warn func(app, reason string)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Watch returns nil when every app is ready within timeout (or Done closes first), else a
// *WaveError. A sync that failed for good ends the watch at once (Early) for an Application
// this update creates or changes (at the first read it was missing or had another source):
// Argo CD will not try that source again. An Application that already had the applied source
// is not failed early: the update may not touch it, and then the provider does not await it.
func (w *Watcher) Watch(ctx context.Context, wave string, apps []WatchedApp, timeout time.Duration) error {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	deadline := start.Add(timeout)
	pending := map[string]WatchedApp{}
	for _, a := range apps {
		pending[a.Name] = a
	}
	reasons, warned := map[string]string{}, map[string]string{}
	changing := map[string]bool{} // decided at the first successful read
	for {
		select {
		case <-w.Done:
			w.final(ctx, pending, changing)
			return nil
		default:
		}
		for _, name := range slices.Sorted(maps.Keys(pending)) {
			as := w.read(ctx, pending[name], changing)
			if as.Ready {
				delete(pending, name)
				delete(reasons, name)
				continue
			}
			reasons[name] = as.Reason
			if as.Troubled && warned[name] != as.Reason && w.Warn != nil {
				w.Warn(name, as.Reason)
			}
			if as.Troubled {
				warned[name] = as.Reason
			}
			if as.Failed && changing[name] {
				return &WaveError{Wave: wave, After: now().Sub(start), Early: true, Reasons: map[string]string{name: as.Reason}}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if !now().Before(deadline) {
			return &WaveError{Wave: wave, After: now().Sub(start), Reasons: reasons}
		}
		wait := min(w.Interval, deadline.Sub(now()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("waves: watch of wave %s stopped: %w", wave, ctx.Err())
		case <-w.Done:
		case <-time.After(max(wait, 0)):
		}
	}
}

// read reads and assesses one Application; the first read decides whether this update changes
// it (missing, or another source in its spec).
func (w *Watcher) read(ctx context.Context, a WatchedApp, changing map[string]bool) Assessment {
	obj, found, err := w.Client.Application(ctx, w.Namespace, a.Name)
	switch {
	case err != nil:
		return Assessment{Reason: "cannot read the Application: " + err.Error()}
	case !found:
		if _, decided := changing[a.Name]; !decided {
			changing[a.Name] = true
		}
		return Assessment{Reason: "the Application does not exist (not created yet, or its creation failed)"}
	}
	if _, decided := changing[a.Name]; !decided {
		spec, _ := obj["spec"].(map[string]any)
		changing[a.Name] = sourceOf(spec["source"]) != a.Want
	}
	return Assess(obj, a.Want)
}

// final runs once the engine is done with the wave: each Application still pending is read
// again, and only one that is not ready in that read (taken after the provider's awaits passed)
// is reported. An earlier poll is never reported: it predates the await, so what it saw (e.g.
// OutOfSync while Argo CD was still syncing) may no longer be true.
func (w *Watcher) final(ctx context.Context, pending map[string]WatchedApp, changing map[string]bool) {
	for _, name := range slices.Sorted(maps.Keys(pending)) {
		as := w.read(ctx, pending[name], changing)
		if as.Ready || w.Warn == nil {
			continue
		}
		if changing[name] {
			w.Warn(name, "not Synced and Healthy right after the update finished the wave (the provider's await had passed): "+as.Reason)
		} else {
			w.Warn(name, "not Synced and Healthy after the update finished the wave; this update did not change it, so the provider did not await it: "+as.Reason)
		}
	}
}
