package stacks

import (
	"slices"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/waves"
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
			// Argo CD waits for the cluster only; the StorageClasses (the MicroCeph branch) are
			// waited for by the storage wave (guide 6.1 wave 2), and so by every wave after it.
			if !m.DependsOnTransitively(t, "argocd-namespace", "microk8s-finalize") {
				t.Error("Argo CD is installed before the cluster is ready")
			}
			if m.DependsOnTransitively(t, "argocd-namespace", "storage-storageclasses") {
				t.Error("Argo CD waits for the StorageClasses, which only the storage wave needs")
			}
			storageWave := slices.IndexFunc(cfg.Waves, func(w Wave) bool { return w.Name == StorageWave })
			if storageWave < 0 {
				t.Fatalf("no wave %q", StorageWave)
			}
			for i, w := range cfg.Waves[storageWave:] {
				for _, app := range w.Apps {
					if !m.DependsOnTransitively(t, "waves-"+app.Name, "storage-storageclasses") {
						t.Errorf("%s (wave %d) does not wait for the StorageClasses", app.Name, storageWave+i+1)
					}
				}
			}
			for _, app := range cfg.Waves[storageWave].Apps {
				if !m.DependsOn(t, "waves-"+app.Name, "storage-storageclasses") {
					t.Errorf("%s (the storage wave) does not depend on the StorageClasses step", app.Name)
				}
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
			// the workers' rolling upgrade runs beside the waves; the verification waits for it
			for _, h := range cfg.Hosts {
				if n := "microk8s-" + h.Name + "-upgrade"; m.Has(n) && !m.DependsOnTransitively(t, "verify-checks", n) {
					t.Errorf("the verification does not wait for %s", n)
				}
			}
		})
	}
}

// TestGuideWaves: the program's default waves are guide 6.1 as the waves component defines it.
func TestGuideWaves(t *testing.T) {
	var got [][]string
	for _, w := range GuideWaves {
		row := []string{w.Name}
		for _, a := range w.Apps {
			row = append(row, a.Name)
		}
		got = append(got, row)
	}
	if !slices.EqualFunc(got, waves.Guide, slices.Equal[[]string]) || len(got) != 11 {
		t.Errorf("waves.Guide %v differs from stacks.GuideWaves %v", waves.Guide, got)
	}
}

// The checklist gate (guide 6.3) is part of the program: under mocks there is no repository to
// clone, so it is skipped explicitly, and the first wave's Applications say so in their
// pm4ml.io/checklist annotation (the gate's result, the input that orders them after it).
func TestDeployChecklistGate(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, src := deployStack(t, stack)
			cfg, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			if !m.Has("checklist") {
				t.Fatal("no checklist gate")
			}
			for i, w := range cfg.Waves {
				for _, app := range w.Apps {
					md := m.Named(t, "waves-"+app.Name).Inputs["metadata"].ObjectValue()
					v, ok := md["annotations"].ObjectValue()["pm4ml.io/checklist"]
					switch {
					case i == 0 && (!ok || v.StringValue() != "skipped-under-mocks"):
						t.Errorf("%s: checklist annotation %v, want skipped-under-mocks", app.Name, v)
					case i > 0 && ok:
						t.Errorf("%s (wave %d) carries the checklist annotation", app.Name, i+1)
					}
				}
			}
		})
	}
}
