package main

import p "github.com/pulumi/pulumi-go-provider"

// differ collects a detailed diff.
type differ struct{ detail map[string]p.PropertyDiff }

func (d *differ) add(prop string, kind p.DiffKind) {
	if d.detail == nil {
		d.detail = map[string]p.PropertyDiff{}
	}
	d.detail[prop] = p.PropertyDiff{Kind: kind, InputDiff: true}
}

func (d *differ) replaceIf(prop string, changed bool) {
	if changed {
		d.add(prop, p.UpdateReplace)
	}
}

func (d *differ) updateIf(prop string, changed bool) {
	if changed {
		d.add(prop, p.Update)
	}
}

func (d *differ) response() p.DiffResponse {
	return p.DiffResponse{HasChanges: len(d.detail) > 0, DetailedDiff: d.detail}
}

// sameDataJSON compares new dataJson with the state's in normalized form (upstream's StateFunc).
func sameDataJSON(input, state string) bool {
	n, err := normalizeDataJSON(input)
	if err != nil {
		return input == state
	}
	return n == state
}

func normalizedOrSame(s string) string {
	if n, err := normalizeDataJSON(s); err == nil {
		return n
	}
	return s
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}
