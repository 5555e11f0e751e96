package main

import (
	"context"
	"net"
	"testing"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	kv1Type = "vault:kv/secret:Secret"
	kv2Type = "vault:kv/secretV2:SecretV2"
)

// fakeEngine is the engine side of the provider's host calls: a real gRPC Engine service on
// loopback (the provider logs through it).
type fakeEngine struct {
	pulumirpc.UnimplementedEngineServer
}

// harness drives the provider's gRPC server the way the engine does.
type harness struct {
	t   *testing.T
	srv pulumirpc.ResourceProviderServer
}

// isolateEnv clears the environment the provider reads, so the developer's Vault settings and
// ~/.vault-token never leak into a test.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH",
		"VAULT_SKIP_VERIFY", "VAULT_TLS_SERVER_NAME", "VAULT_TOKEN_NAME", "TERRAFORM_VAULT_MAX_TTL",
		"TERRAFORM_VAULT_SKIP_CHILD_TOKEN"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
}

// newHarness starts the provider in-process and configures it with config (nil: Configure
// with no arguments).
func newHarness(t *testing.T, config resource.PropertyMap) *harness {
	t.Helper()
	isolateEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pulumirpc.RegisterEngineServer(gs, &fakeEngine{})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	host, err := pprovider.NewHostClient(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Close() })
	prov, err := Provider()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.RawServer(Name, Version, prov)(host)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv}
	req := &pulumirpc.ConfigureRequest{
		AcceptSecrets: true, AcceptResources: true, SendsOldInputs: true, SendsOldInputsToDelete: true,
	}
	if config != nil {
		req.Args = marshal(t, config)
	}
	if _, err := srv.Configure(h.ctx(), req); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	h.t.Cleanup(cancel)
	return ctx
}

func urn(typ, name string) resource.URN {
	return resource.NewURN("lab", "standin", "", tokens.Type(typ), name)
}

func marshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check runs Check and fails the test on check failures.
func (h *harness) check(u resource.URN, news resource.PropertyMap) resource.PropertyMap {
	h.t.Helper()
	ins, fails := h.checkFailures(u, news)
	if len(fails) > 0 {
		h.t.Fatalf("Check(%s): failures %v", u, fails)
	}
	return ins
}

func (h *harness) checkFailures(u resource.URN, news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	h.t.Helper()
	resp, err := h.srv.Check(h.ctx(), &pulumirpc.CheckRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(),
		Olds: marshal(h.t, resource.PropertyMap{}), News: marshal(h.t, news), RandomSeed: []byte("seed"),
	})
	if err != nil {
		h.t.Fatalf("Check(%s): %v", u, err)
	}
	return unmarshal(h.t, resp.GetInputs()), resp.GetFailures()
}

func (h *harness) create(u resource.URN, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	h.t.Helper()
	resp, err := h.srv.Create(h.ctx(), &pulumirpc.CreateRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(), Properties: marshal(h.t, inputs), Preview: preview,
	})
	if err != nil {
		return "", nil, err
	}
	return resp.GetId(), unmarshal(h.t, resp.GetProperties()), nil
}

// mustCreate checks and creates, failing the test on any error.
func (h *harness) mustCreate(u resource.URN, news resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap) {
	h.t.Helper()
	ins := h.check(u, news)
	id, state, err := h.create(u, ins, false)
	if err != nil {
		h.t.Fatalf("Create(%s): %v", u, err)
	}
	return id, ins, state
}

func (h *harness) diff(u resource.URN, id string, state, oldInputs, news resource.PropertyMap) *pulumirpc.DiffResponse {
	h.t.Helper()
	resp, err := h.srv.Diff(h.ctx(), &pulumirpc.DiffRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(), Id: id,
		Olds: marshal(h.t, state), OldInputs: marshal(h.t, oldInputs), News: marshal(h.t, news),
	})
	if err != nil {
		h.t.Fatalf("Diff(%s): %v", u, err)
	}
	return resp
}

func (h *harness) update(u resource.URN, id string, state, oldInputs, news resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	h.t.Helper()
	resp, err := h.srv.Update(h.ctx(), &pulumirpc.UpdateRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(), Id: id,
		Olds: marshal(h.t, state), OldInputs: marshal(h.t, oldInputs), News: marshal(h.t, news), Preview: preview,
	})
	if err != nil {
		return nil, err
	}
	return unmarshal(h.t, resp.GetProperties()), nil
}

// read refreshes; it returns the ID ("" when the resource is gone), state and inputs.
func (h *harness) read(u resource.URN, id string, state, inputs resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	h.t.Helper()
	resp, err := h.srv.Read(h.ctx(), &pulumirpc.ReadRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(), Id: id,
		Properties: marshal(h.t, state), Inputs: marshal(h.t, inputs),
	})
	if err != nil {
		return "", nil, nil, err
	}
	return resp.GetId(), unmarshal(h.t, resp.GetProperties()), unmarshal(h.t, resp.GetInputs()), nil
}

func (h *harness) delete(u resource.URN, id string, state, oldInputs resource.PropertyMap) error {
	h.t.Helper()
	_, err := h.srv.Delete(h.ctx(), &pulumirpc.DeleteRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(), Id: id,
		Properties: marshal(h.t, state), OldInputs: marshal(h.t, oldInputs),
	})
	return err
}

func str(s string) resource.PropertyValue { return resource.NewProperty(s) }

func secretStr(s string) resource.PropertyValue { return resource.MakeSecret(resource.NewProperty(s)) }

// plain returns the string at key, unwrapping a secret; "" if absent or not a string.
func plain(m resource.PropertyMap, key resource.PropertyKey) string {
	v, ok := m[key]
	if !ok {
		return ""
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// plainMap returns the string map at key, unwrapping secrets.
func plainMap(m resource.PropertyMap, key resource.PropertyKey) map[string]string {
	v, ok := m[key]
	if !ok {
		return nil
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsObject() {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.ObjectValue() {
		if e.IsSecret() {
			e = e.SecretValue().Element
		}
		if e.IsString() {
			out[string(k)] = e.StringValue()
		}
	}
	return out
}

// diffKinds maps each property of a detailed diff to its kind.
func diffKinds(d *pulumirpc.DiffResponse) map[string]pulumirpc.PropertyDiff_Kind {
	out := map[string]pulumirpc.PropertyDiff_Kind{}
	for k, v := range d.GetDetailedDiff() {
		out[k] = v.GetKind()
	}
	return out
}
