package main

import (
	"context"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
)

// withConfigUpdatesInPlace makes every change of the provider configuration an in-place update,
// as the bridged provider does. pulumi-go-provider's default replaces the provider on any change
// (pulumi-go-provider#409), and the engine would then replace every secret of that provider:
// create the new one, then delete the old one at the same path, which loses the secret. The
// framework's internal keys (__pulumi-go-provider-*), which its diff reports as deleted, are
// no change.
func withConfigUpdatesInPlace(prov p.Provider) p.Provider {
	diffConfig := prov.DiffConfig
	prov.DiffConfig = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := diffConfig(ctx, req)
		if err != nil {
			return resp, err
		}
		detail := map[string]p.PropertyDiff{}
		for k, d := range resp.DetailedDiff {
			if strings.HasPrefix(k, "__") || strings.HasPrefix(k, `["__`) {
				continue
			}
			switch d.Kind {
			case p.AddReplace:
				d.Kind = p.Add
			case p.DeleteReplace:
				d.Kind = p.Delete
			case p.UpdateReplace:
				d.Kind = p.Update
			}
			detail[k] = d
		}
		return p.DiffResponse{HasChanges: len(detail) > 0, DetailedDiff: detail}, nil
	}
	return prov
}
