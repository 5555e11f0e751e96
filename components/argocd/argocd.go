// Package argocd installs Argo CD (guide 6, playbook 2.argocd_setup) on the cluster: its
// namespace, the pinned install manifest (applied server-side through pulumi-kubernetes
// yaml/v2.ConfigGroup, so every object is a child resource awaited by the provider), the
// Application health check in argocd-cm, and the credentials of the customer's GitOps repository.
//
// The component takes a Kubernetes provider and plain typed Args, so it runs the same inside
// stacks.Build and inside an Automation API inline program.
package argocd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	yamlv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/yaml/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:argocd:ArgoCD"

// RepoAuth is how Argo CD authenticates to the GitOps repository (pm4ml:gitops.credentials).
type RepoAuth string

const (
	RepoHTTPSToken RepoAuth = "https-token" // Credential is a token, sent as the password of Username
	RepoSSHKey     RepoAuth = "ssh-key"     // Credential is an SSH private key
	RepoNone       RepoAuth = "none"        // a repository reachable without credentials
)

// Repo is the customer's GitOps repository (guide 6).
type Repo struct {
	URL  string
	Type RepoAuth
	// Username for https-token (default "git").
	Username string
	// Credential is the token or the SSH private key: a Pulumi secret (unused for none).
	Credential pulumi.StringInput
	// SSHKnownHosts are known_hosts lines of the repository's SSH server, added to
	// argocd-ssh-known-hosts-cm (needed for ssh-key with a server upstream does not list).
	SSHKnownHosts string
}

// Args of the Argo CD install.
type Args struct {
	// Provider is the Kubernetes provider of the cluster. Server-side apply must be on (the
	// default of pulumi-kubernetes v4; NewKubernetesProvider sets it explicitly).
	Provider pulumi.ProviderResource
	// Namespace of Argo CD (default "argocd").
	Namespace string
	// Version is the pinned Argo CD release, e.g. "v2.14.21"; the manifest's images must be of it.
	Version string
	// HA selects (and checks) the HA install manifest.
	HA bool
	// ManifestURL of the install manifest (default: upstream's of Version); ManifestPath, a local
	// file read when the program runs (an offline mirror), wins over it.
	ManifestURL  string
	ManifestPath string
	// ManifestSHA256 optionally pins the manifest's content.
	ManifestSHA256 string
	// Domain of the environment: the server URL is https://argocd.<Domain>.
	Domain string
	// Repo is the GitOps repository Argo CD is given credentials for.
	Repo Repo
	// DependsOn are resources the install waits for (e.g. the cluster and its storage).
	DependsOn []pulumi.Resource
}

// ArgoCD is the component.
type ArgoCD struct {
	pulumi.ResourceState

	Namespace      pulumi.StringOutput `pulumi:"namespace"`
	Version        pulumi.StringOutput `pulumi:"version"`
	ManifestSource pulumi.StringOutput `pulumi:"manifestSource"`
	ServerURL      pulumi.StringOutput `pulumi:"serverUrl"`
	RepoURL        pulumi.StringOutput `pulumi:"repoUrl"`

	// NamespaceResource, Install (the ConfigGroup of the manifest, with the health check in its
	// argocd-cm) and RepoSecret are the children, created in that order.
	NamespaceResource *corev1.Namespace
	Install           *yamlv2.ConfigGroup
	RepoSecret        *corev1.Secret
	// Ready is what the first wave of Applications depends on: the repository credentials,
	// which come after the whole install (a DependsOn on the ConfigGroup waits for every object
	// of the manifest, the Application CRD, the argocd-server Deployment and the
	// argocd-application-controller StatefulSet included). On destroy the engine deletes the
	// dependents of a multi-language component before its children (pulumi/pulumi#7788), so the
	// Applications go while Argo CD still runs and their finalizers are honoured.
	Ready []pulumi.Resource
	// Manifest is the install manifest as applied (transformed), for review.
	Manifest string
}

// RepoSecretName is the Kubernetes name of the repository Secret.
const RepoSecretName = "pm4ml-gitops-repo"

func (a *Args) defaults() {
	if a.Namespace == "" {
		a.Namespace = "argocd"
	}
	if a.Repo.Type == RepoHTTPSToken && a.Repo.Username == "" {
		a.Repo.Username = "git"
	}
}

// Validate checks the Args (after defaults), naming the stack settings to fix.
func (a *Args) Validate() error {
	var errs []string
	add := func(f string, v ...any) { errs = append(errs, fmt.Sprintf(f, v...)) }
	if a.Provider == nil {
		add("no Kubernetes provider")
	}
	if !grammar.Version.OK(a.Version) {
		add("version %q is not a pinned release (pm4ml:argocd.version, e.g. v2.14.21)", a.Version)
	}
	if !grammar.DNSLabel.OK(a.Namespace) {
		add("namespace %q is not a DNS label (pm4ml:argocd.namespace)", a.Namespace)
	}
	if a.Domain == "" {
		add("no domain (pm4ml:domain): the server URL is https://argocd.<domain>")
	}
	r := a.Repo
	switch {
	case r.URL == "":
		add("no GitOps repository URL (pm4ml:gitops.repoUrl)")
	case r.Type == RepoHTTPSToken && !strings.HasPrefix(r.URL, "https://"):
		add("repository %q is not https:// but pm4ml:gitops.credentials is https-token: use the https URL or ssh-key", r.URL)
	case r.Type == RepoSSHKey && (!grammar.IsGitURL(r.URL) || strings.Contains(r.URL, "://") && !strings.HasPrefix(r.URL, "ssh://")):
		add("repository %q is not an SSH URL (ssh://... or git@host:path) but pm4ml:gitops.credentials is ssh-key", r.URL)
	}
	switch r.Type {
	case RepoHTTPSToken, RepoSSHKey:
		if r.Credential == nil {
			add("pm4ml:gitops.credentials is %s but there is no credential: pulumi config set --secret pm4ml:gitopsCredential ...", r.Type)
		}
	case RepoNone:
	default:
		add("repository credentials %q are not https-token, ssh-key or none (pm4ml:gitops.credentials)", r.Type)
	}
	if len(errs) > 0 {
		return fmt.Errorf("argocd: %s", strings.Join(errs, "; "))
	}
	return nil
}

// RepoStringData is the repository Secret's data (credential excluded: see New), for review.
func RepoStringData(r Repo) map[string]string {
	d := map[string]string{"url": r.URL, "type": "git", "name": "pm4ml-gitops"}
	if r.Type == RepoHTTPSToken {
		d["username"] = r.Username
	}
	return d
}

// credentialKey is the Secret key holding the credential.
func credentialKey(t RepoAuth) string {
	switch t {
	case RepoHTTPSToken:
		return "password"
	case RepoSSHKey:
		return "sshPrivateKey"
	}
	return ""
}

// RenderManifest reads and transforms the install manifest exactly as New applies it: what the
// render command shows for review. It reads the file or URL now.
func RenderManifest(args *Args) (string, error) {
	a := *args
	a.defaults()
	raw, err := ReadManifest(&a)
	if err != nil {
		return "", err
	}
	return Transform(raw, ManifestOptions{Namespace: a.Namespace, Version: a.Version, HA: a.HA, SSHKnownHosts: a.Repo.SSHKnownHosts})
}

// New installs Argo CD. The manifest is read (ManifestPath or URL) when the program runs.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*ArgoCD, error) {
	a := *args
	a.defaults()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := remotecmd.CustomOnly("argocd: Args.DependsOn", a.DependsOn); err != nil {
		return nil, err
	}
	manifest, err := RenderManifest(&a)
	if err != nil {
		return nil, err
	}
	c := &ArgoCD{Manifest: manifest}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	k8s := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.Provider(a.Provider)}

	ns, err := corev1.NewNamespace(ctx, name+"-namespace", &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(a.Namespace),
			Labels: pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("argocd")},
		},
	}, append(k8s, pulumi.DependsOn(a.DependsOn))...)
	if err != nil {
		return nil, err
	}
	c.NamespaceResource = ns

	install, err := yamlv2.NewConfigGroup(ctx, name+"-install", &yamlv2.ConfigGroupArgs{
		Yaml: pulumi.String(manifest),
	}, append(k8s, pulumi.DependsOn(append([]pulumi.Resource{ns}, a.DependsOn...)))...)
	if err != nil {
		return nil, err
	}
	c.Install = install

	data := pulumi.StringMap{}
	for k, v := range RepoStringData(a.Repo) {
		data[k] = pulumi.String(v)
	}
	if key := credentialKey(a.Repo.Type); key != "" {
		data[key] = a.Repo.Credential.ToStringOutput()
	}
	secret, err := corev1.NewSecret(ctx, name+"-repo", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(RepoSecretName),
			Namespace: pulumi.String(a.Namespace),
			Labels: pulumi.StringMap{
				"argocd.argoproj.io/secret-type": pulumi.String("repository"),
				"app.kubernetes.io/part-of":      pulumi.String("argocd"),
			},
		},
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.ToSecret(data).(pulumi.StringMapOutput),
	}, append(k8s,
		pulumi.DependsOn([]pulumi.Resource{ns, install}),
		pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))...)
	if err != nil {
		return nil, err
	}
	c.RepoSecret = secret
	c.Ready = []pulumi.Resource{secret}

	c.Namespace = pulumi.String(a.Namespace).ToStringOutput()
	c.Version = pulumi.String(a.Version).ToStringOutput()
	c.ManifestSource = pulumi.String(a.ManifestSource()).ToStringOutput()
	c.ServerURL = pulumi.String(ServerURL(a.Domain)).ToStringOutput()
	c.RepoURL = pulumi.String(a.Repo.URL).ToStringOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace":      c.Namespace,
		"version":        c.Version,
		"manifestSource": c.ManifestSource,
		"serverUrl":      c.ServerURL,
		"repoUrl":        c.RepoURL,
		"ha":             pulumi.Bool(a.HA),
	})
}

// ServerURL is Argo CD's URL for a domain (guide 6.6).
func ServerURL(domain string) string { return "https://argocd." + domain }

// NewKubernetesProvider is the Kubernetes provider the platform layer expects: the kubeconfig
// (a secret) and server-side apply set explicitly, so that a provider default never decides how
// the install manifest and argocd-cm are applied. clusterID names the cluster for good
// (clusterIdentifier): without it pulumi-kubernetes plans to replace the provider, and so every
// object the platform created, whenever the kubeconfig's server changes, as it does when the
// master the kubeconfig comes from leaves the configuration. With it, such a change is an
// update; only a changed clusterID means another cluster.
func NewKubernetesProvider(ctx *pulumi.Context, name, clusterID string, kubeconfig pulumi.StringInput, opts ...pulumi.ResourceOption) (*kubernetes.Provider, error) {
	if clusterID == "" {
		return nil, errors.New("argocd: the Kubernetes provider needs a cluster identifier")
	}
	return kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig:            pulumi.ToSecret(kubeconfig).(pulumi.StringOutput),
		EnableServerSideApply: pulumi.Bool(true),
		ClusterIdentifier:     pulumi.String(clusterID),
	}, opts...)
}

// ClusterID is the cluster identifier of a stack's MicroK8s cluster: the stack names it.
func ClusterID(project, stack string) string { return "pm4ml-onprem/" + project + "/" + stack }
