package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// buildPlugin builds this package as pulumi-resource-vault into a new directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "pulumi-resource-vault"), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// The program binds pulumi-vault by type token (components/vaultsecret); so does this test.
type vaultProvider struct{ pulumi.ProviderResourceState }

type kvSecret struct {
	pulumi.CustomResourceState
	Path     pulumi.StringOutput `pulumi:"path"`
	DataJSON pulumi.StringOutput `pulumi:"dataJson"`
	Data     pulumi.MapOutput    `pulumi:"data"`
}

// TestEndToEndWithPulumiCLI runs the real Pulumi CLI (Automation API, inline program, local
// file backend) with the stand-in first on PATH, against a dev Vault on loopback, the way
// components/vaultsecret registers things: an explicit pulumi:providers:vault 6.7.0 and one KV v1
// and one KV v2 secret. Create, no-op, provider update, update, replacement, refresh of drift,
// destroy; secrets
// only as ciphertext in the state, also where the program sent dataJson in plain text.
func TestEndToEndWithPulumiCLI(t *testing.T) {
	root := cacheRoot(t)
	cli := filepath.Join(root, "bin", "pulumi")
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("Pulumi CLI not found at %s (install the project's tools first; PM4ML_CACHE sets the cache root): %v", cli, err)
	}
	v := startVault(t, false)
	v.mountKV1(t, "kv1")
	plugins := buildPlugin(t)

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
		"VAULT_ADDR":                                  "",
		"VAULT_TOKEN":                                 "",
	}
	program := func(value, kv1Path, addr string) pulumi.RunFunc {
		return func(ctx *pulumi.Context) error {
			pin := pulumi.Version(Version)
			prov := &vaultProvider{}
			if err := ctx.RegisterResource("pulumi:providers:vault", "vault", pulumi.Map{
				"address":        pulumi.String(addr),
				"token":          pulumi.ToSecret(pulumi.String(v.Token)),
				"skipChildToken": pulumi.Bool(true),
			}, prov, pin, pulumi.AdditionalSecretOutputs([]string{"token"})); err != nil {
				return err
			}
			kv1 := &kvSecret{}
			if err := ctx.RegisterResource(kv1Type, "kv1", pulumi.Map{
				"path":     pulumi.String(kv1Path),
				"dataJson": pulumi.String(`{"mcmdev_client_secret":"` + value + `"}`), // plain: the provider makes it secret
			}, kv1, pulumi.Provider(prov), pin); err != nil {
				return err
			}
			kv2 := &kvSecret{}
			if err := ctx.RegisterResource(kv2Type, "kv2", pulumi.Map{
				"mount":    pulumi.String("secret"),
				"name":     pulumi.String("pm4ml-lab"),
				"dataJson": pulumi.ToSecret(pulumi.String(`{"mcmdev_client_secret":"` + value + `"}`)),
			}, kv2, pulumi.Provider(prov), pin); err != nil {
				return err
			}
			ctx.Export("kv1Data", kv1.Data)
			ctx.Export("kv2Path", kv2.Path)
			return nil
		}
	}
	stack, err := auto.UpsertStackInlineSource(ctx, "lab", "vault-standin-e2e", program("e2e-value-1", "kv1/pm4ml-lab", v.Addr),
		auto.Pulumi(pulumiCmd), auto.PulumiHome(home), auto.EnvVars(env),
		auto.Project(workspace.Project{
			Name:    "vault-standin-e2e",
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: "file://" + backend},
		}))
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	changes := func(s auto.UpdateSummary) map[string]int {
		if s.ResourceChanges == nil {
			return nil
		}
		return *s.ResourceChanges
	}
	vaultValue := func(path string, kv2 bool) any {
		t.Helper()
		d := data(v.mustAPI(t, http.StatusOK, http.MethodGet, path, nil))
		if kv2 {
			d = data(d)
		}
		return d["mcmdev_client_secret"]
	}

	// 1. up creates the provider and both secrets.
	var out bytes.Buffer
	up, err := stack.Up(ctx, optup.ProgressStreams(&out))
	if err != nil {
		t.Fatalf("first up: %v\n%s", err, out.String())
	}
	if c := changes(up.Summary); c["create"] != 4 {
		t.Errorf("first up changes %v, want 4 creates (stack, provider, two secrets)", c)
	}
	if vaultValue("kv1/pm4ml-lab", false) != "e2e-value-1" || vaultValue("secret/data/pm4ml-lab", true) != "e2e-value-1" {
		t.Errorf("Vault does not have the secrets")
	}
	if o := up.Outputs["kv2Path"]; o.Value != "secret/data/pm4ml-lab" {
		t.Errorf("kv2Path output %v", o)
	}
	if o := up.Outputs["kv1Data"]; !o.Secret {
		t.Errorf("kv1Data output is not secret: %v", o)
	}
	dep, err := stack.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := strings.ReplaceAll(string(dep.Deployment), " ", "")
	for _, want := range []string{"pulumi:providers:vault::vault", `"version":"6.7.0"`} {
		if !strings.Contains(state, want) {
			t.Errorf("state lacks %s", want)
		}
	}
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
	for _, secret := range []string{"e2e-value-1", v.Token} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("state at rest contains %q in plain text", secret)
		}
	}

	// 2. a second up changes nothing.
	up, err = stack.Up(ctx)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if c := changes(up.Summary); c["same"] != 4 || len(c) != 1 {
		t.Errorf("second up changes %v, want 4 same", c)
	}

	// 2b. a provider configuration change updates the provider in place and leaves the secrets
	// alone (a provider replacement would replace them: write, then delete the same path).
	addr2 := v.Addr + "/"
	stack.Workspace().SetProgram(program("e2e-value-1", "kv1/pm4ml-lab", addr2))
	up, err = stack.Up(ctx)
	if err != nil {
		t.Fatalf("provider config up: %v", err)
	}
	if c := changes(up.Summary); c["update"] != 1 || c["same"] != 3 || len(c) != 2 {
		t.Errorf("provider config change %v, want 1 update (the provider) and 3 same", c)
	}
	if vaultValue("kv1/pm4ml-lab", false) != "e2e-value-1" || vaultValue("secret/data/pm4ml-lab", true) != "e2e-value-1" {
		t.Errorf("the secrets changed with the provider configuration")
	}

	// 3. a new value updates both in place.
	stack.Workspace().SetProgram(program("e2e-value-2", "kv1/pm4ml-lab", addr2))
	prev, err := stack.Preview(ctx, optpreview.Diff())
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	if prev.ChangeSummary[apitype.OpUpdate] != 2 || prev.ChangeSummary[apitype.OpReplace] != 0 {
		t.Errorf("preview of a new value %v, want 2 updates", prev.ChangeSummary)
	}
	if up, err = stack.Up(ctx); err != nil {
		t.Fatalf("update up: %v", err)
	}
	if c := changes(up.Summary); c["update"] != 2 {
		t.Errorf("update up changes %v", c)
	}
	if vaultValue("kv1/pm4ml-lab", false) != "e2e-value-2" || vaultValue("secret/data/pm4ml-lab", true) != "e2e-value-2" {
		t.Errorf("Vault does not have the new values")
	}

	// 4. a new KV v1 path replaces: the new secret is written, then the old one deleted.
	stack.Workspace().SetProgram(program("e2e-value-2", "kv1/pm4ml-moved", addr2))
	if up, err = stack.Up(ctx); err != nil {
		t.Fatalf("replace up: %v", err)
	}
	if c := changes(up.Summary); c["replace"] != 1 {
		t.Errorf("path change %v, want 1 replace", c)
	}
	if status, _ := v.api(t, http.MethodGet, "kv1/pm4ml-lab", nil); status != http.StatusNotFound {
		t.Errorf("old KV v1 path still there (status %d)", status)
	}
	if vaultValue("kv1/pm4ml-moved", false) != "e2e-value-2" {
		t.Errorf("new KV v1 path not written")
	}

	// 5. refresh reads a change made in Vault; the next up puts the program's value back.
	v.mustAPI(t, http.StatusOK, http.MethodPut, "secret/data/pm4ml-lab", map[string]any{"data": map[string]any{"mcmdev_client_secret": "tampered"}})
	if _, err := stack.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	prev, err = stack.Preview(ctx)
	if err != nil {
		t.Fatalf("preview after refresh: %v", err)
	}
	if prev.ChangeSummary[apitype.OpUpdate] != 1 {
		t.Errorf("preview after drift %v, want 1 update", prev.ChangeSummary)
	}
	if _, err = stack.Up(ctx); err != nil {
		t.Fatalf("up after drift: %v", err)
	}
	if got := vaultValue("secret/data/pm4ml-lab", true); got != "e2e-value-2" {
		t.Errorf("after up Vault has %v, want the program's value back", got)
	}

	// 6. destroy deletes the KV v1 secret and the latest KV v2 version.
	if _, err := stack.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if status, _ := v.api(t, http.MethodGet, "kv1/pm4ml-moved", nil); status != http.StatusNotFound {
		t.Errorf("KV v1 secret still there after destroy (status %d)", status)
	}
	status, body := v.api(t, http.MethodGet, "secret/data/pm4ml-lab", nil)
	if md, _ := data(body)["metadata"].(map[string]any); status != http.StatusNotFound || md == nil || md["deletion_time"] == "" {
		t.Errorf("KV v2 latest version not deleted: %d %v", status, body)
	}
	if err := stack.Workspace().RemoveStack(ctx, "lab"); err != nil {
		t.Errorf("remove stack: %v", err)
	}
}
