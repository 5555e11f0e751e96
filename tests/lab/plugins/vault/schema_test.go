package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

func keys[V any](m map[string]V) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func getSchema(t *testing.T) schema.PackageSpec {
	t.Helper()
	h := newHarness(t, nil)
	resp, err := h.srv.GetSchema(h.ctx(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal([]byte(resp.GetSchema()), &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestSchemaMatchesPulumiVault checks tokens, property names, required inputs, types and secrets
// against pulumi-vault v6.7.0 (its published schema and the v6 SDK).
func TestSchemaMatchesPulumiVault(t *testing.T) {
	spec := getSchema(t)
	if spec.Name != "vault" || spec.Version != "6.7.0" {
		t.Fatalf("schema is %s %s, want vault 6.7.0", spec.Name, spec.Version)
	}
	h := newHarness(t, nil)
	if info, err := h.srv.GetPluginInfo(h.ctx(), &emptypb.Empty{}); err != nil || info.GetVersion() != "6.7.0" {
		t.Fatalf("GetPluginInfo = %v, %v; the program pins 6.7.0", info, err)
	}
	if got := keys(spec.Resources); !reflect.DeepEqual(got, []string{kv1Type, kv2Type}) {
		t.Errorf("resources %v", got)
	}

	resources := []struct {
		token            string
		inputs, required []string
		outputs          []string
	}{
		{kv1Type, sorted("path", "dataJson", "namespace"), sorted("path", "dataJson"),
			sorted("path", "dataJson", "namespace", "data")},
		{kv2Type, sorted("mount", "name", "dataJson", "cas", "customMetadata", "deleteAllVersions", "disableRead", "namespace", "options"),
			sorted("mount", "name", "dataJson"),
			sorted("mount", "name", "dataJson", "cas", "customMetadata", "deleteAllVersions", "disableRead", "namespace", "options",
				"path", "data", "metadata")},
	}
	for _, r := range resources {
		res := spec.Resources[r.token]
		if got := keys(res.InputProperties); !reflect.DeepEqual(got, r.inputs) {
			t.Errorf("%s inputs %v, want %v", r.token, got, r.inputs)
		}
		if got := sorted(res.RequiredInputs...); !reflect.DeepEqual(got, r.required) {
			t.Errorf("%s required inputs %v, want %v", r.token, got, r.required)
		}
		if got := keys(res.Properties); !reflect.DeepEqual(got, r.outputs) {
			t.Errorf("%s outputs %v, want %v", r.token, got, r.outputs)
		}
		if !res.InputProperties["dataJson"].Secret || !res.Properties["dataJson"].Secret || !res.Properties["data"].Secret {
			t.Errorf("%s: dataJson and data must be secret", r.token)
		}
		for name, p := range res.InputProperties {
			if p.ReplaceOnChanges {
				t.Errorf("%s.%s is replaceOnChanges; upstream replaces from Diff (ForceNew), not by schema", r.token, name)
			}
		}
		if typ := res.Properties["data"].AdditionalProperties; typ == nil || typ.Type != "string" {
			t.Errorf("%s data is not a map of strings", r.token)
		}
	}
	kv2 := spec.Resources[kv2Type]
	for prop, typ := range map[string]string{"cas": "integer", "deleteAllVersions": "boolean", "disableRead": "boolean",
		"mount": "string", "name": "string", "namespace": "string", "options": "object"} {
		if got := kv2.InputProperties[prop].Type; got != typ {
			t.Errorf("%s.%s is %q, want %q", kv2Type, prop, got, typ)
		}
	}
	const cmToken = "vault:kv/SecretV2CustomMetadata:SecretV2CustomMetadata"
	if ref := kv2.InputProperties["customMetadata"].Ref; ref != "#/types/"+cmToken {
		t.Errorf("customMetadata is %q", ref)
	}
	if got := keys(spec.Types[cmToken].Properties); !reflect.DeepEqual(got, sorted("casRequired", "data", "deleteVersionAfter", "maxVersions")) {
		t.Errorf("%s properties %v", cmToken, got)
	}

	// Provider configuration: what the program sends, token secret; nothing is required (address
	// and token may come from VAULT_ADDR / VAULT_TOKEN).
	config := map[string]string{"address": "string", "token": "string", "skipChildToken": "boolean",
		"skipTlsVerify": "boolean", "caCertFile": "string", "namespace": "string"}
	for prop, typ := range config {
		if got := spec.Provider.InputProperties[prop].Type; got != typ {
			t.Errorf("provider input %s is %q, want %q", prop, got, typ)
		}
		if got := spec.Config.Variables[prop].Type; got != typ {
			t.Errorf("config variable %s is %q, want %q", prop, got, typ)
		}
	}
	if !spec.Provider.InputProperties["token"].Secret || !spec.Config.Variables["token"].Secret {
		t.Errorf("token must be secret")
	}
	if len(spec.Provider.RequiredInputs) != 0 || len(spec.Config.Required) != 0 {
		t.Errorf("required configuration %v %v", spec.Provider.RequiredInputs, spec.Config.Required)
	}
}

// TestProgramUsesOnlyWhatTheStandInServes reads the program's components/vaultsecret/vaultsecret.go
// and checks its type tokens, plugin version and every property it sends against the schema.
func TestProgramUsesOnlyWhatTheStandInServes(t *testing.T) {
	file := filepath.Join("..", "..", "..", "..", "components", "vaultsecret", "vaultsecret.go")
	if _, err := os.Stat(file); err != nil {
		t.Skipf("program source not found: %v", err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	maps := map[string][]string{} // keys of pulumi.Map literals and index assignments, by variable
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, name := range n.Names {
				if i < len(n.Values) {
					if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				switch l := lhs.(type) {
				case *ast.Ident:
					if i < len(n.Rhs) {
						maps[l.Name] = append(maps[l.Name], pulumiMapKeys(n.Rhs[i])...)
					}
				case *ast.IndexExpr:
					id, ok1 := l.X.(*ast.Ident)
					lit, ok2 := l.Index.(*ast.BasicLit)
					if ok1 && ok2 {
						k, _ := strconv.Unquote(lit.Value)
						maps[id.Name] = append(maps[id.Name], k)
					}
				}
			}
		}
		return true
	})
	if consts["ProviderType"] != "pulumi:providers:"+Name || consts["PluginVersion"] != Version ||
		consts["KV1Type"] != kv1Type || consts["KV2Type"] != kv2Type {
		t.Fatalf("program constants %v do not match the stand-in (%s %s %s %s)", consts, Name, Version, kv1Type, kv2Type)
	}
	spec := getSchema(t)
	if len(maps["pprops"]) == 0 || len(maps["props"]) == 0 {
		t.Fatalf("the program no longer builds its properties in pprops/props (found %v): update this test", maps)
	}
	for _, k := range maps["pprops"] {
		if _, ok := spec.Provider.InputProperties[k]; !ok {
			t.Errorf("the program sends provider property %q, not in the stand-in's configuration", k)
		}
	}
	for _, k := range maps["props"] {
		_, in1 := spec.Resources[kv1Type].InputProperties[k]
		_, in2 := spec.Resources[kv2Type].InputProperties[k]
		if !in1 && !in2 {
			t.Errorf("the program sends resource property %q, in neither resource", k)
		}
	}
}

// pulumiMapKeys returns the string keys of a pulumi.Map{...} literal.
func pulumiMapKeys(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	sel, ok := lit.Type.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Map" {
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(k.Value)
				out = append(out, s)
			}
		}
	}
	return out
}
