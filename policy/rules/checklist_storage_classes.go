package rules

// Check of the pre-deployment-checklist rule: claimed StorageClasses exist.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/storage"
)

type classInfo struct {
	Tier    string
	Default bool
}

// storageClasses are the classes the stack creates: the storage component's output and any
// StorageClass resource. known is false when the component's output is computed.
func (s *Stack) storageClasses() (map[string]classInfo, bool) {
	out := map[string]classInfo{}
	known := true
	for _, r := range s.ByType(storage.Token) {
		keys, m, kn := entries(prop(r, "storageClasses"))
		if !kn {
			known = false
		}
		for _, k := range keys {
			tier, _, _ := str(at(m[k], "tier"))
			def, _, _ := boolean(at(m[k], "default"))
			out[k] = classInfo{Tier: tier, Default: def}
		}
	}
	for i := range s.Resources {
		r := &s.Resources[i]
		if !isKind(r.Type, "storage.k8s.io", "StorageClass") {
			continue
		}
		name, kn, _ := str(prop(r, "metadata", "name"))
		if !kn {
			known = false
			continue
		}
		if name == "" {
			name = r.Name
		}
		tier, _, _ := str(prop(r, "metadata", "annotations", storage.TierAnnotation))
		prov, _, _ := str(prop(r, "provisioner"))
		if tier == "" && (strings.Contains(prov, "rbd.csi.ceph.com") || strings.Contains(prov, "cephfs.csi.ceph.com")) {
			tier = storage.TierCold
		}
		def, _, _ := str(prop(r, "metadata", "annotations", "storageclass.kubernetes.io/is-default-class"))
		out[name] = classInfo{Tier: tier, Default: def == "true"}
	}
	return out, known
}

// claim is one volume claim of the stack: a PersistentVolumeClaim or a StatefulSet's template.
type claim struct {
	Res       *policyx.AnalyzerResource
	Where     string // "spec" or "volumeClaimTemplates[data]"
	Name      string
	Namespace string
	Class     string
	ClassSet  bool
	Known     bool
}

func (s *Stack) claims() []claim {
	var out []claim
	for i := range s.Resources {
		r := &s.Resources[i]
		switch {
		case isKind(r.Type, "core", "PersistentVolumeClaim"):
			c := claim{Res: r, Where: "spec.storageClassName", Known: true}
			c.Name, _, _ = str(prop(r, "metadata", "name"))
			c.Namespace, _, _ = str(prop(r, "metadata", "namespace"))
			v := prop(r, "spec", "storageClassName")
			c.Class, c.Known, c.ClassSet = str(v)
			out = append(out, c)
		case isKind(r.Type, "apps", "StatefulSet"):
			vcts, known := items(prop(r, "spec", "volumeClaimTemplates"))
			if !known {
				out = append(out, claim{Res: r, Where: "spec.volumeClaimTemplates"})
				continue
			}
			for _, t := range vcts {
				name, _, _ := str(at(t, "metadata", "name"))
				c := claim{Res: r, Name: name, Where: fmt.Sprintf("volumeClaimTemplates[%s].spec.storageClassName", name)}
				c.Class, c.Known, c.ClassSet = str(at(t, "spec", "storageClassName"))
				out = append(out, c)
			}
		}
	}
	return out
}

func classNames(m map[string]classInfo) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func checkStorageClassesExist(s *Stack) []Finding {
	var out []Finding
	classes, known := s.storageClasses()
	for _, c := range s.claims() {
		switch {
		case !c.Known:
			out = append(out, unknown(c.Res, c.Where, checklistRule))
		case !c.ClassSet || c.Class == "":
			// the default class (or static binding): the transaction-critical rule checks the tier
		case !known:
			out = append(out, unknown(c.Res, "the stack's StorageClasses", checklistRule))
		default:
			if _, ok := classes[c.Class]; !ok {
				out = append(out, findingAt(c.Res, c.Where, fmt.Sprintf("%s references StorageClass %q, which the stack does not create (it has: %s)", c.Where, c.Class, classNames(classes)),
					"reference one of the stack's classes (pm4ml:ceph.storageClass for cold data, pm4ml:ceph.localStorageClass for transaction-critical data, guide 6.3 \"Correct StorageClass referenced\")"))
			}
		}
	}
	return out
}
