// Package drift checks the hosts of a stack against the state the program renders for them and
// repairs what drifted. Every step's script runs in check mode (components/remotecmd/lib.sh: the
// same code as apply, with every change skipped and reported as a "drift:" line) over SSH, as
// pulumi-command runs it: the same user, sudo and command line, the word "check" appended.
// Repair runs the apply script of exactly the drifted steps, in dependency order.
package drift

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// Secrets are the secret values the steps' inputs need.
type Secrets struct {
	SSHPrivateKey        string // the join tokens derive from it
	HAProxyStatsPassword string
	WireGuardPrivateKey  string
}

// Status of a step.
const (
	InSync   = "in-sync"
	Drifted  = "drift"
	Failed   = "error"   // the check ran and failed (or could not run): not checked
	NotRun   = "not-run" // its host could not be reached
	Skipped  = "skipped" // an output-only step (nothing of its own to check)
	Repaired = "repaired"
)

// Drift is one difference.
type Drift struct {
	What   string   `json:"what"`
	Detail []string `json:"detail,omitempty"`
}

// StepResult is the check of one step.
type StepResult struct {
	Step      string   `json:"step"`
	Component string   `json:"component"`
	Status    string   `json:"status"`
	Drifts    []Drift  `json:"drifts,omitempty"`
	Info      []string `json:"info,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// HostResult is one host's steps, in order.
type HostResult struct {
	Host    string       `json:"host"`
	Address string       `json:"address"`
	Error   string       `json:"error,omitempty"` // the host could not be checked
	Steps   []StepResult `json:"steps"`
}

// Report is a whole check.
type Report struct {
	Hosts []HostResult `json:"hosts"`
	// Drifts counts drift lines; Unchecked names the hosts (and host/step) that could not be
	// checked.
	Drifts    int      `json:"drifts"`
	Unchecked []string `json:"unchecked,omitempty"`
	// Repaired lists the steps a repair ran, with what they changed.
	Repaired []RepairResult `json:"repaired,omitempty"`
}

// RepairResult is one re-applied step.
type RepairResult struct {
	Host    string   `json:"host"`
	Step    string   `json:"step"`
	Changed []string `json:"changed"`
	Error   string   `json:"error,omitempty"`
}

// Exit codes of `pm4ml drift`.
const (
	ExitInSync    = 0
	ExitUnchecked = 1
	ExitDrift     = 2
)

// ExitCode is 1 when something could not be checked, else 2 when anything drifted, else 0.
func (r *Report) ExitCode() int {
	switch {
	case len(r.Unchecked) > 0:
		return ExitUnchecked
	case r.Drifts > 0:
		return ExitDrift
	}
	return ExitInSync
}

// Checker checks (and repairs) one stack.
type Checker struct {
	Config  *stacks.Config
	Runner  Runner
	Secrets Secrets
	// Parallel bounds the hosts checked at once (default 8).
	Parallel int

	steps     []stacks.Step
	apiServer string
	first     string

	kubeOnce sync.Once
	kube     string
	kubeErr  error
}

// NewChecker renders the stack's steps (stacks.Steps: the renderers of `pulumi up`).
func NewChecker(c *stacks.Config, r Runner, sec Secrets) (*Checker, error) {
	steps, err := stacks.Steps(c)
	if err != nil {
		return nil, err
	}
	k, err := microk8s.Render(c.MicroK8sPlan())
	if err != nil {
		return nil, err
	}
	ch := &Checker{Config: c, Runner: r, Secrets: sec, Parallel: 8, steps: steps, apiServer: k.APIServer, first: k.FirstMaster.Name}
	kube, err := kubernetesStep(c, k.FirstMaster.Name)
	if err != nil {
		return nil, err
	}
	ch.steps = append(ch.steps, kube)
	return ch, nil
}

// Steps are the steps checked, in dependency order (the Kubernetes check last).
func (ch *Checker) Steps() []stacks.Step { return ch.steps }

func (ch *Checker) target(s stacks.Step) Target { return Target{Name: s.Host, Address: s.Address} }

// adminKubeconfig runs the kubeconfig step on the first master once (a worker's join check needs
// the cluster's admin kubeconfig, as under Pulumi).
func (ch *Checker) adminKubeconfig(ctx context.Context) (string, error) {
	ch.kubeOnce.Do(func() {
		for _, s := range ch.steps {
			if s.Component == "microk8s" && s.Output {
				out, _, err := ch.Runner.Run(ctx, ch.target(s), remotecmd.Invocation(ch.Config.SSH.User, s.Script.Step, s.Script.Body), "")
				if err != nil {
					ch.kubeErr = fmt.Errorf("the admin kubeconfig from %s: %w", s.Host, err)
					return
				}
				ch.kube, ch.kubeErr = microk8s.KubeconfigFromOutput(out, ch.apiServer)
				return
			}
		}
		ch.kubeErr = errors.New("no kubeconfig step")
	})
	return ch.kube, ch.kubeErr
}

// stdin is what the step reads, as under Pulumi. Inputs produced by another step's apply (a
// MicroCeph join token, the Ceph client bundle) are only needed to apply: check mode never reads
// them (the step reports the missing membership or connection first).
func (ch *Checker) stdin(ctx context.Context, s stacks.Step, apply bool) (string, error) {
	switch s.Input {
	case stacks.InputJoinToken:
		return microk8s.JoinToken(ch.Secrets.SSHPrivateKey, s.Node) + "\n", nil
	case stacks.InputJoinTokenKubeconfig:
		kc, err := ch.adminKubeconfig(ctx)
		if err != nil {
			return "", err
		}
		return microk8s.JoinToken(ch.Secrets.SSHPrivateKey, s.Node) + "\n" + kc, nil
	case stacks.InputHAProxyStats:
		if ch.Secrets.HAProxyStatsPassword == "" {
			return "", errors.New("pm4ml:haproxyStatsPassword is not set (the stats userlist is compared with it)")
		}
		return ch.Secrets.HAProxyStatsPassword, nil
	case stacks.InputWireGuardKey:
		if ch.Secrets.WireGuardPrivateKey == "" {
			return "", errors.New("pm4ml:wireguardPrivateKey is not set (the WireGuard configuration is compared with it)")
		}
		return ch.Secrets.WireGuardPrivateKey, nil
	case stacks.InputCephJoin:
		if !apply {
			return "", nil
		}
		add, ok := ch.find(func(x stacks.Step) bool {
			return x.Component == "microceph" && x.Node == s.Node && x.Script.Step == "microceph-add-"+s.Node
		})
		if !ok {
			return "", fmt.Errorf("no microceph add step for %s", s.Node)
		}
		out, _, err := ch.Runner.Run(ctx, ch.target(add), remotecmd.Invocation(ch.Config.SSH.User, add.Script.Step, add.Script.Body), "")
		if err != nil {
			return "", fmt.Errorf("%s: %w", add.ID(), err)
		}
		return out, nil
	case stacks.InputCephBundle:
		if !apply {
			return "", nil
		}
		exp, ok := ch.find(func(x stacks.Step) bool { return x.Component == "microceph" && x.Output })
		if !ok {
			return "", errors.New("no microceph export step")
		}
		out, _, err := ch.Runner.Run(ctx, ch.target(exp), remotecmd.Invocation(ch.Config.SSH.User, exp.Script.Step, exp.Script.Body), "")
		if err != nil {
			return "", fmt.Errorf("%s: %w", exp.ID(), err)
		}
		conf, keyring, err := microceph.ParseExport(out)
		if err != nil {
			return "", err
		}
		return storage.Bundle(conf, keyring), nil
	}
	return "", nil
}

func (ch *Checker) find(match func(stacks.Step) bool) (stacks.Step, bool) {
	for _, s := range ch.steps {
		if match(s) {
			return s, true
		}
	}
	return stacks.Step{}, false
}

// Check runs every step's check, hosts in parallel (at most Parallel at once), the steps of a
// host in order. A host that cannot be reached is named; the others are still checked.
func (ch *Checker) Check(ctx context.Context) *Report {
	var order []string
	byHost := map[string][]stacks.Step{}
	addr := map[string]string{}
	for _, s := range ch.steps {
		if _, ok := byHost[s.Host]; !ok {
			order = append(order, s.Host)
		}
		byHost[s.Host] = append(byHost[s.Host], s)
		addr[s.Host] = s.Address
	}
	results := make([]HostResult, len(order))
	par := ch.Parallel
	if par < 1 {
		par = 1
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, h := range order {
		wg.Add(1)
		go func(i int, h string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = ch.checkHost(ctx, h, addr[h], byHost[h])
		}(i, h)
	}
	wg.Wait()
	return summarize(results)
}

func summarize(results []HostResult) *Report {
	rep := &Report{Hosts: results}
	for _, h := range results {
		if h.Error != "" {
			rep.Unchecked = append(rep.Unchecked, h.Host)
		}
		for _, s := range h.Steps {
			rep.Drifts += len(s.Drifts)
			if s.Status == Failed && h.Error == "" {
				rep.Unchecked = append(rep.Unchecked, h.Host+"/"+s.Step)
			}
		}
	}
	return rep
}

func (ch *Checker) checkHost(ctx context.Context, host, address string, steps []stacks.Step) HostResult {
	hr := HostResult{Host: host, Address: address}
	for _, s := range steps {
		sr := StepResult{Step: s.Script.Step, Component: s.Component}
		if hr.Error != "" {
			sr.Status = NotRun
			hr.Steps = append(hr.Steps, sr)
			continue
		}
		if s.Output {
			sr.Status = Skipped
			hr.Steps = append(hr.Steps, sr)
			continue
		}
		in, err := ch.stdin(ctx, s, false)
		if err != nil {
			sr.Status, sr.Error = Failed, err.Error()
			hr.Steps = append(hr.Steps, sr)
			continue
		}
		out, stderr, err := ch.Runner.Run(ctx, ch.target(s), remotecmd.CheckInvocation(ch.Config.SSH.User, s.Script.Step, s.Script.Body), in)
		var xe *ExitError
		switch {
		case errors.As(err, &xe):
			sr.Status, sr.Error = Failed, xe.Error()
		case err != nil:
			hr.Error = err.Error()
			sr.Status = NotRun
		default:
			parseCheck(&sr, out, stderr)
		}
		hr.Steps = append(hr.Steps, sr)
	}
	return hr
}

// parseCheck reads a check-mode output: "drift: WHAT" lines (indented lines after one are its
// detail), "k8s: ..." inventory lines, and the summary "pm4ml: <step>: in sync | N drift(s)".
// Nothing else is kept: a secret step's other output never reaches the report.
func parseCheck(sr *StepResult, out, stderr string) {
	summary := ""
	var last *Drift
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "drift: "):
			sr.Drifts = append(sr.Drifts, Drift{What: strings.TrimPrefix(line, "drift: ")})
			last = &sr.Drifts[len(sr.Drifts)-1]
			continue
		case strings.HasPrefix(line, "  ") && last != nil:
			last.Detail = append(last.Detail, strings.TrimPrefix(line, "  "))
			continue
		case strings.HasPrefix(line, "k8s: "):
			sr.Info = append(sr.Info, strings.TrimPrefix(line, "k8s: "))
		case strings.HasPrefix(line, "pm4ml: "+sr.Step+": "):
			summary = strings.TrimPrefix(line, "pm4ml: "+sr.Step+": ")
		}
		last = nil
	}
	switch {
	case summary == "in sync" && len(sr.Drifts) == 0:
		sr.Status = InSync
	case strings.HasSuffix(summary, " drift(s)") && len(sr.Drifts) > 0:
		sr.Status = Drifted
	default:
		sr.Status = Failed
		sr.Error = fmt.Sprintf("no check summary in the output (is the script older than check mode?)%s", suffix(lastLine(stderr)))
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// Repair re-applies the drifted steps of rep, in dependency order (the order of Steps), with
// their apply script (never a delete script) and their stdin as under Pulumi. It stops at the
// first step that fails: the steps after it depend on it.
func (ch *Checker) Repair(ctx context.Context, rep *Report) ([]RepairResult, error) {
	drifted := map[string]bool{}
	for _, h := range rep.Hosts {
		for _, s := range h.Steps {
			if s.Status == Drifted {
				drifted[h.Host+"/"+s.Step] = true
			}
		}
	}
	var out []RepairResult
	for _, s := range ch.steps {
		if !drifted[s.ID()] || s.Component == kubernetesComponent {
			continue
		}
		rr := RepairResult{Host: s.Host, Step: s.Script.Step}
		in, err := ch.stdin(ctx, s, true)
		if err == nil {
			var stdout string
			stdout, _, err = ch.Runner.Run(ctx, ch.target(s), remotecmd.Invocation(ch.Config.SSH.User, s.Script.Step, s.Script.Body), in)
			for _, line := range strings.Split(stdout, "\n") {
				if strings.HasPrefix(line, "changed: ") {
					rr.Changed = append(rr.Changed, strings.TrimPrefix(line, "changed: "))
				}
			}
		}
		if err != nil {
			rr.Error = err.Error()
			out = append(out, rr)
			return out, fmt.Errorf("repair of %s failed: %w", s.ID(), err)
		}
		out = append(out, rr)
	}
	return out, nil
}

// Drifted lists "host/step" of the drifted steps, sorted.
func (r *Report) Drifted() []string {
	var out []string
	for _, h := range r.Hosts {
		for _, s := range h.Steps {
			if s.Status == Drifted {
				out = append(out, h.Host+"/"+s.Step)
			}
		}
	}
	sort.Strings(out)
	return out
}
