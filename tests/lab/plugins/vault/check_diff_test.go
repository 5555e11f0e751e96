package main

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// failureProps returns the properties of check failures, sorted, and all reasons joined.
func failureProps(fails []*pulumirpc.CheckFailure) ([]string, string) {
	var props, reasons []string
	for _, f := range fails {
		props = append(props, f.GetProperty())
		reasons = append(reasons, f.GetReason())
	}
	sort.Strings(props)
	return props, strings.Join(reasons, "\n")
}

// untouchedVault is a Vault address that fails the test when anything reaches it.
func untouchedVault(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"errors":["unexpected call"]}`, http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

func TestCheckRequiredPropertiesAndDataJSON(t *testing.T) {
	h := newHarness(t, nil)
	kv1, kv2 := urn(kv1Type, "a"), urn(kv2Type, "b")

	_, fails := h.checkFailures(kv1, resource.PropertyMap{})
	if props, _ := failureProps(fails); !reflect.DeepEqual(props, []string{"dataJson", "path"}) {
		t.Errorf("kv1 without inputs: failures on %v, want dataJson and path", props)
	}
	_, fails = h.checkFailures(kv2, resource.PropertyMap{"options": resource.NewProperty(resource.PropertyMap{})})
	if props, _ := failureProps(fails); !reflect.DeepEqual(props, []string{"dataJson", "mount", "name"}) {
		t.Errorf("kv2 without inputs: failures on %v, want dataJson, mount and name", props)
	}
	_, fails = h.checkFailures(kv2, resource.PropertyMap{
		"mount": str("secret"), "name": resource.NewProperty(3.0), "dataJson": str(`{}`),
	})
	if props, _ := failureProps(fails); !reflect.DeepEqual(props, []string{"name"}) {
		t.Errorf("kv2 with a number for name: failures on %v", props)
	}
	_, fails = h.checkFailures(kv1, resource.PropertyMap{"path": str("kv1/x"), "dataJson": str(`{}`), "mount": str("kv1")})
	if props, reasons := failureProps(fails); !reflect.DeepEqual(props, []string{"mount"}) || !strings.Contains(reasons, "Unrecognized field") {
		t.Errorf("kv1 with an unknown property: failures on %v %q", props, reasons)
	}

	for _, bad := range []string{`not json`, `["a","b"]`, `"text"`, `{"a":`} {
		for u, news := range map[resource.URN]resource.PropertyMap{
			kv1: {"path": str("kv1/x"), "dataJson": secretStr(bad)},
			kv2: {"mount": str("secret"), "name": str("x"), "dataJson": secretStr(bad)},
		} {
			_, fails := h.checkFailures(u, news)
			props, reasons := failureProps(fails)
			if !reflect.DeepEqual(props, []string{"dataJson"}) || !strings.Contains(reasons, "dataJson must be a JSON-encoded object") {
				t.Errorf("%s dataJson %q: failures %v %q", u.Type(), bad, props, reasons)
			}
		}
	}

	// Any JSON object is accepted, as upstream (non-string values included); dataJson becomes
	// secret even when sent in plain text.
	ins := h.check(kv1, resource.PropertyMap{"path": str("kv1/x"), "dataJson": str(`{"a":"b","n":1,"o":{"p":true}}`)})
	if !ins["dataJson"].IsSecret() || plain(ins, "dataJson") != `{"a":"b","n":1,"o":{"p":true}}` {
		t.Errorf("checked dataJson %v, want the same text as a secret", ins["dataJson"])
	}
	// An unknown dataJson (preview) is not checked.
	h.check(kv2, resource.PropertyMap{
		"mount": str("secret"), "name": str("x"), "dataJson": resource.MakeComputed(str("")),
	})
}

func TestDiffReplacesOnIdentityUpdatesOnData(t *testing.T) {
	addr, calls := untouchedVault(t)
	h := newHarness(t, resource.PropertyMap{"address": str(addr), "token": secretStr("t"), "skipChildToken": resource.NewProperty(true)})

	kv1 := urn(kv1Type, "a")
	ins1 := h.check(kv1, resource.PropertyMap{"path": str("kv1/x"), "dataJson": secretStr(`{"k":"v"}`)})
	state1 := resource.PropertyMap{"path": str("kv1/x"), "dataJson": secretStr(`{"k":"v"}`),
		"data": resource.MakeSecret(resource.NewProperty(resource.PropertyMap{"k": str("v")}))}
	cases1 := map[string]struct {
		news     resource.PropertyMap
		replaces []string
		updates  []string
	}{
		"same":            {resource.PropertyMap{"path": str("kv1/x"), "dataJson": secretStr(`{"k":"v"}`)}, nil, nil},
		"reformatted":     {resource.PropertyMap{"path": str("kv1/x"), "dataJson": secretStr("{\n  \"k\" : \"v\"\n}")}, nil, nil},
		"new value":       {resource.PropertyMap{"path": str("kv1/x"), "dataJson": secretStr(`{"k":"w"}`)}, nil, []string{"dataJson"}},
		"new path":        {resource.PropertyMap{"path": str("kv1/y"), "dataJson": secretStr(`{"k":"v"}`)}, []string{"path"}, nil},
		"namespace added": {resource.PropertyMap{"path": str("kv1/x"), "dataJson": secretStr(`{"k":"v"}`), "namespace": str("team")}, []string{"namespace"}, nil},
	}
	for name, c := range cases1 {
		checkDiff(t, h, kv1, "kv1 "+name, state1, ins1, c.news, c.replaces, c.updates)
	}

	kv2 := urn(kv2Type, "b")
	base := resource.PropertyMap{"mount": str("secret"), "name": str("x"), "dataJson": secretStr(`{"k":"v"}`)}
	ins2 := h.check(kv2, base)
	state2 := base.Copy()
	state2["path"] = str("secret/data/x")
	state2["customMetadata"] = resource.NewProperty(resource.PropertyMap{
		"casRequired": resource.NewProperty(false), "deleteVersionAfter": resource.NewProperty(0.0),
		"maxVersions": resource.NewProperty(0.0),
	})
	with := func(k resource.PropertyKey, v resource.PropertyValue) resource.PropertyMap {
		m := base.Copy()
		m[k] = v
		return m
	}
	meta := func(max float64) resource.PropertyValue {
		return resource.NewProperty(resource.PropertyMap{"maxVersions": resource.NewProperty(max)})
	}
	cases2 := map[string]struct {
		news     resource.PropertyMap
		replaces []string
		updates  []string
	}{
		"same":                    {base, nil, nil},
		"new value":               {with("dataJson", secretStr(`{"k":"w"}`)), nil, []string{"dataJson"}},
		"new mount":               {with("mount", str("kv2")), []string{"mount"}, nil},
		"new name":                {with("name", str("y")), []string{"name"}, nil},
		"namespace":               {with("namespace", str("team")), []string{"namespace"}, nil},
		"cas":                     {with("cas", resource.NewProperty(1.0)), nil, []string{"cas"}},
		"options":                 {with("options", resource.NewProperty(resource.PropertyMap{"cas": str("1")})), nil, []string{"options"}},
		"deleteAllVersions":       {with("deleteAllVersions", resource.NewProperty(true)), nil, []string{"deleteAllVersions"}},
		"disableRead false=unset": {with("disableRead", resource.NewProperty(false)), nil, nil},
		"customMetadata zero":     {with("customMetadata", meta(0)), nil, nil},
		"customMetadata changed":  {with("customMetadata", meta(3)), nil, []string{"customMetadata"}},
	}
	for name, c := range cases2 {
		checkDiff(t, h, kv2, "kv2 "+name, state2, ins2, h.check(kv2, c.news), c.replaces, c.updates)
	}

	// Previews of create and update do not contact Vault either.
	if _, _, err := h.create(kv2, ins2, true); err != nil {
		t.Fatal(err)
	}
	if _, err := h.update(kv2, "secret/data/x", state2, ins2, h.check(kv2, with("dataJson", secretStr(`{"k":"w"}`))), true); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("check, diff and previews made %d calls to Vault", n)
	}
}

func checkDiff(t *testing.T, h *harness, u resource.URN, name string, state, oldIns, news resource.PropertyMap, replaces, updates []string) {
	t.Helper()
	d := h.diff(u, "id", state, oldIns, news)
	var gotUpdates []string
	for k, kind := range diffKinds(d) {
		if kind == pulumirpc.PropertyDiff_UPDATE {
			gotUpdates = append(gotUpdates, k)
		}
	}
	sort.Strings(gotUpdates)
	gotReplaces := d.GetReplaces()
	sort.Strings(gotReplaces)
	wantChanges := pulumirpc.DiffResponse_DIFF_NONE
	if len(replaces)+len(updates) > 0 {
		wantChanges = pulumirpc.DiffResponse_DIFF_SOME
	}
	if d.GetChanges() != wantChanges || !reflect.DeepEqual(gotReplaces, replaces) || !reflect.DeepEqual(gotUpdates, updates) {
		t.Errorf("%s: changes %v replaces %v updates %v; want replaces %v updates %v",
			name, d.GetChanges(), gotReplaces, gotUpdates, replaces, updates)
	}
}

// TestProviderConfigCheckAndDiff: CheckConfig makes the token secret; a configuration change
// (a new token, another address) updates the provider in place, never replaces it (which would
// replace, and so delete, every secret it manages).
func TestProviderConfigCheckAndDiff(t *testing.T) {
	h := newHarness(t, nil)
	u := resource.NewURN("lab", "standin", "", "pulumi:providers:vault", "vault")
	checkConfig := func(news resource.PropertyMap) resource.PropertyMap {
		resp, err := h.srv.CheckConfig(h.ctx(), &pulumirpc.CheckRequest{Urn: string(u), Type: string(u.Type()), Name: u.Name(),
			Olds: marshal(t, resource.PropertyMap{}), News: marshal(t, news)})
		if err != nil || len(resp.GetFailures()) > 0 {
			t.Fatalf("CheckConfig: %v %v", resp.GetFailures(), err)
		}
		return unmarshal(t, resp.GetInputs())
	}
	olds := resource.PropertyMap{"address": str("http://127.0.0.1:8200"), "token": str("t1"), "skipChildToken": resource.NewProperty(true)}
	checked := checkConfig(olds)
	if !checked["token"].IsSecret() || plain(checked, "address") != "http://127.0.0.1:8200" {
		t.Errorf("checked config %v, want the token secret", checked)
	}
	same, err := h.srv.DiffConfig(h.ctx(), &pulumirpc.DiffRequest{Urn: string(u), Type: string(u.Type()), Name: u.Name(),
		Olds: marshal(t, checked), OldInputs: marshal(t, checked), News: marshal(t, checkConfig(olds))})
	if err != nil || same.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("same config: %v %v, want no change", same, err)
	}
	news := olds.Copy()
	news["token"] = secretStr("t2")
	news["address"] = str("http://127.0.0.1:8201")
	d, err := h.srv.DiffConfig(h.ctx(), &pulumirpc.DiffRequest{Urn: string(u), Type: string(u.Type()), Name: u.Name(),
		Olds: marshal(t, checked), OldInputs: marshal(t, checked), News: marshal(t, checkConfig(news))})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 || d.GetDeleteBeforeReplace() {
		t.Errorf("config change: %v, want an in-place update", d)
	}
	if kinds := diffKinds(d); len(kinds) != 2 || kinds["token"] != pulumirpc.PropertyDiff_UPDATE || kinds["address"] != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("config change kinds %v", kinds)
	}
}
