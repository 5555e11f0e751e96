package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// SecretV2 is vault:kv/secretV2:SecretV2: a KV version 2 secret (upstream vault_kv_secret_v2).
type SecretV2 struct{}

// SecretV2Args are the inputs of vault:kv/secretV2:SecretV2.
type SecretV2Args struct {
	Mount             string            `pulumi:"mount"`
	Name              string            `pulumi:"name"`
	DataJSON          string            `pulumi:"dataJson" provider:"secret"`
	Cas               *int              `pulumi:"cas,optional"`
	CustomMetadata    *CustomMetadata   `pulumi:"customMetadata,optional"`
	DeleteAllVersions *bool             `pulumi:"deleteAllVersions,optional"`
	DisableRead       *bool             `pulumi:"disableRead,optional"`
	Namespace         *string           `pulumi:"namespace,optional"`
	Options           map[string]string `pulumi:"options,optional"`
}

// SecretV2State is the state: the inputs plus path, data and metadata as read from Vault.
type SecretV2State struct {
	SecretV2Args
	Path     string            `pulumi:"path"`
	Data     map[string]string `pulumi:"data,optional" provider:"secret"`
	Metadata map[string]string `pulumi:"metadata,optional"`
}

// CustomMetadata is vault:kv/SecretV2CustomMetadata:SecretV2CustomMetadata.
type CustomMetadata struct {
	CasRequired        *bool             `pulumi:"casRequired,optional"`
	Data               map[string]string `pulumi:"data,optional"`
	DeleteVersionAfter *int              `pulumi:"deleteVersionAfter,optional"`
	MaxVersions        *int              `pulumi:"maxVersions,optional"`
}

var (
	_ infer.CustomResource[SecretV2Args, SecretV2State] = (*SecretV2)(nil)
	_ infer.CustomCheck[SecretV2Args]                   = (*SecretV2)(nil)
	_ infer.CustomDiff[SecretV2Args, SecretV2State]     = (*SecretV2)(nil)
	_ infer.CustomUpdate[SecretV2Args, SecretV2State]   = (*SecretV2)(nil)
	_ infer.CustomRead[SecretV2Args, SecretV2State]     = (*SecretV2)(nil)
	_ infer.CustomDelete[SecretV2State]                 = (*SecretV2)(nil)
)

// Annotate sets the token vault:kv/secretV2:SecretV2.
func (s *SecretV2) Annotate(a infer.Annotator) {
	a.SetToken("kv/secretV2", "SecretV2")
	a.Describe(&s, "Writes a KV-V2 secret to a given path in Vault. (pm4ml-onprem lab stand-in for pulumi-vault "+Version+".)")
}

// Annotate describes the inputs.
func (a *SecretV2Args) Annotate(an infer.Annotator) {
	an.Describe(&a.Mount, "Path where KV-V2 engine is mounted.")
	an.Describe(&a.Name, "Full name of the secret. For a nested secret the name is the nested path excluding the mount "+
		"and data prefix.")
	an.Describe(&a.DataJSON, "JSON-encoded string that will be written as the secret data at the given path.")
	an.Describe(&a.Cas, "Sent as `cas` beside `data`, as upstream does (Vault reads check-and-set from `options`).")
	an.Describe(&a.CustomMetadata, "Metadata for the KV secret, written to <mount>/metadata/<name>.")
	an.Describe(&a.DeleteAllVersions, "If set to true, permanently deletes all versions for the specified key.")
	an.Describe(&a.DisableRead, "If set to true, disables reading secret from Vault; note: drift won't be detected.")
	an.Describe(&a.Namespace, "The namespace to provision the resource in, relative to the provider's namespace. "+
		"*Available only for Vault Enterprise*.")
	an.Describe(&a.Options, "An object that holds option settings.")
}

// Annotate describes the outputs.
func (s *SecretV2State) Annotate(a infer.Annotator) {
	a.Describe(&s.Path, "Full path where the KV-V2 secret will be written.")
	a.Describe(&s.Data, "A mapping whose keys are the top-level data keys returned from Vault and whose values are "+
		"the corresponding values. Non-string values are serialized as JSON.")
	a.Describe(&s.Metadata, "Metadata associated with this secret read from Vault.")
}

// Annotate sets the token of the custom metadata type.
func (c *CustomMetadata) Annotate(a infer.Annotator) {
	a.SetToken("kv/SecretV2CustomMetadata", "SecretV2CustomMetadata")
	a.Describe(&c.CasRequired, "If true, all keys will require the cas parameter to be set on all write requests.")
	a.Describe(&c.Data, "A string to string map describing the secret.")
	a.Describe(&c.DeleteVersionAfter, "If set, specifies the length of time before a version is deleted, in seconds.")
	a.Describe(&c.MaxVersions, "The number of versions to keep per key.")
}

// Check: required properties, and dataJson a JSON object.
func (*SecretV2) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[SecretV2Args], error) {
	args, failures, err := infer.DefaultCheck[SecretV2Args](ctx, req.NewInputs)
	failures = append(failures, checkDataJSON(req.NewInputs)...)
	return infer.CheckResponse[SecretV2Args]{Inputs: args, Failures: failures}, err
}

// Diff: mount, name and namespace replace (ForceNew upstream); anything else updates in place.
// customMetadata is compared only when set (it is Optional+Computed upstream).
func (*SecretV2) Diff(_ context.Context, req infer.DiffRequest[SecretV2Args, SecretV2State]) (infer.DiffResponse, error) {
	in, st := req.Inputs, req.State
	d := differ{}
	d.replaceIf("mount", in.Mount != st.Mount)
	d.replaceIf("name", in.Name != st.Name)
	d.replaceIf("namespace", deref(in.Namespace) != deref(st.Namespace))
	d.updateIf("dataJson", !sameDataJSON(in.DataJSON, st.DataJSON))
	d.updateIf("cas", deref(in.Cas) != deref(st.Cas))
	d.updateIf("options", !maps.Equal(in.Options, st.Options))
	d.updateIf("deleteAllVersions", deref(in.DeleteAllVersions) != deref(st.DeleteAllVersions))
	d.updateIf("disableRead", deref(in.DisableRead) != deref(st.DisableRead))
	d.updateIf("customMetadata", in.CustomMetadata != nil && !in.CustomMetadata.same(st.CustomMetadata))
	return d.response(), nil
}

// same compares with Terraform's zero-value semantics: unset equals false/0/empty.
func (c *CustomMetadata) same(o *CustomMetadata) bool {
	if o == nil {
		o = &CustomMetadata{}
	}
	return deref(c.CasRequired) == deref(o.CasRequired) && deref(c.DeleteVersionAfter) == deref(o.DeleteVersionAfter) &&
		deref(c.MaxVersions) == deref(o.MaxVersions) && maps.Equal(c.Data, o.Data)
}

// Create writes the secret (and its custom metadata) and reads it back; the ID is the path
// <mount>/data/<name>.
func (*SecretV2) Create(ctx context.Context, req infer.CreateRequest[SecretV2Args]) (infer.CreateResponse[SecretV2State], error) {
	state := SecretV2State{SecretV2Args: req.Inputs}
	state.Path = kv2Path(state.Mount, "data", state.Name)
	if req.DryRun {
		return infer.CreateResponse[SecretV2State]{ID: state.Path, Output: state}, nil
	}
	state.DataJSON = normalizedOrSame(state.DataJSON)
	if err := state.write(ctx); err != nil {
		return infer.CreateResponse[SecretV2State]{}, err
	}
	return infer.CreateResponse[SecretV2State]{ID: state.Path, Output: state}, state.readBack(ctx)
}

// Update writes a new version (upstream's update is its create) and reads it back.
func (*SecretV2) Update(ctx context.Context, req infer.UpdateRequest[SecretV2Args, SecretV2State]) (infer.UpdateResponse[SecretV2State], error) {
	state := SecretV2State{SecretV2Args: req.Inputs, Data: req.State.Data, Metadata: req.State.Metadata}
	state.Path = kv2Path(state.Mount, "data", state.Name)
	if state.CustomMetadata == nil {
		state.CustomMetadata = req.State.CustomMetadata
	}
	if req.DryRun {
		return infer.UpdateResponse[SecretV2State]{Output: state}, nil
	}
	state.DataJSON = normalizedOrSame(state.DataJSON)
	if err := state.write(ctx); err != nil {
		return infer.UpdateResponse[SecretV2State]{}, err
	}
	return infer.UpdateResponse[SecretV2State]{Output: state}, state.readBack(ctx)
}

// Read refreshes mount, name and path from the ID and, unless disableRead, dataJson, data,
// metadata and customMetadata from Vault. A secret that never existed (or whose metadata was
// deleted) leaves the state; a deleted latest version reads as dataJson "null", as upstream.
func (*SecretV2) Read(ctx context.Context, req infer.ReadRequest[SecretV2Args, SecretV2State]) (infer.ReadResponse[SecretV2Args, SecretV2State], error) {
	state := req.State
	found, err := state.read(ctx, req.ID)
	if err != nil || !found {
		return infer.ReadResponse[SecretV2Args, SecretV2State]{}, err
	}
	inputs := req.Inputs
	inputs.Mount, inputs.Name, inputs.DataJSON = state.Mount, state.Name, state.DataJSON
	if inputs.Namespace == nil {
		inputs.Namespace = state.Namespace
	}
	return infer.ReadResponse[SecretV2Args, SecretV2State]{ID: req.ID, Inputs: inputs, State: state}, nil
}

// Delete deletes the latest version (<mount>/data/<name>) or, with deleteAllVersions, the
// metadata and every version (<mount>/metadata/<name>).
func (*SecretV2) Delete(ctx context.Context, req infer.DeleteRequest[SecretV2State]) (infer.DeleteResponse, error) {
	cl, err := infer.GetConfig[*Config](ctx).client(ctx)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	base := "data"
	if deref(req.State.DeleteAllVersions) {
		base = "metadata"
	}
	path := kv2Path(req.State.Mount, base, req.State.Name)
	if err := cl.delete(ctx, path, deref(req.State.Namespace)); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("error deleting %q from Vault: %q", path, err.Error())
	}
	return infer.DeleteResponse{}, nil
}

func kv2Path(mount, base, name string) string { return mount + "/" + base + "/" + name }

var kv2IDRe = regexp.MustCompile(`^(.+?)/data/(.+)$`)

// write sends {"data", "cas", "options"} to <mount>/data/<name>, then the custom metadata.
func (s *SecretV2State) write(ctx context.Context) error {
	cl, err := infer.GetConfig[*Config](ctx).client(ctx)
	if err != nil {
		return err
	}
	data, err := decodeData(s.DataJSON)
	if err != nil {
		return err
	}
	opts := map[string]string{}
	maps.Copy(opts, s.Options)
	body := map[string]any{"data": data, "cas": deref(s.Cas), "options": opts}
	if _, err := cl.write(ctx, s.Path, deref(s.Namespace), body); err != nil {
		return fmt.Errorf("error writing secret data to %q, err=%s", s.Path, err)
	}
	if s.CustomMetadata != nil {
		path := kv2Path(s.Mount, "metadata", s.Name)
		if _, err := cl.write(ctx, path, deref(s.Namespace), s.CustomMetadata.body()); err != nil {
			return fmt.Errorf("error writing custom metadata to %s, err=%s", path, err)
		}
	}
	return nil
}

// body is the metadata write: only the fields that are set to a non-zero value (GetOk upstream).
func (c *CustomMetadata) body() map[string]any {
	b := map[string]any{}
	if v := deref(c.MaxVersions); v != 0 {
		b["max_versions"] = v
	}
	if deref(c.CasRequired) {
		b["cas_required"] = true
	}
	if v := deref(c.DeleteVersionAfter); v != 0 {
		b["delete_version_after"] = v
	}
	if len(c.Data) > 0 {
		b["custom_metadata"] = c.Data
	}
	return b
}

// readBack reads after a write; a failure leaves the written secret in the state.
func (s *SecretV2State) readBack(ctx context.Context) error {
	found, err := s.read(ctx, s.Path)
	if err == nil && !found {
		err = fmt.Errorf("secret %q not found in Vault right after it was written", s.Path)
	}
	if err != nil {
		return infer.ResourceInitFailedError{Reasons: []string{err.Error()}}
	}
	return nil
}

// read is upstream's kvSecretV2Read; false when there is no secret.
func (s *SecretV2State) read(ctx context.Context, id string) (bool, error) {
	m := kv2IDRe.FindStringSubmatch(id)
	if m == nil {
		return false, fmt.Errorf("unable to read mount from ID %s, err=no mount found", id)
	}
	s.Path, s.Mount, s.Name = id, m[1], m[2]
	if deref(s.DisableRead) {
		return true, nil
	}
	cl, err := infer.GetConfig[*Config](ctx).client(ctx)
	if err != nil {
		return false, err
	}
	sec, err := cl.read(ctx, id, deref(s.Namespace))
	if err != nil {
		return false, fmt.Errorf("error reading from Vault: %s", err)
	}
	if sec == nil {
		return false, nil
	}
	data := sec.Data["data"]
	b, err := json.Marshal(data)
	if err != nil {
		return false, fmt.Errorf("error marshaling JSON for %q: %s", id, err)
	}
	s.DataJSON = string(b)
	if v, ok := data.(map[string]any); ok {
		s.Data = serializeDataMap(v)
	}
	md, ok := sec.Data["metadata"].(map[string]any)
	if !ok {
		return true, nil
	}
	s.Metadata = serializeDataMap(md)
	if _, ok := md["custom_metadata"]; ok {
		cm, err := readCustomMetadata(ctx, cl, kv2Path(s.Mount, "metadata", s.Name), deref(s.Namespace))
		if err != nil {
			return false, err
		}
		if cm != nil {
			s.CustomMetadata = cm
		}
	}
	return true, nil
}

// readCustomMetadata reads max_versions, cas_required, delete_version_after (a duration string
// in Vault, seconds here) and custom_metadata.
func readCustomMetadata(ctx context.Context, cl *vaultClient, path, ns string) (*CustomMetadata, error) {
	sec, err := cl.read(ctx, path, ns)
	if err != nil || sec == nil {
		return nil, err
	}
	cm := &CustomMetadata{}
	if n, ok := sec.Data["max_versions"].(json.Number); ok {
		v, _ := n.Int64()
		cm.MaxVersions = ptr(int(v))
	}
	if v, ok := sec.Data["cas_required"].(bool); ok {
		cm.CasRequired = ptr(v)
	}
	if v, ok := sec.Data["delete_version_after"].(string); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("error parsing duration, err=%s", err)
		}
		cm.DeleteVersionAfter = ptr(int(d.Seconds()))
	}
	if v, ok := sec.Data["custom_metadata"].(map[string]any); ok {
		cm.Data = serializeDataMap(v)
	}
	return cm, nil
}

func ptr[T any](v T) *T { return &v }
