package rules

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/storage"
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

// resourceKeys are the settings every container needs (guide 6.3 Resource Management).
var resourceKeys = [][2]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "cpu"}, {"limits", "memory"}}

// checkChecklist is rule 6 (guide 6.3 Pre-Deployment Checklist), as far as resources show it.
func checkChecklist(s *Stack) []Finding {
	var out []Finding
	out = append(out, checkPlaceholders(s)...)
	out = append(out, checkResourceLimits(s)...)
	out = append(out, checkStorageClassesExist(s)...)
	out = append(out, checkHostsUnderDomain(s)...)
	return out
}

const checklistRule = "the pre-deployment-checklist rule"

func checkResourceLimits(s *Stack) []Finding {
	var out []Finding
	for i := range s.Resources {
		r := &s.Resources[i]
		spec, ok := workload(r)
		if !ok {
			continue
		}
		if spec.IsComputed() {
			out = append(out, unknown(r, "the pod spec", checklistRule))
			continue
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs, known := items(at(spec, list))
			if !known {
				out = append(out, unknown(r, list, checklistRule))
				continue
			}
			for _, c := range cs {
				name, _, _ := str(at(c, "name"))
				var missing, unknownKeys []string
				for _, k := range resourceKeys {
					v := at(c, "resources", k[0], k[1])
					switch {
					case v.IsComputed():
						unknownKeys = append(unknownKeys, k[0]+"."+k[1])
					case v.IsNull():
						missing = append(missing, k[0]+"."+k[1])
					case v.IsString() && strings.TrimSpace(v.AsString()) == "":
						missing = append(missing, k[0]+"."+k[1])
					}
				}
				if len(unknownKeys) > 0 {
					out = append(out, unknown(r, fmt.Sprintf("resources %s of container %s", strings.Join(unknownKeys, ", "), name), checklistRule))
				}
				if len(missing) > 0 {
					out = append(out, finding(r, fmt.Sprintf("container %s has no %s", name, strings.Join(missing, ", ")),
						"set resources.requests and resources.limits for cpu and memory on every container (guide 6.3 Resource Management)"))
				}
			}
		}
	}
	return out
}

// --- placeholder secrets ----------------------------------------------------------------------

var (
	placeholderWords = []string{"changeme", "change-me", "change_me", "changeit", "password", "passw0rd", "secret",
		"admin", "test", "todo", "tbd", "fixme", "placeholder", "example", "dummy", "default", "replaceme",
		"replace-me", "replace_me", "none", "null", "undefined", "foo", "bar", "123456", "12345678", "qwerty"}
	placeholderSubstrings = []string{"changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me",
		"placeholder", "your-", "your_", "insert-", "insert_"}
	angleRe       = regexp.MustCompile(`<[A-Za-z][^<>\n]{0,60}>`)
	templateRe    = regexp.MustCompile(`\$\{[^}]*\}|\{\{[^}]*\}\}`)
	prefixRe      = regexp.MustCompile(`(?i)^(todo|fixme|tbd)\b`)
	repeatRe      = regexp.MustCompile(`^(x{3,}|\*{3,}|\.{3,})$`)
	urlOrHostRe   = regexp.MustCompile(`^([a-z][a-z0-9+.-]*://|[a-z0-9._-]+@)?[a-z0-9-]+(\.[a-z0-9-]+)+([:/].*)?$`)
	tokenSplitRe  = regexp.MustCompile(`[^a-z0-9]+`)
	credentialKey = regexp.MustCompile(`(?i)(password|passwd|token|secret|api_?key|private_?key|credentials?)$`)
)

// Placeholder reports why a secret value is a placeholder ("" when it is not).
func Placeholder(value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return ""
	}
	if m := angleRe.FindString(v); m != "" {
		return fmt.Sprintf("contains the template marker %s", m)
	}
	if strings.Contains(v, "\n") {
		return "" // keys, certificates, kubeconfigs: only template markers count
	}
	if m := templateRe.FindString(v); m != "" {
		return fmt.Sprintf("contains the unrendered template %s", m)
	}
	low := strings.ToLower(v)
	if slices.Contains(placeholderWords, low) || repeatRe.MatchString(low) {
		return fmt.Sprintf("is the placeholder %q", v)
	}
	if prefixRe.MatchString(v) {
		return "starts with a TODO/FIXME/TBD marker"
	}
	for _, sub := range placeholderSubstrings {
		if strings.Contains(low, sub) {
			return fmt.Sprintf("contains %q", sub)
		}
	}
	if urlOrHostRe.MatchString(low) {
		return "" // an example domain in a URL is not a secret placeholder; the domain rules cover hosts
	}
	for _, tok := range tokenSplitRe.Split(low, -1) {
		if tok == "example" {
			return fmt.Sprintf("contains the example marker %q", tok)
		}
	}
	return ""
}

// jsonLeaves splits a JSON object held in a string (e.g. a Vault secret's data) into its string
// leaves; any other value is one leaf.
func jsonLeaves(where, val string) [][2]string {
	var obj map[string]any
	if !strings.HasPrefix(strings.TrimSpace(val), "{") || json.Unmarshal([]byte(val), &obj) != nil {
		return [][2]string{{where, val}}
	}
	var out [][2]string
	var walk func(p string, x any)
	walk = func(p string, x any) {
		switch x := x.(type) {
		case string:
			out = append(out, [2]string{p, x})
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(p+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s.%d", p, i), e)
			}
		}
	}
	walk(where, obj)
	return out
}

func checkPlaceholders(s *Stack) []Finding {
	var out []Finding
	for i := range s.Resources {
		r := &s.Resources[i]
		secretKind := isKind(r.Type, "core", "Secret")
		var walk func(v property.Value, path []string, secret bool)
		walk = func(v property.Value, path []string, secret bool) {
			secret = secret || v.Secret()
			switch {
			case v.IsMap():
				keys, m, _ := entries(v)
				for _, k := range keys {
					walk(m[k], append(slices.Clone(path), k), secret)
				}
			case v.IsArray():
				for j, e := range v.AsArray().AsSlice() {
					walk(e, append(slices.Clone(path), fmt.Sprint(j)), secret)
				}
			case v.IsString():
				where := strings.Join(path, ".")
				inSecret := secretKind && len(path) == 2 && (path[0] == "data" || path[0] == "stringData")
				last := ""
				if len(path) > 0 {
					last = path[len(path)-1]
				}
				if !secret && !inSecret && !credentialKey.MatchString(last) {
					return
				}
				val := v.AsString()
				if secretKind && len(path) == 2 && path[0] == "data" {
					if b, err := base64.StdEncoding.DecodeString(val); err == nil {
						val = string(b)
					}
				}
				for _, leaf := range jsonLeaves(where, val) {
					if why := Placeholder(leaf[1]); why != "" {
						out = append(out, finding(r, fmt.Sprintf("the secret value at %s %s", leaf[0], why),
							"set the real value from the secret's owner (for stack secrets: pulumi config set --secret pm4ml:<key>; guide 6.3 \"No placeholder secrets remain\")"))
					}
				}
			}
		}
		walk(property.New(r.Properties), nil, false)
	}
	return out
}

// --- storage classes --------------------------------------------------------------------------

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
				out = append(out, finding(c.Res, fmt.Sprintf("%s references StorageClass %q, which the stack does not create (it has: %s)", c.Where, c.Class, classNames(classes)),
					"reference one of the stack's classes (pm4ml:ceph.storageClass for cold data, pm4ml:ceph.localStorageClass for transaction-critical data, guide 6.3 \"Correct StorageClass referenced\")"))
			}
		}
	}
	return out
}

// --- domain -----------------------------------------------------------------------------------

func underDomain(host, domain string) bool {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	return d != "" && (h == d || strings.HasSuffix(h, "."+d))
}

func checkHostsUnderDomain(s *Stack) []Finding {
	var out []Finding
	f := s.facts()
	need := func(r *policyx.AnalyzerResource, what string, hosts []string, fix string) {
		switch {
		case len(hosts) == 0:
		case !f.present:
			out = append(out, Finding{URN: r.URN, Unknown: true, Message: fmt.Sprintf(
				"%s (%s): the stack has no pm4ml:stack:Facts component, so the domain is unknown and %s cannot check %s", r.Name, r.Type, checklistRule, what)})
		case !f.Known("domain"):
			out = append(out, unknown(f.Res, "pm4ml:domain", checklistRule))
		default:
			var bad []string
			for _, h := range hosts {
				if !underDomain(h, f.Domain) {
					bad = append(bad, h)
				}
			}
			if len(bad) > 0 {
				out = append(out, finding(r, fmt.Sprintf("%s %s not under the domain %s", what+" "+strings.Join(bad, ", "), isAre(len(bad)), f.Domain), fix))
			}
		}
	}
	for i := range s.Resources {
		r := &s.Resources[i]
		av, k, ok := kind(r.Type)
		if !ok {
			continue
		}
		group, _, _ := strings.Cut(av, "/")
		switch {
		case group == "cert-manager.io" && k == "Certificate":
			var hosts []string
			cn := prop(r, "spec", "commonName")
			names := prop(r, "spec", "dnsNames")
			if cn.HasComputed() || names.HasComputed() {
				out = append(out, unknown(r, "spec.commonName/dnsNames", checklistRule))
				continue
			}
			if v, _, ok := str(cn); ok && v != "" {
				hosts = append(hosts, v)
			}
			l, _ := stringList(names)
			hosts = append(hosts, l...)
			need(r, "the certificate's CN/SAN", hosts, "issue the certificate for pm4ml:domain and its subdomains (guide 6.3 \"Certificate CN/SAN matches domain\")")
		case group == "networking.istio.io" && k == "Gateway":
			servers, known := items(prop(r, "spec", "servers"))
			if !known {
				out = append(out, unknown(r, "spec.servers", checklistRule))
				continue
			}
			var hosts []string
			for _, sv := range servers {
				hs, kn := stringList(at(sv, "hosts"))
				if !kn {
					out = append(out, unknown(r, "spec.servers[].hosts", checklistRule))
					hosts = nil
					break
				}
				for _, h := range hs {
					if _, after, found := strings.Cut(h, "/"); found {
						h = after
					}
					hosts = append(hosts, h)
				}
			}
			need(r, "the Gateway host(s)", hosts, "list only hosts under pm4ml:domain in the Gateway's servers (guide 6.3 \"Istio Gateway hosts updated\")")
		case group == "gateway.networking.k8s.io" && k == "Gateway":
			listeners, known := items(prop(r, "spec", "listeners"))
			if !known {
				out = append(out, unknown(r, "spec.listeners", checklistRule))
				continue
			}
			var hosts []string
			for _, l := range listeners {
				if h, kn, ok := str(at(l, "hostname")); !kn {
					out = append(out, unknown(r, "spec.listeners[].hostname", checklistRule))
				} else if ok {
					hosts = append(hosts, h)
				}
			}
			need(r, "the Gateway listener host(s)", hosts, "set each listener's hostname under pm4ml:domain (guide 6.3)")
		case group == "networking.istio.io" && k == "VirtualService":
			gws, kn := stringList(prop(r, "spec", "gateways"))
			hosts, kh := stringList(prop(r, "spec", "hosts"))
			if !kn || !kh {
				out = append(out, unknown(r, "spec.gateways/hosts", checklistRule))
				continue
			}
			if !slices.ContainsFunc(gws, func(g string) bool { return g != "mesh" }) {
				continue // mesh-internal routing only
			}
			need(r, "the VirtualService host(s)", hosts, "route only hosts under pm4ml:domain through the ingress gateways (guide 6.3 \"VirtualService URLs updated\")")
		}
	}
	return out
}

// --- rule 7 -----------------------------------------------------------------------------------

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
			add(finding(owner, fmt.Sprintf("is transaction-critical (%s) but %s, the cold Ceph tier", what, via),
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
