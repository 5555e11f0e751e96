package waves

// The wave watch: while the Kubernetes provider awaits the Applications of a wave (which, when
// they fail, says only "timed out waiting for the condition"), the program reads the same
// Applications from the API server and, when the wave does not come up, fails the update with
// Argo CD's own reason. See the package doc ("When a wave fails").

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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
	// and for each Application that is not ready when Done closes (one this update did not
	// change, so the provider did not await it).
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
			for _, name := range sortedKeys(pending) {
				if r, ok := reasons[name]; ok && w.Warn != nil {
					w.Warn(name, "not Synced and Healthy, but this update did not change it (the provider did not await it): "+r)
				}
			}
			return nil
		default:
		}
		for _, name := range sortedKeys(pending) {
			a := pending[name]
			obj, found, err := w.Client.Application(ctx, w.Namespace, name)
			var as Assessment
			switch {
			case err != nil:
				as.Reason = "cannot read the Application: " + err.Error()
			case !found:
				as.Reason = "the Application does not exist (not created yet, or its creation failed)"
				if _, decided := changing[name]; !decided {
					changing[name] = true
				}
			default:
				if _, decided := changing[name]; !decided {
					spec, _ := obj["spec"].(map[string]any)
					changing[name] = sourceOf(spec["source"]) != a.Want
				}
				as = Assess(obj, a.Want)
			}
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KubeClient reads Applications with the credentials of a kubeconfig (its current context):
// client certificate, bearer token or basic auth, over TLS verified against the kubeconfig's CA.
type KubeClient struct {
	server string
	hc     *http.Client
	token  string
	user   string
	pass   string
}

type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			ClientCertificate     string `yaml:"client-certificate"`
			ClientCertificateData string `yaml:"client-certificate-data"`
			ClientKey             string `yaml:"client-key"`
			ClientKeyData         string `yaml:"client-key-data"`
			Token                 string `yaml:"token"`
			TokenFile             string `yaml:"tokenFile"`
			Username              string `yaml:"username"`
			Password              string `yaml:"password"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// NewKubeClient builds a client from a kubeconfig's content (or, when the text is a path to a
// file, that file's content: the Kubernetes provider accepts both).
func NewKubeClient(config string) (*KubeClient, error) {
	if !strings.Contains(config, "\n") {
		if b, err := os.ReadFile(strings.TrimSpace(config)); err == nil {
			config = string(b)
		}
	}
	var kc kubeconfig
	if err := yaml.Unmarshal([]byte(config), &kc); err != nil {
		return nil, fmt.Errorf("waves: the kubeconfig does not parse: %w", err)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		ctxName = kc.Contexts[0].Name
	}
	var clusterName, userName string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == ctxName {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("waves: the kubeconfig has no context %q", ctxName)
	}
	k := &KubeClient{}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	found = false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		k.server = strings.TrimRight(c.Cluster.Server, "/")
		tlsCfg.ServerName = c.Cluster.TLSServerName
		tlsCfg.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify //nolint:gosec // as the kubeconfig says
		ca, err := dataOrFile(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority)
		if err != nil {
			return nil, fmt.Errorf("waves: kubeconfig cluster %s: certificate authority: %w", c.Name, err)
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("waves: kubeconfig cluster %s: the certificate authority holds no PEM certificate", c.Name)
			}
			tlsCfg.RootCAs = pool
		}
	}
	if !found || k.server == "" {
		return nil, fmt.Errorf("waves: the kubeconfig has no cluster %q with a server", clusterName)
	}
	if _, err := url.Parse(k.server); err != nil {
		return nil, fmt.Errorf("waves: kubeconfig server %q: %w", k.server, err)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		cert, err := dataOrFile(u.User.ClientCertificateData, u.User.ClientCertificate)
		if err != nil {
			return nil, fmt.Errorf("waves: kubeconfig user %s: client certificate: %w", u.Name, err)
		}
		key, err := dataOrFile(u.User.ClientKeyData, u.User.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("waves: kubeconfig user %s: client key: %w", u.Name, err)
		}
		if len(cert) > 0 {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("waves: kubeconfig user %s: client certificate and key: %w", u.Name, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
		k.token = u.User.Token
		if k.token == "" && u.User.TokenFile != "" {
			b, err := os.ReadFile(u.User.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("waves: kubeconfig user %s: token file: %w", u.Name, err)
			}
			k.token = strings.TrimSpace(string(b))
		}
		k.user, k.pass = u.User.Username, u.User.Password
	}
	k.hc = &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, MaxIdleConnsPerHost: 4},
	}
	return k, nil
}

func dataOrFile(data, file string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file != "" {
		return os.ReadFile(file)
	}
	return nil, nil
}

// Application reads argoproj.io/v1alpha1 Application ns/name; found is false on 404.
func (k *KubeClient) Application(ctx context.Context, ns, name string) (obj map[string]any, found bool, err error) {
	u := fmt.Sprintf("%s/apis/argoproj.io/v1alpha1/namespaces/%s/applications/%s", k.server, url.PathEscape(ns), url.PathEscape(name))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case k.token != "":
		req.Header.Set("Authorization", "Bearer "+k.token)
	case k.user != "":
		req.SetBasicAuth(k.user, k.pass)
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, clip(string(body)))
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", u, err)
	}
	return obj, true, nil
}
