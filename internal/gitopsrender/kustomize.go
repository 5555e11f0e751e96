package gitopsrender

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// inflatedPrefix names the files the helmCharts of a kustomization are inflated into.
const inflatedPrefix = "zz-pm4ml-helm-"

// renderKustomize builds dir with kustomize after inflating the helmCharts of its kustomization
// and of every local kustomization it refers to (resources, components, bases) with the Helm
// library, in the scratch copy of the repository.
func renderKustomize(repo, dir string, o Options) ([]byte, error) {
	if err := inflateTree(repo, dir, o, map[string]bool{}); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	k := krusty.MakeKustomizer(opts)
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	return rm.AsYaml()
}

// inflateTree inflates the kustomization in dir and those it refers to, each once.
func inflateTree(repo, dir string, o Options, seen map[string]bool) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true
	kf := kustomizationFile(dir)
	if kf == "" {
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, kf))
	if err != nil {
		return err
	}
	var refs struct {
		Resources  []string `yaml:"resources"`
		Components []string `yaml:"components"`
		Bases      []string `yaml:"bases"`
	}
	_ = yaml.Unmarshal(raw, &refs) // a malformed file is kustomize's error to report
	if err := inflateHelmCharts(dir, kf, o); err != nil {
		rel, _ := filepath.Rel(repo, dir)
		return fmt.Errorf("%s: %w", filepath.ToSlash(rel), err)
	}
	for _, r := range append(append(refs.Resources, refs.Components...), refs.Bases...) {
		if strings.Contains(r, "://") || filepath.IsAbs(r) {
			continue // remote bases are kustomize's to fetch
		}
		sub := filepath.Join(dir, filepath.FromSlash(r))
		if st, err := os.Stat(sub); err == nil && st.IsDir() {
			if err := inflateTree(repo, sub, o, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

type helmChartSpec struct {
	Name                  string         `yaml:"name"`
	Version               string         `yaml:"version"`
	Repo                  string         `yaml:"repo"`
	ReleaseName           string         `yaml:"releaseName"`
	Namespace             string         `yaml:"namespace"`
	ValuesFile            string         `yaml:"valuesFile"`
	AdditionalValuesFiles []string       `yaml:"additionalValuesFiles"`
	ValuesInline          map[string]any `yaml:"valuesInline"`
	ValuesMerge           string         `yaml:"valuesMerge"`
	IncludeCRDs           bool           `yaml:"includeCRDs"`
	SkipHooks             bool           `yaml:"skipHooks"`
	KubeVersion           string         `yaml:"kubeVersion"`
}

// inflateHelmCharts renders the helmCharts of one kustomization into files of its directory and
// lists them as resources instead, as kustomize's HelmChartInflationGenerator would generate them.
func inflateHelmCharts(kdir, kfile string, o Options) error {
	path := filepath.Join(kdir, kfile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var k map[string]any
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return fmt.Errorf("%s: %w", kfile, err)
	}
	if _, ok := k["helmCharts"]; !ok {
		return nil
	}
	var spec struct {
		HelmCharts  []helmChartSpec `yaml:"helmCharts"`
		HelmGlobals struct {
			ChartHome string `yaml:"chartHome"`
		} `yaml:"helmGlobals"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: helmCharts: %w", kfile, err)
	}
	home := spec.HelmGlobals.ChartHome
	if home == "" {
		home = "charts"
	}
	if !filepath.IsAbs(home) {
		home = filepath.Join(kdir, home)
	}
	var files []any
	for i, hc := range spec.HelmCharts {
		if hc.Name == "" || strings.HasPrefix(hc.Name, "-") || strings.HasPrefix(hc.ReleaseName, "-") {
			return fmt.Errorf("helmCharts[%d]: invalid chart name %q or releaseName %q", i, hc.Name, hc.ReleaseName)
		}
		chartHome := home
		if hc.Version != "" && hc.Repo != "" {
			chartHome = filepath.Join(home, hc.Name+"-"+hc.Version)
		}
		chartPath := filepath.Join(chartHome, hc.Name)
		if st, err := os.Stat(chartPath); err != nil || !st.IsDir() {
			if hc.Repo == "" {
				return fmt.Errorf("helmCharts[%d] %s: no chart at %s and no repo to pull it from", i, hc.Name, relTo(kdir, chartPath))
			}
			p, err := o.Fetcher.Fetch(hc.Repo, hc.Name, hc.Version)
			if err != nil {
				return fmt.Errorf("helmCharts[%d]: %w", i, fetchErr(hc.Name, hc.Version, hc.Repo, err))
			}
			chartPath = p
		}
		vals := map[string]any{}
		if hc.ValuesFile != "" {
			if vals, err = readValues(filepath.Join(kdir, filepath.FromSlash(hc.ValuesFile))); err != nil {
				return fmt.Errorf("helmCharts[%d] %s: %w", i, hc.Name, err)
			}
		}
		for _, f := range hc.AdditionalValuesFiles {
			v, err := readValues(filepath.Join(kdir, filepath.FromSlash(f)))
			if err != nil {
				return fmt.Errorf("helmCharts[%d] %s: %w", i, hc.Name, err)
			}
			vals = mergeValues(vals, v)
		}
		if len(hc.ValuesInline) > 0 {
			inline := normalize(hc.ValuesInline).(map[string]any)
			switch hc.ValuesMerge {
			case "", "override":
				vals = mergeValues(vals, inline)
			case "merge":
				vals = mergeValues(inline, vals)
			case "replace":
				vals = inline
			default:
				return fmt.Errorf("helmCharts[%d] %s: valuesMerge %q is not merge, override or replace", i, hc.Name, hc.ValuesMerge)
			}
		}
		release := hc.ReleaseName
		if release == "" {
			release = "release-name"
		}
		kv := hc.KubeVersion
		if kv == "" {
			kv = o.KubeVersion
		}
		out, err := renderChart(helmRender{ChartDir: chartPath, Release: release, Namespace: hc.Namespace, Values: vals,
			IncludeCRDs: hc.IncludeCRDs, SkipHooks: hc.SkipHooks, KubeVersion: kv}, o)
		if err != nil {
			return fmt.Errorf("helmCharts[%d]: %w", i, err)
		}
		name := fmt.Sprintf("%s%d-%s.yaml", inflatedPrefix, i, hc.Name)
		if err := os.WriteFile(filepath.Join(kdir, name), out, 0o644); err != nil {
			return err
		}
		files = append(files, name)
	}
	if rs, ok := k["resources"].([]any); ok {
		files = append(files, rs...)
	}
	k["resources"] = files
	delete(k, "helmCharts")
	delete(k, "helmGlobals")
	b, err := yaml.Marshal(k)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func relTo(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}
