package gitopsrender

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type refuse struct{ n int }

func (r *refuse) Fetch(repo, name, version string) (string, error) {
	r.n++
	return "", errors.New("connection refused")
}

func TestTypesAndNamespaces(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"plain/a.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: other}}\n",
		"plain/ns.json":           `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}`,
		"plain/notes.txt":         "not a manifest",
		"plain/sub/ignored.yml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sub}\n",
		"both/Chart.yaml":         "apiVersion: v2\nname: both\nversion: 0.1.0\n",
		"both/kustomization.yaml": "resources: [cm.yaml]\n",
		"both/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\n",
	})
	res, err := Render(root, App{Name: "p", Path: "plain", Namespace: "dest"}, Options{Fetcher: &refuse{}})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, o := range res.Objects {
		refs = append(refs, o.Ref())
	}
	if got := strings.Join(refs, " "); res.Type != TypeDirectory || got != "ConfigMap/dest/a ConfigMap/other/b Namespace/x" {
		t.Errorf("type %s, objects %s", res.Type, got)
	}
	res, err = Render(root, App{Name: "b", Path: "both", Namespace: "dest"}, Options{Fetcher: &refuse{}})
	if err != nil || res.Type != TypeKustomize || len(res.Objects) != 1 {
		t.Errorf("kustomization beside Chart.yaml: %v %+v", err, res)
	}
	if _, err := Render(root, App{Name: "x", Path: "../etc", Namespace: "d"}, Options{}); err == nil {
		t.Error("a path outside the repository was accepted")
	}
}

func TestHelmDependencies(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"app/Chart.yaml":                       "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: lib\n  version: 0.1.0\n  repository: http://127.0.0.1:9/charts\n",
		"app/values.yaml":                      "who: parent\n",
		"app/values-prod.yaml":                 "who: prod\n",
		"app/templates/cm.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-cm}\ndata: {who: {{ .Values.who }}}\n",
		"app/charts/lib/Chart.yaml":            "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
		"app/charts/lib/templates/secret.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lib-{{ .Release.Namespace }}}\n",
	})
	f := &refuse{}
	res, err := Render(root, App{Name: "rel", Path: "app", Namespace: "ns1", ValueFiles: []string{"values-prod.yaml"}}, Options{Fetcher: f})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]any{}
	for _, o := range res.Objects {
		names[o.Name()] = o["data"]
	}
	if _, ok := names["lib-ns1"]; !ok || f.n != 0 {
		t.Errorf("vendored dependency: objects %v, fetches %d", names, f.n)
	}
	if d, _ := names["rel-cm"].(map[string]any); d["who"] != "prod" {
		t.Errorf("values file not applied: %v", names["rel-cm"])
	}
	// the dependency is not vendored: it is fetched, and the failure names chart and repository
	if err := os.RemoveAll(filepath.Join(root, "app/charts")); err != nil {
		t.Fatal(err)
	}
	_, err = Render(root, App{Name: "rel", Path: "app", Namespace: "ns1"}, Options{Fetcher: f})
	if err == nil || f.n != 1 || !strings.Contains(err.Error(), "chart lib 0.1.0 cannot be fetched from http://127.0.0.1:9/charts") {
		t.Errorf("missing dependency: %v (fetches %d)", err, f.n)
	}
}

// helmCharts of a base are inflated; a broken kustomization the app does not refer to is not
// this app's failure.
func TestKustomizeBasesWithHelmCharts(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"base/kustomization.yaml":         "helmCharts:\n- name: c\n  releaseName: r\n  valuesInline: {n: 3}\n",
		"base/charts/c/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
		"base/charts/c/values.yaml":       "n: 1\nm: 2\n",
		"base/charts/c/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-c}\ndata: {n: \"{{ .Values.n }}\", m: \"{{ .Values.m }}\"}\n",
		"overlay/kustomization.yaml":      "namespace: ov\nresources: [../base]\n",
		"unrelated/kustomization.yaml":    "helmCharts:\n- name: missing\n",
		"unrelated/charts/.keep":          "",
	})
	r, err := Open(root, Options{Fetcher: &refuse{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Render(App{Name: "o", Path: "overlay", Namespace: "dest"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Ref() != "ConfigMap/ov/r-c" {
		t.Fatalf("objects: %v", res.Objects)
	}
	if d, _ := res.Objects[0]["data"].(map[string]any); d["n"] != "3" || d["m"] != "2" {
		t.Errorf("valuesInline over the chart's values: %v", d)
	}
	if _, err := r.Render(App{Name: "u", Path: "unrelated", Namespace: "dest"}); err == nil || !strings.Contains(err.Error(), "no chart at charts/missing and no repo") {
		t.Errorf("unrelated: %v", err)
	}
}
