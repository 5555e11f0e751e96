package rules

// Rule transaction-critical-storage (guide 1.4, 4.1).

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/storage"
)

// criticalRe names the transaction-critical stateful software of guide 1.4/4.1: databases,
// messaging (Kafka, its ZooKeeper, RabbitMQ, NATS) and Redis.
var criticalRe = regexp.MustCompile(`(?i)(^|[^a-z])(mysql|mariadb|percona|galera|postgres(ql)?|pgsql|timescale|mongo(db)?|cassandra|scylla|cockroach(db)?|kafka|zookeeper|rabbitmq|nats|redis|valkey)([^a-z]|$)`)

// critical reports whether a resource is transaction-critical: its pm4ml.io/tier label or
// annotation says so, or its name, app labels or images name a database, broker or Redis. An
// explicit tier "cold" opts out (e.g. a database backup job).
func critical(r *policyx.AnalyzerResource, spec property.Value) (what string, yes bool) {
	for _, p := range [][]string{{"metadata", "labels", storage.TierAnnotation}, {"metadata", "annotations", storage.TierAnnotation}} {
		if t, _, ok := str(prop(r, p...)); ok {
			return "tier " + t, t == storage.TierTransactionCritical
		}
	}
	cands := []string{}
	if n, _, ok := str(prop(r, "metadata", "name")); ok {
		cands = append(cands, n)
	}
	_, labels, _ := entries(prop(r, "metadata", "labels"))
	for _, k := range []string{"app", "app.kubernetes.io/name", "app.kubernetes.io/component"} {
		if v, _, ok := str(labels[k]); ok {
			cands = append(cands, v)
		}
	}
	for _, list := range []string{"containers", "initContainers"} {
		cs, _ := items(at(spec, list))
		for _, c := range cs {
			if img, _, ok := str(at(c, "image")); ok {
				cands = append(cands, img)
			}
		}
	}
	for _, c := range cands {
		if m := criticalRe.FindStringSubmatch(c); m != nil {
			return strings.ToLower(m[2]), true
		}
	}
	return "", false
}

// checkTransactionCriticalStorage is rule 7 (guide 1.4, 4.1 "Cold storage must not be used for
// ... Real-time database workloads, Messaging systems"): databases, Kafka and Redis never on the
// Ceph (cold) StorageClass.
func checkTransactionCriticalStorage(s *Stack) []Finding {
	const rule = "the transaction-critical-storage rule"
	classes, classesKnown := s.storageClasses()
	defaultClass := ""
	for n, c := range classes {
		if c.Default {
			defaultClass = n
		}
	}
	pvcs := map[string]claim{}
	for _, c := range s.claims() {
		if isKind(c.Res.Type, "core", "PersistentVolumeClaim") {
			pvcs[c.Namespace+"/"+c.Name] = c
		}
	}
	var out []Finding
	seen := map[string]bool{}
	add := func(f Finding) {
		if !seen[f.URN+f.Message] {
			seen[f.URN+f.Message] = true
			out = append(out, f)
		}
	}
	judge := func(owner *policyx.AnalyzerResource, what string, c claim) {
		class := c.Class
		switch {
		case !c.Known:
			add(unknown(owner, c.Where, rule))
			return
		case !c.ClassSet:
			class = defaultClass
		}
		if !classesKnown {
			add(unknown(owner, "the stack's StorageClasses", rule))
			return
		}
		info, ok := classes[class]
		if !ok {
			return // an unknown class is the checklist rule's finding
		}
		if info.Tier == storage.TierCold {
			via := fmt.Sprintf("%s uses StorageClass %q", c.Where, class)
			if !c.ClassSet {
				via = fmt.Sprintf("%s names no class and gets the default %q", c.Where, class)
			}
			add(findingAt(owner, c.Where, fmt.Sprintf("is transaction-critical (%s) but %s, the cold Ceph tier", what, via),
				"use the node-local transaction-critical class (pm4ml:ceph.localStorageClass); Ceph is for logs, backups and archives only (guide 1.4, 4.1). Label the resource pm4ml.io/tier=cold if it really is cold data"))
		}
	}
	for i := range s.Resources {
		r := &s.Resources[i]
		if isKind(r.Type, "core", "PersistentVolumeClaim") {
			if what, yes := critical(r, property.Value{}); yes {
				for _, c := range s.claims() {
					if c.Res == r {
						judge(r, what, c)
					}
				}
			}
			continue
		}
		spec, ok := workload(r)
		if !ok {
			continue
		}
		what, yes := critical(r, spec)
		if !yes {
			continue
		}
		if isKind(r.Type, "apps", "StatefulSet") {
			for _, c := range s.claims() {
				if c.Res == r {
					judge(r, what, c)
				}
			}
		}
		ns, _, _ := str(prop(r, "metadata", "namespace"))
		vols, known := items(at(spec, "volumes"))
		if !known {
			add(unknown(r, "spec volumes", rule))
			continue
		}
		for _, v := range vols {
			cn, kn, ok := str(at(v, "persistentVolumeClaim", "claimName"))
			if !kn {
				add(unknown(r, "a volume's claimName", rule))
				continue
			}
			if !ok {
				continue
			}
			if c, found := pvcs[ns+"/"+cn]; found {
				judge(r, what, c)
			}
		}
	}
	return out
}
