package checklist

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Token is the gate component's type token.
const Token = "pm4ml:checklist:Gate"

// Modes of the gate (pm4ml:checklist.mode).
const (
	ModeEnforce = "enforce" // any failure fails the update before the first Application
	ModeReport  = "report"  // failures are warnings (stg only)
)

// Gate results: the value of the gate's "result" output.
const (
	ResultPassed   = "passed"
	ResultReported = "reported"
	ResultSkipped  = "skipped-under-mocks"
)

// CloneTimeout bounds the clone of the GitOps repository.
const CloneTimeout = 5 * time.Minute

// GateArgs of the gate.
type GateArgs struct {
	// Spec is what the repository is checked against.
	Spec Spec
	// RepoDir is a local working tree to read instead of cloning Repo.
	RepoDir string
	// Repo is cloned at its revision with Credential (a secret; nil for none).
	Repo       Repo
	Credential pulumi.StringInput
	// Mode: ModeEnforce (default) or ModeReport.
	Mode string
	// DependsOn: what the gate waits for.
	DependsOn []pulumi.Resource
}

// Gate is the component. Result resolves when the checklist passed (or reported), and fails the
// update with every failure line otherwise: the first wave's Applications take it as an input
// (components/waves Args.Gate), so none is registered before it passed.
type Gate struct {
	pulumi.ResourceState

	Result pulumi.StringOutput `pulumi:"result"`
}

// NewGate registers the gate. It checks in previews and updates alike (it only reads the
// repository). Under Pulumi mocks without RepoDir there is no repository to read: the gate
// then reports ResultSkipped, explicitly, in its output.
func NewGate(ctx *pulumi.Context, name string, args *GateArgs, opts ...pulumi.ResourceOption) (*Gate, error) {
	a := *args
	if a.Mode == "" {
		a.Mode = ModeEnforce
	}
	if a.Mode != ModeEnforce && a.Mode != ModeReport {
		return nil, fmt.Errorf("checklist: mode %q is not enforce or report (pm4ml:checklist.mode)", a.Mode)
	}
	g := &Gate{}
	if err := ctx.RegisterComponentResource(Token, name, g, opts...); err != nil {
		return nil, err
	}
	var cred pulumi.StringInput = pulumi.String("")
	if a.Credential != nil {
		cred = a.Credential
	}
	inputs := []any{cred}
	for _, d := range a.DependsOn {
		inputs = append(inputs, d.URN())
	}
	out := pulumi.All(inputs...).ApplyTWithContext(ctx.Context(), func(gctx context.Context, vs []any) (string, error) {
		if ctx.RunningWithMocks() && a.RepoDir == "" {
			return ResultSkipped, nil
		}
		dir := a.RepoDir
		if dir == "" {
			c, _ := vs[0].(string)
			cctx, cancel := context.WithTimeout(gctx, CloneTimeout)
			defer cancel()
			d, err := Checkout(cctx, a.Repo, c)
			if err != nil {
				_ = ctx.Log.Error("pre-deployment checklist: "+err.Error(), &pulumi.LogArgs{Resource: g})
				return "", fmt.Errorf("pre-deployment checklist (guide 6.3): %w", err)
			}
			defer os.RemoveAll(d)
			dir = d
		}
		rep := Check(dir, a.Spec)
		for _, l := range rep.Lines() {
			if a.Mode == ModeReport {
				_ = ctx.Log.Warn(l, &pulumi.LogArgs{Resource: g})
			} else {
				_ = ctx.Log.Error(l, &pulumi.LogArgs{Resource: g})
			}
		}
		switch {
		case rep.Passed():
			return ResultPassed, nil
		case a.Mode == ModeReport:
			return ResultReported, nil
		}
		return "", rep.Error()
	}).(pulumi.StringOutput)
	g.Result = pulumi.Unsecret(out).(pulumi.StringOutput)
	return g, ctx.RegisterResourceOutputs(g, pulumi.Map{
		"result": g.Result,
		"apps":   pulumi.Int(len(a.Spec.Apps)),
		"mode":   pulumi.String(a.Mode),
	})
}
