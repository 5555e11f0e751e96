package gitopsrender

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// Fetcher pulls a chart that is not vendored in the repository.
type Fetcher interface {
	// Fetch downloads chart name (version, "" for the latest) from repo (an https/http chart
	// repository or an oci:// registry) and returns the path of the chart archive or directory.
	Fetch(repo, name, version string) (string, error)
}

// RepoFetcher pulls charts with the Helm library, with its own Helm home (no user settings).
type RepoFetcher struct {
	settings *cli.EnvSettings
}

// NewRepoFetcher keeps Helm's caches and configuration under home.
func NewRepoFetcher(home string) (*RepoFetcher, error) {
	s := cli.New()
	s.RepositoryConfig = filepath.Join(home, "repositories.yaml")
	s.RepositoryCache = filepath.Join(home, "cache")
	s.RegistryConfig = filepath.Join(home, "registry.json")
	if err := os.MkdirAll(s.RepositoryCache, 0o755); err != nil {
		return nil, err
	}
	return &RepoFetcher{settings: s}, nil
}

// Fetch implements Fetcher.
func (f *RepoFetcher) Fetch(repo, name, version string) (string, error) {
	cpo := action.ChartPathOptions{Version: version}
	ref := name
	if strings.HasPrefix(repo, "oci://") {
		rc, err := registry.NewClient(registry.ClientOptCredentialsFile(f.settings.RegistryConfig))
		if err != nil {
			return "", err
		}
		ins := action.NewInstall(&action.Configuration{RegistryClient: rc})
		ins.SetRegistryClient(rc)
		ins.Version = version
		ref = strings.TrimSuffix(repo, "/") + "/" + name
		return ins.LocateChart(ref, f.settings)
	}
	cpo.RepoURL = repo
	return cpo.LocateChart(ref, f.settings)
}

// fetchErr is the message of a chart that could not be pulled.
func fetchErr(name, version, repo string, err error) error {
	v := version
	if v == "" {
		v = "latest"
	}
	return fmt.Errorf("chart %s %s cannot be fetched from %s: %v (vendor the chart into the repository, or make the chart repository reachable from where the checklist runs)", name, v, repo, err)
}

// helmRender is one `helm template`.
type helmRender struct {
	ChartDir    string
	Release     string
	Namespace   string
	Values      map[string]any
	IncludeCRDs bool
	SkipHooks   bool
	KubeVersion string
}

// renderChartDir renders a chart directory (or archive) with the given values, pulling missing
// dependencies first.
func renderChart(h helmRender, o Options) ([]byte, error) {
	ch, err := loader.Load(h.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", filepath.Base(h.ChartDir), err)
	}
	if err := ensureDependencies(ch, h.ChartDir, o); err != nil {
		return nil, err
	}
	if deps := ch.Metadata.Dependencies; len(deps) > 0 {
		if ch, err = loader.Load(h.ChartDir); err != nil {
			return nil, fmt.Errorf("load chart %s: %w", filepath.Base(h.ChartDir), err)
		}
	}
	ins := action.NewInstall(&action.Configuration{})
	ins.DryRun, ins.DryRunOption = true, "client"
	ins.ClientOnly, ins.Replace = true, true
	ins.ReleaseName, ins.Namespace = h.Release, h.Namespace
	ins.IncludeCRDs = h.IncludeCRDs
	if h.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(h.KubeVersion)
		if err != nil {
			return nil, err
		}
		ins.KubeVersion = kv
	}
	vals := h.Values
	if vals == nil {
		vals = map[string]any{}
	}
	rel, err := ins.Run(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w", ch.Name(), err)
	}
	var b bytes.Buffer
	if h.IncludeCRDs {
		for _, crd := range ch.CRDObjects() {
			b.WriteString("\n---\n")
			b.Write(crd.File.Data)
		}
	}
	b.WriteString(rel.Manifest)
	for _, hk := range rel.Hooks {
		if h.SkipHooks {
			break
		}
		b.WriteString("\n---\n" + hk.Manifest)
	}
	return b.Bytes(), nil
}

// ensureDependencies pulls the dependencies of a chart directory that are not in its charts/.
func ensureDependencies(ch *chart.Chart, dir string, o Options) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil // an archive carries its dependencies
	}
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	for _, d := range ch.Metadata.Dependencies {
		if have[d.Name] {
			continue
		}
		if d.Repository == "" || strings.HasPrefix(d.Repository, "file://") || strings.HasPrefix(d.Repository, "@") {
			return fmt.Errorf("chart %s: dependency %s (%s) is not in charts/: vendor it (helm dependency build)", ch.Name(), d.Name, d.Repository)
		}
		p, err := o.Fetcher.Fetch(d.Repository, d.Name, d.Version)
		if err != nil {
			return fetchErr(d.Name, d.Version, d.Repository, fmt.Errorf("dependency of chart %s: %w", ch.Name(), err))
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "charts"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "charts", filepath.Base(p)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// renderHelmDir is an Application whose path is a chart: `helm template <app> . -n <ns>
// -f <valueFiles>`.
func renderHelmDir(dir string, app App, o Options) ([]byte, error) {
	vals := map[string]any{}
	for _, f := range app.ValueFiles {
		v, err := readValues(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		vals = mergeValues(vals, v)
	}
	return renderChart(helmRender{ChartDir: dir, Release: app.Name, Namespace: app.Namespace, Values: vals, KubeVersion: o.KubeVersion}, o)
}

func readValues(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("values file %s: %w", filepath.Base(path), err)
	}
	if v == nil {
		v = map[string]any{}
	}
	return normalize(v).(map[string]any), nil
}

// mergeValues merges override into base recursively (later values files win, as with helm -f).
func mergeValues(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
