package rules_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/components/wireguard"
	"github.com/pm4ml/pm4ml-onprem/policy/rules"
	"github.com/pm4ml/pm4ml-onprem/policy/stacktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// edit changes the resources the engine would hand the pack (a regression of a component, or
// a value a preview does not know).
type edit func(t testing.TB, rs []policyx.AnalyzerResource)

// byType is the index of the first resource of a type token (the singleton components).
func byType(t testing.TB, rs []policyx.AnalyzerResource, typ string) int {
	t.Helper()
	for i, r := range rs {
		if r.Type == typ {
			return i
		}
	}
	t.Fatalf("no %s resource", typ)
	return -1
}

// set replaces a property of the singleton of a type (or of hostprep "prep-<host>" when host is
// set).
func set(typ string, value any, path ...string) edit {
	return func(t testing.TB, rs []policyx.AnalyzerResource) {
		t.Helper()
		i := byType(t, rs, typ)
		pv, ok := value.(property.Value)
		if !ok {
			pv = stacktest.Value(t, value)
		}
		rs[i].Properties = stacktest.Set(t, rs[i].Properties, pv, path...)
	}
}

// row finds the index of a firewall row of a host by its id.
func row(t testing.TB, r policyx.AnalyzerResource, id string) string {
	t.Helper()
	rows := stacktest.Get(r.Properties, "firewall")
	for i := range rows.AsArray().Len() {
		if v := stacktest.Get(r.Properties, "firewall", fmt.Sprint(i), "id"); v.IsString() && v.AsString() == id {
			return fmt.Sprint(i)
		}
	}
	t.Fatalf("%s has no firewall row %s", r.Name, id)
	return ""
}

// setRow replaces a field of a host's firewall row.
func setRow(host, id string, value any, field ...string) edit {
	return func(t testing.TB, rs []policyx.AnalyzerResource) {
		t.Helper()
		i := stacktest.Find(t, rs, hostprep.Token, "prep-"+host)
		pv, ok := value.(property.Value)
		if !ok {
			pv = stacktest.Value(t, value)
		}
		path := append([]string{"firewall", row(t, rs[i], id)}, field...)
		rs[i].Properties = stacktest.Set(t, rs[i].Properties, pv, path...)
	}
}

// addRow appends a firewall row to a host.
func addRow(host string, r map[string]any) edit {
	return func(t testing.TB, rs []policyx.AnalyzerResource) {
		t.Helper()
		i := stacktest.Find(t, rs, hostprep.Token, "prep-"+host)
		rows := stacktest.Get(rs[i].Properties, "firewall").AsArray().AsSlice()
		rows = append(rows, stacktest.Value(t, r))
		rs[i].Properties = stacktest.Set(t, rs[i].Properties, property.New(rows), "firewall")
	}
}

func appendTo(typ string, value any, path ...string) edit {
	return func(t testing.TB, rs []policyx.AnalyzerResource) {
		t.Helper()
		i := byType(t, rs, typ)
		l := stacktest.Get(rs[i].Properties, path...).AsArray().AsSlice()
		l = append(l, stacktest.Value(t, value))
		rs[i].Properties = stacktest.Set(t, rs[i].Properties, property.New(l), path...)
	}
}

// setNamed replaces a property of the resource with that type and name.
func setNamed(typ, name string, value any, path ...string) edit {
	return func(t testing.TB, rs []policyx.AnalyzerResource) {
		t.Helper()
		i := stacktest.Find(t, rs, typ, name)
		pv, ok := value.(property.Value)
		if !ok {
			pv = stacktest.Value(t, value)
		}
		rs[i].Properties = stacktest.Set(t, rs[i].Properties, pv, path...)
	}
}

func edits(es ...edit) edit {
	return func(t testing.TB, rs []policyx.AnalyzerResource) {
		t.Helper()
		for _, e := range es {
			e(t, rs)
		}
	}
}

// variant is a change to a shipped stack and what the pack must say about it.
type variant struct {
	name  string
	stack string // default prod
	extra extraFn
	cfg   func(src *stacks.FileSource)
	edit  edit
	// policy and has: the new reports (beyond the shipped stack's) are all from policy, at the
	// environment's level, and one names has (resource, problem, fix). ok: no new report at all.
	policy string
	has    []string
	ok     bool
	// also are other policies the change rightly triggers too.
	also []string
	// unresolved: the rule reports no violation but the unresolved-in-preview policy reports
	// the unknown (naming policy).
	unresolved bool
}

func (v variant) run(t *testing.T) {
	stack := v.stack
	if stack == "" {
		stack = "prod"
	}
	base := runPack(t, stack, build(t, stack).Resources)
	res := build(t, stack)
	if v.extra != nil || v.cfg != nil {
		res = stacktest.Build(t, stack, stacktest.Options{Extra: v.extra, Config: v.cfg})
	}
	rs := stacktest.Clone(res.Resources)
	if v.edit != nil {
		v.edit(t, rs)
	}
	news := diff(runPack(t, stack, rs), base)
	if v.ok {
		if len(news) > 0 {
			t.Fatalf("want no new report, got:%s", dump(news))
		}
		return
	}
	if len(news) == 0 {
		t.Fatalf("%s: the pack reported nothing new", v.name)
	}
	policy, level := v.policy, policyx.EnforcementLevelMandatory
	if stack == "stg" && (policy == "dedicated-masters" || policy == "high-availability") {
		level = policyx.EnforcementLevelAdvisory
	}
	if v.unresolved {
		policy, level = rules.UnresolvedPolicy, policyx.EnforcementLevelAdvisory
	}
	found := false
	for _, r := range news {
		if slices.Contains(v.also, r.Policy) {
			continue
		}
		if r.Policy != policy || r.Level != level {
			t.Errorf("unexpected report from another policy or level: %s", r)
			continue
		}
		if v.unresolved && !slices.ContainsFunc(append([]string{v.policy}, v.also...), func(p string) bool { return strings.HasPrefix(r.Message, "["+p+"] ") }) {
			t.Errorf("the unresolved report does not name the rule %s: %s", v.policy, r)
		}
		if !v.unresolved && !strings.Contains(r.Message, "Fix: ") {
			t.Errorf("the violation names no fix: %s", r)
		}
		all := true
		for _, h := range v.has {
			all = all && strings.Contains(r.Message, h)
		}
		found = found || all
	}
	if !found {
		t.Errorf("no report of %s contains %q; got:%s", policy, v.has, dump(news))
	}
	if !v.unresolved {
		for _, r := range news {
			if r.URN == "" {
				t.Errorf("a violation without the resource's URN: %s", r)
			}
		}
	}
}

var variants = []variant{
	// 1. dedicated masters
	{name: "two masters", edit: set(microk8s.Token, []string{"prod-master-1", "prod-master-2"}, "masters"),
		policy: "dedicated-masters", has: []string{"microk8s (pm4ml:microk8s:Cluster): has 2 master(s)", "Fix: give 3 hosts the master role"}},
	{name: "master not tainted", edit: set(microk8s.Token, false, "taintedMasters", "prod-master-2"),
		policy: "dedicated-masters", has: []string{"master prod-master-2 is not tainted", "NoSchedule"}},
	{name: "master also a worker", edit: set(microk8s.Token, []string{"prod-worker-1", "prod-worker-2", "prod-worker-3", "prod-master-1"}, "workers"),
		policy: "dedicated-masters", has: []string{"prod-master-1 is both master and worker", "pm4ml:riskAcceptance"}},
	{name: "master also a worker, risk accepted", ok: true, edit: edits(
		set(microk8s.Token, []string{"prod-worker-1", "prod-worker-2", "prod-worker-3", "prod-master-1"}, "workers"),
		set(stacks.FactsToken, "RISK-2026-014", "riskAcceptance"))},
	{name: "config: combined master with risk acceptance", ok: true, cfg: func(src *stacks.FileSource) {
		raw, _ := src.Get("hosts")
		src.Set("hosts", strings.Replace(raw, `"name":"prod-master-1","roles":["master"]`, `"name":"prod-master-1","roles":["master","worker"]`, 1), false)
		if !strings.Contains(mustGet(src, "hosts"), `["master","worker"]`) {
			panic("the hosts mutation did not apply: " + mustGet(src, "hosts"))
		}
		src.Set("riskAcceptance", "RISK-2026-014", false)
	}},
	{name: "stg: dedicated masters are advisory", stack: "stg", edit: set(microk8s.Token, []string{"stg-k8s-1"}, "masters"),
		policy: "dedicated-masters", has: []string{"has 1 master(s) (stg-k8s-1)"}},

	// 2. high availability
	{name: "two workers", edit: set(microk8s.Token, []string{"prod-worker-1", "prod-worker-2"}, "workers"),
		policy: "high-availability", has: []string{"has 2 worker(s)", "Fix: give at least 3 hosts the worker role"}},
	{name: "VIP not held by the second LB", edit: set(haproxy.Token, []string{}, "keepalived", "prod-lb-2"),
		policy: "high-availability", has: []string{"keepalived on prod-lb-2 does not hold the public VIP 10.10.0.10"}},
	{name: "one HAProxy host", edit: setNamed(hostprep.Token, "prep-prod-lb-2", []string{"worker"}, "roles"),
		policy: "high-availability", has: []string{"the stack has 1 HAProxy host(s) (prod-lb-1)"},
		also: []string{"no-public-nodeports"}}, // the former LB's address and public rows no longer fit
	{name: "two storage members", edit: set(microceph.Token, []string{"prod-storage-1", "prod-storage-2"}, "members"),
		policy: "high-availability", has: []string{"microceph (pm4ml:microceph:Cluster): has 2 storage member(s)"}},

	// 3. no public NodePorts
	{name: "NodePort service", extra: service("debug-ui", "NodePort", map[string]string{"app": "debug-ui"}, 30999),
		policy: "no-public-nodeports", has: []string{"debug-ui (kubernetes:core/v1:Service): is a Service of type NodePort", "Fix: make it type ClusterIP"}},
	{name: "stg: a NodePort service is mandatory there too", stack: "stg", extra: service("debug-ui", "NodePort", map[string]string{"app": "debug-ui"}, 30999),
		policy: "no-public-nodeports", has: []string{"debug-ui (kubernetes:core/v1:Service): is a Service of type NodePort"}},
	{name: "LoadBalancer service", extra: service("portal", "LoadBalancer", map[string]string{"app": "portal"}, 0),
		policy: "no-public-nodeports", has: []string{"portal (kubernetes:core/v1:Service): is a Service of type LoadBalancer"}},
	{name: "gateway on a random NodePort", extra: service("istio-ingressgateway", "NodePort", map[string]string{"istio": "ingressgateway"}, 30001),
		policy: "no-public-nodeports", has: []string{"istio-ingressgateway (kubernetes:core/v1:Service): gateway port \"p0\" uses NodePort 30001"}},
	{name: "gateway on the matrix NodePorts", ok: true, extra: service("istio-ingressgateway", "NodePort", map[string]string{"istio": "ingressgateway"}, gatewayPorts()...)},
	{name: "ClusterIP service", ok: true, extra: service("portal", "ClusterIP", map[string]string{"app": "portal"})},
	{name: "NodePort row from an admin address", edit: setRow("prod-worker-1", network.IstioExtHTTPS, []string{"10.10.0.11", "10.10.0.12", "10.10.250.7"}, "sources"),
		policy: "no-public-nodeports", has: []string{"prep-prod-worker-1 (pm4ml:hostprep:HostPrep): firewall row", "from 10.10.250.7, which are not HAProxy addresses"}},
	{name: "NodePort row from anywhere", edit: setRow("prod-worker-2", network.IstioIntHTTPS, true, "anywhere"),
		policy: "no-public-nodeports", has: []string{"prep-prod-worker-2", "admits NodePorts from anywhere"}},
	{name: "extra public port on HAProxy", edit: addRow("prod-lb-1", map[string]any{"id": "admin-ui", "proto": "tcp", "from": 8080, "to": 8080, "source": "anywhere", "sources": []string{}, "anywhere": true, "public": true}),
		policy: "no-public-nodeports", has: []string{"prep-prod-lb-1", "admin-ui tcp/8080 from anywhere", "opens a port other than tcp/80, tcp/443"}},
	{name: "public port on a worker", edit: addRow("prod-worker-3", map[string]any{"id": "web", "proto": "tcp", "from": 443, "to": 443, "source": "anywhere", "sources": []string{"0.0.0.0/0"}, "anywhere": false, "public": true}),
		policy: "no-public-nodeports", has: []string{"prep-prod-worker-3", "makes host prod-worker-3 reachable from anywhere"}},
	{name: "WireGuard port without WireGuard", edit: addRow("prod-lb-1", map[string]any{"id": "wireguard", "proto": "udp", "from": 51820, "to": 51820, "source": "anywhere", "sources": []string{}, "anywhere": true, "public": true}),
		policy: "no-public-nodeports", has: []string{"wireguard udp/51820 from anywhere"}},
	{name: "WireGuard port with WireGuard enabled", ok: true, edit: edits(
		addRow("prod-lb-1", map[string]any{"id": "wireguard", "proto": "udp", "from": 51820, "to": 51820, "source": "anywhere", "sources": []string{}, "anywhere": true, "public": true}),
		set(wireguard.Token, true, "enabled"), set(wireguard.Token, 51820, "port"))},
	{name: "public frontend on another port", edit: appendTo(haproxy.Token, map[string]any{"name": "admin", "address": "10.10.0.10", "port": 9000, "mode": "tcp", "tlsTermination": false, "public": true, "backend": "x"}, "frontends"),
		policy: "no-public-nodeports", has: []string{"haproxy (pm4ml:haproxy:LoadBalancer): frontend admin listens on the public side 10.10.0.10:9000"}},

	// 4. HAProxy L4 only
	{name: "TLS termination", edit: set(haproxy.Token, true, "frontends", "0", "tlsTermination"),
		policy: "haproxy-l4-only", has: []string{"frontend public_https terminates TLS", "Istio ingress gateway terminates TLS"}},
	{name: "http mode forwarding", edit: set(haproxy.Token, "http", "frontends", "2", "mode"),
		policy: "haproxy-l4-only", has: []string{"frontend internal_https runs in mode \"http\""}},
	{name: "http backend", edit: set(haproxy.Token, "http", "backends", "0", "mode"),
		policy: "haproxy-l4-only", has: []string{"backend istio_external_https runs in mode \"http\""}},
	{name: "stats on the public VIP", edit: set(haproxy.Token, "10.10.0.10:8404", "statsBind", "prod-lb-1"),
		policy: "haproxy-l4-only", has: []string{"stats on prod-lb-1 bind the public VIP 10.10.0.10:8404"}},
	{name: "stats on every address", edit: set(haproxy.Token, "*:8404", "statsBind", "prod-lb-2"),
		policy: "haproxy-l4-only", has: []string{"stats on prod-lb-2 bind \"*:8404\""}},
	{name: "stats port open to anywhere", edit: setRow("prod-lb-2", network.HAProxyStats, []string{"0.0.0.0/0"}, "sources"),
		policy: "haproxy-l4-only", has: []string{"prep-prod-lb-2", "admits the HAProxy stats port from anywhere"},
		also: []string{"no-public-nodeports"}},

	// 5. restricted administrative ports
	{name: "SSH from anywhere", edit: setRow("prod-master-1", network.SSH, []string{"0.0.0.0/0"}, "sources"),
		policy: "restricted-admin-ports", has: []string{"prep-prod-master-1", "admits SSH from anywhere", "adminAllowlist"},
		also: []string{"no-public-nodeports"}},
	{name: "SSH from anywhere, sources as the program writes them (one string)", edit: setRow("prod-master-2", network.SSH, "10.10.0.5,0.0.0.0/0", "sources"),
		policy: "restricted-admin-ports", has: []string{"prep-prod-master-2", "admits SSH from anywhere", "adminAllowlist"},
		also: []string{"no-public-nodeports"}},
	{name: "stg: Ceph from outside the storage network", stack: "stg", edit: setRow("stg-storage-1", network.CephMonV2, []string{"10.10.100.5", "10.10.100.11"}, "sources"),
		policy: "restricted-admin-ports", has: []string{"prep-stg-storage-1", "admits a Ceph port from 10.10.100.5"}},
	{name: "stg: unpinned MicroK8s", stack: "stg", edit: set(microk8s.Token, "latest/edge", "channel"),
		policy: "pinned-snaps", has: []string{"the microk8s snap channel \"latest/edge\" is not pinned"}},
	{name: "SSH from outside the allowlist", edit: setRow("prod-storage-2", network.SSH, []string{"10.10.0.5", "10.10.250.0/24", "192.0.2.10"}, "sources"),
		policy: "restricted-admin-ports", has: []string{"prep-prod-storage-2", "admits SSH from 192.0.2.10"}},
	{name: "kubelet from the admin network", edit: setRow("prod-master-2", network.Kubelet, []string{"10.10.250.0/24"}, "sources"),
		policy: "restricted-admin-ports", has: []string{"prep-prod-master-2", "admits a control-plane port from 10.10.250.0/24"}},
	{name: "mislabelled control-plane row", edit: addRow("prod-master-3", map[string]any{"id": "metrics", "proto": "tcp", "from": 10000, "to": 10300, "source": "anywhere", "sources": []string{}, "anywhere": true, "public": false}),
		policy: "restricted-admin-ports", has: []string{"metrics tcp/10000-10300 from anywhere", "admits a control-plane port from anywhere"},
		also: []string{"no-public-nodeports"}}, // a master reachable from anywhere
	{name: "Ceph from an HAProxy host", edit: setRow("prod-storage-1", network.CephOSD, []string{"10.10.0.11", "10.10.1.11"}, "sources"),
		policy: "restricted-admin-ports", has: []string{"prep-prod-storage-1", "admits a Ceph port from 10.10.0.11"}},

	// 6. pre-deployment checklist
	{name: "workload without limits", extra: deployment("portal", "ghcr.io/pm4ml/portal:1.0.0", nil, ""),
		policy: "pre-deployment-checklist", has: []string{"portal (kubernetes:apps/v1:Deployment): container portal has no requests.cpu, requests.memory, limits.cpu, limits.memory"}},
	{name: "workload with limits", ok: true, extra: deployment("portal", "ghcr.io/pm4ml/portal:1.0.0", limited(), "")},
	{name: "placeholder in a Secret", extra: secret("db-credentials", map[string]string{"username": "pm4ml", "password": "changeme"}),
		policy: "pre-deployment-checklist", has: []string{"db-credentials (kubernetes:core/v1:Secret): the secret value at stringData.password is the placeholder \"changeme\""}},
	{name: "config: placeholder MCM client secret", cfg: func(src *stacks.FileSource) {
		src.Set(stacks.SecretMCMClientSecret, "<from the hub operator>", true)
	}, policy: "pre-deployment-checklist", has: []string{"the secret value at", "contains the template marker <from the hub operator>", "pulumi config set --secret"}},
	{name: "config: placeholder stats password", cfg: func(src *stacks.FileSource) {
		src.Set(stacks.SecretHAProxyStatsPass, "CHANGEME", true)
	}, policy: "pre-deployment-checklist", has: []string{"the secret value at stdin is the placeholder \"CHANGEME\""}},
	{name: "unknown StorageClass", extra: pvc("reports", "fast-ssd"),
		policy: "pre-deployment-checklist", has: []string{"reports (kubernetes:core/v1:PersistentVolumeClaim): spec.storageClassName references StorageClass \"fast-ssd\", which the stack does not create (it has: ceph-rbd, local-nvme)"}},
	{name: "known StorageClass", ok: true, extra: pvc("reports", "ceph-rbd")},
	{name: "certificate for another domain", extra: custom("portal-cert", "cert-manager.io/v1", "Certificate", map[string]any{
		"commonName": "portal.pm4ml.example.org", "dnsNames": []any{"portal.pm4ml.example.org", "portal.other.example.com"}, "secretName": "portal-tls"}),
		policy: "pre-deployment-checklist", has: []string{"portal-cert (kubernetes:cert-manager.io/v1:Certificate): the certificate's CN/SAN portal.other.example.com is not under the domain pm4ml.example.org"}},
	{name: "certificate under the domain", ok: true, extra: custom("portal-cert", "cert-manager.io/v1", "Certificate", map[string]any{
		"commonName": "portal.pm4ml.example.org", "dnsNames": []any{"*.pm4ml.example.org", "pm4ml.example.org"}, "secretName": "portal-tls"})},
	{name: "gateway for any host", extra: custom("ext-gw", "networking.istio.io/v1beta1", "Gateway", map[string]any{
		"servers": []any{map[string]any{"hosts": []any{"*"}, "port": map[string]any{"number": 443, "name": "https", "protocol": "HTTPS"}}}}),
		policy: "pre-deployment-checklist", has: []string{"ext-gw (kubernetes:networking.istio.io/v1beta1:Gateway): the Gateway host(s) * is not under the domain"}},
	{name: "virtual service for another domain", extra: custom("portal-vs", "networking.istio.io/v1", "VirtualService", map[string]any{
		"gateways": []any{"istio-ingress/ext-gw"}, "hosts": []any{"portal.example.net"}}),
		policy: "pre-deployment-checklist", has: []string{"portal-vs (kubernetes:networking.istio.io/v1:VirtualService): the VirtualService host(s) portal.example.net is not under the domain"}},
	{name: "mesh-internal virtual service", ok: true, extra: custom("svc-vs", "networking.istio.io/v1", "VirtualService", map[string]any{
		"gateways": []any{"mesh"}, "hosts": []any{"ledger.pm4ml.svc.cluster.local"}})},

	// 7. transaction-critical storage
	{name: "database on Ceph", extra: statefulSet("mysql", "docker.io/bitnami/mysql:8.4", "ceph-rbd"),
		policy: "transaction-critical-storage", has: []string{"mysql (kubernetes:apps/v1:StatefulSet): is transaction-critical (mysql) but volumeClaimTemplates[data].spec.storageClassName uses StorageClass \"ceph-rbd\"", "pm4ml:ceph.localStorageClass"}},
	{name: "Kafka on the default (local) class", ok: true, extra: statefulSet("kafka", "docker.io/bitnami/kafka:3.9", "")},
	{name: "Redis through a claim on Ceph", extra: extras(pvc("redis-data", "ceph-rbd"), deployment("cache", "docker.io/library/redis:7.4", limited(), "redis-data")),
		policy: "transaction-critical-storage", has: []string{"redis-data (kubernetes:core/v1:PersistentVolumeClaim): is transaction-critical (redis)"}},
	{name: "Ceph made the default class", extra: statefulSet("postgres", "docker.io/library/postgres:17", ""),
		edit:   edits(set(storage.Token, true, "storageClasses", "ceph-rbd", "default"), set(storage.Token, false, "storageClasses", "local-nvme", "default")),
		policy: "transaction-critical-storage", has: []string{"postgres (kubernetes:apps/v1:StatefulSet)", "names no class and gets the default \"ceph-rbd\""}},
	{name: "backups on Ceph", ok: true, extra: pvc("archive-backups", "ceph-rbd")},

	// 8. pinned snaps
	{name: "unpinned MicroK8s channel", edit: set(microk8s.Token, "latest/stable", "channel"),
		policy: "pinned-snaps", has: []string{"microk8s (pm4ml:microk8s:Cluster): the microk8s snap channel \"latest/stable\" is not pinned to a track"}},
	{name: "MicroK8s off the configured channel", edit: set(microk8s.Token, "1.30/stable", "channel"),
		policy: "pinned-snaps", has: []string{"the microk8s snap is on channel \"1.30/stable\", the stack configures \"1.31/stable\""}},
	{name: "MicroK8s refreshes not held", edit: set(microk8s.Token, false, "refreshHeld"),
		policy: "pinned-snaps", has: []string{"the microk8s snap's refreshes are not held"}},
	{name: "MicroCeph unpinned (once it registers its channel)", edit: edits(set(microceph.Token, "latest/edge", "channel"), set(microceph.Token, true, "refreshHeld")),
		policy: "pinned-snaps", has: []string{"microceph (pm4ml:microceph:Cluster): the microceph snap channel \"latest/edge\" is not pinned"}},
}

func mustGet(src *stacks.FileSource, k string) string { v, _ := src.Get(k); return v }

// TestBrokenVariants: every rule fails a broken variant of a shipped stack with a message naming
// the resource and the fix, and accepts the compliant counterpart.
func TestBrokenVariants(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range variants {
		seen[v.policy] = true
		t.Run(v.name, v.run)
	}
	for _, r := range rules.Rules {
		if !seen[r.Name] {
			t.Errorf("rule %s has no broken variant", r.Name)
		}
	}
}
