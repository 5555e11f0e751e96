package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode"

	"github.com/pm4ml/pm4ml-onprem/internal/drift"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// secretEnv is the environment variable of a secret key: sshPrivateKey -> PM4ML_SSH_PRIVATE_KEY.
func secretEnv(key string) string {
	var b strings.Builder
	b.WriteString("PM4ML_")
	for i, r := range key {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// stackSecrets reads the stack's decrypted configuration with the Pulumi CLI (`pulumi config
// --show-secrets --json`), as `pulumi up` gets it; nil when it cannot.
func stackSecrets(stack, dir string, stderr io.Writer) map[string]string {
	pulumi, err := exec.LookPath("pulumi")
	if err != nil || stack == "" {
		return nil
	}
	cmd := exec.Command(pulumi, "config", "--show-secrets", "--json", "--stack", stack, "--cwd", dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stderr, "pm4ml drift: the stack's secrets are not readable with pulumi config (%v: %s); set them in the environment\n", err, strings.TrimSpace(errb.String()))
		return nil
	}
	var doc map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		return nil
	}
	vals := map[string]string{}
	for k, v := range doc {
		if rest, ok := strings.CutPrefix(k, stacks.Namespace+":"); ok {
			if s, ok := v.Value.(string); ok {
				vals[rest] = s
			}
		}
	}
	return vals
}

// driftSecrets are the secret values drift needs: each from its environment variable, else from
// the stack (pulumi config), when the configuration uses it.
func driftSecrets(cfg *stacks.Config, stack, dir string, stderr io.Writer) (drift.Secrets, string, error) {
	var fromStack map[string]string
	asked := false
	get := func(key string) string {
		if v := os.Getenv(secretEnv(key)); v != "" {
			return v
		}
		if !asked {
			fromStack, asked = stackSecrets(stack, dir, stderr), true
		}
		return fromStack[key]
	}
	var s drift.Secrets
	if s.SSHPrivateKey = get(stacks.SecretSSHPrivateKey); s.SSHPrivateKey == "" {
		return s, "", fmt.Errorf("pm4ml:%s is needed: set %s (or give --stack with a readable stack)", stacks.SecretSSHPrivateKey, secretEnv(stacks.SecretSSHPrivateKey))
	}
	if cfg.HAProxy.StatsEnabled {
		s.HAProxyStatsPassword = get(stacks.SecretHAProxyStatsPass)
	}
	if cfg.WireGuard.Enabled {
		s.WireGuardPrivateKey = get(stacks.SecretWireGuardKey)
	}
	bastionKey := ""
	if cfg.SSH.Bastion != nil && cfg.Secrets[stacks.SecretBastionKey].Set {
		bastionKey = get(stacks.SecretBastionKey)
	}
	return s, bastionKey, nil
}

func runDrift(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStackFlags(fs, "stack name: reads Pulumi.<stack>.yaml in --dir (and its secrets with pulumi config)",
		"path of a stack file (instead of --stack); secrets from the environment")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	outFile := fs.String("out", "", "also write the JSON report to this file (CI artifacts)")
	repair := fs.Bool("repair", false, "re-apply the drifted steps (their apply scripts, in dependency order), then check again")
	parallel := fs.Int("parallel", 8, "hosts checked at once")
	timeout := fs.Duration("timeout", 30*time.Minute, "bound of the whole run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, ok := sf.path("pm4ml drift", stderr)
	if !ok {
		return 2
	}
	cfg, ok := loadStackFile(path, stderr)
	if !ok {
		return 1
	}
	sec, bastionKey, err := driftSecrets(cfg, *sf.stack, *sf.dir, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pm4ml drift:", err)
		return 1
	}
	sc := drift.SSHConfig{User: cfg.SSH.User, Port: cfg.SSH.Port, Key: []byte(sec.SSHPrivateKey), HostKeys: cfg.SSH.HostKeys}
	if b := cfg.SSH.Bastion; b != nil {
		sc.Bastion = &drift.Bastion{Host: b.Host, User: b.User, Port: b.Port, Key: []byte(bastionKey), HostKey: cfg.SSH.HostKeys[b.Host]}
	}
	runner, err := drift.NewSSHRunner(sc)
	if err != nil {
		fmt.Fprintln(stderr, "pm4ml drift:", err)
		return 1
	}
	defer runner.Close()
	return driftWith(cfg, runner, sec, driftOptions{Parallel: *parallel, Timeout: *timeout, Repair: *repair, JSON: *asJSON, Out: *outFile}, stdout, stderr)
}

type driftOptions struct {
	Parallel     int
	Timeout      time.Duration
	Repair, JSON bool
	Out          string // also write the JSON report here
}

// driftWith checks (and repairs) with a given runner: the command's logic, for tests too.
func driftWith(cfg *stacks.Config, runner drift.Runner, sec drift.Secrets, o driftOptions, stdout, stderr io.Writer) int {
	repair, asJSON := o.Repair, o.JSON
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	ch, err := drift.NewChecker(cfg, runner, sec)
	if err != nil {
		fmt.Fprintln(stderr, "pm4ml drift:", err)
		return 1
	}
	ch.Parallel = o.Parallel
	rep := ch.Check(ctx)
	code := rep.ExitCode()
	if repair && rep.Drifts > 0 {
		if !asJSON {
			fmt.Fprintln(stdout, "== before the repair")
			rep.WriteText(stdout)
			fmt.Fprintln(stdout, "== repair, then a new check")
		}
		repaired, rerr := ch.Repair(ctx, rep)
		after := ch.Check(ctx)
		after.Repaired = repaired
		rep, code = after, after.ExitCode()
		if rerr != nil {
			fmt.Fprintln(stderr, "pm4ml drift:", rerr)
			code = drift.ExitUnchecked
		}
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fmt.Fprintln(stderr, "pm4ml drift:", err)
		return 1
	}
	js = append(js, '\n')
	if o.Out != "" {
		if err := os.WriteFile(o.Out, js, 0o644); err != nil {
			fmt.Fprintln(stderr, "pm4ml drift:", err)
			return 1
		}
	}
	if asJSON {
		_, _ = stdout.Write(js)
	} else {
		rep.WriteText(stdout)
	}
	return code
}
