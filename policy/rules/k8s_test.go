package rules_test

// Kubernetes objects the broken variants add to the program run. They are registered with the
// pulumi-kubernetes SDK under the same mocks, so their properties are exactly what the SDK sends
// the engine.

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

type extraFn = func(ctx *pulumi.Context, st *stacks.Stack) error

func extras(fns ...extraFn) extraFn {
	return func(ctx *pulumi.Context, st *stacks.Stack) error {
		for _, f := range fns {
			if err := f(ctx, st); err != nil {
				return err
			}
		}
		return nil
	}
}

func meta(name, ns string, labels map[string]string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(ns), Labels: pulumi.ToStringMap(labels)}
}

// limited are complete requests and limits.
func limited() *corev1.ResourceRequirementsArgs {
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("128Mi")},
		Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("256Mi")},
	}
}

// service registers a Service of a type with the given labels and nodePorts (0: none set).
func service(name, typ string, labels map[string]string, nodePorts ...int) extraFn {
	return func(ctx *pulumi.Context, _ *stacks.Stack) error {
		ports := corev1.ServicePortArray{}
		for i, np := range nodePorts {
			p := &corev1.ServicePortArgs{Name: pulumi.Sprintf("p%d", i), Port: pulumi.Int(8443 + i)}
			if np != 0 {
				p.NodePort = pulumi.Int(np)
			}
			ports = append(ports, p)
		}
		_, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
			Metadata: meta(name, "pm4ml", labels),
			Spec:     &corev1.ServiceSpecArgs{Type: pulumi.String(typ), Selector: pulumi.ToStringMap(labels), Ports: ports},
		})
		return err
	}
}

// gatewayNodePorts are the external gateway's three NodePorts of the port matrix.
func gatewayPorts() []int {
	return []int{network.Lookup(network.IstioExtHTTP).Ports.From, network.Lookup(network.IstioExtHTTPS).Ports.From, network.Lookup(network.IstioExtStatus).Ports.From}
}

// deployment registers a Deployment with one container (resources nil: none set) and optional
// PVC-backed volume.
func deployment(name string, image string, res *corev1.ResourceRequirementsArgs, claim string) extraFn {
	return func(ctx *pulumi.Context, _ *stacks.Stack) error {
		labels := map[string]string{"app": name}
		spec := &corev1.PodSpecArgs{Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name: pulumi.String(name), Image: pulumi.String(image), Resources: res,
		}}}
		if claim != "" {
			spec.Volumes = corev1.VolumeArray{&corev1.VolumeArgs{Name: pulumi.String("data"),
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(claim)}}}
		}
		_, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
			Metadata: meta(name, "pm4ml", labels),
			Spec: &appsv1.DeploymentSpecArgs{
				Selector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)},
				Template: &corev1.PodTemplateSpecArgs{Metadata: meta(name, "pm4ml", labels), Spec: spec},
			},
		})
		return err
	}
}

// statefulSet registers a StatefulSet with complete resources and one volume claim template
// (class "" leaves storageClassName unset).
func statefulSet(name, image, class string) extraFn {
	return func(ctx *pulumi.Context, _ *stacks.Stack) error {
		labels := map[string]string{"app": name}
		vct := &corev1.PersistentVolumeClaimTypeArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data")},
			Spec: &corev1.PersistentVolumeClaimSpecArgs{
				AccessModes: pulumi.ToStringArray([]string{"ReadWriteOnce"}),
				Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String("10Gi")}},
			},
		}
		if class != "" {
			vct.Spec.(*corev1.PersistentVolumeClaimSpecArgs).StorageClassName = pulumi.String(class)
		}
		_, err := appsv1.NewStatefulSet(ctx, name, &appsv1.StatefulSetArgs{
			Metadata: meta(name, "pm4ml", labels),
			Spec: &appsv1.StatefulSetSpecArgs{
				ServiceName: pulumi.String(name),
				Selector:    &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)},
				Template: &corev1.PodTemplateSpecArgs{Metadata: meta(name, "pm4ml", labels), Spec: &corev1.PodSpecArgs{
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{Name: pulumi.String(name), Image: pulumi.String(image), Resources: limited()}},
				}},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{vct},
			},
		})
		return err
	}
}

func pvc(name, class string) extraFn {
	return func(ctx *pulumi.Context, _ *stacks.Stack) error {
		_, err := corev1.NewPersistentVolumeClaim(ctx, name, &corev1.PersistentVolumeClaimArgs{
			Metadata: meta(name, "pm4ml", map[string]string{"app": name}),
			Spec: &corev1.PersistentVolumeClaimSpecArgs{
				AccessModes:      pulumi.ToStringArray([]string{"ReadWriteOnce"}),
				StorageClassName: pulumi.String(class),
				Resources:        &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String("10Gi")}},
			},
		})
		return err
	}
}

func secret(name string, data map[string]string) extraFn {
	return func(ctx *pulumi.Context, _ *stacks.Stack) error {
		_, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
			Metadata:   meta(name, "pm4ml", nil),
			StringData: pulumi.ToSecret(pulumi.ToStringMap(data)).(pulumi.StringMapOutput),
		})
		return err
	}
}

// custom registers a custom resource (cert-manager Certificate, Istio Gateway/VirtualService).
func custom(name, apiVersion, kind string, spec map[string]any) extraFn {
	return func(ctx *pulumi.Context, _ *stacks.Stack) error {
		_, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String(apiVersion),
			Kind:        pulumi.String(kind),
			Metadata:    meta(name, "pm4ml", nil),
			OtherFields: kubernetes.UntypedArgs{"spec": spec},
		})
		return err
	}
}
