package argocd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// HealthKey is the argocd-cm key of the Application health check.
const HealthKey = "resource.customizations.health.argoproj.io_Application"

// KustomizeBuildOptionsKey is the argocd-cm key of the options Argo CD's repo-server passes to
// `kustomize build`; KustomizeEnableHelm lets a Kustomization inflate its helmCharts (the layout
// of mojaloop's GitOps repositories). Without it, Argo CD refuses every app whose kustomization
// has helmCharts, while the pre-deployment checklist (internal/gitopsrender, which renders as
// `kustomize build --enable-helm`) passes it: the two must render alike.
const (
	KustomizeBuildOptionsKey = "kustomize.buildOptions"
	KustomizeEnableHelm      = "--enable-helm"
)

// HealthLua makes an Application's health its own reported health, so that an app-of-apps is not
// Healthy while a child is still Progressing (or Degraded). Argo CD 1.8+ no longer assesses
// Application health by default; without this, a parent is Healthy as soon as its child
// Application objects exist.
const HealthLua = `hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
`

// UpstreamManifestURL is the upstream install manifest of a version (the HA one when ha).
func UpstreamManifestURL(version string, ha bool) string {
	p := "manifests/install.yaml"
	if ha {
		p = "manifests/ha/install.yaml"
	}
	return fmt.Sprintf("https://raw.githubusercontent.com/argoproj/argo-cd/%s/%s", version, p)
}

// ManifestSource is where the install manifest is read from: ManifestPath wins over
// ManifestURL; with neither, the upstream URL of Version (HA or not).
func (a *Args) ManifestSource() string {
	switch {
	case a.ManifestPath != "":
		return a.ManifestPath
	case a.ManifestURL != "":
		return a.ManifestURL
	}
	return UpstreamManifestURL(a.Version, a.HA)
}

// fetchTimeout bounds the download of a manifest URL.
const fetchTimeout = 60 * time.Second

// ReadManifest reads the raw install manifest from ManifestPath (an offline mirror) or the URL,
// when the program runs. When ManifestSHA256 is set, the content must match it.
func ReadManifest(a *Args) ([]byte, error) {
	src := a.ManifestSource()
	var raw []byte
	if a.ManifestPath != "" {
		b, err := os.ReadFile(a.ManifestPath)
		if err != nil {
			return nil, fmt.Errorf("argocd: read the install manifest (argocd.manifestPath): %w", err)
		}
		raw = b
	} else {
		cl := &http.Client{Timeout: fetchTimeout}
		resp, err := cl.Get(src)
		if err != nil {
			return nil, fmt.Errorf("argocd: download the install manifest %s: %w (mirror it and set argocd.manifestPath, or fix argocd.manifestUrl)", src, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("argocd: download the install manifest %s: HTTP %d (check argocd.version / argocd.manifestUrl)", src, resp.StatusCode)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("argocd: download the install manifest %s: %w", src, err)
		}
		raw = b
	}
	if a.ManifestSHA256 != "" {
		sum := sha256.Sum256(raw)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, a.ManifestSHA256) {
			return nil, fmt.Errorf("argocd: the install manifest %s has sha256 %s, expected %s: the mirror or the pin is out of date", src, got, a.ManifestSHA256)
		}
	}
	return raw, nil
}

// clusterScoped are the kinds that take no namespace (the ones an install manifest may hold).
var clusterScoped = []string{
	"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
	"PersistentVolume", "StorageClass", "PriorityClass", "IngressClass", "RuntimeClass",
	"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
	"CSIDriver", "VolumeSnapshotClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
}

// ManifestOptions are what Transform applies to the upstream manifest.
type ManifestOptions struct {
	Namespace string
	Version   string
	HA        bool
	// SSHKnownHosts lines are added to argocd-ssh-known-hosts-cm (for an SSH GitOps server
	// that is not one of the public forges upstream lists).
	SSHKnownHosts string
}

// Transform prepares an upstream Argo CD install manifest for this install, and checks it:
//   - every namespaced object gets metadata.namespace (the upstream manifest has none: it is
//     meant for `kubectl apply -n argocd`), and ServiceAccount subjects of (Cluster)RoleBindings
//     point to that namespace;
//   - argocd-cm carries the Application health check (HealthKey) and kustomize.buildOptions with
//     --enable-helm (added to options the manifest already sets), keeping its other data, so the
//     one object Pulumi applies (server-side) holds them and nothing else fights over the keys;
//   - the Argo CD images are of Version, and the manifest is (or is not) the HA one, as asked.
//
// It returns the objects as one multi-document YAML text.
func Transform(raw []byte, o ManifestOptions) (string, error) {
	objs, err := decode(raw)
	if err != nil {
		return "", err
	}
	var cm, known map[string]any
	tags := map[string]bool{}
	haRedis := false
	for _, obj := range objs {
		kind, _ := obj["kind"].(string)
		md := ensureMap(obj, "metadata")
		name, _ := md["name"].(string)
		if !slices.Contains(clusterScoped, kind) {
			md["namespace"] = o.Namespace
		}
		switch kind {
		case "ClusterRoleBinding", "RoleBinding":
			subs, _ := obj["subjects"].([]any)
			for _, s := range subs {
				if sm, ok := s.(map[string]any); ok && sm["kind"] == "ServiceAccount" {
					sm["namespace"] = o.Namespace
				}
			}
		case "ConfigMap":
			switch name {
			case "argocd-cm":
				cm = obj
			case "argocd-ssh-known-hosts-cm":
				known = obj
			}
		case "StatefulSet":
			if name == "argocd-redis-ha-server" {
				haRedis = true
			}
		}
		collectArgoTags(obj, tags)
		setDefaultResources(obj)
	}
	if cm == nil {
		return "", errors.New("argocd: the install manifest has no ConfigMap argocd-cm: it is not an Argo CD install manifest (check argocd.manifestPath / argocd.manifestUrl)")
	}
	cmData := ensureMap(cm, "data")
	cmData[HealthKey] = HealthLua
	opts, _ := cmData[KustomizeBuildOptionsKey].(string)
	if !slices.Contains(strings.Fields(opts), KustomizeEnableHelm) {
		cmData[KustomizeBuildOptionsKey] = strings.TrimSpace(opts + " " + KustomizeEnableHelm)
	}
	if strings.TrimSpace(o.SSHKnownHosts) != "" {
		if known == nil {
			return "", errors.New("argocd: the install manifest has no ConfigMap argocd-ssh-known-hosts-cm to add the GitOps server's SSH host key to")
		}
		data := ensureMap(known, "data")
		cur, _ := data["ssh_known_hosts"].(string)
		data["ssh_known_hosts"] = mergeLines(cur, o.SSHKnownHosts)
	}
	if len(tags) == 0 {
		return "", errors.New("argocd: the install manifest runs no quay.io/argoproj/argocd image: it is not an Argo CD install manifest")
	}
	for t := range tags {
		if t != o.Version {
			return "", fmt.Errorf("argocd: the install manifest runs argocd %s but argocd.version is %s: use the manifest of %s (or set argocd.version to the mirror's version)", sortedKeys(tags), o.Version, o.Version)
		}
	}
	if o.HA && !haRedis {
		return "", errors.New("argocd: argocd.ha is true but the install manifest is not the HA one (no StatefulSet argocd-redis-ha-server): use manifests/ha/install.yaml, or set argocd.ha false")
	}
	if !o.HA && haRedis {
		return "", errors.New("argocd: argocd.ha is false but the install manifest is the HA one: use manifests/install.yaml, or set argocd.ha true")
	}
	var b bytes.Buffer
	for i, obj := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(obj); err != nil {
			return "", fmt.Errorf("argocd: encode manifest: %w", err)
		}
		if err := enc.Close(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// Objects decodes a multi-document manifest (as Transform returns it) into objects.
func Objects(manifest string) ([]map[string]any, error) { return decode([]byte(manifest)) }

func decode(raw []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out []map[string]any
	for i := 0; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("argocd: install manifest document %d: %w", i, err)
		}
		if doc == nil {
			continue
		}
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("argocd: install manifest document %d is not an object", i)
		}
		if m["kind"] == "List" {
			items, _ := m["items"].([]any)
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					out = append(out, im)
				}
			}
			continue
		}
		if _, ok := m["kind"].(string); !ok {
			return nil, fmt.Errorf("argocd: install manifest document %d has no kind", i)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("argocd: the install manifest is empty")
	}
	return out, nil
}

func ensureMap(m map[string]any, key string) map[string]any {
	if v, ok := m[key].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[key] = v
	return v
}

// podContainers are the containers and init containers of a workload's pod template.
func podContainers(obj map[string]any) []map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pod, _ := tmpl["spec"].(map[string]any)
	var out []map[string]any
	for _, key := range []string{"containers", "initContainers"} {
		cs, _ := pod[key].([]any)
		for _, c := range cs {
			if cm, ok := c.(map[string]any); ok {
				out = append(out, cm)
			}
		}
	}
	return out
}

// collectArgoTags records the tags of quay.io/argoproj/argocd images in a workload's pod spec.
func collectArgoTags(obj map[string]any, tags map[string]bool) {
	for _, c := range podContainers(obj) {
		img, _ := c["image"].(string)
		if repo, tag, ok := strings.Cut(img, ":"); ok && strings.HasSuffix(repo, "/argoproj/argocd") {
			tags[tag] = true
		}
	}
}

func mergeLines(cur, add string) string {
	lines := strings.Split(strings.TrimRight(cur, "\n"), "\n")
	if cur == "" {
		lines = nil
	}
	for _, l := range strings.Split(add, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func sortedKeys(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// DefaultResources are the requests and limits given to every Argo CD container the upstream
// manifest leaves without them (guide 6.3: CPU and memory requests and limits defined). Values a
// container already has are kept.
var DefaultResources = map[string]map[string]any{
	"requests": {"cpu": "100m", "memory": "128Mi"},
	"limits":   {"cpu": "1", "memory": "1Gi"},
}

// setDefaultResources fills missing requests/limits of the pod template's containers and init
// containers of a workload object.
func setDefaultResources(obj map[string]any) {
	switch obj["kind"] {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
	default:
		return
	}
	for _, c := range podContainers(obj) {
		res := ensureMap(c, "resources")
		for kind, vals := range DefaultResources {
			m := ensureMap(res, kind)
			for k, v := range vals {
				if _, set := m[k]; !set {
					m[k] = v
				}
			}
		}
	}
}
