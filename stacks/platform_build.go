package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/argocd"
	"github.com/pm4ml/pm4ml-onprem/components/checklist"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/vaultsecret"
	"github.com/pm4ml/pm4ml-onprem/components/verify"
	"github.com/pm4ml/pm4ml-onprem/components/waves"
)

// Platform is what buildPlatform registered.
type Platform struct {
	ArgoCD       *argocd.ArgoCD
	Checklist    *checklist.Gate
	Waves        *waves.Waves
	MCMSecret    *vaultsecret.MCMClientSecret
	Verification *verify.Verification
}

// ArgoCDArgs maps the configuration onto the Argo CD component (without the provider and the
// credential, which only exist in a running program).
func (c *Config) ArgoCDArgs() *argocd.Args {
	return &argocd.Args{
		Namespace: c.ArgoCD.Namespace, Version: c.ArgoCD.Version, HA: *c.ArgoCD.HA,
		ManifestURL: c.ArgoCD.ManifestURL, ManifestPath: c.ArgoCD.ManifestPath, Domain: c.Domain,
		Repo: argocd.Repo{URL: c.GitOps.RepoURL, Type: argocd.RepoAuth(c.GitOps.Credentials), Username: c.GitOps.Username},
	}
}

// WavesArgs maps the configuration onto the waves component (without provider and
// dependencies).
func (c *Config) WavesArgs() *waves.Args {
	a := &waves.Args{
		Namespace: c.ArgoCD.Namespace, Project: c.ArgoCD.Project, RepoURL: c.GitOps.RepoURL, Revision: c.GitOps.Revision,
		TimeoutSeconds: c.ArgoCD.AppTimeoutSeconds, OnDelete: waves.OnDelete(c.ArgoCD.OnDelete),
	}
	for _, w := range c.Waves {
		wv := waves.Wave{Name: w.Name}
		for _, app := range w.Apps {
			wv.Apps = append(wv.Apps, waves.App{Name: app.Name, Path: app.Path, Namespace: app.Namespace})
		}
		a.Waves = append(a.Waves, wv)
	}
	return a
}

// AppNames lists every Application of the waves in order.
func (c *Config) AppNames() []string {
	var out []string
	for _, w := range c.Waves {
		for _, a := range w.Apps {
			out = append(out, a.Name)
		}
	}
	return out
}

// VerifyPlan is what the verification checks (render and deploy build it here only).
func (c *Config) VerifyPlan() verify.Plan {
	p := verify.Plan{
		ArgoCDURL: argocd.ServerURL(c.Domain), Apps: c.AppNames(), LBHosts: c.haproxyNames(),
		InternalChecks: c.Verify.InternalChecks, Insecure: c.Verify.Insecure, CACertFile: c.Verify.CACertFile,
		ResolveAddress: c.Verify.ResolveAddress, Attempts: c.Verify.Attempts, IntervalSeconds: c.Verify.IntervalSeconds,
	}
	for _, h := range c.kubernetesNodes() {
		p.Nodes = append(p.Nodes, h.Name)
	}
	for _, e := range c.Verify.Endpoints {
		p.PM4MLEndpoints = append(p.PM4MLEndpoints, verify.Endpoint{Name: e.Name, URL: e.URL, ExpectStatus: e.ExpectStatus})
	}
	return p
}

// buildPlatform registers guide section 6 on the cluster: a Kubernetes provider from the
// cluster's kubeconfig, Argo CD with the repository credentials, the app waves in order, the MCM
// client secret after the vault app, and the verification after the last wave.
func buildPlatform(ctx *pulumi.Context, c *Config, sec Secrets, cl *Cluster, lbs []hosts.Host) (*Platform, error) {
	// The provider is the cluster's API access: a child of the MicroK8s cluster component.
	k8s, err := argocd.NewKubernetesProvider(ctx, "microk8s-kubernetes", argocd.ClusterID(ctx.Project(), ctx.Stack()), cl.MicroK8s.Kubeconfig, pulumi.Parent(cl.MicroK8s))
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	p := &Platform{}
	aa := c.ArgoCDArgs()
	aa.Provider = k8s
	aa.Repo.Credential = sec.GitOpsCredential
	// Argo CD itself needs only the cluster (its install has no volume claim); the StorageClasses
	// (MicroCeph, the longer branch) are waited for by the storage wave, below.
	aa.DependsOn = []pulumi.Resource{cl.MicroK8s.Ready}
	if p.ArgoCD, err = argocd.New(ctx, "argocd", aa); err != nil {
		return nil, fmt.Errorf("argocd: %w", err)
	}
	// The pre-deployment checklist (guide 6.3) over what the waves will deploy: the first wave's
	// Applications take its result, so a failing checklist stops the update before any of them.
	if p.Checklist, err = checklist.NewGate(ctx, "checklist", &checklist.GateArgs{
		Spec: c.ChecklistSpec(), RepoDir: c.Checklist.RepoDir, Mode: c.Checklist.Mode,
		Repo:       checklist.Repo{URL: c.GitOps.RepoURL, Revision: c.GitOps.Revision, Auth: c.GitOps.Credentials, Username: c.GitOps.Username},
		Credential: sec.GitOpsCredential,
	}); err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	wa := c.WavesArgs()
	wa.Provider = k8s
	wa.DependsOn = append([]pulumi.Resource{}, p.ArgoCD.Ready...)
	if sw := c.storageWave(); sw != "" {
		wa.WaveDependsOn = map[string][]pulumi.Resource{sw: {cl.Storage.Ready}}
	}
	wa.Gate = p.Checklist.Result // the gate has no children: its result is the edge
	// Each wave is also watched with the cluster's credentials, so that a failing wave's error
	// carries Argo CD's own reason (the provider's timeout message alone does not). Unit tests run
	// the program under mocks, where no cluster exists to watch (the watch itself is tested in
	// components/waves and end to end in tests/e2e).
	if !ctx.RunningWithMocks() {
		wa.Kubeconfig = cl.MicroK8s.Kubeconfig
	}
	if p.Waves, err = waves.New(ctx, "waves", wa); err != nil {
		return nil, fmt.Errorf("waves: %w", err)
	}
	if p.MCMSecret, err = vaultsecret.New(ctx, "mcm-client-secret", &vaultsecret.Args{
		Address: c.Vault.Address, Token: sec.VaultToken, Mount: c.Vault.Mount, KV: c.Vault.KV, PM4MLID: c.PM4MLID,
		ClientSecret: sec.MCMClientSecret, DependsOn: p.Waves.AfterApp("vault"),
	}); err != nil {
		return nil, fmt.Errorf("vault secret: %w", err)
	}
	va := &verify.Args{Plan: c.VerifyPlan(), Kubeconfig: cl.MicroK8s.Kubeconfig, LBHosts: lbs, User: c.SSH.User,
		Triggers: pulumi.Array{p.Waves.Fingerprint}}
	// After every node runs the configured channel too (the workers' upgrades roll beside the
	// waves). Custom resources only, never a component: the Go SDK expands a component into the children
	// registered so far, which races with their registration (seen as a missing edge under load).
	va.DependsOn = append(append(append(append([]pulumi.Resource{}, p.Waves.Ready...), p.MCMSecret.Secret), cl.HAProxy.Ready...), cl.MicroK8s.Upgraded...)
	if p.Verification, err = verify.New(ctx, "verify", va); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return p, nil
}
