// Package rules is the pm4ml-onprem policy pack (CrossGuard, Go policyx): the guide's production
// rules as pure functions over the resources the engine hands a stack policy, and the pack that
// wraps them (NewPack). policy/main.go only serves it.
//
// Every rule reads typed data: the registered outputs of the program's components (hostprep's
// structured firewall rows, the MicroK8s cluster's masters/workers/taints, the storage classes with
// their tiers, HAProxy's frontends, ...), the settings of the pm4ml:stack:Facts component, and
// the properties of Kubernetes resources. Nothing parses shell text.
//
// Unknown values: in a preview, values that depend on other resources' outputs are computed. A
// rule never reports a violation for a value it cannot know; it returns an Unknown finding
// instead, which the advisory policy "unresolved-in-preview" reports, naming the rule, so that an
// unknown never hides a rule silently.
package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/components/wireguard"
)

// FactsToken is stacks.FactsToken (the pm4ml:stack:Facts component). The pack does not import
// stacks, which would link every layer of the program (the Kubernetes SDK included) into the
// pack's binary; a test checks the two are equal.
const FactsToken = "pm4ml:stack:Facts"

// ExampleChannels are pinned channels for the fix messages (stacks' defaults; a test checks).
var ExampleChannels = map[string]string{"microk8s": "1.31/stable", "microceph": "squid/stable"}

// Finding is one problem a rule found.
type Finding struct {
	// URN of the resource the finding is about ("" for the stack).
	URN string
	// Message names the resource, the problem and the fix.
	Message string
	// Unknown marks a value the rule cannot know yet (computed in a preview): not a violation,
	// reported as advisory by the unresolved-in-preview policy.
	Unknown bool
	// Field, Problem and Fix are the parts of Message (Field may be empty): the pre-deployment
	// checklist (components/checklist) prints them on its own lines.
	Field, Problem, Fix string
}

func (f Finding) String() string {
	if f.Unknown {
		return "unknown: " + f.Message
	}
	return f.Message
}

// finding names the resource, the problem and the fix.
func finding(r *policyx.AnalyzerResource, problem, fix string) Finding {
	return findingAt(r, "", problem, fix)
}

// findingAt is a finding about one field of the resource.
func findingAt(r *policyx.AnalyzerResource, field, problem, fix string) Finding {
	return Finding{URN: r.URN, Message: fmt.Sprintf("%s (%s): %s. Fix: %s", r.Name, r.Type, problem, fix),
		Field: field, Problem: problem, Fix: fix}
}

// unknown is the finding for a value that is not known yet.
func unknown(r *policyx.AnalyzerResource, what, rule string) Finding {
	return Finding{URN: r.URN, Unknown: true, Message: fmt.Sprintf(
		"%s (%s): %s: unknown in this preview (it depends on resources not created yet), so %s cannot be verified until it is known; preview again after apply",
		r.Name, r.Type, what, rule)}
}

// --- property access --------------------------------------------------------------------------

// at follows map keys; a computed value on the way is returned as is, a missing key as null.
func at(v property.Value, path ...string) property.Value {
	for _, k := range path {
		if v.IsComputed() || !v.IsMap() {
			if v.IsComputed() {
				return v
			}
			return property.Value{}
		}
		v = v.AsMap().Get(k)
	}
	return v
}

// prop is at() from a resource's properties.
func prop(r *policyx.AnalyzerResource, path ...string) property.Value {
	return at(property.New(r.Properties), path...)
}

// str returns a string value; known is false for a computed value, ok false for anything else.
func str(v property.Value) (s string, known, ok bool) {
	switch {
	case v.IsComputed():
		return "", false, false
	case v.IsString():
		return v.AsString(), true, true
	}
	return "", true, false
}

func boolean(v property.Value) (b, known, ok bool) {
	switch {
	case v.IsComputed():
		return false, false, false
	case v.IsBool():
		return v.AsBool(), true, true
	}
	return false, true, false
}

func number(v property.Value) (n int, known, ok bool) {
	switch {
	case v.IsComputed():
		return 0, false, false
	case v.IsNumber():
		return int(v.AsNumber()), true, true
	}
	return 0, true, false
}

// strings returns a list of strings; known is false when the list or an element is computed.
func stringList(v property.Value) (out []string, known bool) {
	if v.IsComputed() {
		return nil, false
	}
	if !v.IsArray() {
		return nil, true
	}
	for _, e := range v.AsArray().AsSlice() {
		s, k, ok := str(e)
		if !k {
			return nil, false
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, true
}

// sourceList reads a firewall row's sources: one comma-separated string (network.Allow.Fact),
// or a list of strings.
func sourceList(v property.Value) []string {
	if s, known, ok := str(v); known && ok {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	out, _ := stringList(v)
	return out
}

// items returns the elements of a list (nil for a non-list); known is false when computed.
func items(v property.Value) ([]property.Value, bool) {
	if v.IsComputed() {
		return nil, false
	}
	if !v.IsArray() {
		return nil, true
	}
	return v.AsArray().AsSlice(), true
}

// entries returns a map's entries in key order; known is false when computed.
func entries(v property.Value) ([]string, map[string]property.Value, bool) {
	if v.IsComputed() {
		return nil, nil, false
	}
	if !v.IsMap() {
		return nil, nil, true
	}
	m := v.AsMap().AsMap()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, m, true
}

// --- the stack's facts ------------------------------------------------------------------------

// Stack is the rules' view of the resources of one stack.
type Stack struct {
	Resources []policyx.AnalyzerResource
}

// NewStack wraps the resources the engine (or a test) hands a stack policy.
func NewStack(rs []policyx.AnalyzerResource) *Stack { return &Stack{Resources: rs} }

// ByType lists the resources of a type token, in order.
func (s *Stack) ByType(token string) []*policyx.AnalyzerResource {
	var out []*policyx.AnalyzerResource
	for i := range s.Resources {
		if s.Resources[i].Type == token {
			out = append(out, &s.Resources[i])
		}
	}
	return out
}

// first is the first resource of a type token, or nil.
func (s *Stack) first(token string) *policyx.AnalyzerResource {
	if rs := s.ByType(token); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// isProgram reports whether these are the resources of the pm4ml program (its facts or its host
// preparation exist); the cluster rules do not apply to other programs.
func (s *Stack) isProgram() bool {
	return s.first(FactsToken) != nil || s.first(hostprep.Token) != nil
}

// Facts are the pm4ml:stack:Facts outputs.
type Facts struct {
	Res              *policyx.AnalyzerResource
	Environment      string
	Domain           string
	RiskAcceptance   string
	AdminAllowlist   []string
	APIAllowlist     []string
	HAProxySourceIPs []string
	InternalSubnet   string
	PublicVIP        string
	SnapChannels     map[string]string
	unknown          []string // output names that are computed
	present          bool
}

// Known reports whether the named outputs are all known.
func (f *Facts) Known(names ...string) bool {
	for _, n := range names {
		if slices.Contains(f.unknown, n) {
			return false
		}
	}
	return f.present
}

// facts reads the Facts component (present is false when the stack has none).
func (s *Stack) facts() *Facts {
	f := &Facts{SnapChannels: map[string]string{}}
	r := s.first(FactsToken)
	if r == nil {
		return f
	}
	f.Res, f.present = r, true
	strOut := func(name string, dst *string) {
		v, known, _ := str(prop(r, name))
		if !known {
			f.unknown = append(f.unknown, name)
		}
		*dst = v
	}
	listOut := func(name string, dst *[]string) {
		v, known := stringList(prop(r, name))
		if !known {
			f.unknown = append(f.unknown, name)
		}
		*dst = v
	}
	strOut("environment", &f.Environment)
	strOut("domain", &f.Domain)
	strOut("riskAcceptance", &f.RiskAcceptance)
	strOut("internalSubnet", &f.InternalSubnet)
	strOut("publicVip", &f.PublicVIP)
	listOut("adminAllowlist", &f.AdminAllowlist)
	listOut("apiAllowlist", &f.APIAllowlist)
	listOut("haproxySourceIps", &f.HAProxySourceIPs)
	keys, m, known := entries(prop(r, "snapChannels"))
	if !known {
		f.unknown = append(f.unknown, "snapChannels")
	}
	for _, k := range keys {
		if v, kn, ok := str(m[k]); kn && ok {
			f.SnapChannels[k] = v
		} else if !kn {
			f.unknown = append(f.unknown, "snapChannels")
		}
	}
	return f
}

// FirewallRow is one structured row of hostprep's "firewall" output (network.Allow.Fact).
type FirewallRow struct {
	ID       string
	Proto    string
	From, To int
	Source   string
	Sources  []string
	Anywhere bool
	Public   bool
}

func (r FirewallRow) String() string {
	from := "anywhere"
	if !r.Anywhere {
		from = strings.Join(r.Sources, ",")
	}
	if r.From == r.To {
		return fmt.Sprintf("%s %s/%d from %s", r.ID, r.Proto, r.From, from)
	}
	return fmt.Sprintf("%s %s/%d-%d from %s", r.ID, r.Proto, r.From, r.To, from)
}

// overlaps reports whether the row's ports intersect [from, to] for the protocol.
func (r FirewallRow) overlaps(proto string, from, to int) bool {
	return r.Proto == proto && r.From <= to && from <= r.To
}

// Host is one host as its hostprep component shows it.
type Host struct {
	Res     *policyx.AnalyzerResource
	Name    string
	Address string
	Roles   []string
	// Rows is nil and RowsKnown false when the firewall output is computed.
	Rows      []FirewallRow
	RowsKnown bool
	// RolesKnown is false when host, address or roles are computed.
	RolesKnown bool
}

// Has reports whether the host has the role.
func (h Host) Has(r hosts.Role) bool { return slices.Contains(h.Roles, string(r)) }

// hosts reads every hostprep component.
func (s *Stack) hosts() []Host {
	var out []Host
	for _, r := range s.ByType(hostprep.Token) {
		h := Host{Res: r, RowsKnown: true, RolesKnown: true}
		var k1, k2 bool
		h.Name, k1, _ = str(prop(r, "host"))
		h.Address, k2, _ = str(prop(r, "address"))
		roles, k3 := stringList(prop(r, "roles"))
		h.Roles = roles
		h.RolesKnown = k1 && k2 && k3
		if h.Name == "" {
			h.Name = r.Name
		}
		rows, known := items(prop(r, "firewall"))
		if !known {
			h.RowsKnown = false
		}
		for _, row := range rows {
			fr, ok := firewallRow(row)
			if !ok {
				h.RowsKnown = false
				h.Rows = nil
				break
			}
			h.Rows = append(h.Rows, fr)
		}
		out = append(out, h)
	}
	return out
}

func firewallRow(v property.Value) (FirewallRow, bool) {
	if v.IsComputed() || v.HasComputed() || !v.IsMap() {
		return FirewallRow{}, false
	}
	var r FirewallRow
	r.ID, _, _ = str(at(v, "id"))
	r.Proto, _, _ = str(at(v, "proto"))
	r.From, _, _ = number(at(v, "from"))
	r.To, _, _ = number(at(v, "to"))
	r.Source, _, _ = str(at(v, "source"))
	r.Sources = sourceList(at(v, "sources"))
	r.Anywhere, _, _ = boolean(at(v, "anywhere"))
	r.Public, _, _ = boolean(at(v, "public"))
	return r, true
}

// addressesWith are the addresses of the hosts with any of the roles.
func addressesWith(hs []Host, roles ...hosts.Role) []string {
	var out []string
	for _, h := range hs {
		for _, r := range roles {
			if h.Has(r) {
				out = append(out, h.Address)
				break
			}
		}
	}
	return out
}

func namesWith(hs []Host, role hosts.Role) []string {
	var out []string
	for _, h := range hs {
		if h.Has(role) {
			out = append(out, h.Name)
		}
	}
	return out
}

// prefix parses an address or CIDR.
func prefix(s string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err == nil
}

// isAnywhere is true for a default-route source (0.0.0.0/0, ::/0).
func isAnywhere(s string) bool {
	p, ok := prefix(s)
	return ok && p.Bits() == 0
}

// uncovered lists the sources that no allowed address or CIDR contains.
func uncovered(sources, allowed []string) []string {
	var ps []netip.Prefix
	for _, a := range allowed {
		if p, ok := prefix(a); ok {
			ps = append(ps, p)
		}
	}
	var out []string
	for _, s := range sources {
		sp, ok := prefix(s)
		covered := false
		for _, p := range ps {
			if ok && p.Bits() <= sp.Bits() && p.Contains(sp.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}

// Tokens the rules read, with the outputs they read (documented in docs/POLICY.md, and checked
// against the components' RegisterResourceOutputs by the tests).
var OutputsRead = map[string][]string{
	FactsToken: {"environment", "domain", "riskAcceptance", "adminAllowlist", "apiAllowlist",
		"haproxySourceIps", "internalSubnet", "publicVip", "snapChannels"},
	hostprep.Token:  {"host", "address", "roles", "firewall"},
	microk8s.Token:  {"channel", "environment", "masters", "workers", "taintedMasters", "refreshHeld"},
	microceph.Token: {"members"},
	storage.Token:   {"storageClasses"},
	haproxy.Token:   {"frontends", "backends", "statsBind", "vips", "keepalived"},
	wireguard.Token: {"enabled", "port"},
}
