package main

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// devConfig is the provider configuration the program sends, for a dev server.
func devConfig(v *devVault) resource.PropertyMap {
	cfg := resource.PropertyMap{
		"address":        str(v.Addr),
		"token":          secretStr(v.Token),
		"skipChildToken": resource.NewProperty(true),
	}
	if v.CAFile != "" {
		cfg["caCertFile"] = str(v.CAFile)
	}
	return cfg
}

// TestKV1LifecycleAgainstVault drives vault:kv/secret:Secret through the provider's gRPC server
// against a real dev Vault with a KV v1 mount, and checks every step with direct reads.
func TestKV1LifecycleAgainstVault(t *testing.T) {
	v := startVault(t, false)
	v.mountKV1(t, "kv1")
	h := newHarness(t, devConfig(v))
	u := urn(kv1Type, "mcm")
	news := resource.PropertyMap{
		"path":     str("kv1/pm4ml-lab"),
		"dataJson": secretStr(`{ "mcmdev_client_secret": "s3cret-v1",  "n": 1 }`),
	}
	ins := h.check(u, news)

	// Preview writes nothing.
	if _, _, err := h.create(u, ins, true); err != nil {
		t.Fatalf("preview: %v", err)
	}
	if status, _ := v.api(t, http.MethodGet, "kv1/pm4ml-lab", nil); status != http.StatusNotFound {
		t.Fatalf("preview wrote the secret (status %d)", status)
	}

	id, state, err := h.create(u, ins, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if id != "kv1/pm4ml-lab" {
		t.Errorf("id %q, want the path", id)
	}
	got := data(v.mustAPI(t, http.StatusOK, http.MethodGet, "kv1/pm4ml-lab", nil))
	if got["mcmdev_client_secret"] != "s3cret-v1" || got["n"] != 1.0 || len(got) != 2 {
		t.Errorf("Vault has %v", got)
	}
	// dataJson is stored normalized; dataJson and data are secrets.
	if plain(state, "dataJson") != `{"mcmdev_client_secret":"s3cret-v1","n":1}` {
		t.Errorf("state dataJson %q", plain(state, "dataJson"))
	}
	if want := map[string]string{"mcmdev_client_secret": "s3cret-v1", "n": "1"}; !reflect.DeepEqual(plainMap(state, "data"), want) {
		t.Errorf("state data %v, want %v", plainMap(state, "data"), want)
	}
	for _, k := range []resource.PropertyKey{"dataJson", "data"} {
		if !state[k].IsSecret() {
			t.Errorf("state %s is not secret", k)
		}
	}
	if plain(state, "path") != "kv1/pm4ml-lab" {
		t.Errorf("state path %q", plain(state, "path"))
	}

	// Reformatting the document is no change; a new value is an update; a new path replaces.
	if d := h.diff(u, id, state, ins, h.check(u, resource.PropertyMap{
		"path": str("kv1/pm4ml-lab"), "dataJson": secretStr(`{"n":1,"mcmdev_client_secret":"s3cret-v1"}`),
	})); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("reordered dataJson: diff %v", d)
	}
	news2 := resource.PropertyMap{"path": str("kv1/pm4ml-lab"), "dataJson": secretStr(`{"mcmdev_client_secret":"s3cret-v2"}`)}
	ins2 := h.check(u, news2)
	d := h.diff(u, id, state, ins, ins2)
	if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 ||
		diffKinds(d)["dataJson"] != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("dataJson change: %v", d)
	}
	moved := h.check(u, resource.PropertyMap{"path": str("kv1/elsewhere"), "dataJson": news["dataJson"]})
	if d := h.diff(u, id, state, ins, moved); !reflect.DeepEqual(d.GetReplaces(), []string{"path"}) {
		t.Errorf("path change replaces %v, want [path]", d.GetReplaces())
	}

	// Update writes the new document (the old key is gone: KV v1 replaces the whole secret).
	state, err = h.update(u, id, state, ins, ins2, false)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	got = data(v.mustAPI(t, http.StatusOK, http.MethodGet, "kv1/pm4ml-lab", nil))
	if !reflect.DeepEqual(got, map[string]any{"mcmdev_client_secret": "s3cret-v2"}) {
		t.Errorf("after update Vault has %v", got)
	}
	if !state["dataJson"].IsSecret() || plain(state, "dataJson") != `{"mcmdev_client_secret":"s3cret-v2"}` {
		t.Errorf("after update dataJson %v", state["dataJson"])
	}

	// Refresh sees a change made behind Pulumi's back, and the next diff wants to put it back.
	v.mustAPI(t, http.StatusNoContent, http.MethodPut, "kv1/pm4ml-lab", map[string]any{"mcmdev_client_secret": "tampered"})
	rid, refreshed, rins, err := h.read(u, id, state, ins2)
	if err != nil || rid != id {
		t.Fatalf("read: %q %v", rid, err)
	}
	if plain(refreshed, "dataJson") != `{"mcmdev_client_secret":"tampered"}` || plainMap(refreshed, "data")["mcmdev_client_secret"] != "tampered" {
		t.Errorf("refresh: %v", refreshed)
	}
	if !refreshed["dataJson"].IsSecret() || !refreshed["data"].IsSecret() {
		t.Errorf("refreshed state lost secrecy: %v", refreshed)
	}
	if plain(rins, "dataJson") != `{"mcmdev_client_secret":"tampered"}` {
		t.Errorf("refreshed inputs %v", rins)
	}
	if d := h.diff(u, id, refreshed, rins, ins2); diffKinds(d)["dataJson"] != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("after drift: diff %v", d)
	}

	// Delete removes it; a refresh then drops the resource; deleting again is no error.
	if err := h.delete(u, id, state, ins2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if status, _ := v.api(t, http.MethodGet, "kv1/pm4ml-lab", nil); status != http.StatusNotFound {
		t.Errorf("after delete: status %d", status)
	}
	if rid, _, _, err := h.read(u, id, state, ins2); err != nil || rid != "" {
		t.Errorf("read of a deleted secret: id %q err %v, want gone", rid, err)
	}
	if err := h.delete(u, id, state, ins2); err != nil {
		t.Errorf("second delete: %v", err)
	}

	// A write Vault refuses fails with Vault's status and message.
	_, _, err = h.create(urn(kv1Type, "nomount"), h.check(u, resource.PropertyMap{
		"path": str("nomount/x"), "dataJson": secretStr(`{"a":"b"}`),
	}), false)
	if err == nil || !strings.Contains(err.Error(), `error writing secret data to "nomount/x"`) ||
		!strings.Contains(err.Error(), "Code: 404") || !strings.Contains(err.Error(), "no handler for route") {
		t.Errorf("write to a missing mount: %v", err)
	}
}
