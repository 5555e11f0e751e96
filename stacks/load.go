package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
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
func Load(src Source) (*Config, error) { return load(src, false) }

// load is the one path from a source to a validated Config, for the program (Load) and for the
// offline commands (LoadForRender: secrets count as provided). Decoding problems do not stop
// validation: the rest of the file is still checked and everything is reported together.
func load(src Source, secretsProvided bool) (*Config, error) {
	cfg, errs := decode(src)
	applyDefaults(cfg)
	vc := cfg
	if secretsProvided {
		vc = withSecretsProvided(cfg)
	}
	errs = append(errs, withoutShadowed(errs, Validate(vc))...)
	if len(errs) > 0 {
		return cfg, &ConfigError{Problems: errs}
	}
	return cfg, nil
}

// withoutShadowed drops the validation problems of keys whose value could not be read: a value
// that is wrong in shape is reported once, as such, not again as missing.
func withoutShadowed(decodeErrs, validateErrs []error) []error {
	if len(decodeErrs) == 0 {
		return validateErrs
	}
	var bad []string
	for _, e := range decodeErrs {
		if fe, ok := e.(*FieldError); ok {
			bad = append(bad, fe.Key)
		}
	}
	var out []error
	for _, e := range validateErrs {
		fe, ok := e.(*FieldError)
		shadowed := ok && slices.ContainsFunc(bad, func(b string) bool {
			return fe.Key == b || strings.HasPrefix(fe.Key, b+".") || strings.HasPrefix(fe.Key, b+"[")
		})
		if !shadowed {
			out = append(out, e)
		}
	}
	return out
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

// ForeignKeys lists the keys of the other namespaces, to catch a misspelt pm4ml namespace.
func (s PulumiSource) ForeignKeys() []string {
	var all map[string]string
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &all); err != nil {
		return nil
	}
	var out []string
	for k := range all {
		if !strings.HasPrefix(k, Namespace+":") {
			out = append(out, k)
		}
	}
	return out
}

// FileSource is a stack file (Pulumi.<stack>.yaml) read without the Pulumi CLI and without
// decrypting anything: secret values are only known to be set.
type FileSource struct {
	values  map[string]string
	secrets map[string]bool
	kinds   map[string]string // YAML kind of each value as written in the file
	foreign map[string]string // values of other namespaces' keys (full key -> value)
}

// ReadStackFile parses a Pulumi.<stack>.yaml.
func ReadStackFile(path string) (*FileSource, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxStackFileBytes {
		return nil, fmt.Errorf("%s: %d bytes: a stack file is at most %d bytes; it holds settings, never documents", path, st.Size(), MaxStackFileBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseStackFile(path, b)
}

// ParseStackFile parses the bytes of a Pulumi.<stack>.yaml (name is for messages).
func ParseStackFile(path string, b []byte) (*FileSource, error) {
	if len(b) > MaxStackFileBytes {
		return nil, fmt.Errorf("%s: %d bytes: a stack file is at most %d bytes; it holds settings, never documents", path, len(b), MaxStackFileBytes)
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fs := &FileSource{values: map[string]string{}, secrets: map[string]bool{}, kinds: map[string]string{}, foreign: map[string]string{}}
	for k, v := range doc.Config {
		rest, ok := strings.CutPrefix(k, Namespace+":")
		if !ok {
			fs.foreign[k] = fmt.Sprint(v) // other namespaces (pulumi:, proxmoxve:, ...): checked for near misses only
			continue
		}
		fs.kinds[rest] = yamlKind(v)
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

func yamlKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	case int, float64:
		return "number"
	}
	return "text"
}

// Set adds or overrides a value (tests, and the render command's --set).
func (f *FileSource) Set(k, v string, secret bool) {
	f.values[k] = v
	f.secrets[k] = secret
	delete(f.kinds, k)
}

// Delete removes a key (tests).
func (f *FileSource) Delete(k string) { delete(f.values, k); delete(f.secrets, k); delete(f.kinds, k) }

// Kind is the YAML kind of the value as written in the file ("" when set programmatically).
func (f *FileSource) Kind(k string) string { return f.kinds[k] }

// HasSecrets says whether a source sets any of the program's secret keys.
func HasSecrets(src Source) bool {
	for _, k := range SecretKeys {
		if _, ok := src.Get(k); ok {
			return true
		}
	}
	return false
}

// ForeignKeys lists the file's keys of other namespaces.
func (f *FileSource) ForeignKeys() []string {
	out := make([]string, 0, len(f.foreign))
	for k := range f.foreign {
		out = append(out, k)
	}
	return out
}

// SetForeign sets a key of another namespace (tests: a misspelt namespace).
func (f *FileSource) SetForeign(full, v string) {
	if f.foreign == nil {
		f.foreign = map[string]string{}
	}
	f.foreign[full] = v
}

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
	for k, v := range f.foreign {
		config[k] = v
	}
	sort.Strings(secretKeys)
	return config, secretKeys
}
