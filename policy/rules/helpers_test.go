package rules_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/pm4ml/pm4ml-onprem/policy/rules"
	"github.com/pm4ml/pm4ml-onprem/policy/stacktest"
)

// report is one diagnostic of the pack, as the engine receives it.
type report struct {
	Policy  string
	Level   policyx.EnforcementLevel
	Message string
	URN     string
}

func (r report) String() string {
	lvl := "mandatory"
	if r.Level == policyx.EnforcementLevelAdvisory {
		lvl = "advisory"
	}
	return fmt.Sprintf("[%s %s] %s", lvl, r.Policy, r.Message)
}

type recorder struct {
	policy string
	level  policyx.EnforcementLevel
	out    *[]report
}

func (r recorder) ReportViolation(message, urn string) {
	*r.out = append(*r.out, report{Policy: r.policy, Level: r.level, Message: message, URN: urn})
}

// runPack runs every policy of the pack for an environment over the resources, in-process, the
// way the policyx server does (each stack policy's Validate with a manager bound to it).
func runPack(t testing.TB, env string, rs []policyx.AnalyzerResource) []report {
	t.Helper()
	pack, err := rules.NewPack(rules.Options{Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	var out []report
	for _, p := range pack.Policies() {
		sp, ok := p.(policyx.StackValidationPolicy)
		if !ok {
			t.Fatalf("policy %s is not a stack policy", p.Name())
		}
		err := sp.Validate(context.Background(), policyx.StackValidationArgs{
			Manager:   recorder{policy: p.Name(), level: p.EnforcementLevel(), out: &out},
			Resources: rs,
		})
		if err != nil {
			t.Fatalf("policy %s: %v", p.Name(), err)
		}
	}
	return out
}

func only(rs []report, policy string, level policyx.EnforcementLevel) []report {
	var out []report
	for _, r := range rs {
		if r.Policy == policy && r.Level == level {
			out = append(out, r)
		}
	}
	return out
}

func mandatory(rs []report) []report {
	var out []report
	for _, r := range rs {
		if r.Level == policyx.EnforcementLevelMandatory {
			out = append(out, r)
		}
	}
	return out
}

func dump(rs []report) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("\n  " + r.String())
	}
	return b.String()
}

// diff are the reports of got that base does not have (same policy, level and message).
func diff(got, base []report) []report {
	var out []report
	for _, r := range got {
		if !slices.ContainsFunc(base, func(b report) bool {
			return b.Policy == r.Policy && b.Level == r.Level && b.Message == r.Message
		}) {
			out = append(out, r)
		}
	}
	return out
}

// shipped caches the program runs of the shipped stacks (nothing mutates the cached slices:
// tests clone them).
var shipped = map[string]*stacktest.Result{}

func build(t testing.TB, stack string) *stacktest.Result {
	t.Helper()
	if r, ok := shipped[stack]; ok {
		return r
	}
	r := stacktest.Build(t, stack, stacktest.Options{})
	shipped[stack] = r
	return r
}
