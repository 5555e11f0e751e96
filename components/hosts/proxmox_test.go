package hosts_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// The subset of the provider schema the program is checked against (see the package comment in
// proxmox.go). TestSchemaSubsetIsFaithful proves it is a faithful copy of the published schema.
const subsetFile = "testdata/proxmoxve-schema-subset.json"

// fullSchemaFile is the published schema extract, beside the repository (shared/schemas).
const fullSchemaFile = "../../../shared/schemas/proxmoxve-vmlegacy-schema.json"

type schemaProp struct {
	Type                 string      `json:"type"`
	Ref                  string      `json:"$ref"`
	Items                *schemaProp `json:"items"`
	AdditionalProperties *schemaProp `json:"additionalProperties"`
	Secret               bool        `json:"secret"`
}

type schemaType struct {
	Type       string                `json:"type"`
	Properties map[string]schemaProp `json:"properties"`
	Required   []string              `json:"required"`
}

type schemaResource struct {
	InputProperties map[string]schemaProp `json:"inputProperties"`
	RequiredInputs  []string              `json:"requiredInputs"`
}

type schema struct {
	Name              string                    `json:"name"`
	PluginDownloadURL string                    `json:"pluginDownloadURL"`
	Provider          schemaResource            `json:"provider"`
	Resources         map[string]schemaResource `json:"resources"`
	Types             map[string]schemaType     `json:"types"`
}

func loadSchema(t *testing.T) schema {
	t.Helper()
	b, err := os.ReadFile(subsetFile)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", subsetFile, err)
	}
	if _, ok := s.Resources[hosts.VMLegacyToken]; !ok {
		t.Fatalf("%s has no resource %s", subsetFile, hosts.VMLegacyToken)
	}
	return s
}

// checker validates property maps the program sends against the schema.
type checker struct {
	s        schema
	problems []string
}

func (c *checker) fail(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

// object checks an object value against a property set and its required list.
func (c *checker) object(path string, props map[string]schemaProp, required []string, pm resource.PropertyMap) {
	for _, k := range pm.StableKeys() {
		p, ok := props[string(k)]
		if !ok {
			known := make([]string, 0, len(props))
			for n := range props {
				known = append(known, n)
			}
			sort.Strings(known)
			c.fail(path+"."+string(k), "property not in the provider schema (misspelt?); the schema has %s", strings.Join(known, ", "))
			continue
		}
		c.value(path+"."+string(k), p, pm[k])
	}
	for _, r := range required {
		if v, ok := pm[resource.PropertyKey(r)]; !ok || v.IsNull() {
			c.fail(path+"."+r, "required by the provider schema but not sent")
		}
	}
}

// value checks one value against its schema property, recursively.
func (c *checker) value(path string, p schemaProp, v resource.PropertyValue) {
	for v.IsSecret() || v.IsOutput() {
		if v.IsSecret() {
			v = v.SecretValue().Element
			continue
		}
		o := v.OutputValue()
		if !o.Known {
			c.fail(path, "value unknown under mocks")
			return
		}
		v = o.Element
	}
	if v.IsComputed() {
		c.fail(path, "value unknown under mocks")
		return
	}
	if p.Ref != "" {
		tok, ok := strings.CutPrefix(p.Ref, "#/types/")
		if !ok {
			c.fail(path, "unsupported $ref %q", p.Ref)
			return
		}
		typ, ok := c.s.Types[tok]
		if !ok {
			c.fail(path, "type %s is not in %s: add it from the provider schema", tok, subsetFile)
			return
		}
		if !v.IsObject() {
			c.fail(path, "want an object of type %s, got %s", tok, v.TypeString())
			return
		}
		c.object(path, typ.Properties, typ.Required, v.ObjectValue())
		return
	}
	switch p.Type {
	case "string":
		if !v.IsString() {
			c.fail(path, "want string, got %s", v.TypeString())
		}
	case "boolean":
		if !v.IsBool() {
			c.fail(path, "want boolean, got %s", v.TypeString())
		}
	case "number":
		if !v.IsNumber() {
			c.fail(path, "want number, got %s", v.TypeString())
		}
	case "integer":
		if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
			c.fail(path, "want integer, got %s %v", v.TypeString(), v.V)
		}
	case "array":
		if !v.IsArray() || p.Items == nil {
			c.fail(path, "want array, got %s", v.TypeString())
			return
		}
		for i, e := range v.ArrayValue() {
			c.value(fmt.Sprintf("%s[%d]", path, i), *p.Items, e)
		}
	case "object":
		if !v.IsObject() || p.AdditionalProperties == nil {
			c.fail(path, "want map, got %s", v.TypeString())
			return
		}
		for _, k := range v.ObjectValue().StableKeys() {
			c.value(path+"."+string(k), *p.AdditionalProperties, v.ObjectValue()[k])
		}
	default:
		c.fail(path, "schema property has no type or $ref the checker knows (%q)", p.Type)
	}
}

// secrets lists the sent properties the schema marks secret whose value is not sent as a secret.
func (c *checker) secrets(path string, props map[string]schemaProp, pm resource.PropertyMap) {
	for k, p := range props {
		if v, ok := pm[resource.PropertyKey(k)]; ok && p.Secret && !v.ContainsSecrets() {
			c.fail(path+"."+k, "the provider schema marks it secret but it is sent in plain text")
		}
	}
}

func check(s schema, props map[string]schemaProp, required []string, pm resource.PropertyMap) []string {
	c := &checker{s: s}
	c.object("", props, required, pm)
	c.secrets("", props, pm)
	return c.problems
}

// testKey makes a fresh ed25519 key: the OpenSSH private key (PEM) and its authorized_keys line.
func testKey(t *testing.T) (private, public string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "pm4ml test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

const testToken = "pulumi@pve!pm4ml=00000000-1111-2222-3333-444444444444"

func proxmoxArgs(privateKey string) *hosts.Args {
	worker, _ := hosts.SizingFor(hosts.Prod, hosts.NewRoles(hosts.RoleWorker))
	storage, _ := hosts.SizingFor(hosts.Prod, hosts.NewRoles(hosts.RoleStorage))
	master, _ := hosts.SizingFor(hosts.Prod, hosts.NewRoles(hosts.RoleMaster))
	return &hosts.Args{
		Source: hosts.Proxmox,
		Specs: []hosts.Spec{
			{Name: "m1", Address: "192.0.2.11", Roles: hosts.NewRoles(hosts.RoleMaster), Sizing: master, ProxmoxNode: "pve1", VMID: 3011},
			{Name: "w1", Address: "192.0.2.21", Roles: hosts.NewRoles(hosts.RoleWorker), Sizing: worker, ProxmoxNode: "pve2", VMID: 3021},
			{Name: "s1", Address: "192.0.2.31", Roles: hosts.NewRoles(hosts.RoleStorage), Sizing: storage, CephDisks: []string{"/dev/sdb"}, ProxmoxNode: "pve1", VMID: 3031},
		},
		SSH: hosts.SSH{User: "ubuntu", Port: 22, PrivateKey: pulumi.ToSecret(pulumi.String(privateKey)).(pulumi.StringOutput)},
		Proxmox: &hosts.ProxmoxArgs{
			Endpoint:     "https://pve.example.invalid:8006/",
			APIToken:     pulumi.ToSecret(pulumi.String(testToken)).(pulumi.StringOutput),
			TemplateVMID: 9000,
			TemplateNode: "pve1",
			Datastore:    "local-lvm",
			Bridge:       "vmbr0",
			VLAN:         120,
			PrefixLength: 24,
			Gateway:      "192.0.2.1",
			DNSServers:   []string{"192.0.2.2", "192.0.2.3"},
			SearchDomain: "example.invalid",
		},
	}
}

func runProxmox(t *testing.T, args *hosts.Args) (*mocktest.Mocks, *hosts.Hosts) {
	t.Helper()
	var c *hosts.Hosts
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		var err error
		c, err = hosts.New(ctx, "hosts", args)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// unwrap strips secret and output wrappers.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput():
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// at walks a property path like "initialization.ipConfigs[0].ipv4.address".
func at(t *testing.T, pm resource.PropertyMap, path string) resource.PropertyValue {
	t.Helper()
	v := resource.NewObjectProperty(pm)
	for _, part := range strings.Split(path, ".") {
		idx := -1
		if name, rest, ok := strings.Cut(part, "["); ok {
			fmt.Sscanf(rest, "%d]", &idx)
			part = name
		}
		v = unwrap(v)
		if !v.IsObject() {
			t.Fatalf("%s: %q is not an object", path, part)
		}
		var ok bool
		v, ok = v.ObjectValue()[resource.PropertyKey(part)]
		if !ok {
			t.Fatalf("%s: no property %q", path, part)
		}
		if idx >= 0 {
			v = unwrap(v)
			if !v.IsArray() || idx >= len(v.ArrayValue()) {
				t.Fatalf("%s: %q has no element %d", path, part, idx)
			}
			v = v.ArrayValue()[idx]
		}
	}
	return unwrap(v)
}

func TestProxmoxPropertiesMatchSchema(t *testing.T) {
	s := loadSchema(t)
	priv, _ := testKey(t)
	m, _ := runProxmox(t, proxmoxArgs(priv))

	providers := m.ByType(hosts.ProxmoxProviderTok)
	if len(providers) != 1 {
		t.Fatalf("want one %s, got %d", hosts.ProxmoxProviderTok, len(providers))
	}
	vms := m.ByType(hosts.VMLegacyToken)
	if len(vms) != 3 {
		t.Fatalf("want 3 VMs, got %d", len(vms))
	}
	for _, r := range append(providers, vms...) {
		t.Run(r.Name, func(t *testing.T) {
			props, required := s.Provider.InputProperties, []string(nil)
			if r.Type == hosts.VMLegacyToken {
				res := s.Resources[hosts.VMLegacyToken]
				props, required = res.InputProperties, res.RequiredInputs
			}
			for _, p := range check(s, props, required, r.Inputs) {
				t.Error(p)
			}
			if r.Version != hosts.ProxmoxVersion {
				t.Errorf("version option %q, want %q", r.Version, hosts.ProxmoxVersion)
			}
			if r.PluginDownloadURL != s.PluginDownloadURL || hosts.ProxmoxDownloadURL != s.PluginDownloadURL {
				t.Errorf("pluginDownloadURL option %q (const %q), schema says %q", r.PluginDownloadURL, hosts.ProxmoxDownloadURL, s.PluginDownloadURL)
			}
			if !strings.HasPrefix(r.Type, "pulumi:providers:"+s.Name) && !strings.HasPrefix(r.Type, s.Name+":") {
				t.Errorf("type %s is not of package %s", r.Type, s.Name)
			}
		})
	}

	prov := providers[0]
	if !mocktest.IsSecret(prov.Inputs, "apiToken") || mocktest.String(prov.Inputs, "apiToken") != testToken {
		t.Errorf("provider apiToken must be the token, as a secret: %v", prov.Inputs["apiToken"])
	}
	if !slices.Contains(prov.AdditionalSecretOutputs, "apiToken") {
		t.Errorf("provider AdditionalSecretOutputs %v lack apiToken", prov.AdditionalSecretOutputs)
	}
	if got := mocktest.String(prov.Inputs, "endpoint"); got != "https://pve.example.invalid:8006/" {
		t.Errorf("endpoint %q", got)
	}
	if m.ParentName(prov) != "hosts" || prov.Name != "hosts-proxmox" {
		t.Errorf("provider %s has parent %q, want hosts", prov.Name, m.ParentName(prov))
	}
	for _, vm := range vms {
		if m.ParentName(vm) != "hosts" {
			t.Errorf("%s: parent %q, want hosts", vm.Name, m.ParentName(vm))
		}
		if !strings.HasPrefix(vm.Provider, prov.URN+"::") {
			t.Errorf("%s: provider reference %q, want the explicit provider %s", vm.Name, vm.Provider, prov.URN)
		}
		// No secret leaks into a VM's inputs (the public key is derived from the private one).
		if in := resource.NewObjectProperty(vm.Inputs); in.ContainsSecrets() {
			t.Errorf("%s: VM inputs carry a secret: %v", vm.Name, vm.Inputs)
		}
	}
}

// TestSchemaCheckerCatchesMistakes proves the checker fails loudly on the mistakes it exists for.
func TestSchemaCheckerCatchesMistakes(t *testing.T) {
	s := loadSchema(t)
	res := s.Resources[hosts.VMLegacyToken]
	good := func() resource.PropertyMap {
		return resource.NewPropertyMapFromMap(map[string]any{
			"nodeName": "pve1",
			"vmId":     3001,
			"cpu":      map[string]any{"cores": 4, "type": "host"},
			"clone":    map[string]any{"vmId": 9000},
			"disks":    []any{map[string]any{"interface": "scsi0", "size": 100}},
			"initialization": map[string]any{
				"ipConfigs":   []any{map[string]any{"ipv4": map[string]any{"address": "192.0.2.5/24"}}},
				"userAccount": map[string]any{"keys": []any{"ssh-ed25519 AAAA"}},
			},
		})
	}
	if p := check(s, res.InputProperties, res.RequiredInputs, good()); len(p) != 0 {
		t.Fatalf("a correct map is refused: %v", p)
	}
	cases := []struct {
		name   string
		mutate func(pm resource.PropertyMap)
		want   string
	}{
		{"misspelt top-level", func(pm resource.PropertyMap) {
			pm["vmID"] = pm["vmId"]
			delete(pm, "vmId")
		}, ".vmID: property not in the provider schema"},
		{"misspelt nested", func(pm resource.PropertyMap) {
			pm["cpu"].ObjectValue()["core"] = resource.NewNumberProperty(4)
		}, ".cpu.core: property not in the provider schema"},
		{"misspelt in array item", func(pm resource.PropertyMap) {
			pm["disks"].ArrayValue()[0].ObjectValue()["sizeGb"] = resource.NewNumberProperty(1)
		}, ".disks[0].sizeGb: property not in the provider schema"},
		{"misspelt deep", func(pm resource.PropertyMap) {
			ip := pm["initialization"].ObjectValue()["ipConfigs"].ArrayValue()[0].ObjectValue()["ipv4"].ObjectValue()
			ip["gw"] = resource.NewStringProperty("192.0.2.1")
		}, ".initialization.ipConfigs[0].ipv4.gw: property not in the provider schema"},
		{"string for integer", func(pm resource.PropertyMap) {
			pm["cpu"].ObjectValue()["cores"] = resource.NewStringProperty("4")
		}, ".cpu.cores: want integer"},
		{"fraction for integer", func(pm resource.PropertyMap) {
			pm["vmId"] = resource.NewNumberProperty(3001.5)
		}, ".vmId: want integer"},
		{"number for boolean", func(pm resource.PropertyMap) {
			pm["onBoot"] = resource.NewNumberProperty(1)
		}, ".onBoot: want boolean"},
		{"scalar for array", func(pm resource.PropertyMap) {
			pm["tags"] = resource.NewStringProperty("pm4ml")
		}, ".tags: want array"},
		{"wrong array item", func(pm resource.PropertyMap) {
			pm["tags"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewNumberProperty(1)})
		}, ".tags[0]: want string"},
		{"scalar for object", func(pm resource.PropertyMap) {
			pm["memory"] = resource.NewNumberProperty(1024)
		}, ".memory: want an object"},
		{"missing requiredInput", func(pm resource.PropertyMap) {
			delete(pm, "nodeName")
		}, ".nodeName: required by the provider schema"},
		{"missing nested required", func(pm resource.PropertyMap) {
			delete(pm["clone"].ObjectValue(), "vmId")
		}, ".clone.vmId: required by the provider schema"},
		{"missing required in array item", func(pm resource.PropertyMap) {
			delete(pm["disks"].ArrayValue()[0].ObjectValue(), "interface")
		}, ".disks[0].interface: required by the provider schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pm := good()
			tc.mutate(pm)
			p := check(s, res.InputProperties, res.RequiredInputs, pm)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("want a problem containing %q, got %v", tc.want, p)
			}
		})
	}
	t.Run("secret sent in plain text", func(t *testing.T) {
		pm := resource.NewPropertyMapFromMap(map[string]any{"endpoint": "https://x", "apiToken": "t"})
		p := check(s, s.Provider.InputProperties, nil, pm)
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, ".apiToken: the provider schema marks it secret") }) {
			t.Errorf("plain apiToken not reported: %v", p)
		}
	})
	t.Run("type missing from the subset", func(t *testing.T) {
		pm := resource.NewPropertyMapFromMap(map[string]any{"nodeName": "pve1", "cdrom": map[string]any{"fileId": "none"}})
		p := check(s, res.InputProperties, res.RequiredInputs, pm)
		if !slices.ContainsFunc(p, func(s string) bool {
			return strings.Contains(s, ".cdrom: type proxmoxve:index/VmLegacyCdrom:VmLegacyCdrom is not in")
		}) {
			t.Errorf("unresolvable $ref not reported: %v", p)
		}
	})
}

func TestProxmoxWorkerSizingAndCloudInit(t *testing.T) {
	priv, pub := testKey(t)
	m, c := runProxmox(t, proxmoxArgs(priv))
	vm := m.Named(t, "hosts-w1").Inputs

	want := map[string]any{
		"nodeName":                   "pve2",
		"vmId":                       3021.0,
		"name":                       "w1",
		"cpu.cores":                  16.0,
		"cpu.sockets":                1.0,
		"memory.dedicated":           64.0 * 1024,
		"clone.vmId":                 9000.0,
		"clone.nodeName":             "pve1", // the template's node, not the VM's
		"clone.full":                 true,
		"disks[0].interface":         "scsi0",
		"disks[0].size":              500.0,
		"disks[0].datastoreId":       "local-lvm",
		"disks[1].interface":         "scsi1",
		"disks[1].size":              500.0,
		"networkDevices[0].bridge":   "vmbr0",
		"networkDevices[0].vlanId":   120.0,
		"initialization.datastoreId": "local-lvm",
		"initialization.ipConfigs[0].ipv4.address": "192.0.2.21/24",
		"initialization.ipConfigs[0].ipv4.gateway": "192.0.2.1",
		"initialization.dns.domain":                "example.invalid",
		"initialization.userAccount.username":      "ubuntu",
		"agent.enabled":                            true,
		"onBoot":                                   true,
		"started":                                  true,
	}
	for path, w := range want {
		if got := at(t, vm, path).V; got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	if n := len(at(t, vm, "disks").ArrayValue()); n != 2 {
		t.Errorf("prod worker has %d disks, want 2 (OS + NVMe)", n)
	}
	if got := at(t, vm, "initialization.dns.servers").ArrayValue(); len(got) != 2 || got[0].StringValue() != "192.0.2.2" {
		t.Errorf("dns servers %v", got)
	}
	keys := at(t, vm, "initialization.userAccount.keys").ArrayValue()
	if len(keys) != 1 || keys[0].StringValue() != pub {
		t.Errorf("cloud-init keys %v, want exactly the public key %q derived from the private key", keys, pub)
	}
	if strings.Contains(fmt.Sprint(vm), "PRIVATE KEY") {
		t.Error("the private key reached the VM inputs")
	}
	tags := at(t, vm, "tags").ArrayValue()
	if len(tags) != 2 || tags[0].StringValue() != "pm4ml" || tags[1].StringValue() != "worker" {
		t.Errorf("tags %v, want [pm4ml worker]", tags)
	}

	// A storage VM: OS disk plus its Ceph data disks, the data disks not flagged SSD (HDD).
	s1 := m.Named(t, "hosts-s1").Inputs
	disks := at(t, s1, "disks").ArrayValue()
	if len(disks) != 4 {
		t.Fatalf("prod storage VM has %d disks, want 1 + 3", len(disks))
	}
	for i, d := range disks {
		ssd := d.ObjectValue()["ssd"].BoolValue()
		if (i == 0) != ssd {
			t.Errorf("storage disk %d ssd=%v", i, ssd)
		}
	}
	if got := at(t, s1, "cpu.cores").NumberValue(); got != 16 {
		t.Errorf("storage cores %v", got)
	}
	if got := at(t, m.Named(t, "hosts-m1").Inputs, "memory.dedicated").NumberValue(); got != 32*1024 {
		t.Errorf("master memory %v MiB, want %d", got, 32*1024)
	}

	// Each host is ready once its VM exists, and is identified by the VM id.
	for i, name := range []string{"m1", "w1", "s1"} {
		h := c.Hosts[i]
		if h.Name != name || len(h.Ready) != 1 {
			t.Fatalf("host %d: %s with %d ready resources", i, h.Name, len(h.Ready))
		}
		urn := awaitString(t, h.Ready[0].URN().ToStringOutput())
		if urn != m.Named(t, "hosts-"+name).URN {
			t.Errorf("%s: ready resource %s, want its VM", name, urn)
		}
		if got := awaitString(t, h.Identity.ToStringOutput()); got != "hosts-"+name+"-id" {
			t.Errorf("%s: identity %q, want the VM id", name, got)
		}
	}
}

func TestProxmoxWithoutVLANOrDNSSendsNoEmptyBlocks(t *testing.T) {
	s := loadSchema(t)
	priv, _ := testKey(t)
	a := proxmoxArgs(priv)
	a.Proxmox.VLAN, a.Proxmox.DNSServers, a.Proxmox.SearchDomain = 0, nil, ""
	a.Proxmox.TemplateNode = ""
	m, _ := runProxmox(t, a)
	vm := m.Named(t, "hosts-w1").Inputs
	res := s.Resources[hosts.VMLegacyToken]
	for _, p := range check(s, res.InputProperties, res.RequiredInputs, vm) {
		t.Error(p)
	}
	if _, ok := at(t, vm, "networkDevices[0]").ObjectValue()["vlanId"]; ok {
		t.Error("vlanId sent without a VLAN")
	}
	if _, ok := at(t, vm, "initialization").ObjectValue()["dns"]; ok {
		t.Error("dns block sent without DNS servers")
	}
	if got := at(t, vm, "clone.nodeName").StringValue(); got != "pve2" {
		t.Errorf("template node defaults to the VM's node: got %q", got)
	}
}

func TestProxmoxBadPrivateKeyNamesTheConfigKey(t *testing.T) {
	a := proxmoxArgs("not a key")
	_, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := hosts.New(ctx, "hosts", a)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "pm4ml:sshPrivateKey") {
		t.Fatalf("want an error naming pm4ml:sshPrivateKey, got %v", err)
	}
}

func TestProxmoxSourceWithoutSettings(t *testing.T) {
	a := proxmoxArgs("k")
	a.Proxmox = nil
	_, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		_, err := hosts.New(ctx, "hosts", a)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "proxmox") {
		t.Fatalf("want an error for missing Proxmox settings, got %v", err)
	}
}

// TestSchemaSubsetIsFaithful compares the subset with the published schema extract (beside the
// repository in shared/schemas): every element kept must be identical (descriptions aside), and
// the types kept must be exactly those reachable from the properties the program sends.
func TestSchemaSubsetIsFaithful(t *testing.T) {
	full, err := os.ReadFile(fullSchemaFile)
	if errors.Is(err, os.ErrNotExist) {
		abs, _ := filepath.Abs(fullSchemaFile)
		t.Skipf("published schema not beside the repository (%s)", abs)
	}
	if err != nil {
		t.Fatal(err)
	}
	sub, err := os.ReadFile(subsetFile)
	if err != nil {
		t.Fatal(err)
	}
	var f, s map[string]any
	if err := json.Unmarshal(full, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sub, &s); err != nil {
		t.Fatal(err)
	}
	get := func(m map[string]any, path ...string) any {
		var v any = m
		for _, p := range path {
			mm, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = mm[p]
		}
		return v
	}
	same := func(path ...string) {
		t.Helper()
		want, got := stripDescriptions(get(f, path...)), get(s, path...)
		if want == nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from the published schema", strings.Join(path, "/"))
		}
	}
	same("name")
	same("pluginDownloadURL")
	same("provider", "inputProperties")
	same("resources", hosts.VMLegacyToken, "inputProperties")
	same("resources", hosts.VMLegacyToken, "requiredInputs")
	kept := get(s, "types").(map[string]any)
	for tok := range kept {
		same("types", tok)
	}

	// The types reachable from what the program sends.
	priv, _ := testKey(t)
	m, _ := runProxmox(t, proxmoxArgs(priv))
	reach := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				tok := strings.TrimPrefix(r, "#/types/")
				if !reach[tok] {
					reach[tok] = true
					walk(get(f, "types", tok, "properties"))
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, r := range m.Resources {
		props := get(f, "provider", "inputProperties")
		if r.Type == hosts.VMLegacyToken {
			props = get(f, "resources", hosts.VMLegacyToken, "inputProperties")
		} else if r.Type != hosts.ProxmoxProviderTok {
			continue
		}
		for k := range r.Inputs {
			walk(get(props.(map[string]any), string(k)))
		}
	}
	if len(reach) == 0 {
		t.Fatal("no $ref reached: the walk is broken")
	}
	for tok := range reach {
		if _, ok := kept[tok]; !ok {
			t.Errorf("type %s is reachable from a sent property but not in the subset", tok)
		}
	}
	for tok := range kept {
		if !reach[tok] {
			t.Errorf("type %s is in the subset but not reachable from any sent property", tok)
		}
	}
}

func stripDescriptions(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if _, isString := e.(string); k == "description" && isString {
				continue
			}
			out[k] = stripDescriptions(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripDescriptions(e)
		}
		return out
	}
	return v
}

// TestLostHost: a host marked lost is never reached and no longer managed: on Proxmox its VM is
// not registered (the API deletes it; nothing connects to the machine); it is in Lost, not in
// Hosts, marked Lost, with its address as identity and its SSH connection (its frozen steps keep
// a connection input), and it is listed by the "lost" output, not by addresses or roles.
func TestLostHost(t *testing.T) {
	priv, _ := testKey(t)
	args := proxmoxArgs(priv)
	args.Specs[1].Lost = true // w1
	m, c := runProxmox(t, args)
	var vms []string
	for _, r := range m.ByType(hosts.VMLegacyToken) {
		vms = append(vms, r.Name)
	}
	if slices.ContainsFunc(vms, func(n string) bool { return strings.Contains(n, "w1") }) || len(vms) != 2 {
		t.Errorf("VMs %v, want m1's and s1's only", vms)
	}
	var live []string
	for _, h := range c.Hosts {
		live = append(live, h.Name)
	}
	if !slices.Equal(live, []string{"m1", "s1"}) || len(c.Lost) != 1 {
		t.Fatalf("hosts %v lost %d, want m1 s1 and w1 lost", live, len(c.Lost))
	}
	w1 := c.Lost[0]
	if w1.Name != "w1" || !w1.Lost || w1.Conn == nil || len(w1.Ready) != 0 || awaitString(t, w1.Identity.ToStringOutput()) != "192.0.2.21" {
		t.Errorf("lost w1: %+v", w1)
	}
	if lost, _ := await[[]string](t, c.LostHosts); !slices.Equal(lost, []string{"w1"}) {
		t.Errorf("lost output %v", lost)
	}
	if addrs, _ := await[map[string]string](t, c.Addresses); len(addrs) != 2 || addrs["w1"] != "" {
		t.Errorf("addresses %v, want no w1", addrs)
	}
}
