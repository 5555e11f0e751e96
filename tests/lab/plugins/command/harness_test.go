package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// fakeEngine is the engine side of the provider's log calls: a real gRPC Engine service on
// loopback that records every Log request.
type fakeEngine struct {
	pulumirpc.UnimplementedEngineServer
	mu   sync.Mutex
	logs []*pulumirpc.LogRequest
}

func (e *fakeEngine) Log(_ context.Context, req *pulumirpc.LogRequest) (*emptypb.Empty, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs = append(e.logs, req)
	return &emptypb.Empty{}, nil
}

// Logs returns the messages logged for urn.
func (e *fakeEngine) Logs(urn resource.URN) []*pulumirpc.LogRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*pulumirpc.LogRequest
	for _, l := range e.logs {
		if l.GetUrn() == string(urn) {
			out = append(out, l)
		}
	}
	return out
}

// harness drives the provider's gRPC server the way the engine does.
type harness struct {
	t      *testing.T
	srv    pulumirpc.ResourceProviderServer
	engine *fakeEngine
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	t.Setenv(sshAgentSocketEnvVar, "") // no agent of the developer's session
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine := &fakeEngine{}
	gs := grpc.NewServer()
	pulumirpc.RegisterEngineServer(gs, engine)
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
	h := &harness{t: t, srv: srv, engine: engine}
	if _, err := srv.Configure(h.ctx(), &pulumirpc.ConfigureRequest{
		AcceptSecrets: true, AcceptResources: true, SendsOldInputs: true, SendsOldInputsToDelete: true,
	}); err != nil {
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
func (h *harness) check(u resource.URN, olds, news resource.PropertyMap) resource.PropertyMap {
	h.t.Helper()
	ins, fails := h.checkFailures(u, olds, news)
	if len(fails) > 0 {
		h.t.Fatalf("Check(%s): failures %v", u, fails)
	}
	return ins
}

func (h *harness) checkFailures(u resource.URN, olds, news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	h.t.Helper()
	if olds == nil {
		olds = resource.PropertyMap{}
	}
	resp, err := h.srv.Check(h.ctx(), &pulumirpc.CheckRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(),
		Olds: marshal(h.t, olds), News: marshal(h.t, news), RandomSeed: []byte("seed"),
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

func (h *harness) delete(u resource.URN, id string, state, oldInputs resource.PropertyMap) error {
	h.t.Helper()
	_, err := h.srv.Delete(h.ctx(), &pulumirpc.DeleteRequest{
		Urn: string(u), Type: string(u.Type()), Name: u.Name(), Id: id,
		Properties: marshal(h.t, state), OldInputs: marshal(h.t, oldInputs),
	})
	return err
}

// logged joins the messages logged for urn.
func (h *harness) logged(u resource.URN) string {
	var b strings.Builder
	for _, l := range h.engine.Logs(u) {
		b.WriteString(l.GetMessage())
		b.WriteString("\n")
	}
	return b.String()
}

// conn is the connection input for a test sshd with the given client key.
func conn(s *testSSHD, key string, extra resource.PropertyMap) resource.PropertyValue {
	m := resource.PropertyMap{
		"host":           resource.NewProperty(s.Host),
		"port":           resource.NewProperty(float64(s.Port)),
		"user":           resource.NewProperty("lab"),
		"privateKey":     resource.MakeSecret(resource.NewProperty(key)),
		"dialErrorLimit": resource.NewProperty(2.0),
		"perDialTimeout": resource.NewProperty(5.0),
	}
	for k, v := range extra {
		m[k] = v
	}
	return resource.NewProperty(m)
}

func str(s string) resource.PropertyValue { return resource.NewProperty(s) }

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
