package checklist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/internal/gitopsrender"
)

const testDomain = "lab.pm4ml.example.org"

// testApps are the apps of testdata/gitops (one per source type).
var testApps = []gitopsrender.App{
	{Name: "certmanager-clusterissuers", Path: "apps/certmanager-clusterissuers", Namespace: "cert-manager"},
	{Name: "istio-gateways-app", Path: "apps/istio-gateways-app", Namespace: "istio-ingress"},
	{Name: "common-stateful-resources-app", Path: "apps/common-stateful-resources-app", Namespace: "stateful"},
	{Name: "pm4ml", Path: "apps/pm4ml", Namespace: "pm4ml"},
}

// allAcked acknowledges every manual item.
func allAcked() []Ack {
	var out []Ack
	for _, id := range ManualIDs() {
		out = append(out, Ack{Item: id, By: "Jane Operator", Ref: "CHG-1"})
	}
	return out
}

// noFetch fails every chart pull without touching the network.
type noFetch struct{ calls []string }

func (f *noFetch) Fetch(repo, name, version string) (string, error) {
	f.calls = append(f.calls, repo+" "+name)
	return "", os.ErrNotExist
}

func testSpec() Spec {
	return Spec{
		Domain:         testDomain,
		StorageClasses: storage.Plan{StorageClass: "ceph-rbd", LocalStorageClass: "local-nvme"}.Classes(),
		Apps:           testApps,
		Acks:           allAcked(),
		Render:         gitopsrender.Options{Fetcher: &noFetch{}},
	}
}

// variant copies testdata/gitops and replaces old with new in file (old must occur).
func variant(t *testing.T, file, old, repl string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", "gitops")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if filepath.ToSlash(rel) == file {
			if !strings.Contains(string(b), old) {
				t.Fatalf("%s does not contain %q", file, old)
			}
			b = []byte(strings.Replace(string(b), old, repl, 1))
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCleanRepositoryPasses(t *testing.T) {
	rep := Check(filepath.Join("testdata", "gitops"), testSpec())
	for _, l := range rep.Lines() {
		t.Error(l)
	}
	types := map[string]string{}
	for _, a := range rep.Apps {
		types[a.Name] = a.Type
		if a.Objects == 0 {
			t.Errorf("app %s rendered no objects", a.Name)
		}
	}
	want := map[string]string{"certmanager-clusterissuers": "Directory", "istio-gateways-app": "Kustomize", "pm4ml": "Helm", "common-stateful-resources-app": "Directory"}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("app %s rendered as %q, want %q", k, types[k], v)
		}
	}
	if len(rep.Manual) != len(ManualItems) {
		t.Errorf("manual items: %d, want %d", len(rep.Manual), len(ManualItems))
	}
}

func TestEachRuleFailsAlone(t *testing.T) {
	cases := []struct {
		rule, file, old, repl string
		app, object, field    string
	}{
		{RuleHostsUnderDomain, "apps/pm4ml/templates/portal.yaml", "  hosts:\n  - portal.{{ .Values.domain }}\n  gateways:", "  hosts:\n  - portal.other.example.net\n  gateways:",
			"pm4ml", "VirtualService/pm4ml/portal", "spec.hosts"},
		{RuleGatewayNodePorts, "apps/istio-gateways-app/charts/gateways/values.yaml", "https: 32443", "https: 30443",
			"istio-gateways-app", "Service/istio-ingress/istio-ingressgateway", "spec.ports[https].nodePort"},
		{RuleProxyProtocol, "apps/istio-gateways-app/kustomization.yaml", "proxyProtocol: true", "proxyProtocol: false",
			"istio-gateways-app", "Service/istio-ingress/istio-ingressgateway", "spec.selector"},
		{RuleIssuerExists, "apps/pm4ml/values.yaml", "issuer: pm4ml-selfsigned", "issuer: letsencrypt-prod",
			"pm4ml", "Certificate/istio-ingress/portal-tls", "spec.issuerRef"},
		{RulePlaceholder, "apps/pm4ml/values.yaml", "sessionKey: 9f8e2c4b7a61d05e3c2b1a09f8e7d6c5", "sessionKey: changeme",
			"pm4ml", "Secret/pm4ml/portal-session", "stringData.session-key"},
		{RuleStorageClass, "apps/pm4ml/values.yaml", "storageClass: ceph-rbd", "storageClass: fast-ssd",
			"pm4ml", "PersistentVolumeClaim/pm4ml/portal-uploads", "spec.storageClassName"},
		{RulePVCSize, "apps/common-stateful-resources-app/mysql.yaml", "storage: 10Gi", "storage: 0Gi",
			"common-stateful-resources-app", "StatefulSet/stateful/mysql", "spec.volumeClaimTemplates[data].spec.resources.requests.storage"},
		{RuleCriticalLocal, "apps/common-stateful-resources-app/mysql.yaml", "storageClassName: local-nvme", "storageClassName: ceph-rbd",
			"common-stateful-resources-app", "StatefulSet/stateful/mysql", "volumeClaimTemplates[data].spec.storageClassName"},
		{RuleResources, "apps/common-stateful-resources-app/mysql.yaml", "          limits: {cpu: \"1\", memory: 1Gi}\n", "",
			"common-stateful-resources-app", "StatefulSet/stateful/mysql", "spec.template.spec.containers[mysql].resources"},
		{RuleHPA, "apps/pm4ml/values.yaml", "minReplicas: 1", "minReplicas: 5",
			"pm4ml", "HorizontalPodAutoscaler/pm4ml/portal", "spec.minReplicas"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.rule] = true
		t.Run(c.rule, func(t *testing.T) {
			rep := Check(variant(t, c.file, c.old, c.repl), testSpec())
			for _, l := range rep.Lines() {
				t.Log(l)
			}
			if len(rep.Failures) == 0 {
				t.Fatalf("no failure; want %s", c.rule)
			}
			for _, f := range rep.Failures {
				if f.Rule != c.rule {
					t.Errorf("another rule failed too: %s", f)
					continue
				}
				if f.App != c.app || f.Object != c.object || f.Field != c.field {
					t.Errorf("failure names app=%s object=%s field=%s, want %s %s %s: %s", f.App, f.Object, f.Field, c.app, c.object, c.field, f)
				}
				line := f.String()
				for _, part := range []string{"FAIL " + c.rule, "app=" + c.app, c.object, "field=" + c.field, "Fix: "} {
					if !strings.Contains(line, part) {
						t.Errorf("line %q lacks %q", line, part)
					}
				}
			}
		})
	}
	for _, r := range Rules {
		if r.ID != RuleRender && !covered[r.ID] {
			t.Errorf("rule %s has no variant", r.ID)
		}
	}
}

func TestUnfetchableChartFailsItsApp(t *testing.T) {
	// the chart is not vendored: it would be pulled from a loopback address nothing listens on
	dir := variant(t, "apps/istio-gateways-app/kustomization.yaml", "- name: gateways\n", "- name: gateways\n  repo: http://127.0.0.1:9/charts\n  version: 0.1.0\n")
	f := &noFetch{}
	spec := testSpec()
	spec.Render.Fetcher = f
	rep := Check(dir, spec)
	var render []Failure
	for _, fl := range rep.Failures {
		if fl.Rule == RuleRender {
			render = append(render, fl)
		}
	}
	if len(render) != 1 || render[0].App != "istio-gateways-app" {
		t.Fatalf("want one render failure of istio-gateways-app, got %v", rep.Lines())
	}
	if !strings.Contains(render[0].Problem, "cannot be fetched from http://127.0.0.1:9/charts") {
		t.Errorf("message does not name the chart repository: %s", render[0])
	}
	if len(f.calls) != 1 {
		t.Errorf("fetch calls: %v", f.calls)
	}
}

func TestRemoteFetcherUnreachableRepository(t *testing.T) {
	// the real Helm fetcher against a loopback port nothing listens on: a clear error, no skip
	f, err := gitopsrender.NewRepoFetcher(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := variant(t, "apps/istio-gateways-app/kustomization.yaml", "- name: gateways\n", "- name: gateways\n  repo: http://127.0.0.1:9/charts\n  version: 0.1.0\n")
	if err := os.RemoveAll(filepath.Join(dir, "apps/istio-gateways-app/charts")); err != nil {
		t.Fatal(err)
	}
	spec := testSpec()
	spec.Apps = testApps[1:2]
	spec.Render.Fetcher = f
	rep := Check(dir, spec)
	if len(rep.Failures) == 0 || rep.Failures[0].Rule != RuleRender || !strings.Contains(rep.Failures[0].Problem, "gateways 0.1.0 cannot be fetched") {
		t.Fatalf("want a render failure naming the chart, got %v", rep.Lines())
	}
}

func TestManualItemsNeedAcknowledgement(t *testing.T) {
	spec := testSpec()
	spec.Acks = spec.Acks[1:]
	rep := Check(filepath.Join("testdata", "gitops"), spec)
	if len(rep.Failures) != 1 || rep.Failures[0].Rule != RuleManual || !strings.Contains(rep.Failures[0].Problem, ManualItems[0].Guide) {
		t.Fatalf("want one manual failure for %s, got %v", ManualItems[0].ID, rep.Lines())
	}
}

func TestMissingPathFailsRender(t *testing.T) {
	spec := testSpec()
	spec.Apps = append(spec.Apps, gitopsrender.App{Name: "vault", Path: "apps/vault", Namespace: "vault"})
	rep := Check(filepath.Join("testdata", "gitops"), spec)
	if len(rep.Failures) != 1 || rep.Failures[0].Rule != RuleRender || rep.Failures[0].App != "vault" {
		t.Fatalf("got %v", rep.Lines())
	}
}

// More ways to break the gateway rules, each failing only its rule.
func TestGatewayVariants(t *testing.T) {
	cases := []struct {
		name, rule, file, old, repl, object, field, problem string
	}{
		{"internal gateway requires PROXY", RuleProxyProtocol, "apps/istio-gateways-app/charts/gateways/templates/gateways.yaml",
			"  workloadSelector:\n    labels:\n      istio: ingressgateway\n", "",
			"Service/istio-ingress/istio-internal-ingressgateway", "spec.selector", "requires PROXY protocol"},
		{"no internal gateway", RuleGatewayNodePorts, "apps/istio-gateways-app/charts/gateways/templates/gateways.yaml",
			`"internal" "internal-ingressgateway"`, "",
			"Service/internal-ingressgateway", "spec.ports", "no internal Istio ingress gateway Service"},
		{"random status nodePort", RuleGatewayNodePorts, "apps/istio-gateways-app/charts/gateways/templates/gateways.yaml",
			"    nodePort: {{ $p.status }}\n", "",
			"Service/istio-ingress/istio-ingressgateway", "spec.ports[status-port].nodePort", "no fixed nodePort"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := Check(variant(t, c.file, c.old, c.repl), testSpec())
			if len(rep.Failures) == 0 {
				t.Fatal("no failure")
			}
			var hit bool
			for _, f := range rep.Failures {
				switch {
				case f.Rule != c.rule:
					t.Errorf("another rule failed: %s", f)
				case f.Object == c.object && f.Field == c.field && strings.Contains(f.Problem, c.problem):
					hit = true
				}
			}
			if !hit {
				t.Errorf("no %s failure on %s %s (%q): %v", c.rule, c.object, c.field, c.problem, rep.Lines())
			}
		})
	}
}

// An Ingress host outside the domain and a cert-manager annotation naming an unknown issuer.
func TestIngressHostsAndIssuer(t *testing.T) {
	ing := `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations:
    cert-manager.io/cluster-issuer: %s
spec:
  tls:
  - hosts: [%s]
    secretName: web-tls
  rules:
  - host: %s
`
	for _, c := range []struct {
		issuer, host string
		want         []string
	}{
		{"pm4ml-selfsigned", "web.lab.pm4ml.example.org", nil},
		{"pm4ml-selfsigned", "web.example.com", []string{RuleHostsUnderDomain}},
		{"nope", "web.lab.pm4ml.example.org", []string{RuleIssuerExists}},
	} {
		dir := variant(t, "README.md", "A GitOps", "A GitOps")
		body := strings.ReplaceAll(ing, "%s", "X")
		body = strings.Replace(body, "X", c.issuer, 1)
		body = strings.ReplaceAll(body, "X", c.host)
		if err := os.WriteFile(filepath.Join(dir, "apps/certmanager-clusterissuers/ingress.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		rep := Check(dir, testSpec())
		var got []string
		for _, f := range rep.Failures {
			got = append(got, f.Rule)
			if f.Object != "Ingress/cert-manager/web" {
				t.Errorf("failure on %s", f.Object)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("issuer %s host %s: failures %v, want %v", c.issuer, c.host, rep.Lines(), c.want)
		}
	}
}
