package argocd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const fixture = "testdata/install.yaml"

func absFixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func find(t *testing.T, objs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] == kind && md["name"] == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the manifest", kind, name)
	return nil
}

func TestTransformNamespacesAndHealthCheck(t *testing.T) {
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Transform(raw, ManifestOptions{Namespace: "gitops", Version: "v2.14.21"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 11 {
		t.Fatalf("got %d objects, want the fixture's 11", len(objs))
	}
	for _, o := range objs {
		md := o["metadata"].(map[string]any)
		ns, has := md["namespace"]
		switch o["kind"] {
		case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			if has {
				t.Errorf("cluster-scoped %s %s got namespace %v", o["kind"], md["name"], ns)
			}
		default:
			if ns != "gitops" {
				t.Errorf("%s %s: namespace %v, want gitops", o["kind"], md["name"], ns)
			}
		}
	}
	crb := find(t, objs, "ClusterRoleBinding", "argocd-application-controller")
	if sub := crb["subjects"].([]any)[0].(map[string]any); sub["namespace"] != "gitops" {
		t.Errorf("ClusterRoleBinding subject namespace %v, want gitops", sub["namespace"])
	}
	cm := find(t, objs, "ConfigMap", "argocd-cm")
	if got := cm["data"].(map[string]any)[HealthKey]; got != HealthLua {
		t.Errorf("argocd-cm %s = %q", HealthKey, got)
	}
	if got := cm["data"].(map[string]any)[KustomizeBuildOptionsKey]; got != KustomizeEnableHelm {
		t.Errorf("argocd-cm %s = %q, want %q (helmCharts in a Kustomization)", KustomizeBuildOptionsKey, got, KustomizeEnableHelm)
	}
	// the Application health lua reports the child's status, Progressing without one
	for _, want := range []string{`hs.status = "Progressing"`, `hs.status = obj.status.health.status`, "return hs"} {
		if !strings.Contains(HealthLua, want) {
			t.Errorf("health lua lacks %q", want)
		}
	}
	// the rest of the manifest is kept as is
	dep := find(t, objs, "Deployment", "argocd-server")
	if !strings.Contains(out, "image: quay.io/argoproj/argocd:v2.14.21") || dep["spec"] == nil {
		t.Error("argocd-server lost its spec")
	}
}

func TestTransformKeepsOtherArgoCDCMData(t *testing.T) {
	raw := []byte(strings.Replace(mustRead(t, fixture), "  name: argocd-cm\n", "  name: argocd-cm\ndata:\n  url: https://argocd.example.org\n  kustomize.buildOptions: --load-restrictor LoadRestrictionsNone\n", 1))
	out, err := Transform(raw, ManifestOptions{Namespace: "argocd", Version: "v2.14.21"})
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := Objects(out)
	data := find(t, objs, "ConfigMap", "argocd-cm")["data"].(map[string]any)
	if data["url"] != "https://argocd.example.org" || data[HealthKey] != HealthLua ||
		data[KustomizeBuildOptionsKey] != "--load-restrictor LoadRestrictionsNone --enable-helm" {
		t.Errorf("argocd-cm data = %v", data)
	}
	// a manifest that already enables Helm keeps its options as they are
	raw = []byte(strings.Replace(mustRead(t, fixture), "  name: argocd-cm\n", "  name: argocd-cm\ndata:\n  kustomize.buildOptions: --enable-helm --load-restrictor LoadRestrictionsNone\n", 1))
	if out, err = Transform(raw, ManifestOptions{Namespace: "argocd", Version: "v2.14.21"}); err != nil {
		t.Fatal(err)
	}
	objs, _ = Objects(out)
	if got := find(t, objs, "ConfigMap", "argocd-cm")["data"].(map[string]any)[KustomizeBuildOptionsKey]; got != "--enable-helm --load-restrictor LoadRestrictionsNone" {
		t.Errorf("argocd-cm %s = %q", KustomizeBuildOptionsKey, got)
	}
}

func TestTransformSSHKnownHosts(t *testing.T) {
	line := "git.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
	raw := []byte(mustRead(t, fixture))
	out, err := Transform(raw, ManifestOptions{Namespace: "argocd", Version: "v2.14.21", SSHKnownHosts: line + "\n" + line})
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := Objects(out)
	known := find(t, objs, "ConfigMap", "argocd-ssh-known-hosts-cm")["data"].(map[string]any)["ssh_known_hosts"].(string)
	lines := strings.Split(strings.TrimSpace(known), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "github.com ") || lines[1] != line {
		t.Errorf("ssh_known_hosts = %q, want upstream's line then ours once", known)
	}
}

func TestTransformRefusesWrongManifests(t *testing.T) {
	base := mustRead(t, fixture)
	ha := mustRead(t, "testdata/install-ha.yaml")
	cases := []struct {
		name, raw string
		o         ManifestOptions
		want      string
	}{
		{"version mismatch", base, ManifestOptions{Namespace: "argocd", Version: "v2.13.0"}, "runs argocd v2.14.21 but argocd.version is v2.13.0"},
		{"ha asked, plain given", base, ManifestOptions{Namespace: "argocd", Version: "v2.14.21", HA: true}, "not the HA one"},
		{"plain asked, ha given", ha, ManifestOptions{Namespace: "argocd", Version: "v2.14.21"}, "is the HA one"},
		{"no argocd-cm", strings.Replace(base, "\n  name: argocd-cm\n", "\n  name: other-cm\n", 1), ManifestOptions{Namespace: "argocd", Version: "v2.14.21"}, "no ConfigMap argocd-cm"},
		{"not yaml objects", "- a\n- b\n", ManifestOptions{Namespace: "argocd", Version: "v2.14.21"}, "not an object"},
		{"empty", "---\n", ManifestOptions{Namespace: "argocd", Version: "v2.14.21"}, "is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Transform([]byte(c.raw), c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if _, err := Transform([]byte(ha), ManifestOptions{Namespace: "argocd", Version: "v2.14.21", HA: true}); err != nil {
		t.Errorf("HA manifest with HA: %v", err)
	}
}

func TestReadManifest(t *testing.T) {
	raw := mustRead(t, fixture)
	sum := sha256.Sum256([]byte(raw))
	good := hex.EncodeToString(sum[:])

	a := &Args{ManifestPath: absFixture(t, fixture), ManifestSHA256: good}
	if b, err := ReadManifest(a); err != nil || string(b) != raw {
		t.Fatalf("path: %v", err)
	}
	a.ManifestSHA256 = strings.Repeat("0", 64)
	if _, err := ReadManifest(a); err == nil || !strings.Contains(err.Error(), "expected "+a.ManifestSHA256) {
		t.Errorf("sha mismatch: %v", err)
	}
	if _, err := ReadManifest(&Args{ManifestPath: "/nonexistent/install.yaml"}); err == nil || !strings.Contains(err.Error(), "argocd.manifestPath") {
		t.Errorf("missing file: %v", err)
	}

	// a mirror URL, served on loopback
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/install.yaml" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, raw)
	}))
	defer srv.Close()
	b, err := ReadManifest(&Args{ManifestURL: srv.URL + "/install.yaml", ManifestSHA256: good})
	if err != nil || string(b) != raw {
		t.Fatalf("url: %v", err)
	}
	if _, err := ReadManifest(&Args{ManifestURL: srv.URL + "/missing.yaml"}); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("404: %v", err)
	}
	// path wins over URL
	if got := (&Args{ManifestPath: "/m/install.yaml", ManifestURL: srv.URL}).ManifestSource(); got != "/m/install.yaml" {
		t.Errorf("source = %s", got)
	}
	if got := (&Args{Version: "v2.14.21", HA: true}).ManifestSource(); got != "https://raw.githubusercontent.com/argoproj/argo-cd/v2.14.21/manifests/ha/install.yaml" {
		t.Errorf("upstream HA source = %s", got)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// baseArgs builds Args with a provider registered in the mock program.
func baseArgs(t *testing.T, p pulumi.ProviderResource) *Args {
	return &Args{
		Provider:     p,
		Version:      "v2.14.21",
		ManifestPath: absFixture(t, fixture),
		Domain:       "pm4ml.example.org",
		Repo: Repo{
			URL:        "https://git.example.org/pm4ml/gitops.git",
			Type:       RepoHTTPSToken,
			Credential: pulumi.ToSecret(pulumi.String("tok-123")).(pulumi.StringOutput),
		},
	}
}

func TestComponentGraph(t *testing.T) {
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		before, err := kubernetes.NewProvider(ctx, "before", &kubernetes.ProviderArgs{}) // stands for the cluster layer
		if err != nil {
			return err
		}
		a := baseArgs(t, p)
		a.DependsOn = []pulumi.Resource{before}
		c, err := New(ctx, "argocd", a)
		if err != nil {
			return err
		}
		if len(c.Ready) != 1 || c.Ready[0] != c.RepoSecret {
			t.Errorf("Ready = %v, want the repo secret", c.Ready)
		}
		if !strings.Contains(c.Manifest, HealthKey) {
			t.Error("Manifest lacks the health check")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	comp := m.Named(t, "argocd")
	if comp.Type != Token {
		t.Errorf("component type %s", comp.Type)
	}
	ns, install, repo := m.Named(t, "argocd-namespace"), m.Named(t, "argocd-install"), m.Named(t, "argocd-repo")
	for _, r := range []mocktest.Resource{ns, install, repo} {
		if m.ParentName(r) != "argocd" {
			t.Errorf("%s parent = %q", r.Name, m.ParentName(r))
		}
		if !strings.Contains(r.Provider, "::k8s::") {
			t.Errorf("%s provider = %q, want k8s", r.Name, r.Provider)
		}
	}
	if len(m.ChildrenOf(t, "argocd")) != 3 {
		t.Errorf("children: %v", m.ChildrenOf(t, "argocd"))
	}
	if ns.Type != "kubernetes:core/v1:Namespace" || install.Type != "kubernetes:yaml/v2:ConfigGroup" || repo.Type != "kubernetes:core/v1:Secret" {
		t.Errorf("types: %s %s %s", ns.Type, install.Type, repo.Type)
	}
	// order: cluster layer -> namespace -> install -> repository credentials
	for _, d := range [][2]string{{"argocd-namespace", "before"}, {"argocd-install", "argocd-namespace"}, {"argocd-install", "before"}, {"argocd-repo", "argocd-install"}, {"argocd-repo", "argocd-namespace"}} {
		if !m.DependsOn(t, d[0], d[1]) {
			t.Errorf("%s does not depend on %s", d[0], d[1])
		}
	}
	if md := ns.Inputs["metadata"].ObjectValue(); mocktest.String(md, "name") != "argocd" {
		t.Errorf("namespace name %v", md)
	}
	// the install carries the transformed manifest: namespaced objects in argocd, health check
	y := mocktest.String(install.Inputs, "yaml")
	if want, err := RenderManifest(baseArgs(t, nil)); err != nil || y != want {
		t.Errorf("the install's manifest differs from RenderManifest's (err %v)", err)
	}
	objs, err := Objects(y)
	if err != nil {
		t.Fatal(err)
	}
	if find(t, objs, "ConfigMap", "argocd-cm")["data"].(map[string]any)[HealthKey] != HealthLua {
		t.Error("install lacks the Application health check in argocd-cm")
	}
	if find(t, objs, "Deployment", "argocd-server")["metadata"].(map[string]any)["namespace"] != "argocd" {
		t.Error("argocd-server not in namespace argocd")
	}

	// the repository secret: labels, data, secret in state
	md := repo.Inputs["metadata"].ObjectValue()
	if mocktest.String(md, "name") != RepoSecretName || mocktest.String(md, "namespace") != "argocd" {
		t.Errorf("repo secret metadata %v", md)
	}
	if mocktest.String(md["labels"].ObjectValue(), "argocd.argoproj.io/secret-type") != "repository" {
		t.Errorf("repo secret labels %v", md["labels"])
	}
	if !mocktest.IsSecret(repo.Inputs, "stringData") {
		t.Error("repo secret stringData is not secret")
	}
	sd := unwrap(repo.Inputs["stringData"]).ObjectValue()
	want := map[string]string{"url": "https://git.example.org/pm4ml/gitops.git", "type": "git", "name": "pm4ml-gitops", "username": "git", "password": "tok-123"}
	if len(sd) != len(want) {
		t.Errorf("stringData keys %v", sd.StableKeys())
	}
	for k, v := range want {
		if got := mocktest.String(sd, k); got != v {
			t.Errorf("stringData.%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"data", "stringData"} {
		if !slices.Contains(repo.AdditionalSecretOutputs, k) {
			t.Errorf("repo secret AdditionalSecretOutputs %v lacks %s", repo.AdditionalSecretOutputs, k)
		}
	}
}

func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func TestRepoSecretPerCredentialType(t *testing.T) {
	cases := []struct {
		repo Repo
		keys []string
	}{
		{Repo{URL: "git@git.example.org:pm4ml/gitops.git", Type: RepoSSHKey, Credential: pulumi.ToSecret(pulumi.String("-----BEGIN OPENSSH PRIVATE KEY-----")).(pulumi.StringOutput)},
			[]string{"name", "sshPrivateKey", "type", "url"}},
		{Repo{URL: "https://git.example.org/public.git", Type: RepoNone}, []string{"name", "type", "url"}},
	}
	for _, c := range cases {
		t.Run(string(c.repo.Type), func(t *testing.T) {
			m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
				p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
				if err != nil {
					return err
				}
				a := baseArgs(t, p)
				a.Repo = c.repo
				_, err = New(ctx, "argocd", a)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			repo := m.Named(t, "argocd-repo")
			sd := unwrap(repo.Inputs["stringData"]).ObjectValue()
			var keys []string
			for _, k := range sd.StableKeys() {
				keys = append(keys, string(k))
			}
			if !slices.Equal(keys, c.keys) {
				t.Errorf("keys %v, want %v", keys, c.keys)
			}
			if !mocktest.IsSecret(repo.Inputs, "stringData") {
				t.Error("stringData not secret")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cred := pulumi.String("x")
	cases := []struct {
		name string
		mod  func(a *Args)
		want string
	}{
		{"unpinned version", func(a *Args) { a.Version = "latest" }, "pm4ml:argocd.version"},
		{"bad namespace", func(a *Args) { a.Namespace = "Argo_CD" }, "pm4ml:argocd.namespace"},
		{"no domain", func(a *Args) { a.Domain = "" }, "pm4ml:domain"},
		{"no repo", func(a *Args) { a.Repo.URL = "" }, "pm4ml:gitops.repoUrl"},
		{"token over ssh url", func(a *Args) { a.Repo.URL = "git@host:x.git" }, "is not https://"},
		{"ssh key over https", func(a *Args) { a.Repo.Type = RepoSSHKey }, "is not an SSH URL"},
		{"no credential", func(a *Args) { a.Repo.Credential = nil }, "pm4ml:gitopsCredential"},
		{"unknown type", func(a *Args) { a.Repo.Type = "basic" }, "pm4ml:gitops.credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &Args{Provider: &kubernetes.Provider{}, Version: "v2.14.21", Domain: "d", Repo: Repo{URL: "https://g/x.git", Type: RepoHTTPSToken, Credential: cred}}
			c.mod(a)
			a.defaults()
			err := a.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	ok := &Args{Provider: &kubernetes.Provider{}, Version: "v2.14.21", Domain: "d", Repo: Repo{URL: "ssh://git@h/x.git", Type: RepoSSHKey, Credential: cred}}
	ok.defaults()
	if err := ok.Validate(); err != nil || ok.Namespace != "argocd" {
		t.Errorf("valid args: %v (namespace %q)", err, ok.Namespace)
	}
}

func TestNewKubernetesProviderSetsServerSideApply(t *testing.T) {
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := NewKubernetesProvider(ctx, "cluster", "c1", pulumi.String("apiVersion: v1\nkind: Config\n"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p := m.Named(t, "cluster")
	if p.Type != "pulumi:providers:kubernetes" {
		t.Fatalf("type %s", p.Type)
	}
	v := unwrap(p.Inputs["enableServerSideApply"])
	if !(v.IsBool() && v.BoolValue()) && !(v.IsString() && v.StringValue() == "true") {
		t.Errorf("enableServerSideApply = %v", p.Inputs["enableServerSideApply"])
	}
	if !mocktest.IsSecret(p.Inputs, "kubeconfig") {
		t.Error("kubeconfig not secret")
	}
	if got := mocktest.String(p.Inputs, "clusterIdentifier"); got != "c1" {
		t.Errorf("clusterIdentifier %q, want c1 (a changed kubeconfig server must not replace the provider)", got)
	}
}
