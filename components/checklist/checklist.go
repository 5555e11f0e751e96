// Package checklist is the guide's pre-deployment checklist (6.3: "Deployment must not proceed
// unless all checklist items are verified") as a gate over what Argo CD will deploy: every
// Application of the waves is rendered from the GitOps repository as Argo CD's repo-server would
// (internal/gitopsrender) and its objects are checked, one rule per checklist item. The items a
// machine cannot decide are listed as manual and must be acknowledged per stack
// (pm4ml:checklist.acknowledged names who approved what).
//
// The same Check runs in two places: `pm4ml checklist` (the GitOps repository's own pipeline) and
// the Gate component of the program, ordered before the first wave's Applications. Rules shared
// with the policy pack (placeholders, resources, StorageClasses, hosts under the domain,
// transaction-critical storage) are the pack's own implementation (policy/rules), run over the
// rendered objects.
package checklist

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/internal/gitopsrender"
)

// Rule ids (stable: CI logs, acknowledgements and docs refer to them).
const (
	RuleRender           = "render"
	RuleHostsUnderDomain = "hosts-under-domain"
	RuleGatewayNodePorts = "gateway-nodeports"
	RuleProxyProtocol    = "proxy-protocol"
	RuleIssuerExists     = "issuer-exists"
	RulePlaceholder      = "placeholder-secret"
	RuleStorageClass     = "storageclass-exists"
	RulePVCSize          = "pvc-size"
	RuleCriticalLocal    = "transaction-critical-local"
	RuleResources        = "resources"
	RuleHPA              = "hpa"
	RuleManual           = "manual"
)

// RuleInfo describes one machine-checked rule.
type RuleInfo struct {
	ID    string
	Guide string // the guide 6.3 item(s) it decides
}

// Rules are the machine-checked items, in the guide's order.
var Rules = []RuleInfo{
	{RuleRender, "every Application renders from the repository at the configured revision (Argo CD would fail it otherwise)"},
	{RuleHostsUnderDomain, "DNS hostnames updated; Istio Gateway hosts updated; VirtualService URLs updated; Certificate CN/SAN matches domain"},
	{RuleGatewayNodePorts, "Istio Gateway: the ingress gateways' NodePorts are the port matrix's (guide 1.3.2), reachable through HAProxy"},
	{RuleProxyProtocol, "Istio Gateway: the external gateway accepts the PROXY v2 header HAProxy sends; the internal one does not require it"},
	{RuleIssuerExists, "cert-manager Issuer / ClusterIssuer configured"},
	{RulePlaceholder, "No placeholder secrets remain"},
	{RuleStorageClass, "Correct StorageClass referenced"},
	{RulePVCSize, "PVC sizes reviewed (every claim requests a valid, non-zero size)"},
	{RuleCriticalLocal, "Stateful workloads reference correct volumes (databases, Kafka, Redis on the local class, never Ceph)"},
	{RuleResources, "CPU requests and limits defined; Memory requests and limits defined"},
	{RuleHPA, "HPA configuration validated (target exists, minReplicas <= maxReplicas)"},
}

// ManualItem is a checklist item a machine cannot decide: a person verifies it and the stack
// records who (pm4ml:checklist.acknowledged).
type ManualItem struct {
	ID    string
	Guide string // the guide's wording
}

// ManualItems are guide 6.3's items that need a person, with the guide's wording.
var ManualItems = []ManualItem{
	{"environment-values", "Environment values updated (prod / staging)"},
	{"pm4ml-endpoints", "PM4ML endpoints configured correctly"},
	{"tls-secrets", "TLS secrets created or auto-generated"},
	{"dns-challenge", "DNS challenge credentials configured (if applicable)"},
	{"mtls", "mTLS configuration validated (if required)"},
	{"database-credentials", "Database credentials updated"},
	{"external-credentials", "External service credentials updated"},
	{"vault-externalsecrets", "Vault / ExternalSecrets configuration validated"},
	{"pvc-sizes-reviewed", "PVC sizes reviewed"},
}

// ManualIDs lists the manual items' ids.
func ManualIDs() []string {
	var out []string
	for _, m := range ManualItems {
		out = append(out, m.ID)
	}
	return out
}

// Ack is one acknowledged manual item.
type Ack struct {
	Item string `json:"item"`
	By   string `json:"by"`
	Ref  string `json:"ref,omitempty"`
}

// Spec is what the checklist checks the repository against: the stack's settings.
type Spec struct {
	// Domain is pm4ml:domain.
	Domain string
	// StorageClasses are the classes the stack creates (storage.Plan.Classes()).
	StorageClasses []storage.Class
	// Apps are the Applications of the waves, in order.
	Apps []gitopsrender.App
	// Acks are the acknowledged manual items.
	Acks []Ack
	// Render options (chart fetcher, kube version).
	Render gitopsrender.Options
}

// Failure is one failed check: one line of the report.
type Failure struct {
	Rule    string `json:"rule"`
	App     string `json:"app"`
	Object  string `json:"object"` // Kind/namespace/name
	Field   string `json:"field"`
	Problem string `json:"problem"`
	Fix     string `json:"fix"`
}

// String is the failure's line.
func (f Failure) String() string {
	obj, field := f.Object, f.Field
	if obj == "" {
		obj = "-"
	}
	if field == "" {
		field = "-"
	}
	app := f.App
	if app == "" {
		app = "-"
	}
	return fmt.Sprintf("FAIL %s app=%s %s field=%s: %s. Fix: %s", f.Rule, app, obj, field, f.Problem, f.Fix)
}

// AppReport is one rendered Application.
type AppReport struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Type    string `json:"type,omitempty"`
	Objects int    `json:"objects"`
}

// ManualStatus is a manual item with its acknowledgement.
type ManualStatus struct {
	ID    string `json:"id"`
	Guide string `json:"guide"`
	By    string `json:"acknowledgedBy,omitempty"`
	Ref   string `json:"ref,omitempty"`
}

// Report is the result of a check.
type Report struct {
	Apps     []AppReport    `json:"apps"`
	Manual   []ManualStatus `json:"manual"`
	Failures []Failure      `json:"failures"`
}

// Passed reports whether no rule failed.
func (r *Report) Passed() bool { return len(r.Failures) == 0 }

// Lines are the failure lines, in order.
func (r *Report) Lines() []string {
	out := make([]string, len(r.Failures))
	for i, f := range r.Failures {
		out[i] = f.String()
	}
	return out
}

// JSON is the report as indented JSON.
func (r *Report) JSON() string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b) + "\n"
}

// Error is the gate's error: every failure line.
func (r *Report) Error() error {
	if r.Passed() {
		return nil
	}
	return fmt.Errorf("pre-deployment checklist (guide 6.3): %d failure(s); no Application was created:\n%s",
		len(r.Failures), strings.Join(r.Lines(), "\n"))
}

// Rendered is the objects of one app.
type Rendered struct {
	App     gitopsrender.App
	Objects []gitopsrender.Object
}

// Check renders every app of spec from the repository checked out at root and checks it.
func Check(root string, spec Spec) *Report {
	rep := &Report{}
	var rendered []Rendered
	r, err := gitopsrender.Open(root, spec.Render)
	if err != nil {
		rep.Failures = append(rep.Failures, Failure{Rule: RuleRender, Object: "-", Field: "-",
			Problem: fmt.Sprintf("the repository at %s cannot be read: %v", root, oneLine(err)), Fix: "check out the GitOps repository at the revision to check"})
		return rep
	}
	defer r.Close()
	for _, app := range spec.Apps {
		res, err := r.Render(app)
		if err != nil {
			rep.Apps = append(rep.Apps, AppReport{Name: app.Name, Path: app.Path})
			rep.Failures = append(rep.Failures, Failure{Rule: RuleRender, App: app.Name, Object: "Application/" + app.Name, Field: "spec.source.path",
				Problem: fmt.Sprintf("%s does not render: %v", app.Path, oneLine(err)),
				Fix:     "make the path render as Argo CD would (kustomize build --enable-helm / helm template), or correct the app's path (pm4ml:waves)"})
			continue
		}
		rep.Apps = append(rep.Apps, AppReport{Name: app.Name, Path: app.Path, Type: res.Type, Objects: len(res.Objects)})
		rendered = append(rendered, Rendered{App: app, Objects: res.Objects})
	}
	rep.Failures = append(rep.Failures, CheckObjects(rendered, spec)...)
	rep.Manual, rep.Failures = manual(spec.Acks, rep.Failures)
	return rep
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// manual lists the manual items; every unacknowledged one is a failure.
func manual(acks []Ack, fs []Failure) ([]ManualStatus, []Failure) {
	by := map[string]Ack{}
	for _, a := range acks {
		by[a.Item] = a
	}
	var out []ManualStatus
	for _, m := range ManualItems {
		st := ManualStatus{ID: m.ID, Guide: m.Guide}
		if a, ok := by[m.ID]; ok && strings.TrimSpace(a.By) != "" {
			st.By, st.Ref = a.By, a.Ref
		} else {
			fs = append(fs, Failure{Rule: RuleManual, Field: "pm4ml:checklist.acknowledged",
				Problem: fmt.Sprintf("%q (guide 6.3) is not acknowledged: a person must verify it", m.Guide),
				Fix:     fmt.Sprintf("verify it, then add {item: %s, by: <who approved>, ref: <ticket>} to pm4ml:checklist.acknowledged", m.ID)})
		}
		out = append(out, st)
	}
	return out, fs
}

// sortFailures orders failures by rule (in Rules order), app, object, field.
func sortFailures(fs []Failure) {
	order := map[string]int{}
	for i, r := range Rules {
		order[r.ID] = i
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if order[a.Rule] != order[b.Rule] {
			return order[a.Rule] < order[b.Rule]
		}
		return slices.Compare([]string{a.App, a.Object, a.Field, a.Problem}, []string{b.App, b.Object, b.Field, b.Problem}) < 0
	})
}
