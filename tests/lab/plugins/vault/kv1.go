package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// Secret is vault:kv/secret:Secret: a KV version 1 secret (upstream vault_kv_secret).
type Secret struct{}

// SecretArgs are the inputs of vault:kv/secret:Secret.
type SecretArgs struct {
	Path      string  `pulumi:"path"`
	DataJSON  string  `pulumi:"dataJson" provider:"secret"`
	Namespace *string `pulumi:"namespace,optional"`
}

// SecretState is the state: the inputs (dataJson normalized, then as read from Vault) and data.
type SecretState struct {
	SecretArgs
	Data map[string]string `pulumi:"data,optional" provider:"secret"`
}

var (
	_ infer.CustomResource[SecretArgs, SecretState] = (*Secret)(nil)
	_ infer.CustomCheck[SecretArgs]                 = (*Secret)(nil)
	_ infer.CustomDiff[SecretArgs, SecretState]     = (*Secret)(nil)
	_ infer.CustomUpdate[SecretArgs, SecretState]   = (*Secret)(nil)
	_ infer.CustomRead[SecretArgs, SecretState]     = (*Secret)(nil)
	_ infer.CustomDelete[SecretState]               = (*Secret)(nil)
)

// Annotate sets the token vault:kv/secret:Secret.
func (s *Secret) Annotate(a infer.Annotator) {
	a.SetToken("kv/secret", "Secret")
	a.Describe(&s, "Writes a KV-V1 secret to a given path in Vault. (pm4ml-onprem lab stand-in for pulumi-vault "+Version+".)")
}

// Annotate describes the inputs.
func (a *SecretArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Path, "Full path of the KV-V1 secret.")
	an.Describe(&a.DataJSON, "JSON-encoded string that will be written as the secret data at the given path.")
	an.Describe(&a.Namespace, "The namespace to provision the resource in, relative to the provider's namespace. "+
		"*Available only for Vault Enterprise*.")
}

// Annotate describes the outputs.
func (s *SecretState) Annotate(a infer.Annotator) {
	a.Describe(&s.Data, "A mapping whose keys are the top-level data keys returned from Vault and whose values are "+
		"the corresponding values. Non-string values are serialized as JSON.")
}

// Check: required properties, and dataJson a JSON object.
func (*Secret) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[SecretArgs], error) {
	args, failures, err := infer.DefaultCheck[SecretArgs](ctx, req.NewInputs)
	failures = append(failures, checkDataJSON(req.NewInputs)...)
	return infer.CheckResponse[SecretArgs]{Inputs: args, Failures: failures}, err
}

// Diff: a new path or namespace replaces (ForceNew upstream); dataJson is compared in its
// normalized form with the state.
func (*Secret) Diff(_ context.Context, req infer.DiffRequest[SecretArgs, SecretState]) (infer.DiffResponse, error) {
	d := differ{}
	d.replaceIf("path", req.Inputs.Path != req.State.Path)
	d.replaceIf("namespace", deref(req.Inputs.Namespace) != deref(req.State.Namespace))
	d.updateIf("dataJson", !sameDataJSON(req.Inputs.DataJSON, req.State.DataJSON))
	return d.response(), nil
}

// Create writes the secret and reads it back; the ID is the path.
func (*Secret) Create(ctx context.Context, req infer.CreateRequest[SecretArgs]) (infer.CreateResponse[SecretState], error) {
	state := SecretState{SecretArgs: req.Inputs}
	if req.DryRun {
		return infer.CreateResponse[SecretState]{ID: state.Path, Output: state}, nil
	}
	state.DataJSON = normalizedOrSame(state.DataJSON)
	err := state.write(ctx)
	if err != nil {
		return infer.CreateResponse[SecretState]{}, err
	}
	return infer.CreateResponse[SecretState]{ID: state.Path, Output: state}, state.readBack(ctx)
}

// Update writes the new data (upstream's update is its create) and reads it back.
func (*Secret) Update(ctx context.Context, req infer.UpdateRequest[SecretArgs, SecretState]) (infer.UpdateResponse[SecretState], error) {
	state := SecretState{SecretArgs: req.Inputs, Data: req.State.Data}
	if req.DryRun {
		return infer.UpdateResponse[SecretState]{Output: state}, nil
	}
	state.DataJSON = normalizedOrSame(state.DataJSON)
	if err := state.write(ctx); err != nil {
		return infer.UpdateResponse[SecretState]{}, err
	}
	return infer.UpdateResponse[SecretState]{Output: state}, state.readBack(ctx)
}

// Read refreshes path, data and dataJson from Vault; a secret that is gone leaves the state.
func (*Secret) Read(ctx context.Context, req infer.ReadRequest[SecretArgs, SecretState]) (infer.ReadResponse[SecretArgs, SecretState], error) {
	state := req.State
	state.Path = req.ID
	found, err := state.read(ctx)
	if err != nil || !found {
		return infer.ReadResponse[SecretArgs, SecretState]{}, err
	}
	inputs := req.Inputs
	inputs.Path, inputs.DataJSON = state.Path, state.DataJSON
	if inputs.Namespace == nil {
		inputs.Namespace = state.Namespace
	}
	return infer.ReadResponse[SecretArgs, SecretState]{ID: req.ID, Inputs: inputs, State: state}, nil
}

// Delete deletes the path (the ID); a secret that is already gone is no error.
func (*Secret) Delete(ctx context.Context, req infer.DeleteRequest[SecretState]) (infer.DeleteResponse, error) {
	cl, err := infer.GetConfig[*Config](ctx).client(ctx)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	if err := cl.delete(ctx, req.ID, deref(req.State.Namespace)); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("error deleting %q from Vault: %q", req.ID, err.Error())
	}
	return infer.DeleteResponse{}, nil
}

// write puts the JSON object itself at the path (KV v1 has no envelope).
func (s *SecretState) write(ctx context.Context) error {
	cl, err := infer.GetConfig[*Config](ctx).client(ctx)
	if err != nil {
		return err
	}
	data, err := decodeData(s.DataJSON)
	if err != nil {
		return err
	}
	if _, err := cl.write(ctx, s.Path, deref(s.Namespace), data); err != nil {
		return fmt.Errorf("error writing secret data to %q, err=%s", s.Path, err)
	}
	return nil
}

// readBack reads after a write; a failure leaves the written secret in the state.
func (s *SecretState) readBack(ctx context.Context) error {
	found, err := s.read(ctx)
	if err == nil && !found {
		err = fmt.Errorf("secret %q not found in Vault right after it was written", s.Path)
	}
	if err != nil {
		return infer.ResourceInitFailedError{Reasons: []string{err.Error()}}
	}
	return nil
}

// read sets data and dataJson from Vault; false when there is no secret at the path.
func (s *SecretState) read(ctx context.Context) (bool, error) {
	cl, err := infer.GetConfig[*Config](ctx).client(ctx)
	if err != nil {
		return false, err
	}
	sec, err := cl.read(ctx, s.Path, deref(s.Namespace))
	if err != nil {
		return false, fmt.Errorf("error reading from Vault: %s", err)
	}
	if sec == nil {
		return false, nil
	}
	s.Data = serializeDataMap(sec.Data)
	b, err := json.Marshal(sec.Data)
	if err != nil {
		return false, fmt.Errorf("error marshaling JSON for %q: %s", s.Path, err)
	}
	s.DataJSON = string(b)
	return true, nil
}
