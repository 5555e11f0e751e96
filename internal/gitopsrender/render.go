// Package gitopsrender renders the Applications of the waves the way Argo CD's repo-server does,
// from a checkout of the customer's GitOps repository, without a cluster and without the helm or
// kustomize binaries:
//
//   - a directory with a kustomization.yaml (kustomization.yml, Kustomization) is built with
//     sigs.k8s.io/kustomize/api; its helmCharts are inflated with the Helm library first, as
//     `kustomize build --enable-helm` would (charts from helmGlobals.chartHome, default "charts",
//     vendored in the repository; a chart that is not there is pulled from its repo), and the
//     kustomization's namespace then applies to the chart's objects too, as with kustomize 5.4.3,
//     the one Argo CD v2.14 ships (kustomize 5.8 stopped doing that, kustomize issue #6058);
//   - a directory with a Chart.yaml is rendered as `helm template <app> <dir> -n <namespace>`
//     with the chart's values.yaml and the app's values files; dependencies missing from charts/
//     are pulled from their repositories;
//   - any other directory is a plain directory: its *.yaml, *.yml and *.json files.
//
// A chart repository that cannot be reached fails the app with a message naming the chart and the
// repository (nothing is skipped). Which type a directory is follows Argo CD's discovery:
// Kustomize wins over Helm, Helm over a plain directory.
package gitopsrender

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Source types, as Argo CD names them.
const (
	TypeKustomize = "Kustomize"
	TypeHelm      = "Helm"
	TypeDirectory = "Directory"
)

// App is one Application to render.
type App struct {
	Name      string // the Application's name (Helm's release name)
	Path      string // its path in the repository
	Namespace string // its destination namespace
	// ValueFiles are Helm values files relative to the chart (spec.source.helm.valueFiles).
	ValueFiles []string
}

// Object is one rendered Kubernetes object.
type Object map[string]any

// APIVersion, Kind, Name and Namespace of the object.
func (o Object) APIVersion() string { s, _ := o["apiVersion"].(string); return s }
func (o Object) Kind() string       { s, _ := o["kind"].(string); return s }
func (o Object) Name() string       { return o.meta("name") }
func (o Object) Namespace() string  { return o.meta("namespace") }

func (o Object) meta(k string) string {
	m, _ := o["metadata"].(map[string]any)
	s, _ := m[k].(string)
	return s
}

// Group is the API group ("" for the core group).
func (o Object) Group() string {
	g, _, found := strings.Cut(o.APIVersion(), "/")
	if !found {
		return ""
	}
	return g
}

// Ref is Kind/namespace/name (Kind/name for cluster-scoped objects).
func (o Object) Ref() string {
	if ns := o.Namespace(); ns != "" {
		return o.Kind() + "/" + ns + "/" + o.Name()
	}
	return o.Kind() + "/" + o.Name()
}

// Result is the rendering of one App.
type Result struct {
	App     App
	Type    string
	Objects []Object
}

// Options of a rendering.
type Options struct {
	// Fetcher pulls charts that are not vendored (nil: RepoFetcher with a temporary Helm home).
	Fetcher Fetcher
	// KubeVersion for Helm's .Capabilities (default: the Helm library's default).
	KubeVersion string
}

// clusterScoped are the kinds Argo CD does not put in the destination namespace.
var clusterScoped = []string{"Namespace", "Node", "PersistentVolume", "StorageClass", "CustomResourceDefinition",
	"ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "MutatingWebhookConfiguration",
	"ValidatingWebhookConfiguration", "PriorityClass", "IngressClass", "APIService", "CSIDriver",
	"RuntimeClass", "ClusterSecretStore", "VolumeSnapshotClass", "PodSecurityPolicy"}

// ClusterScoped reports whether a kind is cluster-scoped (the common ones).
func ClusterScoped(kind string) bool { return slices.Contains(clusterScoped, kind) }

// DetectType is Argo CD's source type of an app directory.
func DetectType(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	if kustomizationFile(dir) != "" {
		return TypeKustomize, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err == nil {
		return TypeHelm, nil
	}
	return TypeDirectory, nil
}

func kustomizationFile(dir string) string {
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return n
		}
	}
	return ""
}

// Renderer renders apps from one scratch copy of a repository (charts are pulled and helmCharts
// inflated in the copy, so the repository itself is never written).
type Renderer struct {
	scratch, repo string
	o             Options
}

// Open copies the repository checked out at root. Close removes the copy.
func Open(root string, o Options) (*Renderer, error) {
	scratch, err := os.MkdirTemp("", "pm4ml-render-")
	if err != nil {
		return nil, err
	}
	r := &Renderer{scratch: scratch, repo: filepath.Join(scratch, "repo"), o: o}
	if err := copyTree(root, r.repo); err != nil {
		r.Close()
		return nil, fmt.Errorf("copy the repository: %w", err)
	}
	if r.o.Fetcher == nil {
		f, err := NewRepoFetcher(filepath.Join(scratch, "helm"))
		if err != nil {
			r.Close()
			return nil, err
		}
		r.o.Fetcher = f
	}
	return r, nil
}

// Close removes the scratch copy.
func (r *Renderer) Close() error { return os.RemoveAll(r.scratch) }

// Render renders one app from the repository checked out at root (one scratch copy per call;
// use Open for many apps).
func Render(root string, app App, o Options) (*Result, error) {
	r, err := Open(root, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Render(app)
}

// Render renders one app.
func (r *Renderer) Render(app App) (*Result, error) {
	if app.Path == "" || filepath.IsAbs(app.Path) || slices.Contains(strings.Split(filepath.ToSlash(app.Path), "/"), "..") {
		return nil, fmt.Errorf("path %q is not a relative path inside the repository", app.Path)
	}
	dir := filepath.Join(r.repo, filepath.FromSlash(app.Path))
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("path %s does not exist in the repository", app.Path)
	}
	typ, err := DetectType(dir)
	if err != nil {
		return nil, err
	}
	res := &Result{App: app, Type: typ}
	var docs []byte
	switch typ {
	case TypeKustomize:
		docs, err = renderKustomize(r.repo, dir, r.o)
	case TypeHelm:
		docs, err = renderHelmDir(dir, app, r.o)
	default:
		docs, err = readDirectory(dir)
	}
	if err != nil {
		return nil, err
	}
	objs, err := ParseObjects(docs)
	if err != nil {
		return nil, err
	}
	for _, ob := range objs {
		if ob.Namespace() == "" && !ClusterScoped(ob.Kind()) {
			md, _ := ob["metadata"].(map[string]any)
			if md == nil {
				md = map[string]any{}
				ob["metadata"] = md
			}
			md["namespace"] = app.Namespace
		}
	}
	res.Objects = objs
	return res, nil
}

// readDirectory concatenates a plain directory's manifests (not recursive: Argo CD's default).
func readDirectory(dir string) ([]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		b.WriteString("\n---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

// ParseObjects splits multi-document YAML (or JSON) into objects; List kinds are flattened and
// empty documents dropped.
func ParseObjects(data []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Object
	for i := 0; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		m, ok := normalize(doc).(map[string]any)
		if !ok || len(m) == 0 {
			continue
		}
		ob := Object(m)
		if strings.HasSuffix(ob.Kind(), "List") {
			if items, ok := m["items"].([]any); ok {
				for _, it := range items {
					if im, ok := it.(map[string]any); ok {
						out = append(out, Object(im))
					}
				}
				continue
			}
		}
		if ob.Kind() == "" || ob.APIVersion() == "" {
			return nil, fmt.Errorf("document %d is not a Kubernetes object (no apiVersion/kind)", i+1)
		}
		out = append(out, ob)
	}
	return out, nil
}

// normalize turns yaml.v3 values into JSON-like values (map[string]any, []any, string, int64,
// float64, bool, nil).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return v
}

// copyTree copies a directory tree without .git (regular files and directories only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, data, 0o644)
	})
}
