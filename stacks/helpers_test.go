package stacks

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/fixtures"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// requiredSecrets are the secret keys each shipped stack needs (see the comment block at the top
// of the stack file). TestShippedStacksLoad proves they suffice, TestMissingRequiredSecret that
// each of them is needed.
var requiredSecrets = map[string][]string{
	"prod": {SecretSSHPrivateKey, SecretMCMClientSecret, SecretHAProxyStatsPass, SecretGitOpsCredential, SecretVaultToken},
	"stg":  {SecretSSHPrivateKey, SecretProxmoxAPIToken, SecretMCMClientSecret, SecretGitOpsCredential, SecretVaultToken},
}

// newSSHKey generates a fresh OpenSSH ed25519 private key (PEM) and its authorized_keys line.
// Keys are never committed: every test run makes its own.
func newSSHKey(t testing.TB) (privatePEM, authorized string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "pm4ml-test")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

// newWGKey is a random WireGuard (X25519) public key in wg's base64 form.
func newWGKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// fakeSecret is a recognisable secret value for key k; tests search recorded inputs for it.
func fakeSecret(k string) string {
	if k == SecretWireGuardKey { // must be a real key: the VPN derives its public key from it
		return testWireGuardKey
	}
	return "pm4ml-test-secret-value-of-" + k + "-do-not-log"
}

// testWireGuardKey is a TEST-ONLY WireGuard private key (32 bytes of base64).
const testWireGuardKey = "cE1Ok1Rlc3RPbmx5V2lyZUd1YXJkS2V5MDEyMzQ1Njc="

// newMocks presets the outputs the program reads back from its own steps: the MicroCeph export
// (ceph.conf and keyring) and the first master's kubeconfig.
func newMocks() *mocktest.Mocks { return fixtures.ProgramMocks() }

// runMocks runs fn under the stack's mocks.
func runMocks(t testing.TB, cfg map[string]string, secretKeys []string, fn pulumi.RunFunc) (*mocktest.Mocks, error) {
	t.Helper()
	m := newMocks()
	return m, mocktest.RunMocks(t, m, cfg, secretKeys, fn)
}

// stackSource reads ../Pulumi.<stack>.yaml and sets every secret the stack requires, as secrets:
// sshPrivateKey is a freshly generated OpenSSH ed25519 key, the others are fake values.
func stackSource(t testing.TB, stack string) *FileSource {
	t.Helper()
	src, err := ReadStackFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Unit tests never download anything: Argo CD's install manifest comes from the fixtures.
	manifest := "install.yaml"
	if stack == "prod" {
		manifest = "install-ha.yaml"
	}
	abs, err := filepath.Abs(filepath.Join("..", "components", "argocd", "testdata", manifest))
	if err != nil {
		t.Fatal(err)
	}
	argo, _ := src.Get("argocd")
	if argo == "" {
		argo = "{}"
	}
	var am map[string]any
	if err := json.Unmarshal([]byte(argo), &am); err != nil {
		t.Fatal(err)
	}
	am["manifestPath"] = abs
	b, _ := json.Marshal(am)
	src.Set("argocd", string(b), false)
	req, ok := requiredSecrets[stack]
	if !ok {
		t.Fatalf("no required-secret list for stack %q", stack)
	}
	for _, k := range req {
		v := fakeSecret(k)
		if k == SecretSSHPrivateKey {
			v, _ = newSSHKey(t)
		}
		src.Set(k, v, true)
	}
	return src
}

// secretValues hands each secret key its value stored in src (FileSource keeps what Set stored).
func secretValues(src *FileSource) func(string) string {
	return func(k string) string { v, _ := src.Get(k); return v }
}

// runStack runs the Pulumi program (Deploy) under mocks with src's configuration.
func runStack(t testing.TB, src *FileSource) (*mocktest.Mocks, error) {
	t.Helper()
	cfg, secretKeys := src.PulumiConfig(secretValues(src))
	return runMocks(t, cfg, secretKeys, Deploy)
}

// deployStack runs Deploy under mocks on a shipped stack and fails the test when it errs; it
// returns the recorded graph and the stack's source.
func deployStack(t testing.TB, stack string) (*mocktest.Mocks, *FileSource) {
	t.Helper()
	src := stackSource(t, stack)
	m, err := runStack(t, src)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	return m, src
}

// builtStack is what runBuild captured from the program run: the Stack and its resolved outputs.
type builtStack struct {
	Stack     *Stack
	Addresses map[string]string
	Roles     map[string]string
}

// runBuild runs what Deploy runs (Load from the Pulumi config, then Build) and keeps the Stack and
// the hosts component's resolved outputs.
func runBuild(t testing.TB, src *FileSource) (*mocktest.Mocks, *builtStack) {
	t.Helper()
	cfg, secretKeys := src.PulumiConfig(secretValues(src))
	out := &builtStack{}
	m, err := runMocks(t, cfg, secretKeys, func(ctx *pulumi.Context) error {
		c, err := Load(PulumiSource{Ctx: ctx})
		if err != nil {
			return err
		}
		st, err := Build(ctx, c, ReadSecrets(ctx))
		if err != nil {
			return err
		}
		out.Stack = st
		// exported, so that the run waits for the applies before it returns
		ctx.Export("test-addresses", st.Hosts.Addresses.ApplyT(func(a map[string]string) int { out.Addresses = a; return 0 }))
		ctx.Export("test-roles", st.Hosts.RolesByHost.ApplyT(func(r map[string]string) int { out.Roles = r; return 0 }))
		return nil
	})
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return m, out
}

// loadStack loads a shipped stack (secrets set) and fails the test on any problem.
// renderStack renders a shipped stack as the render command does (no secrets): its config and
// every file's content by path.
func renderStack(t testing.TB, stack string) (*Config, map[string]string) {
	t.Helper()
	cfg, err := LoadForRender(stackSource(t, stack))
	if err != nil {
		t.Fatal(err)
	}
	arts, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]string{}
	for _, a := range arts {
		byPath[a.Path] = a.Content
	}
	return cfg, byPath
}

func loadStack(t testing.TB, stack string) *Config {
	t.Helper()
	cfg, err := Load(stackSource(t, stack))
	if err != nil {
		t.Fatalf("Pulumi.%s.yaml does not load: %v", stack, err)
	}
	return cfg
}

// fieldErrors extracts the FieldErrors of a *ConfigError; it fails the test for any other error.
func fieldErrors(t testing.TB, err error) []*FieldError {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *ConfigError, got %T: %v", err, err)
	}
	var out []*FieldError
	for _, p := range ce.Problems {
		var fe *FieldError
		if !errors.As(p, &fe) {
			t.Fatalf("problem %v is a %T, not a *FieldError", p, p)
		}
		out = append(out, fe)
	}
	return out
}

// errorKeys is the sorted, de-duplicated set of keys of a *ConfigError.
func errorKeys(t testing.TB, err error) []string {
	t.Helper()
	var keys []string
	for _, fe := range fieldErrors(t, err) {
		keys = append(keys, fe.Key)
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// --- mutations of a stack file's values -------------------------------------------------------

// mutation changes one thing of a stack's configuration.
type mutation func(t testing.TB, src *FileSource)

// pathSeg is one step of a config path: a field name or a list index.
type pathSeg struct {
	field string
	index int // used when field == ""
}

var pathSegRe = regexp.MustCompile(`\.([A-Za-z0-9_]+)|\[([0-9]+)\]`)

// splitPath splits "hosts[3].proxmox.vmId" into the top-level key "hosts" and the segments
// [3] .proxmox .vmId.
func splitPath(t testing.TB, p string) (string, []pathSeg) {
	t.Helper()
	i := strings.IndexAny(p, ".[")
	if i < 0 {
		return p, nil
	}
	top, rest := p[:i], p[i:]
	var segs []pathSeg
	for _, m := range pathSegRe.FindAllStringSubmatchIndex(rest, -1) {
		if m[0] != len(joinSegs(segs)) {
			t.Fatalf("bad config path %q", p)
		}
		if m[2] >= 0 {
			segs = append(segs, pathSeg{field: rest[m[2]:m[3]]})
		} else {
			n, _ := strconv.Atoi(rest[m[4]:m[5]])
			segs = append(segs, pathSeg{index: n})
		}
	}
	if joinSegs(segs) != rest {
		t.Fatalf("bad config path %q", p)
	}
	return top, segs
}

func joinSegs(segs []pathSeg) string {
	var b strings.Builder
	for _, s := range segs {
		if s.field != "" {
			b.WriteString("." + s.field)
		} else {
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return b.String()
}

// edit changes the JSON value at segs inside node; del removes it instead of setting value.
func edit(t testing.TB, path string, node any, segs []pathSeg, value any, del bool) any {
	t.Helper()
	if len(segs) == 0 {
		return value
	}
	s, rest := segs[0], segs[1:]
	if s.field != "" {
		m, ok := node.(map[string]any)
		if node == nil {
			m, ok = map[string]any{}, true
		}
		if !ok {
			t.Fatalf("%s: .%s of a %T", path, s.field, node)
		}
		if len(rest) == 0 && del {
			if _, ok := m[s.field]; !ok {
				t.Fatalf("%s: nothing to delete", path)
			}
			delete(m, s.field)
			return m
		}
		m[s.field] = edit(t, path, m[s.field], rest, value, del)
		return m
	}
	l, ok := node.([]any)
	if !ok || s.index >= len(l) {
		t.Fatalf("%s: [%d] of %T (len %d)", path, s.index, node, len(l))
	}
	if len(rest) == 0 && del {
		return slices.Delete(slices.Clone(l), s.index, s.index+1)
	}
	l[s.index] = edit(t, path, l[s.index], rest, value, del)
	return l
}

func mutate(t testing.TB, src *FileSource, path string, value any, del bool) {
	t.Helper()
	top, segs := splitPath(t, path)
	if len(segs) == 0 {
		switch {
		case del:
			if _, ok := src.Get(top); !ok {
				t.Fatalf("%s: nothing to delete", path)
			}
			src.Delete(top)
		case isString(value):
			src.Set(top, value.(string), false)
		default:
			b, err := json.Marshal(value)
			if err != nil {
				t.Fatal(err)
			}
			src.Set(top, string(b), false)
		}
		return
	}
	var node any
	if raw, ok := src.Get(top); ok {
		if err := json.Unmarshal([]byte(raw), &node); err != nil {
			t.Fatalf("%s: the value of %s is not JSON: %v", path, top, err)
		}
	}
	node = edit(t, path, node, segs, value, del)
	b, err := json.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	src.Set(top, string(b), false)
}

func isString(v any) bool { _, ok := v.(string); return ok }

// set sets the value at a config path ("hosts[3].roles", "domain"); top-level strings are set as
// the raw text Pulumi would hold, anything else as JSON.
func set(path string, value any) mutation {
	return func(t testing.TB, src *FileSource) { t.Helper(); mutate(t, src, path, value, false) }
}

// del removes the value at a config path (a key, a field or a list element).
func del(path string) mutation {
	return func(t testing.TB, src *FileSource) { t.Helper(); mutate(t, src, path, nil, true) }
}

// setSecret sets a key as an encrypted secret; setPlain stores it in plain text.
func setSecret(k, v string) mutation {
	return func(t testing.TB, src *FileSource) { src.Set(k, v, true) }
}

func setPlain(k, v string) mutation {
	return func(t testing.TB, src *FileSource) { src.Set(k, v, false) }
}

// all applies several mutations in order.
func all(ms ...mutation) mutation {
	return func(t testing.TB, src *FileSource) {
		t.Helper()
		for _, m := range ms {
			m(t, src)
		}
	}
}

// --- reading recorded inputs ------------------------------------------------------------------

// prop follows a path of object keys and list indexes through a property value, unwrapping
// secrets. It returns the zero PropertyValue when the path does not exist.
func prop(v resource.PropertyValue, path ...any) resource.PropertyValue {
	for _, p := range path {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		switch p := p.(type) {
		case string:
			if !v.IsObject() {
				return resource.PropertyValue{}
			}
			v = v.ObjectValue()[resource.PropertyKey(p)]
		case int:
			if !v.IsArray() || p >= len(v.ArrayValue()) {
				return resource.PropertyValue{}
			}
			v = v.ArrayValue()[p]
		}
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// stackFileHosts reads name, address and roles of each host straight from the YAML stack file,
// independently of FileSource and Load, as the oracle for what the program registers.
type fileHost struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Roles   []string `yaml:"roles"`
	Proxmox *struct {
		VMID int `yaml:"vmId"`
	} `yaml:"proxmox"`
}

func stackFileHosts(t testing.TB, stack string) []fileHost {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config struct {
			Hosts []fileHost `yaml:"pm4ml:hosts"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Config.Hosts) == 0 {
		t.Fatalf("Pulumi.%s.yaml lists no hosts", stack)
	}
	return doc.Config.Hosts
}
