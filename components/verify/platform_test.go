package verify_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/argocd"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/vaultsecret"
	"github.com/pm4ml/pm4ml-onprem/components/verify"
	"github.com/pm4ml/pm4ml-onprem/components/waves"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// guideWaves is the guide's 6.1 (as stacks maps it onto waves.Wave).
var guideWaves = waves.Guide

// platform wires the four components the way stacks.Build is to, from an inline program.
func platform(t *testing.T, wl [][]string) *mocktest.Mocks {
	t.Helper()
	manifest, err := filepath.Abs("../argocd/testdata/install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		kubeconfig := pulumi.ToSecret(pulumi.String("kubeconfig")).(pulumi.StringOutput)
		k8s, err := argocd.NewKubernetesProvider(ctx, "cluster", "test-cluster", kubeconfig)
		if err != nil {
			return err
		}
		acd, err := argocd.New(ctx, "argocd", &argocd.Args{
			Provider: k8s, Version: "v2.14.21", ManifestPath: manifest, Domain: "pm4ml.example.org",
			Repo: argocd.Repo{URL: "https://git.example.org/gitops.git", Type: argocd.RepoHTTPSToken,
				Credential: pulumi.ToSecret(pulumi.String("tok")).(pulumi.StringOutput)},
		})
		if err != nil {
			return err
		}
		var ws []waves.Wave
		for _, w := range wl {
			wave := waves.Wave{Name: w[0]}
			for _, n := range w[1:] {
				wave.Apps = append(wave.Apps, waves.App{Name: n, Path: "apps/" + n, Namespace: n})
			}
			ws = append(ws, wave)
		}
		wv, err := waves.New(ctx, "waves", &waves.Args{
			Provider: k8s, RepoURL: "https://git.example.org/gitops.git", Revision: "main",
			Waves: ws, DependsOn: acd.Ready,
		})
		if err != nil {
			return err
		}
		mcm, err := vaultsecret.New(ctx, "mcm", &vaultsecret.Args{
			Address: "https://vault.pm4ml.example.org", PM4MLID: "acme",
			Token:        pulumi.ToSecret(pulumi.String("hvs")).(pulumi.StringOutput),
			ClientSecret: pulumi.ToSecret(pulumi.String("cs")).(pulumi.StringOutput),
			DependsOn:    wv.AfterApp("vault"),
		})
		if err != nil {
			return err
		}
		lb := hosts.Host{Name: "lb1", Address: "10.0.0.9", Roles: hosts.NewRoles(hosts.RoleHAProxy),
			Conn: remote.ConnectionArgs{Host: pulumi.String("10.0.0.9"), User: pulumi.String("ubuntu"),
				PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
			Identity: pulumi.String("10.0.0.9")}
		_, err = verify.New(ctx, "verify", &verify.Args{
			Kubeconfig: kubeconfig,
			Plan: verify.Plan{
				ArgoCDURL: argocd.ServerURL("pm4ml.example.org"),
				PM4MLEndpoints: []verify.Endpoint{
					{Name: "portal", URL: "https://portal.pm4ml.example.org/"},
				},
				Apps:    []string{"vault", "pm4ml"},
				LBHosts: []string{lb.Name},
			},
			LBHosts:   []hosts.Host{lb},
			User:      "ubuntu",
			Triggers:  pulumi.Array{wv.Fingerprint},
			DependsOn: append(append([]pulumi.Resource{}, wv.Ready...), mcm.Secret),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlatformOrder(t *testing.T) {
	m := platform(t, guideWaves)
	// Argo CD install -> repository credentials
	for _, d := range [][2]string{{"argocd-install", "argocd-namespace"}, {"argocd-repo", "argocd-install"}} {
		if !m.DependsOn(t, d[0], d[1]) {
			t.Errorf("%s does not depend on %s", d[0], d[1])
		}
	}
	// -> wave 1 ... wave 11
	for i, w := range guideWaves {
		for _, app := range w[1:] {
			r := "waves-" + app
			if i == 0 && !m.DependsOn(t, r, "argocd-repo") {
				t.Errorf("%s (wave 1) does not depend on the repository credentials", app)
			}
			if !m.DependsOnTransitively(t, r, "argocd-install") {
				t.Errorf("%s does not come after the Argo CD install", app)
			}
			if i > 0 {
				for _, prev := range guideWaves[i-1][1:] {
					if !m.DependsOn(t, r, "waves-"+prev) {
						t.Errorf("%s (wave %d) does not depend on %s (wave %d)", app, i+1, prev, i)
					}
				}
			}
		}
	}
	// -> the Vault secret, after every app of the vault wave (and its provider too, since Vault
	// runs in the cluster), not after later waves
	for _, r := range []string{"mcm-provider", "mcm-secret"} {
		for _, app := range guideWaves[6][1:] {
			if !m.DependsOn(t, r, "waves-"+app) {
				t.Errorf("%s does not depend on %s", r, app)
			}
		}
		if m.DependsOnTransitively(t, r, "waves-monitoring-app") {
			t.Errorf("%s waits for a later wave", r)
		}
	}
	// -> the verification, after the last wave and the Vault secret
	for _, r := range []string{"verify-checks", "verify-haproxy-lb1"} {
		for _, d := range []string{"waves-pm4ml", "mcm-secret"} {
			if !m.DependsOn(t, r, d) {
				t.Errorf("%s does not depend on %s", r, d)
			}
		}
		if !m.DependsOnTransitively(t, r, "argocd-repo") {
			t.Errorf("%s does not reach the repository credentials", r)
		}
	}
	// parents: every resource of a component is its child
	for comp, n := range map[string]int{"argocd": 3, "waves": 24, "mcm": 2, "verify": 2} {
		if got := len(m.ChildrenOf(t, comp)); got != n {
			t.Errorf("%s has %d children, want %d", comp, got, n)
		}
	}
	// the verification re-runs with the waves: the fingerprint is one of its triggers
	trig := m.Named(t, "verify-checks").Inputs["triggers"].ArrayValue()
	if len(trig) != 2 || len(trig[1].StringValue()) != 16 {
		t.Errorf("verify triggers %v", trig)
	}
}

func TestPlatformCustomWaves(t *testing.T) {
	m := platform(t, [][]string{{"infra", "a", "b"}, {"secrets", "vault"}, {"apps", "pm4ml", "c"}})
	for _, d := range [][2]string{
		{"waves-a", "argocd-repo"}, {"waves-b", "argocd-repo"},
		{"waves-vault", "waves-a"}, {"waves-vault", "waves-b"},
		{"waves-pm4ml", "waves-vault"}, {"waves-c", "waves-vault"},
		{"mcm-secret", "waves-vault"},
		{"verify-checks", "waves-pm4ml"}, {"verify-checks", "waves-c"}, {"verify-checks", "mcm-secret"},
	} {
		if !m.DependsOn(t, d[0], d[1]) {
			t.Errorf("%s does not depend on %s", d[0], d[1])
		}
	}
	if m.DependsOn(t, "mcm-secret", "waves-a") {
		t.Error("the Vault secret depends on a wave other than the vault app's")
	}
	if strings.Contains(strings.Join(m.Named(t, "waves-c").Deps, " "), "waves-pm4ml") {
		t.Error("apps of one wave depend on each other")
	}
}
