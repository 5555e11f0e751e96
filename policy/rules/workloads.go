package rules

import (
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// podSpecPath is where a workload kind keeps its pod spec.
var podSpecPath = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

var workloadGroups = []string{"core", "apps", "extensions", "batch"}

// workload returns the pod spec of a Kubernetes workload resource.
func workload(r *policyx.AnalyzerResource) (property.Value, bool) {
	av, k, ok := kind(r.Type)
	if !ok {
		return property.Value{}, false
	}
	path, ok := podSpecPath[k]
	if !ok {
		return property.Value{}, false
	}
	g := "core"
	if i := strings.Index(av, "/"); i >= 0 {
		g = av[:i]
	}
	if !slices.Contains(workloadGroups, g) {
		return property.Value{}, false
	}
	return prop(r, path...), true
}

// kindOf is the kind of a Kubernetes resource's type token ("" for others).
func kindOf(r *policyx.AnalyzerResource) string {
	_, k, _ := kind(r.Type)
	return k
}

// The checks the pre-deployment checklist (components/checklist) shares with this pack: the same
// implementation over the objects rendered from the GitOps repository.
var (
	CheckPlaceholders               = checkPlaceholders
	CheckResourceLimits             = checkResourceLimits
	CheckStorageClassesExist        = checkStorageClassesExist
	CheckHostsUnderDomain           = checkHostsUnderDomain
	CheckTransactionCriticalStorage = checkTransactionCriticalStorage
)

// IsIstioGateway recognises the Istio ingress gateways' Service (see isIstioGateway).
func IsIstioGateway(r *policyx.AnalyzerResource) bool {
	is, _ := isIstioGateway(r)
	return is
}
