package stacks

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// ArgoCD is the GitOps engine (guide 6, playbook 2.argocd_setup).
type ArgoCD struct {
	// Version of Argo CD (pinned); the install manifest is the upstream one of this version unless
	// ManifestPath or ManifestURL is set.
	Version string `json:"version,omitempty"`
	// ManifestURL overrides the upstream URL (e.g. an internal mirror).
	ManifestURL string `json:"manifestUrl,omitempty"`
	// ManifestPath is a local install manifest (offline mirror); wins over ManifestURL.
	ManifestPath string `json:"manifestPath,omitempty"`
	// HA selects the HA manifests (default: true in prod, false in stg).
	HA        *bool  `json:"ha,omitempty"`
	Namespace string `json:"namespace,omitempty"` // default argocd
	Project   string `json:"project,omitempty"`   // default "default"
	// AppTimeoutSeconds bounds the wait for each Application to be Synced and Healthy.
	AppTimeoutSeconds int `json:"appTimeoutSeconds,omitempty"` // default 1800
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
	Endpoints []VerifyEndpoint `json:"endpoints,omitempty"`
	// InternalChecks are in-cluster URLs checked from a throwaway pod (off when empty).
	InternalChecks []string `json:"internalChecks,omitempty"`
	// ResolveAddress is where the checked URLs' host names resolve to (default: the public VIP),
	// so the checks go through HAProxy even before public DNS points there.
	ResolveAddress string `json:"resolveAddress,omitempty"`
	// Insecure skips TLS verification of the checked URLs (lab only); CACertFile trusts a
	// private CA instead.
	Insecure   bool   `json:"insecure,omitempty"`
	CACertFile string `json:"caCertFile,omitempty"`
	// Attempts of the whole check set (default 6), IntervalSeconds apart (default 10).
	Attempts        int `json:"attempts,omitempty"`
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
}

// VerifyEndpoint is one checked URL.
type VerifyEndpoint struct {
	Name         string `json:"name,omitempty"`
	URL          string `json:"url"`
	ExpectStatus []int  `json:"expectStatus,omitempty"` // default [200]
}

// Wave is one step of the guide's deployment order (6.1): every app of a wave is Synced and
// Healthy before the next wave is created.
type Wave struct {
	Name string `json:"name"`
	Apps []App  `json:"apps"`
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

// GuideWaves is the guide's section 6.1, in its order.
var GuideWaves = []Wave{
	{Name: "base-utilities", Apps: apps("base-utils")},
	{Name: "storage", Apps: apps("storage-app")},
	{Name: "certificate-management", Apps: apps("certmanager-helm", "certmanager-app", "certmanager-clusterissuers")},
	{Name: "service-mesh", Apps: apps("istio-app", "istio-main-app", "istio-gateways-app")},
	{Name: "dns-management", Apps: apps("external-dns-app")},
	{Name: "vault-storage-backend", Apps: apps("consul-app")},
	{Name: "vault-and-secrets", Apps: apps("vault-app", "vault", "vault-config-operator", "vault-pki-app")},
	{Name: "stateful-resources", Apps: apps("stateful-resources-operators-app", "common-stateful-resources-app")},
	{Name: "monitoring", Apps: apps("monitoring-app", "monitoring-install", "monitoring-post-config")},
	{Name: "identity-and-access", Apps: apps("keycloak-app", "keycloak-install", "keycloak-post-config", "ory-app")},
	{Name: "pm4ml-core", Apps: apps("pm4ml")},
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
			if app.Path == "" && slices.Contains(GuideApps(), app.Name) {
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

var (
	versionRe  = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
	relPathRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
	appNameRe  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$`)
	waveNameRe = appNameRe
)

func (x *v) platform(c *Config) {
	a := c.ArgoCD
	if !versionRe.MatchString(a.Version) {
		x.add(key("argocd.version"), fmt.Sprintf("%q is not a pinned version", a.Version), "use a release tag such as "+DefaultArgoCDVersion)
	}
	if a.ManifestPath != "" && !strings.HasPrefix(a.ManifestPath, "/") {
		x.add(key("argocd.manifestPath"), fmt.Sprintf("%q is not an absolute path", a.ManifestPath), "give the absolute path of the mirrored install.yaml")
	}
	if a.ManifestURL != "" && !strings.HasPrefix(a.ManifestURL, "https://") && !strings.HasPrefix(a.ManifestURL, "http://") {
		x.add(key("argocd.manifestUrl"), fmt.Sprintf("%q is not a URL", a.ManifestURL), "use an https URL of the install manifest, or argocd.manifestPath")
	}
	if !appNameRe.MatchString(a.Namespace) {
		x.add(key("argocd.namespace"), fmt.Sprintf("%q is not a namespace name", a.Namespace), "use a DNS label, default argocd")
	}
	if a.AppTimeoutSeconds < 30 {
		x.add(key("argocd.appTimeoutSeconds"), fmt.Sprintf("%d is too short", a.AppTimeoutSeconds), "allow at least 30 s per Application (default 1800)")
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
		if !waveNameRe.MatchString(w.Name) {
			x.add(key("waves[%d].name", i), fmt.Sprintf("%q is not a valid wave name", w.Name), "use lower-case letters, digits and '-'")
		} else if seenWave[w.Name] {
			x.add(key("waves[%d].name", i), fmt.Sprintf("wave %q is listed twice", w.Name), "give every wave a unique name")
		}
		seenWave[w.Name] = true
		if len(w.Apps) == 0 {
			x.add(key("waves[%d].apps", i), "is empty", "list at least one app, or remove the wave")
		}
		for j, app := range w.Apps {
			k := key("waves[%d].apps[%d]", i, j)
			if !appNameRe.MatchString(app.Name) {
				x.add(k+".name", fmt.Sprintf("%q is not a valid Application name", app.Name), "use lower-case letters, digits and '-'")
				continue
			}
			if prev, dup := seenApp[app.Name]; dup {
				x.add(k+".name", fmt.Sprintf("%q is already in wave %s", app.Name, prev), "list every app once")
			}
			seenApp[app.Name] = w.Name
			if app.Path == "" && !slices.Contains(catalog, app.Name) {
				x.add(k+".name", fmt.Sprintf("%q is not an app of the guide (6.1) and has no path", app.Name),
					"correct the name ("+strings.Join(catalog, ", ")+"), or give the custom app its path in the GitOps repo")
			}
			if app.Path != "" && !relPathRe.MatchString(app.Path) {
				x.add(k+".path", fmt.Sprintf("%q is not a relative path in the repository", app.Path), "use e.g. apps/my-app")
			}
			if !appNameRe.MatchString(app.Namespace) {
				x.add(k+".namespace", fmt.Sprintf("%q is not a namespace name", app.Namespace), "use a DNS label")
			}
		}
	}
	for i, e := range c.Verify.Endpoints {
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			x.add(key("verify.endpoints[%d].url", i), fmt.Sprintf("%q is not a URL", e.URL), "use e.g. https://portal.<domain>/")
		}
		for j, st := range e.ExpectStatus {
			if st < 100 || st > 599 {
				x.add(key("verify.endpoints[%d].expectStatus[%d]", i, j), fmt.Sprintf("%d is not an HTTP status", st), "use 100-599")
			}
		}
	}
	if c.Verify.Insecure && c.Environment == hosts.Prod {
		x.add(key("verify.insecure"), "skips TLS verification in prod", "trust the private CA with pm4ml:verify.caCertFile instead")
	}
	if _, ok := seenApp["vault"]; !ok && len(c.Waves) > 0 {
		x.add(key("waves"), "has no app named vault", "keep the guide's vault app: the MCM client secret (guide 6.5) is written after it")
	}
}
