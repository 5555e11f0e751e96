// Command k8sprog is the program of the policy pack's real-CLI test (tests/policy): a few
// Kubernetes objects the pack judges. Config pm4ml-policy-e2e:variant selects them:
//   - "violations": a NodePort Service that is not an Istio gateway (no-public-nodeports) and a
//     Deployment without requests/limits (pre-deployment-checklist);
//   - "compliant": the same objects done right (ClusterIP, complete resources);
//   - "cluster": the compliant objects plus stand-ins of the Facts, MicroK8s and MicroCeph
//     components (their type tokens and registered outputs), with a master that is also a
//     worker: the pack must see component outputs (RegisterResourceOutputs) in the engine's
//     AnalyzeStack, and judge them per environment.
//
// The provider's kubeconfig is config pm4ml-policy-e2e:kubeconfig (a loopback API server or none);
// pm4ml-policy-e2e:version is the image tag of the Deployment (default 1.0.0).
package main

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/policy/rules"
)

// standIn is a component with a real component's type token and registered outputs.
type standIn struct{ pulumi.ResourceState }

func register(ctx *pulumi.Context, token, name string, outputs pulumi.Map) error {
	c := &standIn{}
	if err := ctx.RegisterComponentResource(token, name, c); err != nil {
		return err
	}
	return ctx.RegisterResourceOutputs(c, outputs)
}

// cluster registers stand-ins of the Facts, MicroK8s and MicroCeph components: m1 is master and
// worker, no risk acceptance (dedicated-masters), one worker and one storage member
// (high-availability). (The program does not import stacks: that would link every layer of the
// real program into this test binary; stacks' own tests check the real Facts outputs.)
func cluster(ctx *pulumi.Context) error {
	env, _ := ctx.GetConfig("pm4ml:environment")
	if err := register(ctx, rules.FactsToken, "facts", pulumi.Map{
		"environment": pulumi.String(env), "domain": pulumi.String("pm4ml.e2e.test"), "riskAcceptance": pulumi.String(""),
		"adminAllowlist": pulumi.ToStringArray([]string{"192.0.2.0/24"}), "apiAllowlist": pulumi.ToStringArray([]string{"192.0.2.0/24"}),
		"haproxySourceIps": pulumi.StringArray{}, "internalSubnet": pulumi.String("192.0.2.0/24"), "publicVip": pulumi.String("192.0.2.10"),
		"snapChannels": pulumi.StringMap{"microk8s": pulumi.String(rules.ExampleChannels["microk8s"]), "microceph": pulumi.String(rules.ExampleChannels["microceph"])},
	}); err != nil {
		return err
	}
	if err := register(ctx, microk8s.Token, "microk8s", pulumi.Map{
		"environment": pulumi.String(env), "channel": pulumi.String(rules.ExampleChannels["microk8s"]),
		"masters": pulumi.ToStringArray([]string{"m1"}), "workers": pulumi.ToStringArray([]string{"m1"}),
		"taintedMasters": pulumi.BoolMap{"m1": pulumi.Bool(false)}, "refreshHeld": pulumi.Bool(true),
	}); err != nil {
		return err
	}
	return register(ctx, microceph.Token, "microceph", pulumi.Map{
		"members": pulumi.ToStringArray([]string{"s1"}), "channel": pulumi.String(rules.ExampleChannels["microceph"]), "refreshHeld": pulumi.Bool(true),
	})
}

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		c := config.New(ctx, "")
		variant := c.Get("variant")
		version := c.Get("version") // the portal image's tag (a change windows' test changes it)
		if version == "" {
			version = "1.0.0"
		}
		compliant := variant == "compliant" || variant == "cluster"
		if variant == "cluster" {
			if err := cluster(ctx); err != nil {
				return err
			}
		}
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.String(c.Require("kubeconfig")),
		})
		if err != nil {
			return err
		}
		opts := pulumi.Provider(k8s)
		labels := pulumi.StringMap{"app": pulumi.String("portal")}
		svcType, nodePort := "NodePort", pulumi.IntPtrInput(pulumi.Int(30999))
		var res *corev1.ResourceRequirementsArgs
		if compliant {
			svcType, nodePort = "ClusterIP", nil
			res = &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("128Mi")},
				Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("256Mi")},
			}
		}
		if _, err := corev1.NewService(ctx, "portal", &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("portal"), Namespace: pulumi.String("default"), Labels: labels},
			Spec: &corev1.ServiceSpecArgs{
				Type:     pulumi.String(svcType),
				Selector: labels,
				Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(8080), NodePort: nodePort}},
			},
		}, opts); err != nil {
			return err
		}
		_, err = appsv1.NewDeployment(ctx, "portal", &appsv1.DeploymentArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("portal"), Namespace: pulumi.String("default"), Labels: labels},
			Spec: &appsv1.DeploymentSpecArgs{
				Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: &corev1.PodSpecArgs{Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name: pulumi.String("portal"), Image: pulumi.String("registry.invalid/pm4ml/portal:" + version), Resources: res,
					}}},
				},
			},
		}, opts)
		return err
	})
}
