package main

import (
	"context"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// sensitive lists the properties terraform-provider-vault marks Sensitive: the bridged provider
// returns them as secrets whatever the program sent, so the stand-in does too.
var sensitive = map[string][]string{
	"vault:kv/secret:Secret":     {"dataJson", "data"},
	"vault:kv/secretV2:SecretV2": {"dataJson", "data"},
}

// withSensitiveOutputs wraps Create, Update and Read so that the sensitive properties of their
// state (and of the inputs Read returns) are always secret.
func withSensitiveOutputs(prov p.Provider) p.Provider {
	create, update, read := prov.Create, prov.Update, prov.Read
	prov.Create = func(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
		resp, err := create(ctx, req)
		resp.Properties = markSensitive(req.Urn, resp.Properties)
		return resp, err
	}
	prov.Update = func(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
		resp, err := update(ctx, req)
		resp.Properties = markSensitive(req.Urn, resp.Properties)
		return resp, err
	}
	prov.Read = func(ctx context.Context, req p.ReadRequest) (p.ReadResponse, error) {
		resp, err := read(ctx, req)
		resp.Properties = markSensitive(req.Urn, resp.Properties)
		resp.Inputs = markSensitive(req.Urn, resp.Inputs)
		return resp, err
	}
	return prov
}

func markSensitive(u resource.URN, m property.Map) property.Map {
	for _, k := range sensitive[string(u.Type())] {
		if v, ok := m.GetOk(k); ok && !v.IsNull() && !v.Secret() {
			m = m.Set(k, v.WithSecret(true))
		}
	}
	return m
}
