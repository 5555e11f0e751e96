package main

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// TestKV2LifecycleAgainstVault drives vault:kv/secretV2:SecretV2 through the provider's gRPC
// server against a real dev Vault (KV v2 at secret/), and checks every step with direct reads.
func TestKV2LifecycleAgainstVault(t *testing.T) {
	v := startVault(t, false)
	h := newHarness(t, devConfig(v))
	u := urn(kv2Type, "mcm")
	news := resource.PropertyMap{
		"mount":    str("secret"),
		"name":     str("pm4ml-lab"),
		"dataJson": secretStr(`{"mcmdev_client_secret": "s3cret-v1"}`),
		"customMetadata": resource.NewProperty(resource.PropertyMap{
			"maxVersions": resource.NewProperty(5.0),
			"data":        resource.NewProperty(resource.PropertyMap{"owner": str("lab")}),
		}),
	}
	ins := h.check(u, news)

	// Preview: the inputs as given, path unknown (as upstream's plan), nothing read from Vault.
	_, prev, err := h.create(u, ins, true)
	if err != nil || !prev["path"].IsComputed() || plainMap(prev, "data") != nil || plain(prev, "mount") != "secret" ||
		plain(prev, "dataJson") != `{"mcmdev_client_secret": "s3cret-v1"}` {
		t.Fatalf("preview: %v %v", prev, err)
	}
	if status, _ := v.api(t, http.MethodGet, "secret/data/pm4ml-lab", nil); status != http.StatusNotFound {
		t.Fatalf("preview wrote the secret (status %d)", status)
	}

	id, state, err := h.create(u, ins, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if id != "secret/data/pm4ml-lab" || plain(state, "path") != id {
		t.Errorf("id %q path %q, want secret/data/pm4ml-lab", id, plain(state, "path"))
	}
	got := data(data(v.mustAPI(t, http.StatusOK, http.MethodGet, "secret/data/pm4ml-lab", nil)))
	if !reflect.DeepEqual(got, map[string]any{"mcmdev_client_secret": "s3cret-v1"}) {
		t.Errorf("Vault has %v", got)
	}
	meta := data(v.mustAPI(t, http.StatusOK, http.MethodGet, "secret/metadata/pm4ml-lab", nil))
	if meta["max_versions"] != 5.0 || !reflect.DeepEqual(meta["custom_metadata"], map[string]any{"owner": "lab"}) {
		t.Errorf("Vault metadata %v", meta)
	}
	if plain(state, "dataJson") != `{"mcmdev_client_secret":"s3cret-v1"}` || !state["dataJson"].IsSecret() || !state["data"].IsSecret() {
		t.Errorf("state dataJson/data %v %v", state["dataJson"], state["data"])
	}
	if plainMap(state, "data")["mcmdev_client_secret"] != "s3cret-v1" {
		t.Errorf("state data %v", state["data"])
	}
	if md := plainMap(state, "metadata"); md["version"] != "1" || md["destroyed"] != "false" || md["created_time"] == "" {
		t.Errorf("state metadata %v", md)
	}
	cm := state["customMetadata"].ObjectValue()
	if cm["maxVersions"].NumberValue() != 5 || cm["data"].ObjectValue()["owner"].StringValue() != "lab" {
		t.Errorf("state customMetadata %v", cm)
	}

	// Diffs: no change; dataJson update; mount or name replaces.
	if d := h.diff(u, id, state, ins, ins); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("same inputs: diff %v", d)
	}
	news2 := resource.PropertyMap{"mount": str("secret"), "name": str("pm4ml-lab"), "dataJson": secretStr(`{"mcmdev_client_secret":"s3cret-v2"}`)}
	ins2 := h.check(u, news2)
	if d := h.diff(u, id, state, ins, ins2); len(d.GetReplaces()) != 0 || diffKinds(d)["dataJson"] != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("dataJson change: %v", d)
	}
	for _, prop := range []resource.PropertyKey{"mount", "name"} {
		moved := news2.Copy()
		moved[prop] = str("other")
		if d := h.diff(u, id, state, ins, h.check(u, moved)); !reflect.DeepEqual(d.GetReplaces(), []string{string(prop)}) {
			t.Errorf("%s change replaces %v", prop, d.GetReplaces())
		}
	}

	// Update writes version 2; customMetadata, no longer set, is kept (Optional+Computed).
	state, err = h.update(u, id, state, ins, ins2, false)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	full := data(v.mustAPI(t, http.StatusOK, http.MethodGet, "secret/data/pm4ml-lab", nil))
	if md, _ := full["metadata"].(map[string]any); data(full)["mcmdev_client_secret"] != "s3cret-v2" || md["version"] != 2.0 {
		t.Errorf("after update Vault has %v", full)
	}
	if plainMap(state, "metadata")["version"] != "2" || plain(state, "dataJson") != `{"mcmdev_client_secret":"s3cret-v2"}` {
		t.Errorf("after update state %v", state)
	}
	if d := h.diff(u, id, state, ins2, ins2); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("after update: diff %v", d)
	}

	// Refresh: drift is read back; a deleted latest version reads as dataJson "null" (an update
	// puts it back, as upstream); disableRead reads nothing.
	v.mustAPI(t, http.StatusOK, http.MethodPut, "secret/data/pm4ml-lab", map[string]any{"data": map[string]any{"mcmdev_client_secret": "tampered"}})
	_, refreshed, _, err := h.read(u, id, state, ins2)
	if err != nil || plain(refreshed, "dataJson") != `{"mcmdev_client_secret":"tampered"}` || plainMap(refreshed, "metadata")["version"] != "3" {
		t.Fatalf("refresh after drift: %v %v", refreshed, err)
	}
	if !refreshed["dataJson"].IsSecret() || !refreshed["data"].IsSecret() {
		t.Errorf("refreshed state lost secrecy: %v", refreshed)
	}
	v.mustAPI(t, http.StatusNoContent, http.MethodDelete, "secret/data/pm4ml-lab", nil)
	rid, refreshed, _, err := h.read(u, id, state, ins2)
	if err != nil || rid != id || plain(refreshed, "dataJson") != "null" {
		t.Fatalf("refresh of a deleted version: %q %v %v", rid, refreshed, err)
	}
	if d := h.diff(u, id, refreshed, ins2, ins2); diffKinds(d)["dataJson"] != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("deleted version: diff %v, want a dataJson update", d)
	}
	noRead := news2.Copy()
	noRead["disableRead"] = resource.NewProperty(true)
	if d := h.diff(u, id, state, ins2, h.check(u, noRead)); diffKinds(d)["disableRead"] != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("disableRead change: %v", d)
	}
	state["disableRead"] = resource.NewProperty(true)
	if _, kept, _, err := h.read(u, id, state, ins2); err != nil || plain(kept, "dataJson") != plain(state, "dataJson") {
		t.Errorf("disableRead: refresh changed the state: %v %v", kept, err)
	}
	delete(state, "disableRead")

	// Delete: the latest version only (soft delete, as the program's default)...
	if state, err = h.update(u, id, state, ins2, ins2, false); err != nil {
		t.Fatalf("update after the deleted version: %v", err)
	}
	if err := h.delete(u, id, state, ins2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	status, out := v.api(t, http.MethodGet, "secret/data/pm4ml-lab", nil)
	if md, _ := data(out)["metadata"].(map[string]any); status != http.StatusNotFound || md == nil || md["deletion_time"] == "" {
		t.Errorf("after delete: %d %v, want the latest version deleted", status, out)
	}
	v.mustAPI(t, http.StatusOK, http.MethodGet, "secret/metadata/pm4ml-lab", nil)

	// ...or, with deleteAllVersions, the metadata and every version; a refresh then drops it.
	state["deleteAllVersions"] = resource.NewProperty(true)
	if err := h.delete(u, id, state, ins2); err != nil {
		t.Fatalf("delete all versions: %v", err)
	}
	if status, _ := v.api(t, http.MethodGet, "secret/metadata/pm4ml-lab", nil); status != http.StatusNotFound {
		t.Errorf("after deleteAllVersions: metadata status %d", status)
	}
	if rid, _, _, err := h.read(u, id, state, ins2); err != nil || rid != "" {
		t.Errorf("refresh of a destroyed secret: %q %v, want gone", rid, err)
	}
}
