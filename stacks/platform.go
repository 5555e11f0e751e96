package stacks

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/waves"
	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

// ArgoCD is the GitOps engine (guide 6, playbook 2.argocd_setup).
type ArgoCD struct {
	// Version of Argo CD (pinned); the install manifest is the upstream one of this version unless
	// ManifestPath or ManifestURL is set.
	Version string `json:"version,omitempty"`
	// ManifestURL overrides the upstream URL (e.g. an internal mirror).
	ManifestURL string `json:"manifestUrl,omitempty" pm4ml:"maxlen=2048"`
	// ManifestPath is a local install manifest (offline mirror); wins over ManifestURL.
	ManifestPath string `json:"manifestPath,omitempty" pm4ml:"maxlen=1024"`
	// HA selects the HA manifests (default: true in prod, false in stg).
	HA        *bool  `json:"ha,omitempty"`
	Namespace string `json:"namespace,omitempty"` // default argocd
	Project   string `json:"project,omitempty"`   // default "default"
	// AppTimeoutSeconds bounds the wait for each Application to be Synced and Healthy.
	AppTimeoutSeconds int `json:"appTimeoutSeconds,omitempty" pm4ml:"nonzero"` // default 1800
	// OnDelete: "cascade" (Argo CD's resources finalizer: pulumi destroy removes what the apps
	// deployed), "protect" (Applications cannot be deleted by Pulumi) or "orphan". Default:
	// cascade in stg, protect in prod.
	OnDelete string `json:"onDelete,omitempty"`
	// PathPrefix of the apps in the GitOps repo: app X lives at <pathPrefix>/X unless it sets path.
	PathPrefix string `json:"pathPrefix,omitempty"` // default "apps"
}

// Verify is the machine-checked verification of guide 6.6.
type Verify struct {
	// Endpoints are the PM4ML URLs checked for their HTTP status (guide 6.6 "PM4ML endpoint URLs
	// respond with expected HTTP status codes").
	Endpoints []VerifyEndpoint `json:"endpoints,omitempty" pm4ml:"max=100"`
	// InternalChecks are in-cluster URLs checked from a throwaway pod (off when empty).
	InternalChecks []string `json:"internalChecks,omitempty" pm4ml:"max=100,maxlen=2048"`
	// ResolveAddress is where the checked URLs' host names resolve to (default: the public VIP),
	// so the checks go through HAProxy even before public DNS points there.
	ResolveAddress string `json:"resolveAddress,omitempty"`
	// Insecure skips TLS verification of the checked URLs (lab only); CACertFile trusts a
	// private CA instead.
	Insecure   bool   `json:"insecure,omitempty"`
	CACertFile string `json:"caCertFile,omitempty" pm4ml:"maxlen=1024"`
	// Attempts of the whole check set (default 6), IntervalSeconds apart (default 10).
	Attempts        int `json:"attempts,omitempty" pm4ml:"nonzero"`
	IntervalSeconds int `json:"intervalSeconds,omitempty" pm4ml:"nonzero"`
}

// VerifyEndpoint is one checked URL.
type VerifyEndpoint struct {
	Name         string `json:"name,omitempty"`
	URL          string `json:"url" pm4ml:"maxlen=2048"`
	ExpectStatus []int  `json:"expectStatus,omitempty" pm4ml:"max=16"` // default [200]
}

// Wave is one step of the guide's deployment order (6.1): every app of a wave is Synced and
// Healthy before the next wave is created.
type Wave struct {
	Name string `json:"name"`
	Apps []App  `json:"apps" pm4ml:"max=100"`
}

// App is one Argo CD Application of a wave.
type App struct {
	Name string `json:"name"`
	// Path in the GitOps repo (default <argocd.pathPrefix>/<name>). Required for apps that are not
	// in the guide's catalog.
	Path string `json:"path,omitempty"`
	// Namespace the app deploys to (default: the app name).
	Namespace string `json:"namespace,omitempty"`
}

// GuideWaves is the guide's section 6.1, in its order (waves.Guide, the one copy).
var GuideWaves = guideWaves()

func guideWaves() []Wave {
	out := make([]Wave, 0, len(waves.Guide))
	for _, w := range waves.Guide {
		out = append(out, Wave{Name: w[0], Apps: apps(w[1:]...)})
	}
	return out
}

// StorageWave names the wave that is the first to need the cluster's StorageClasses (guide 6.1
// wave 2, "storage"); without such a wave, the first wave waits for them.
const StorageWave = "storage"

// storageWave is the wave that waits for the StorageClasses.
func (c *Config) storageWave() string {
	for _, w := range c.Waves {
		if w.Name == StorageWave {
			return w.Name
		}
	}
	if len(c.Waves) > 0 {
		return c.Waves[0].Name
	}
	return ""
}

// VaultWave names the wave after which the MCM client secret is written (guide 6.5).
const VaultWave = "vault-and-secrets"

func apps(names ...string) []App {
	out := make([]App, len(names))
	for i, n := range names {
		out[i] = App{Name: n}
	}
	return out
}

// GuideApps is the catalog of the guide's app names.
func GuideApps() []string {
	var out []string
	for _, w := range GuideWaves {
		for _, a := range w.Apps {
			out = append(out, a.Name)
		}
	}
	return out
}

// Defaults of the platform layer.
const (
	DefaultArgoCDVersion     = "v2.14.21"
	DefaultArgoCDNamespace   = "argocd"
	DefaultAppTimeoutSeconds = 1800
	DefaultAppsPathPrefix    = "apps"
	DefaultVerifyAttempts    = 6
	DefaultVerifyInterval    = 10
)

// ArgoCDManifestURL is the upstream install manifest of a version.
func ArgoCDManifestURL(version string, ha bool) string {
	p := "manifests/install.yaml"
	if ha {
		p = "manifests/ha/install.yaml"
	}
	return fmt.Sprintf("https://raw.githubusercontent.com/argoproj/argo-cd/%s/%s", version, p)
}

func applyPlatformDefaults(c *Config) {
	a := &c.ArgoCD
	if a.Version == "" {
		a.Version = DefaultArgoCDVersion
	}
	if a.HA == nil {
		ha := c.Environment == hosts.Prod
		a.HA = &ha
	}
	if a.Namespace == "" {
		a.Namespace = DefaultArgoCDNamespace
	}
	if a.Project == "" {
		a.Project = "default"
	}
	if a.AppTimeoutSeconds == 0 {
		a.AppTimeoutSeconds = DefaultAppTimeoutSeconds
	}
	if c.Verify.Attempts == 0 {
		c.Verify.Attempts = DefaultVerifyAttempts
	}
	if c.Verify.IntervalSeconds == 0 {
		c.Verify.IntervalSeconds = DefaultVerifyInterval
	}
	if a.OnDelete == "" {
		a.OnDelete = "cascade"
		if c.Environment == hosts.Prod {
			a.OnDelete = "protect"
		}
	}
	if a.PathPrefix == "" {
		a.PathPrefix = DefaultAppsPathPrefix
	}
	if a.ManifestURL == "" && a.ManifestPath == "" {
		a.ManifestURL = ArgoCDManifestURL(a.Version, *a.HA)
	}
	if c.Waves == nil {
		c.Waves = cloneWaves(GuideWaves)
	}
	if c.Verify.ResolveAddress == "" {
		c.Verify.ResolveAddress = c.HAProxy.PublicVIP
	}
	if c.Vault.Address == "" && validDomain(c.Domain) {
		// the in-cluster Vault of the reference deployment, behind the ingress
		c.Vault.Address = "https://vault." + c.Domain
	}
	for i := range c.Waves {
		for j := range c.Waves[i].Apps {
			app := &c.Waves[i].Apps[j]
			if app.Path == "" && slices.Contains(GuideApps(), app.Name) && grammar.RelPath.OK(a.PathPrefix) {
				app.Path = strings.TrimSuffix(a.PathPrefix, "/") + "/" + app.Name
			}
			if app.Namespace == "" {
				app.Namespace = app.Name
			}
		}
	}
}

func cloneWaves(in []Wave) []Wave {
	out := make([]Wave, len(in))
	for i, w := range in {
		out[i] = Wave{Name: w.Name, Apps: slices.Clone(w.Apps)}
	}
	return out
}

func (x *v) platform(c *Config) {
	a := c.ArgoCD
	if a.AppTimeoutSeconds < grammar.AppTimeoutMin || a.AppTimeoutSeconds > grammar.AppTimeoutMax {
		x.add(key("argocd.appTimeoutSeconds"), fmt.Sprintf("%d s is out of range", a.AppTimeoutSeconds), fmt.Sprintf("allow %d..%d s per Application (default %d)", grammar.AppTimeoutMin, grammar.AppTimeoutMax, DefaultAppTimeoutSeconds))
	}
	if !slices.Contains([]string{"cascade", "protect", "orphan"}, a.OnDelete) {
		x.add(key("argocd.onDelete"), fmt.Sprintf("%q is not a deletion mode", a.OnDelete), "use cascade, protect or orphan")
	}
	if len(c.Waves) == 0 {
		x.add(key("waves"), "is empty", "remove pm4ml:waves to use the guide's 11 waves, or list at least one wave")
	}
	catalog := GuideApps()
	seenApp, seenWave := map[string]string{}, map[string]bool{}
	for i, w := range c.Waves {
		if w.Name == "" {
			x.add(key("waves[%d].name", i), "is not set", "give the wave a name, e.g. core")
		} else if seenWave[w.Name] {
			x.add(key("waves[%d].name", i), fmt.Sprintf("wave %q is listed twice", w.Name), "give every wave a unique name")
		}
		seenWave[w.Name] = true
		if len(w.Apps) == 0 {
			x.add(key("waves[%d].apps", i), "is empty", "list at least one app, or remove the wave")
		}
		for j, app := range w.Apps {
			k := key("waves[%d].apps[%d]", i, j)
			if app.Name == "" {
				x.add(k+".name", "is not set", "give the app its Application name")
				continue
			}
			if !grammar.AppName.OK(app.Name) {
				continue // reported by its grammar
			}
			if prev, dup := seenApp[app.Name]; dup {
				x.add(k+".name", fmt.Sprintf("%q is already in wave %s", app.Name, prev), "list every app once")
			}
			seenApp[app.Name] = w.Name
			if app.Path == "" && !slices.Contains(catalog, app.Name) {
				x.add(k+".name", fmt.Sprintf("%q is not an app of the guide (6.1) and has no path", app.Name),
					"correct the name ("+strings.Join(catalog, ", ")+"), or give the custom app its path in the GitOps repo")
			}
		}
	}
	x.verify(c)
	if _, ok := seenApp["vault"]; !ok && len(c.Waves) > 0 {
		x.add(key("waves"), "has no app named vault", "keep the guide's vault app: the MCM client secret (guide 6.5) is written after it")
	}
}

// verify: guide 6.6's checks.
func (x *v) verify(c *Config) {
	vf := c.Verify
	if vf.Attempts < grammar.AttemptsMin || vf.Attempts > grammar.AttemptsMax {
		x.add(key("verify.attempts"), fmt.Sprintf("%d is out of range", vf.Attempts), fmt.Sprintf("use %d..%d, or leave it unset for %d", grammar.AttemptsMin, grammar.AttemptsMax, DefaultVerifyAttempts))
	}
	if vf.IntervalSeconds < grammar.IntervalMin || vf.IntervalSeconds > grammar.IntervalMax {
		x.add(key("verify.intervalSeconds"), fmt.Sprintf("%d is out of range", vf.IntervalSeconds), fmt.Sprintf("use %d..%d s, or leave it unset for %d", grammar.IntervalMin, grammar.IntervalMax, DefaultVerifyInterval))
	}
	names := map[string]int{"argocd": -1} // the Argo CD check's own name
	for i, e := range vf.Endpoints {
		if e.URL == "" {
			x.add(key("verify.endpoints[%d].url", i), "is not set", "use e.g. https://portal.<domain>/")
		}
		name := e.Name
		if name == "" {
			if u, err := url.Parse(e.URL); err == nil && grammar.HTTPURL.OK(e.URL) {
				name = strings.TrimSuffix(u.Host+u.Path, "/")
			}
		}
		if j, dup := names[name]; dup && name != "" {
			what := "the name of the Argo CD check"
			if j >= 0 {
				what = fmt.Sprintf("also the name of verify.endpoints[%d]", j)
			}
			x.add(key("verify.endpoints[%d].name", i), fmt.Sprintf("%q is %s", name, what), "give every endpoint its own name")
		}
		names[name] = i
		for j, st := range e.ExpectStatus {
			if st < 100 || st > 599 {
				x.add(key("verify.endpoints[%d].expectStatus[%d]", i, j), fmt.Sprintf("%d is not an HTTP status", st), "use 100-599")
			}
		}
	}
	if vf.Insecure && c.Environment == hosts.Prod {
		x.add(key("verify.insecure"), "skips TLS verification in prod", "trust the private CA with pm4ml:verify.caCertFile instead")
	}
}
