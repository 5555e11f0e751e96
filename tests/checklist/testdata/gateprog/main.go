// Command gateprog is the program of the checklist gate's real-CLI test (tests/checklist): the
// pre-deployment checklist gate (components/checklist) over the GitOps working tree in config
// pm4ml-checklist-e2e:repoDir, and two waves of Applications (components/waves) whose first wave
// takes the gate's result, on a Kubernetes provider whose kubeconfig (config kubeconfig) points at
// a loopback port nothing listens on. The apps, domain and StorageClasses are those of
// components/checklist/testdata/gitops.
package main

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/pm4ml/pm4ml-onprem/components/checklist"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/components/waves"
	"github.com/pm4ml/pm4ml-onprem/internal/gitopsrender"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		apps := []gitopsrender.App{
			{Name: "certmanager-clusterissuers", Path: "apps/certmanager-clusterissuers", Namespace: "cert-manager"},
			{Name: "istio-gateways-app", Path: "apps/istio-gateways-app", Namespace: "istio-ingress"},
			{Name: "common-stateful-resources-app", Path: "apps/common-stateful-resources-app", Namespace: "stateful"},
			{Name: "pm4ml", Path: "apps/pm4ml", Namespace: "pm4ml"},
		}
		spec := checklist.Spec{Domain: "lab.pm4ml.example.org", Apps: apps,
			StorageClasses: storage.Plan{StorageClass: "ceph-rbd", LocalStorageClass: "local-nvme"}.Classes()}
		for _, id := range checklist.ManualIDs() {
			spec.Acks = append(spec.Acks, checklist.Ack{Item: id, By: "e2e"})
		}
		gate, err := checklist.NewGate(ctx, "checklist", &checklist.GateArgs{Spec: spec, RepoDir: cfg.Require("repoDir")})
		if err != nil {
			return err
		}
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: cfg.RequireSecret("kubeconfig")})
		if err != nil {
			return err
		}
		wa := &waves.Args{Provider: k8s, RepoURL: "git://127.0.0.1:1/gitops", Revision: "main", Gate: gate.Result,
			Waves: []waves.Wave{{Name: "first"}, {Name: "second"}}}
		for i, a := range apps {
			w := &wa.Waves[i/2]
			w.Apps = append(w.Apps, waves.App{Name: a.Name, Path: a.Path, Namespace: a.Namespace})
		}
		_, err = waves.New(ctx, "waves", wa)
		return err
	})
}
