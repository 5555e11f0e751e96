package checklist

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/internal/gitopsrender"
	"github.com/pm4ml/pm4ml-onprem/policy/rules"
)

// item is one rendered object with its app.
type item struct {
	App string
	Obj gitopsrender.Object
	Res *policyx.AnalyzerResource
}

// CheckObjects runs every machine-checked rule over the rendered objects of the apps.
func CheckObjects(rendered []Rendered, spec Spec) []Failure {
	var items []*item
	byURN := map[string]*item{}
	var res []policyx.AnalyzerResource
	for _, r := range rendered {
		for i, ob := range r.Objects {
			av := ob.APIVersion()
			if !strings.Contains(av, "/") {
				av = "core/" + av
			}
			typ := "kubernetes:" + av + ":" + ob.Kind()
			name := r.App.Name + "/" + ob.Ref()
			urn := fmt.Sprintf("urn:pulumi:checklist::gitops::%s::%s#%d", typ, name, i)
			res = append(res, policyx.AnalyzerResource{URN: urn, Type: typ, Name: name, Properties: toProp(map[string]any(ob)).AsMap()})
			items = append(items, &item{App: r.App.Name, Obj: ob})
		}
	}
	// the stack's facts the shared rules read: the domain and the StorageClasses
	classes := map[string]property.Value{}
	for _, c := range spec.StorageClasses {
		classes[c.Name] = property.New(map[string]property.Value{"tier": property.New(c.Tier), "default": property.New(c.Default)})
	}
	res = append(res,
		policyx.AnalyzerResource{URN: "urn:pulumi:checklist::gitops::" + rules.FactsToken + "::facts", Type: rules.FactsToken, Name: "facts",
			Properties: property.NewMap(map[string]property.Value{"domain": property.New(spec.Domain)})},
		policyx.AnalyzerResource{URN: "urn:pulumi:checklist::gitops::" + storage.Token + "::storage", Type: storage.Token, Name: "storage",
			Properties: property.NewMap(map[string]property.Value{"storageClasses": property.New(classes)})})
	for i, it := range items {
		it.Res = &res[i]
		byURN[it.Res.URN] = it
	}
	s := rules.NewStack(res)

	var out []Failure
	shared := []struct {
		id    string
		check func(*rules.Stack) []rules.Finding
	}{
		{RuleHostsUnderDomain, rules.CheckHostsUnderDomain},
		{RulePlaceholder, rules.CheckPlaceholders},
		{RuleStorageClass, rules.CheckStorageClassesExist},
		{RuleCriticalLocal, rules.CheckTransactionCriticalStorage},
		{RuleResources, rules.CheckResourceLimits},
	}
	for _, sh := range shared {
		for _, f := range sh.check(s) {
			it, ok := byURN[f.URN]
			if !ok || f.Unknown {
				continue // nothing of the rendered objects is computed
			}
			out = append(out, Failure{Rule: sh.id, App: it.App, Object: it.Obj.Ref(), Field: f.Field, Problem: f.Problem, Fix: f.Fix})
		}
	}
	out = append(out, checkGateways(items)...)
	out = append(out, checkIssuers(items)...)
	out = append(out, checkPVCSizes(items)...)
	out = append(out, checkHPAs(items)...)
	sortFailures(out)
	return out
}

// toProp converts a JSON-like value.
func toProp(v any) property.Value {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]property.Value, len(x))
		for k, e := range x {
			m[k] = toProp(e)
		}
		return property.New(m)
	case gitopsrender.Object:
		return toProp(map[string]any(x))
	case []any:
		s := make([]property.Value, len(x))
		for i, e := range x {
			s[i] = toProp(e)
		}
		return property.New(s)
	case string:
		return property.New(x)
	case bool:
		return property.New(x)
	case int64:
		return property.New(float64(x))
	case int:
		return property.New(float64(x))
	case float64:
		return property.New(x)
	}
	return property.Value{}
}

// --- JSON-like access -------------------------------------------------------------------------

func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			if o, isObj := v.(gitopsrender.Object); isObj {
				m = o
			} else {
				return nil
			}
		}
		v = m[k]
	}
	return v
}

func getStr(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

func getList(v any, path ...string) []any { l, _ := get(v, path...).([]any); return l }

func getMap(v any, path ...string) map[string]any { m, _ := get(v, path...).(map[string]any); return m }

func getInt(v any, path ...string) (int, bool) {
	switch x := get(v, path...).(type) {
	case int64:
		return int(x), true
	case float64:
		return int(x), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func is(o gitopsrender.Object, group, kind string) bool {
	return o.Group() == group && o.Kind() == kind
}

// --- gateway-nodeports and proxy-protocol -----------------------------------------------------

// gatewayRole is one Istio ingress gateway of the port matrix.
type gatewayRole struct {
	Name             string // external, internal
	HTTP, HTTPS, Sts string // port-matrix ids
	SendProxy        bool   // HAProxy sends PROXY v2 to it
}

// roles derives the two gateways from the port matrix and HAProxy's backends (which gateway gets
// the PROXY header is HAProxy's decision: components/haproxy).
func roles() []gatewayRole {
	proxy := map[string]bool{}
	for _, b := range (haproxy.Plan{}).Backends() {
		proxy[b.Name] = b.SendProxy
	}
	return []gatewayRole{
		{Name: "external", HTTP: network.IstioExtHTTP, HTTPS: network.IstioExtHTTPS, Sts: network.IstioExtStatus, SendProxy: proxy[haproxy.BackendExternal]},
		{Name: "internal", HTTP: network.IstioIntHTTP, HTTPS: network.IstioIntHTTPS, Sts: network.IstioIntStatus, SendProxy: proxy[haproxy.BackendInternal]},
	}
}

// StatusPort is the Istio gateway's health port (the status NodePorts forward to it).
const StatusPort = 15021

// gatewayRoleOf tells the internal gateway Service from the external one: "internal" in its name
// or its istio label.
func gatewayRoleOf(o gitopsrender.Object) string {
	for _, s := range []string{o.Name(), getStr(o, "metadata", "labels", "istio"), getStr(o, "spec", "selector", "istio")} {
		if strings.Contains(s, "internal") {
			return "internal"
		}
	}
	return "external"
}

func checkGateways(items []*item) []Failure {
	var out []Failure
	found := map[string][]*item{}
	for _, it := range items {
		if is(it.Obj, "", "Service") && rules.IsIstioGateway(it.Res) {
			r := gatewayRoleOf(it.Obj)
			found[r] = append(found[r], it)
		}
	}
	for _, role := range roles() {
		want := map[string]int{"http": portOf(role.HTTP), "https": portOf(role.HTTPS), "status-port": portOf(role.Sts)}
		gws := found[role.Name]
		if len(gws) == 0 {
			out = append(out, Failure{Rule: RuleGatewayNodePorts, Object: "Service/" + role.Name + "-ingressgateway", Field: "spec.ports",
				Problem: fmt.Sprintf("no %s Istio ingress gateway Service is rendered by any app, so HAProxy's %s backend (NodePorts %d/%d) reaches nothing", role.Name, role.Name, want["https"], want["status-port"]),
				Fix:     fmt.Sprintf("deploy the %s ingress gateway Service (label istio=%s) as type NodePort with nodePorts http %d, https %d, status-port %d (components/network)", role.Name, gatewayLabel(role.Name), want["http"], want["https"], want["status-port"])})
			continue
		}
		for _, gw := range gws {
			out = append(out, checkGatewayService(gw, role, want)...)
			out = append(out, checkProxyProtocol(gw, role, items)...)
		}
	}
	return out
}

func gatewayLabel(role string) string {
	if role == "internal" {
		return "internal-ingressgateway"
	}
	return "ingressgateway"
}

func portOf(id string) int { return network.Lookup(id).Ports.From }

// portKind classifies a gateway Service port: by its port number or its name.
func portKind(p any) string {
	n, _ := getInt(p, "port")
	name := getStr(p, "name")
	target, _ := getInt(p, "targetPort")
	switch {
	case n == StatusPort || target == StatusPort || name == "status-port":
		return "status-port"
	case n == 443 || strings.HasPrefix(name, "https"):
		return "https"
	case n == 80 || strings.HasPrefix(name, "http2") || name == "http":
		return "http"
	}
	return ""
}

func checkGatewayService(gw *item, role gatewayRole, want map[string]int) []Failure {
	var out []Failure
	fail := func(field, problem, fix string) {
		out = append(out, Failure{Rule: RuleGatewayNodePorts, App: gw.App, Object: gw.Obj.Ref(), Field: field, Problem: problem, Fix: fix})
	}
	if t := getStr(gw.Obj, "spec", "type"); t != "NodePort" {
		fail("spec.type", fmt.Sprintf("the %s gateway Service is type %q; HAProxy reaches the gateways on NodePorts", role.Name, t),
			"set spec.type: NodePort (guide 1.3.2, no LoadBalancer on-premise)")
	}
	seen := map[string]bool{}
	for i, p := range getList(gw.Obj, "spec", "ports") {
		k := portKind(p)
		if k == "" {
			continue
		}
		seen[k] = true
		np, ok := getInt(p, "nodePort")
		field := fmt.Sprintf("spec.ports[%d].nodePort", i)
		if name := getStr(p, "name"); name != "" {
			field = fmt.Sprintf("spec.ports[%s].nodePort", name)
		}
		switch {
		case !ok:
			fail(field, fmt.Sprintf("the %s gateway's %s port has no fixed nodePort (Kubernetes picks a random one HAProxy does not know)", role.Name, k),
				fmt.Sprintf("set nodePort: %d (port matrix %s, components/network)", want[k], idOf(role, k)))
		case np != want[k]:
			fail(field, fmt.Sprintf("the %s gateway's %s port uses NodePort %d, not the port matrix's %d, so HAProxy cannot reach it", role.Name, k, np, want[k]),
				fmt.Sprintf("set nodePort: %d (port matrix %s, components/network)", want[k], idOf(role, k)))
		}
	}
	for _, k := range []string{"http", "https", "status-port"} {
		if !seen[k] {
			fail("spec.ports", fmt.Sprintf("the %s gateway Service has no %s port", role.Name, k),
				fmt.Sprintf("add the %s port with nodePort %d (port matrix %s)", k, want[k], idOf(role, k)))
		}
	}
	return out
}

func idOf(role gatewayRole, k string) string {
	switch k {
	case "http":
		return role.HTTP
	case "https":
		return role.HTTPS
	}
	return role.Sts
}

// proxyFilterNames are Envoy's PROXY protocol listener filter names.
var proxyFilterNames = []string{"envoy.filters.listener.proxy_protocol", "envoy.listener.proxy_protocol"}

// acceptsProxy reports how a gateway accepts PROXY v2: an EnvoyFilter adding the listener filter
// to the gateway's pods, or the gateway pods' gatewayTopology.proxyProtocol. optional is true when
// the filter also accepts connections without the header.
func acceptsProxy(gw *item, items []*item) (how string, optional bool) {
	sel := getMap(gw.Obj, "spec", "selector")
	ns := gw.Obj.Namespace()
	matches := func(labels map[string]any) bool {
		if len(labels) == 0 {
			return true // no workloadSelector: every workload of the namespace
		}
		for k, v := range labels {
			if sel[k] != v {
				return false
			}
		}
		return true
	}
	for _, it := range items {
		o := it.Obj
		switch {
		case is(o, "networking.istio.io", "EnvoyFilter"):
			if o.Namespace() != ns && o.Namespace() != "istio-system" {
				continue
			}
			if !matches(getMap(o, "spec", "workloadSelector", "labels")) {
				continue
			}
			for _, cp := range getList(o, "spec", "configPatches") {
				if getStr(cp, "applyTo") != "LISTENER" {
					continue
				}
				for _, lf := range getList(cp, "patch", "value", "listener_filters") {
					if slices.Contains(proxyFilterNames, getStr(lf, "name")) {
						opt, _ := get(lf, "typed_config", "allow_requests_without_proxy_protocol").(bool)
						return "EnvoyFilter " + o.Name(), opt
					}
				}
			}
		case (is(o, "apps", "Deployment") || is(o, "apps", "DaemonSet")) && o.Namespace() == ns:
			labels := getMap(o, "spec", "template", "metadata", "labels")
			if len(sel) == 0 || !subset(sel, labels) {
				continue
			}
			cfg := getStr(o, "spec", "template", "metadata", "annotations", "proxy.istio.io/config")
			if strings.Contains(cfg, "proxyProtocol") {
				return "gatewayTopology.proxyProtocol of " + o.Ref(), false
			}
		}
	}
	return "", false
}

func subset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkProxyProtocol(gw *item, role gatewayRole, items []*item) []Failure {
	how, optional := acceptsProxy(gw, items)
	switch {
	case role.SendProxy && how == "":
		return []Failure{{Rule: RuleProxyProtocol, App: gw.App, Object: gw.Obj.Ref(), Field: "spec.selector",
			Problem: fmt.Sprintf("HAProxy sends PROXY protocol v2 to the %s gateway (NodePort %d) but no EnvoyFilter with the %s listener filter (nor gatewayTopology.proxyProtocol) selects its pods: every public TLS handshake would fail", role.Name, portOf(role.HTTPS), proxyFilterNames[0]),
			Fix:     "add an EnvoyFilter (networking.istio.io) in the gateway's namespace, workloadSelector = the Service's selector, applyTo: LISTENER, patch MERGE listener_filters [{name: envoy.filters.listener.proxy_protocol}]"}}
	case !role.SendProxy && how != "" && !optional:
		return []Failure{{Rule: RuleProxyProtocol, App: gw.App, Object: gw.Obj.Ref(), Field: "spec.selector",
			Problem: fmt.Sprintf("the %s gateway requires PROXY protocol (%s) but HAProxy's %s backend does not send it: every internal connection would fail", role.Name, how, role.Name),
			Fix:     "scope the EnvoyFilter to the external gateway's labels only (or set allow_requests_without_proxy_protocol: true)"}}
	}
	return nil
}

// --- issuer-exists ----------------------------------------------------------------------------

func checkIssuers(items []*item) []Failure {
	cluster, ns := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		switch {
		case is(it.Obj, "cert-manager.io", "ClusterIssuer"):
			cluster[it.Obj.Name()] = true
		case is(it.Obj, "cert-manager.io", "Issuer"):
			ns[it.Obj.Namespace()+"/"+it.Obj.Name()] = true
		}
	}
	var out []Failure
	for _, it := range items {
		o := it.Obj
		var kind, name, field string
		switch {
		case is(o, "cert-manager.io", "Certificate"):
			kind, name, field = getStr(o, "spec", "issuerRef", "kind"), getStr(o, "spec", "issuerRef", "name"), "spec.issuerRef"
			if g := getStr(o, "spec", "issuerRef", "group"); g != "" && g != "cert-manager.io" {
				continue // an external issuer: not cert-manager's
			}
			if kind == "" {
				kind = "Issuer"
			}
		case is(o, "networking.k8s.io", "Ingress"):
			if n := getStr(o, "metadata", "annotations", "cert-manager.io/cluster-issuer"); n != "" {
				kind, name, field = "ClusterIssuer", n, "metadata.annotations[cert-manager.io/cluster-issuer]"
			} else if n := getStr(o, "metadata", "annotations", "cert-manager.io/issuer"); n != "" {
				kind, name, field = "Issuer", n, "metadata.annotations[cert-manager.io/issuer]"
			} else {
				continue
			}
		default:
			continue
		}
		ok := (kind == "ClusterIssuer" && cluster[name]) || (kind == "Issuer" && ns[o.Namespace()+"/"+name])
		if name == "" || !ok {
			where := "cluster-wide"
			if kind == "Issuer" {
				where = "in namespace " + o.Namespace()
			}
			out = append(out, Failure{Rule: RuleIssuerExists, App: it.App, Object: o.Ref(), Field: field,
				Problem: fmt.Sprintf("references %s %q, which no app of the waves defines %s", kind, name, where),
				Fix:     "define the issuer in the certificate-management wave (e.g. certmanager-clusterissuers) or reference an existing one"})
		}
	}
	return out
}

// --- pvc-size ---------------------------------------------------------------------------------

func checkPVCSizes(items []*item) []Failure {
	var out []Failure
	judge := func(it *item, field string, spec any) {
		q := get(spec, "resources", "requests", "storage")
		s := fmt.Sprint(q)
		if q == nil {
			out = append(out, Failure{Rule: RulePVCSize, App: it.App, Object: it.Obj.Ref(), Field: field,
				Problem: "the claim requests no storage size", Fix: "set resources.requests.storage to the reviewed size, e.g. 10Gi"})
			return
		}
		v, err := resource.ParseQuantity(s)
		if err != nil || v.Sign() <= 0 {
			out = append(out, Failure{Rule: RulePVCSize, App: it.App, Object: it.Obj.Ref(), Field: field,
				Problem: fmt.Sprintf("the claim's size %q is not a positive quantity", s), Fix: "set resources.requests.storage to a size such as 10Gi"})
		}
	}
	for _, it := range items {
		switch {
		case is(it.Obj, "", "PersistentVolumeClaim"):
			judge(it, "spec.resources.requests.storage", get(it.Obj, "spec"))
		case is(it.Obj, "apps", "StatefulSet"):
			for _, t := range getList(it.Obj, "spec", "volumeClaimTemplates") {
				judge(it, fmt.Sprintf("spec.volumeClaimTemplates[%s].spec.resources.requests.storage", getStr(t, "metadata", "name")), get(t, "spec"))
			}
		}
	}
	return out
}

// --- hpa --------------------------------------------------------------------------------------

func checkHPAs(items []*item) []Failure {
	var out []Failure
	for _, it := range items {
		o := it.Obj
		if !is(o, "autoscaling", "HorizontalPodAutoscaler") {
			continue
		}
		fail := func(field, problem, fix string) {
			out = append(out, Failure{Rule: RuleHPA, App: it.App, Object: o.Ref(), Field: field, Problem: problem, Fix: fix})
		}
		tk, tn := getStr(o, "spec", "scaleTargetRef", "kind"), getStr(o, "spec", "scaleTargetRef", "name")
		found := slices.ContainsFunc(items, func(x *item) bool {
			return x.Obj.Kind() == tk && x.Obj.Name() == tn && x.Obj.Namespace() == o.Namespace()
		})
		if !found {
			fail("spec.scaleTargetRef", fmt.Sprintf("scales %s %q, which no app renders in namespace %s", tk, tn, o.Namespace()),
				"point scaleTargetRef at the workload the HPA is for (kind and name)")
		}
		minR, hasMin := getInt(o, "spec", "minReplicas")
		if !hasMin {
			minR = 1
		}
		maxR, hasMax := getInt(o, "spec", "maxReplicas")
		switch {
		case !hasMax || maxR < 1:
			fail("spec.maxReplicas", "maxReplicas is not set to at least 1", "set maxReplicas >= minReplicas")
		case minR < 1 || minR > maxR:
			fail("spec.minReplicas", fmt.Sprintf("minReplicas %d is not between 1 and maxReplicas %d", minR, maxR), "set 1 <= minReplicas <= maxReplicas")
		}
	}
	return out
}
