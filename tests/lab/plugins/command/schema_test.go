package main

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"google.golang.org/protobuf/types/known/emptypb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// pulumiTags are the property names of a pulumi-command SDK struct (its `pulumi:"..."` tags).
func pulumiTags(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if tag, ok := t.Field(i).Tag.Lookup("pulumi"); ok {
			names = append(names, tag)
		}
	}
	sort.Strings(names)
	return names
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func getSchema(t *testing.T) schema.PackageSpec {
	t.Helper()
	h := newHarness(t)
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

// TestSchemaMatchesPulumiCommandSDK compares the stand-in's schema with the property names of the
// pulumi-command v1.2.1 Go SDK the program is compiled against.
func TestSchemaMatchesPulumiCommandSDK(t *testing.T) {
	spec := getSchema(t)
	if spec.Name != "command" || spec.Version != Version {
		t.Fatalf("schema is %s %s, want command %s", spec.Name, spec.Version, Version)
	}
	h := newHarness(t)
	info, err := h.srv.GetPluginInfo(h.ctx(), &emptypb.Empty{})
	if err != nil || info.GetVersion() != "1.2.1" {
		t.Fatalf("GetPluginInfo = %v, %v; the SDK requests 1.2.1", info, err)
	}

	resources := []struct {
		token   string
		outputs reflect.Type // the SDK resource struct: its tags are the output properties
		inputs  reflect.Type // the SDK args struct
		skip    []string     // SDK outputs the stand-in does not produce
	}{
		{"command:remote:Command", reflect.TypeFor[remote.Command](), reflect.TypeFor[remote.CommandArgs](), nil},
		{"command:remote:CopyToRemote", reflect.TypeFor[remote.CopyToRemote](), reflect.TypeFor[remote.CopyToRemoteArgs](), nil},
		{"command:local:Command", reflect.TypeFor[local.Command](), reflect.TypeFor[local.CommandArgs](), []string{"archive", "assets"}},
	}
	for _, r := range resources {
		res, ok := spec.Resources[r.token]
		if !ok {
			t.Errorf("%s missing from the schema", r.token)
			continue
		}
		var want []string
		for _, n := range pulumiTags(r.outputs) {
			if !contains(r.skip, n) {
				want = append(want, n)
			}
		}
		if got := keys(res.Properties); !reflect.DeepEqual(got, want) {
			t.Errorf("%s outputs %v, SDK v1.2.1 has %v (minus %v)", r.token, got, want, r.skip)
		}
		// SDK Args structs have no tags: compare field names case-insensitively.
		var wantIn []string
		for i := 0; i < r.inputs.NumField(); i++ {
			wantIn = append(wantIn, strings.ToLower(r.inputs.Field(i).Name))
		}
		sort.Strings(wantIn)
		var gotIn []string
		for _, k := range keys(res.InputProperties) {
			gotIn = append(gotIn, strings.ToLower(k))
		}
		if !reflect.DeepEqual(gotIn, wantIn) {
			t.Errorf("%s inputs %v, SDK v1.2.1 has %v", r.token, gotIn, wantIn)
		}
	}
	for token, typ := range map[string]reflect.Type{
		"command:remote:Connection":      reflect.TypeFor[remote.Connection](),
		"command:remote:ProxyConnection": reflect.TypeFor[remote.ProxyConnection](),
	} {
		ct, ok := spec.Types[token]
		if !ok {
			t.Errorf("type %s missing", token)
			continue
		}
		if got, want := keys(ct.Properties), pulumiTags(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("%s properties %v, SDK v1.2.1 has %v", token, got, want)
		}
		for prop, def := range map[string]any{"port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0} {
			if d := ct.Properties[prop].Default; d == nil || !reflect.DeepEqual(normalizeNumber(d), def) {
				t.Errorf("%s.%s default %v, want %v", token, prop, d, def)
			}
		}
	}
	for _, token := range []string{"command:remote:Logging", "command:local:Logging"} {
		var vals []string
		for _, v := range spec.Types[token].Enum {
			vals = append(vals, v.Value.(string))
		}
		sort.Strings(vals)
		if want := []string{"none", "stderr", "stdout", "stdoutAndStderr"}; !reflect.DeepEqual(vals, want) {
			t.Errorf("%s values %v, want %v", token, vals, want)
		}
	}
	cmd := spec.Resources["command:remote:Command"]
	if !cmd.InputProperties["connection"].Secret || !cmd.InputProperties["triggers"].ReplaceOnChanges {
		t.Errorf("connection must be secret and triggers replaceOnChanges: %+v", cmd.InputProperties)
	}
}

func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
