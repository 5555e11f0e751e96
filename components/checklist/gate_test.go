package checklist

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/waves"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

const appType = "kubernetes:argoproj.io/v1alpha1:Application"

// runGate runs a gate and the waves of the test apps under mocks.
func runGate(t *testing.T, repoDir string) (*mocktest.Mocks, error) {
	t.Helper()
	m := &mocktest.Mocks{}
	err := mocktest.RunMocks(t, m, nil, nil, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		g, err := NewGate(ctx, "checklist", &GateArgs{Spec: testSpec(), RepoDir: repoDir, Credential: pulumi.ToSecret(pulumi.String("token")).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		wa := &waves.Args{Provider: k8s, RepoURL: "https://git.invalid/gitops.git", Gate: g.Result}
		wa.Waves = []waves.Wave{{Name: "first"}, {Name: "second"}}
		for i, a := range testApps {
			w := &wa.Waves[i%2]
			w.Apps = append(w.Apps, waves.App{Name: a.Name, Path: a.Path, Namespace: a.Namespace})
		}
		_, err = waves.New(ctx, "waves", wa)
		return err
	})
	return m, err
}

func TestGateStopsTheFirstWave(t *testing.T) {
	dir := variant(t, "apps/pm4ml/values.yaml", "minReplicas: 1", "minReplicas: 5")
	m, err := runGate(t, dir)
	if err == nil {
		t.Fatal("the program passed a failing checklist")
	}
	want := "FAIL hpa app=pm4ml HorizontalPodAutoscaler/pm4ml/portal field=spec.minReplicas"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("the error lacks the failure line %q:\n%v", want, err)
	}
	if apps := m.ByType(appType); len(apps) != 0 {
		t.Errorf("%d Application(s) registered despite the failed checklist", len(apps))
	}
}

func TestGatePassesAndAnnotatesTheFirstWave(t *testing.T) {
	m, err := runGate(t, filepath.Join("testdata", "gitops"))
	if err != nil {
		t.Fatal(err)
	}
	apps := m.ByType(appType)
	if len(apps) != len(testApps) {
		t.Fatalf("%d Applications, want %d", len(apps), len(testApps))
	}
	first := 0
	for _, a := range apps {
		ann := a.Inputs["metadata"].ObjectValue()["annotations"].ObjectValue()
		v, ok := ann[waves.AnnotationChecklist]
		wave := ann[waves.AnnotationWave].StringValue()
		switch {
		case wave == "first" && (!ok || v.StringValue() != ResultPassed):
			t.Errorf("%s: checklist annotation %v, want %q", a.Name, v, ResultPassed)
		case wave == "first":
			// the annotation is the gate's result: the Application cannot be registered before it
			// resolved (the Go SDK drops a DependsOn on a component without custom children)
			first++
		case ok:
			t.Errorf("%s of wave %s carries the gate annotation", a.Name, wave)
		}
	}
	if first != 2 {
		t.Errorf("%d first-wave Applications checked, want 2", first)
	}
}

func TestGateSkipsExplicitlyUnderMocksWithoutARepository(t *testing.T) {
	m, err := runGate(t, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range m.ByType(appType) {
		ann := a.Inputs["metadata"].ObjectValue()["annotations"].ObjectValue()
		if v, ok := ann[waves.AnnotationChecklist]; ok && v.StringValue() != ResultSkipped {
			t.Errorf("%s: annotation %v, want %q", a.Name, v, ResultSkipped)
		}
	}
	if len(m.ByType(appType)) != len(testApps) {
		t.Errorf("Applications: %d", len(m.ByType(appType)))
	}
}
