package stacks

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

// fieldCheck says how one string setting is kept safe: a strict grammar (checked by checkGrammar
// for every value, wherever it is in the file), or the name of the hand-written check in this
// package that validates it with its context (an address inside the internal subnet, an enum).
// Every string leaf of Config appears here: TestEveryStringSettingHasAGrammar enforces it, so a
// new field cannot reach a host unchecked.
type fieldCheck struct {
	rule   *grammar.Rule
	custom string // e.g. "network": validated in (*v).network with the subnet
}

func g(r grammar.Rule) fieldCheck { return fieldCheck{rule: &r} }
func by(check string) fieldCheck  { return fieldCheck{custom: check} }

// stringFields maps each string setting (path without namespace; [] for any index, .* for any map
// key) to its check.
var stringFields = map[string]fieldCheck{
	"environment":                    by("basics: prod or stg"),
	"domain":                         g(grammar.Domain),
	"pm4mlId":                        g(grammar.PM4MLID),
	"hostSource":                     by("basics: existing or proxmox"),
	"riskAcceptance":                 g(grammar.Reference),
	"ssh.user":                       g(grammar.User),
	"ssh.bastion.host":               g(grammar.HostOrIP),
	"ssh.bastion.user":               g(grammar.User),
	"ssh.hostKeys.*":                 g(grammar.SSHHostKey),
	"network.internalSubnet":         by("network: private IPv4 CIDR"),
	"network.gateway":                by("network: IPv4 address in the subnet"),
	"network.dnsServers[]":           g(grammar.IP),
	"network.searchDomain":           g(grammar.Domain),
	"network.adminAllowlist[]":       by("network: IPv4 CIDR, not too broad"),
	"network.apiAllowlist[]":         by("network: IPv4 CIDR, not too broad"),
	"network.haproxySourceIps[]":     by("network: IPv4 address in the subnet"),
	"network.ntpServers[]":           g(grammar.HostOrIP),
	"hosts[].name":                   g(grammar.Hostname),
	"hosts[].address":                by("hosts: IPv4 address in the subnet"),
	"hosts[].roles[]":                by("hosts: a role"),
	"hosts[].cephDisks[]":            g(grammar.Disk),
	"hosts[].proxmox.node":           g(grammar.ProxmoxName),
	"proxmox.endpoint":               g(grammar.HTTPSURL),
	"proxmox.node":                   g(grammar.ProxmoxName),
	"proxmox.datastore":              g(grammar.ProxmoxName),
	"proxmox.bridge":                 g(grammar.Interface),
	"microk8s.channel":               g(grammar.MicroK8sChannel),
	"ceph.pool":                      g(grammar.Pool),
	"ceph.storageClass":              g(grammar.K8sName),
	"ceph.localStorageClass":         g(grammar.K8sName),
	"ceph.localStoragePath":          g(grammar.AbsPath),
	"ceph.channel":                   g(grammar.MicroCephChannel),
	"haproxy.publicVip":              by("haproxy: IPv4 address in the subnet"),
	"haproxy.internalVip":            by("haproxy: IPv4 address in the subnet"),
	"haproxy.interface":              g(grammar.Interface),
	"haproxy.statsUser":              g(grammar.User),
	"wireguard.address":              by("wireguard: IPv4 interface address with prefix"),
	"wireguard.peers[].name":         g(grammar.DNSLabel),
	"wireguard.peers[].publicKey":    g(grammar.WGKey),
	"wireguard.peers[].allowedIps[]": g(grammar.CIDR),
	"wireguard.peers[].endpoint":     g(grammar.Endpoint),
	"gitops.repoUrl":                 g(grammar.GitURL),
	"gitops.revision":                g(grammar.GitRevision),
	"gitops.credentials":             by("gitops: https-token, ssh-key or none"),
	"gitops.username":                g(grammar.GitUser),
	"vault.address":                  g(grammar.HTTPURL),
	"vault.mount":                    g(grammar.VaultMount),
	"argocd.version":                 g(grammar.Version),
	"argocd.manifestUrl":             g(grammar.HTTPURL),
	"argocd.manifestPath":            g(grammar.LocalPath),
	"argocd.namespace":               g(grammar.DNSLabel),
	"argocd.project":                 g(grammar.K8sName),
	"argocd.onDelete":                by("platform: cascade, protect or orphan"),
	"argocd.pathPrefix":              g(grammar.RelPath),
	"verify.endpoints[].name":        g(grammar.Label),
	"verify.endpoints[].url":         g(grammar.HTTPURL),
	"verify.internalChecks[]":        g(grammar.HTTPURL),
	"verify.resolveAddress":          g(grammar.IPv4),
	"verify.caCertFile":              g(grammar.LocalPath),
	"checklist.acknowledged[].item":  by("checklist: a manual checklist item id"),
	"checklist.acknowledged[].by":    g(grammar.Label),
	"checklist.acknowledged[].ref":   g(grammar.Reference),
	"checklist.repoDir":              g(grammar.LocalPath),
	"checklist.mode":                 by("checklist: enforce or report"),
	"waves[].name":                   g(grammar.AppName),
	"waves[].apps[].name":            g(grammar.AppName),
	"waves[].apps[].path":            g(grammar.RelPath),
	"waves[].apps[].namespace":       g(grammar.DNSLabel),
}

// mapKeyFields are the grammars of map keys (the host a pinned key belongs to).
var mapKeyFields = map[string]grammar.Rule{
	"ssh.hostKeys": grammar.Hostname,
}

// checkGrammar walks every string of the (defaulted) Config and checks it against its field's
// grammar; empty strings are left to the checks that know whether the field is required.
func (x *v) checkGrammar(c *Config) {
	x.walkStrings(reflect.ValueOf(c).Elem(), "", "")
}

func (x *v) walkStrings(val reflect.Value, path, pattern string) {
	switch val.Kind() {
	case reflect.Pointer:
		if !val.IsNil() {
			x.walkStrings(val.Elem(), path, pattern)
		}
	case reflect.Struct:
		t := val.Type()
		for i := 0; i < t.NumField(); i++ {
			name := jsonName(t.Field(i))
			if name == "" || !t.Field(i).IsExported() {
				continue
			}
			x.walkStrings(val.Field(i), join(path, name), join(pattern, name))
		}
	case reflect.Slice:
		for i := 0; i < val.Len(); i++ {
			x.walkStrings(val.Index(i), fmt.Sprintf("%s[%d]", path, i), pattern+"[]")
		}
	case reflect.Map:
		keys := val.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, mk := range keys {
			if r, ok := mapKeyFields[pattern]; ok && !r.OK(mk.String()) {
				x.add(key("%s.%s", path, mk.String()), fmt.Sprintf("%q is not %s", mk.String(), r.Want), r.Fix)
				continue
			}
			x.walkStrings(val.MapIndex(mk), path+"."+mk.String(), pattern+".*")
		}
	case reflect.String:
		s := val.String()
		fc := stringFields[pattern]
		if s == "" || fc.rule == nil {
			return
		}
		if !fc.rule.OK(s) {
			x.add(key("%s", path), fmt.Sprintf("%q is not %s", s, fc.rule.Want), fc.rule.Fix)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// stringLeaves lists the pattern of every string leaf of a type (for the coverage test and the
// configuration reference).
func stringLeaves(t reflect.Type, pattern string, out *[]string) {
	switch t.Kind() {
	case reflect.Pointer:
		stringLeaves(t.Elem(), pattern, out)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			name := jsonName(t.Field(i))
			if name == "" || !t.Field(i).IsExported() {
				continue
			}
			stringLeaves(t.Field(i).Type, join(pattern, name), out)
		}
	case reflect.Slice:
		stringLeaves(t.Elem(), pattern+"[]", out)
	case reflect.Map:
		stringLeaves(t.Elem(), pattern+".*", out)
	case reflect.String:
		*out = append(*out, pattern)
	}
}

// grammarDoc is the configuration reference's note for a string setting.
func grammarDoc(pattern string) string {
	fc, ok := stringFields[pattern]
	switch {
	case !ok:
		return ""
	case fc.rule != nil:
		return fc.rule.Want
	}
	_, what, _ := strings.Cut(fc.custom, ": ")
	return what
}
