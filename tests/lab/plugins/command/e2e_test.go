package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// cacheRoot is where the project's tools live ($PM4ML_CACHE, default ~/.cache/pm4ml-onprem).
func cacheRoot(t *testing.T) string {
	if c := os.Getenv("PM4ML_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "pm4ml-onprem")
}

// buildPlugin builds this package as pulumi-resource-command into a new directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "pulumi-resource-command"), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// TestEndToEndWithPulumiCLI runs the real Pulumi CLI (Automation API, inline program, local
// file backend) with the stand-in first on PATH, against the in-process sshd on loopback:
// create, no-op, update, trigger replacement and destroy, with the secrets encrypted in state.
func TestEndToEndWithPulumiCLI(t *testing.T) {
	root := cacheRoot(t)
	cli := filepath.Join(root, "bin", "pulumi")
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("Pulumi CLI not found at %s (install the project's tools first; PM4ML_CACHE sets the cache root): %v", cli, err)
	}
	plugins := buildPlugin(t)
	signer, key := newKey(t)
	srv := startSSHD(t, signer.PublicKey(), "")
	logFile := filepath.Join(t.TempDir(), "ops.log")

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pulumiCmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	home, backend := t.TempDir(), t.TempDir()
	env := map[string]string{
		"PATH":                     plugins + string(os.PathListSeparator) + filepath.Join(root, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"PULUMI_CONFIG_PASSPHRASE": "",
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_IGNORE_AMBIENT_PLUGINS":               "false",
		"SSH_AUTH_SOCK":                               "",
	}
	program := func(create, trigger string) pulumi.RunFunc {
		return func(ctx *pulumi.Context) error {
			cmd, err := remote.NewCommand(ctx, "hello", &remote.CommandArgs{
				Connection: remote.ConnectionArgs{
					Host:           pulumi.String(srv.Host),
					Port:           pulumi.Float64(float64(srv.Port)),
					User:           pulumi.String("lab"),
					PrivateKey:     pulumi.ToSecret(pulumi.String(key)).(pulumi.StringOutput),
					HostKey:        pulumi.String(authorizedLine(srv.HostKey)),
					DialErrorLimit: pulumi.Int(2),
				},
				Create:   pulumi.String(create),
				Delete:   pulumi.String(`echo "delete after $PULUMI_COMMAND_STDOUT" >> ` + logFile),
				Stdin:    pulumi.ToSecret(pulumi.String("stdin-secret-value")).(pulumi.StringOutput),
				Triggers: pulumi.Array{pulumi.String(trigger)},
				Logging:  remote.LoggingStdout,
			}, pulumi.AdditionalSecretOutputs([]string{"stdin"}))
			if err != nil {
				return err
			}
			ctx.Export("stdout", cmd.Stdout)
			return nil
		}
	}
	createV1 := `read -r s; echo "v1 got ${#s} bytes"; echo create-v1 >> ` + logFile
	stack, err := auto.UpsertStackInlineSource(ctx, "lab", "standin-e2e", program(createV1, "t1"),
		auto.Pulumi(pulumiCmd), auto.PulumiHome(home), auto.EnvVars(env),
		auto.Project(workspace.Project{
			Name:    "standin-e2e",
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: "file://" + backend},
		}))
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	var out bytes.Buffer
	changes := func(s auto.UpdateSummary) map[string]int {
		if s.ResourceChanges == nil {
			return nil
		}
		return *s.ResourceChanges
	}

	// 1. up creates and returns stdout.
	up, err := stack.Up(ctx, optup.ProgressStreams(&out))
	if err != nil {
		t.Fatalf("first up: %v\n%s", err, out.String())
	}
	if c := changes(up.Summary); c["create"] != 2 {
		t.Errorf("first up changes %v, want 2 creates (stack and command)", c)
	}
	if got := up.Outputs["stdout"].Value; got != "v1 got 18 bytes" {
		t.Errorf("stdout output %v", got)
	}
	if !strings.Contains(out.String(), "v1 got 18 bytes") {
		t.Errorf("logging stdout: the CLI should show the command's output:\n%s", out.String())
	}
	execs := len(srv.Execs())

	// The stand-in served the resource as command 1.2.1, and the secrets are encrypted in state.
	dep, err := stack.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := string(dep.Deployment)
	for _, want := range []string{"pulumi:providers:command::default_1_2_1", `"version":"1.2.1"`} {
		if !strings.Contains(strings.ReplaceAll(state, " ", ""), want) {
			t.Errorf("state lacks %s", want)
		}
	}
	if !strings.Contains(state, "stdin-secret-value") {
		t.Errorf("exported (--show-secrets) state lacks the stdin")
	}
	// At rest, in the file backend, the secrets are ciphertext only.
	files, err := filepath.Glob(filepath.Join(backend, ".pulumi", "stacks", "*", "lab.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("state file of stack lab: %v %v", files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "ciphertext") {
		t.Errorf("state at rest has no ciphertext")
	}
	for _, secret := range []string{"stdin-secret-value", "PRIVATE KEY"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("state at rest contains %q in plain text", secret)
		}
	}

	// 2. a second up changes nothing and runs nothing.
	up, err = stack.Up(ctx)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if c := changes(up.Summary); c["same"] != 2 || len(c) != 1 {
		t.Errorf("second up changes %v, want 2 same", c)
	}
	if n := len(srv.Execs()); n != execs {
		t.Errorf("second up ran %d commands", n-execs)
	}

	// 3. a changed create is an update: create runs again with the previous stdout.
	stack.Workspace().SetProgram(program(`echo "v2 after [$PULUMI_COMMAND_STDOUT]"; echo create-v2 >> `+logFile, "t1"))
	prev, err := stack.Preview(ctx, optpreview.Diff())
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	if prev.ChangeSummary[apitype.OpUpdate] != 1 || prev.ChangeSummary[apitype.OpReplace] != 0 {
		t.Errorf("preview of a changed create %v, want 1 update", prev.ChangeSummary)
	}
	up, err = stack.Up(ctx)
	if err != nil {
		t.Fatalf("update up: %v", err)
	}
	if c := changes(up.Summary); c["update"] != 1 {
		t.Errorf("update up changes %v", c)
	}
	if got := up.Outputs["stdout"].Value; got != "v2 after [v1 got 18 bytes]" {
		t.Errorf("stdout after update %v", got)
	}

	// 4. a changed trigger replaces: the new create runs, then the old delete.
	stack.Workspace().SetProgram(program(`echo "v3"; echo create-v3 >> `+logFile, "t2"))
	up, err = stack.Up(ctx)
	if err != nil {
		t.Fatalf("replace up: %v", err)
	}
	if c := changes(up.Summary); c["replace"] != 1 {
		t.Errorf("trigger change %v, want 1 replace", c)
	}

	// 5. destroy runs the delete command of the state.
	if _, err := stack.Destroy(ctx, optdestroy.ProgressStreams(&out)); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "create-v1\ncreate-v2\ncreate-v3\ndelete after v2 after [v1 got 18 bytes]\ndelete after v3\n"
	if string(log) != want {
		t.Errorf("remote operations:\n%s\nwant:\n%s", log, want)
	}
	for _, e := range srv.Execs() {
		if e.Exit != 0 {
			t.Errorf("command failed on the server: %+v", e)
		}
	}
	if err := stack.Workspace().RemoveStack(ctx, "lab"); err != nil {
		t.Errorf("remove stack: %v", err)
	}
}
