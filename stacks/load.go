package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// Source is where raw configuration comes from: the running Pulumi program, or a stack file read
// by the render command. Values are Pulumi's string form: scalars as text, objects and lists as
// JSON.
type Source interface {
	Get(key string) (string, bool) // key without the namespace
	IsSecret(key string) bool
	// Keys lists every key of the namespace that is set, to catch typos. May be nil.
	Keys() []string
}

// FieldError is one configuration problem: the key, what is wrong, how to fix it.
type FieldError struct {
	Key     string // full key, e.g. pm4ml:hosts[3].roles
	Problem string
	Fix     string
}

func (e *FieldError) Error() string {
	if e.Fix == "" {
		return fmt.Sprintf("%s: %s", e.Key, e.Problem)
	}
	return fmt.Sprintf("%s: %s; fix: %s", e.Key, e.Problem, e.Fix)
}

// ConfigError carries every problem found; it is what Deploy and the render command report.
type ConfigError struct{ Problems []error }

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the stack configuration has %d problem(s); nothing was created:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find each FieldError.
func (e *ConfigError) Unwrap() []error { return e.Problems }

func key(path string, args ...any) string { return Namespace + ":" + fmt.Sprintf(path, args...) }

func fieldErr(k, problem, fix string) error { return &FieldError{Key: k, Problem: problem, Fix: fix} }

// Load reads, defaults and validates a stack's configuration. It returns every problem at once
// as a *ConfigError; on success the Config is complete (defaults applied).
func Load(src Source) (*Config, error) {
	cfg, errs := decode(src)
	if len(errs) == 0 {
		applyDefaults(cfg)
		errs = Validate(cfg)
	}
	if len(errs) > 0 {
		return cfg, &ConfigError{Problems: errs}
	}
	return cfg, nil
}

// decode fills Config from the source, strictly: unknown keys and unknown fields are errors.
func decode(src Source) (*Config, []error) {
	cfg := &Config{Secrets: map[string]SecretState{}}
	var errs []error
	known := map[string]bool{}
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := jsonName(t.Field(i))
		if name == "" {
			continue
		}
		known[name] = true
		raw, ok := src.Get(name)
		if !ok {
			continue
		}
		if src.IsSecret(name) {
			errs = append(errs, fieldErr(key("%s", name), "is stored as a secret but is plain configuration",
				fmt.Sprintf("pulumi config set %s:%s <value> (without --secret)", Namespace, name)))
			continue
		}
		if err := setField(v.Field(i), raw); err != nil {
			errs = append(errs, fieldErr(key("%s", name), "cannot be read: "+cleanJSONErr(err),
				"see the configuration reference in README.md for its shape"))
		}
	}
	for _, s := range SecretKeys {
		known[s] = true
		_, ok := src.Get(s)
		cfg.Secrets[s] = SecretState{Set: ok, IsSecret: ok && src.IsSecret(s)}
	}
	keys := slices.Clone(src.Keys())
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			errs = append(errs, fieldErr(key("%s", k), "is not a setting of this program",
				"remove it or correct its name (known keys: "+strings.Join(sortedKeys(known), ", ")+")"))
		}
	}
	return cfg, errs
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func setField(f reflect.Value, raw string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
		return nil
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		f.SetBool(b)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	return dec.Decode(f.Addr().Interface())
}

func cleanJSONErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be %s, got a JSON %s", te.Field, te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// PulumiSource reads the running program's configuration.
type PulumiSource struct{ Ctx *pulumi.Context }

func (s PulumiSource) Get(k string) (string, bool) { return s.Ctx.GetConfig(Namespace + ":" + k) }
func (s PulumiSource) IsSecret(k string) bool      { return s.Ctx.IsConfigSecret(Namespace + ":" + k) }

// Keys reads the key list from the environment the Pulumi SDK itself reads its config from.
func (s PulumiSource) Keys() []string {
	var all map[string]string
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &all); err != nil {
		return nil
	}
	var out []string
	for k := range all {
		if rest, ok := strings.CutPrefix(k, Namespace+":"); ok {
			out = append(out, rest)
		}
	}
	return out
}

// FileSource is a stack file (Pulumi.<stack>.yaml) read without the Pulumi CLI and without
// decrypting anything: secret values are only known to be set.
type FileSource struct {
	values  map[string]string
	secrets map[string]bool
}

// ReadStackFile parses a Pulumi.<stack>.yaml.
func ReadStackFile(path string) (*FileSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fs := &FileSource{values: map[string]string{}, secrets: map[string]bool{}}
	for k, v := range doc.Config {
		rest, ok := strings.CutPrefix(k, Namespace+":")
		if !ok {
			continue // other namespaces (pulumi:, proxmoxve:, ...) are not ours
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			fs.values[rest] = ""
			fs.secrets[rest] = true
			continue
		}
		switch x := v.(type) {
		case nil: // `key:` without a value
			fs.values[rest] = ""
		case string:
			fs.values[rest] = x
		case bool, int, float64:
			fs.values[rest] = fmt.Sprint(x)
		default:
			j, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			fs.values[rest] = string(j)
		}
	}
	return fs, nil
}

// Set adds or overrides a value (tests, and the render command's --set).
func (f *FileSource) Set(k, v string, secret bool) { f.values[k] = v; f.secrets[k] = secret }

// Delete removes a key (tests).
func (f *FileSource) Delete(k string) { delete(f.values, k); delete(f.secrets, k) }

func (f *FileSource) Get(k string) (string, bool) { v, ok := f.values[k]; return v, ok }
func (f *FileSource) IsSecret(k string) bool      { return f.secrets[k] }
func (f *FileSource) Keys() []string {
	out := make([]string, 0, len(f.values))
	for k := range f.values {
		out = append(out, k)
	}
	return out
}

// PulumiConfig is the file's namespace as the Pulumi engine hands it to a program (full keys,
// string values); secret keys get the given value. Tests run the program with it under mocks.
func (f *FileSource) PulumiConfig(secretValue func(key string) string) (config map[string]string, secretKeys []string) {
	config = map[string]string{}
	for k, v := range f.values {
		full := Namespace + ":" + k
		if f.secrets[k] {
			v = secretValue(k)
			secretKeys = append(secretKeys, full)
		}
		config[full] = v
	}
	sort.Strings(secretKeys)
	return config, secretKeys
}
