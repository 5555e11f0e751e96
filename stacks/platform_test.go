package stacks

import (
	"slices"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/fixtures"
)

// Guide 6 on the built cluster: Argo CD after the cluster and storage, the repository credentials
// after the install, every app of wave N+1 after every app of wave N (the guide's 11 waves), the
// MCM client secret after the vault app, and the verification after the last wave and the secret.
func TestDeployPlatformOrdering(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, src := deployStack(t, stack)
			cfg, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Waves) != 11 {
				t.Fatalf("%d waves, want the guide's 11", len(cfg.Waves))
			}
			if !m.DependsOnTransitively(t, "argocd-namespace", "microk8s-finalize") || !m.DependsOnTransitively(t, "argocd-namespace", "storage-storageclasses") {
				t.Error("Argo CD is installed before the cluster and its storage are ready")
			}
			if !m.DependsOnTransitively(t, "argocd-repo", "argocd-namespace") {
				t.Error("the repository credentials do not wait for the Argo CD install")
			}
			for i, w := range cfg.Waves {
				for _, app := range w.Apps {
					if !m.DependsOnTransitively(t, "waves-"+app.Name, "argocd-repo") {
						t.Errorf("%s does not wait for the repository credentials", app.Name)
					}
					if i == 0 {
						continue
					}
					for _, prev := range cfg.Waves[i-1].Apps {
						if !m.DependsOn(t, "waves-"+app.Name, "waves-"+prev.Name) {
							t.Errorf("%s (wave %d) does not depend on %s (wave %d)", app.Name, i+1, prev.Name, i)
						}
					}
				}
			}
			if !m.DependsOnTransitively(t, "mcm-client-secret-secret", "waves-vault") {
				t.Error("the MCM client secret is written before the vault app is Healthy")
			}
			if !m.DependsOnTransitively(t, "verify-checks", "waves-pm4ml") || !m.DependsOnTransitively(t, "verify-checks", "mcm-client-secret-secret") {
				t.Error("the verification runs before the last wave and the Vault secret")
			}
		})
	}
}

// TestGuideWavesFixture: the component tests' copy of guide 6.1 is the program's.
func TestGuideWavesFixture(t *testing.T) {
	var got [][]string
	for _, w := range GuideWaves {
		row := []string{w.Name}
		for _, a := range w.Apps {
			row = append(row, a.Name)
		}
		got = append(got, row)
	}
	if !slices.EqualFunc(got, fixtures.GuideWaves, slices.Equal[[]string]) {
		t.Errorf("internal/fixtures.GuideWaves %v differs from stacks.GuideWaves %v", fixtures.GuideWaves, got)
	}
}
