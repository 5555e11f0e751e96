package stacks

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// FuzzStackFile fuzzes the stack file. Seeds: the shipped stacks and every case of the
// bad-config table (TestValidateRefusesBadConfig), as stack files. Properties:
//   - nothing panics;
//   - what Load accepts renders every step (Render) and deploys under mocks without an error;
//   - what Load refuses, Deploy refuses too, with a *ConfigError, having registered no resource.
//
// `go test ./stacks -run FuzzStackFile` runs the seed corpus (CI does); to fuzz for longer:
// `go test ./stacks -run '^$' -fuzz FuzzStackFile -fuzztime 10m` (README, "Bad input").
func FuzzStackFile(f *testing.F) {
	for _, stack := range []string{"prod", "stg"} {
		b, err := os.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range badConfigs(f) {
		src := stackSource(f, tc.stack)
		tc.mut(f, src)
		f.Add(src.yamlBytes(f))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := ParseStackFile("fuzz.yaml", data)
		if err != nil {
			return // not YAML, or too large: refused before anything
		}
		offline(t, src)
		cfg, loadErr := Load(src)
		if loadErr == nil {
			if _, err := Render(cfg); err != nil {
				t.Fatalf("Load accepted the file but Render fails: %v", err)
			}
		}
		m, err := runStack(t, src)
		switch {
		case loadErr == nil && err != nil:
			t.Fatalf("Load accepted the file but Deploy fails: %v", err)
		case loadErr != nil && err == nil:
			t.Fatalf("Load refused the file (%v) but Deploy accepted it", loadErr)
		case loadErr != nil:
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Deploy's refusal is not a *ConfigError: %v", err)
			}
			if n := len(m.Resources); n != 0 {
				t.Fatalf("Deploy registered %d resource(s) before refusing", n)
			}
		}
	})
}

// offline makes a fuzzed stack safe to deploy under mocks: Argo CD's manifest comes from the
// fixtures, never from a URL, and every secret the program might need has a usable test value.
func offline(t testing.TB, src *FileSource) {
	if raw, ok := src.Get("argocd"); ok {
		var am map[string]any
		if json.Unmarshal([]byte(raw), &am) != nil || am == nil {
			return // not a mapping: Load refuses it
		}
	}
	am := map[string]any{}
	if raw, ok := src.Get("argocd"); ok {
		_ = json.Unmarshal([]byte(raw), &am)
	}
	env, _ := src.Get("environment")
	ha := env == "prod" // the default of argocd.ha
	if h, ok := am["ha"].(bool); ok {
		ha = h
	}
	fixture := "install.yaml"
	if ha {
		fixture = "install-ha.yaml"
	}
	abs, err := filepath.Abs(filepath.Join("..", "components", "argocd", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	am["manifestPath"] = abs
	b, _ := json.Marshal(am)
	src.Set("argocd", string(b), false)
	for _, k := range SecretKeys {
		if k == SecretBastionKey {
			continue // only with a bastion; a stray one is a mistake Load reports
		}
		if _, set := src.Get(k); set && !src.IsSecret(k) {
			continue // stored in plain text: Load reports it
		}
		v := fakeSecret(k)
		if k == SecretSSHPrivateKey {
			v = fuzzSSHKey
		}
		src.Set(k, v, true)
	}
}

// fuzzSSHKey is a TEST-ONLY ed25519 key made at run time from a fixed seed (never committed as a
// key file): the program derives the hosts' authorized key from it.
var fuzzSSHKey = func() string {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	block, err := ssh.MarshalPrivateKey(priv, "pm4ml-fuzz")
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(block))
}()

// yamlBytes writes the source back as a stack file (secrets as secure values).
func (f *FileSource) yamlBytes(t testing.TB) []byte {
	cfg := map[string]any{}
	keys := make([]string, 0, len(f.values))
	for k := range f.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.values[k]
		switch {
		case f.secrets[k]:
			cfg[Namespace+":"+k] = map[string]any{"secure": "v1:fuzzseed"}
		default:
			var parsed any
			if json.Unmarshal([]byte(v), &parsed) == nil {
				if _, isObj := parsed.(map[string]any); isObj {
					cfg[Namespace+":"+k] = parsed
					continue
				}
				if _, isList := parsed.([]any); isList {
					cfg[Namespace+":"+k] = parsed
					continue
				}
			}
			cfg[Namespace+":"+k] = v
		}
	}
	for k, v := range f.foreign {
		cfg[k] = v
	}
	b, err := yaml.Marshal(map[string]any{"config": cfg})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
