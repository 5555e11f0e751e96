package hosts

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"
)

// The Proxmox VE provider (github.com/muhlba91/pulumi-proxmoxve) has no Go SDK on the module
// proxy this project is built from, so the two resources used are bound here by type token, with
// small typed argument structs whose `pulumi` tags follow the provider's schema exactly
// (testdata/proxmoxve-schema-subset.json; proxmox_test.go checks every property sent against it).
const (
	ProxmoxPackage     = "proxmoxve"
	ProxmoxVersion     = "8.3.0"
	ProxmoxDownloadURL = "github://api.github.com/muhlba91/pulumi-proxmoxve"
	ProxmoxProviderTok = "pulumi:providers:" + ProxmoxPackage
	VMLegacyToken      = "proxmoxve:index/vmLegacy:VmLegacy"
)

// ProxmoxArgs are the Proxmox VE settings the hosts component needs.
type ProxmoxArgs struct {
	Endpoint     string
	Insecure     bool
	APIToken     pulumi.StringInput // a Pulumi secret: "user@realm!tokenid=uuid"
	TemplateVMID int
	TemplateNode string
	Datastore    string
	Bridge       string
	VLAN         int
	PrefixLength int
	Gateway      string
	DNSServers   []string
	SearchDomain string
}

// providerArgs are the inputs of pulumi:providers:proxmoxve.
type providerArgs struct {
	Endpoint pulumi.StringInput  `pulumi:"endpoint"`
	APIToken pulumi.StringInput  `pulumi:"apiToken"`
	Insecure pulumi.BoolPtrInput `pulumi:"insecure"`
	MinTLS   pulumi.StringInput  `pulumi:"minTls"`
}

func (providerArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*providerArgsPlain)(nil)).Elem()
}

type providerArgsPlain struct {
	Endpoint string `pulumi:"endpoint"`
	APIToken string `pulumi:"apiToken"`
	Insecure *bool  `pulumi:"insecure"`
	MinTLS   string `pulumi:"minTls"`
}

// ProxmoxProvider is an explicit provider instance.
type ProxmoxProvider struct{ pulumi.ProviderResourceState }

func newProxmoxProvider(ctx *pulumi.Context, name string, a *ProxmoxArgs, opts ...pulumi.ResourceOption) (*ProxmoxProvider, error) {
	p := &ProxmoxProvider{}
	args := providerArgs{
		Endpoint: pulumi.String(a.Endpoint),
		APIToken: pulumi.ToSecret(a.APIToken).(pulumi.StringOutput),
		Insecure: pulumi.BoolPtr(a.Insecure),
		MinTLS:   pulumi.String("1.2"),
	}
	opts = append(opts, pulumi.Version(ProxmoxVersion), pulumi.PluginDownloadURL(ProxmoxDownloadURL),
		pulumi.AdditionalSecretOutputs([]string{"apiToken"}))
	return p, ctx.RegisterResource(ProxmoxProviderTok, name, args, p, opts...)
}

// VM is a bound proxmoxve:index/vmLegacy:VmLegacy.
type VM struct {
	pulumi.CustomResourceState
	VMID pulumi.IntOutput    `pulumi:"vmId"`
	Name pulumi.StringOutput `pulumi:"name"`
}

// vmArgs are the VmLegacy inputs this program sets (names and types from the schema).
type vmArgs struct {
	NodeName        string           `pulumi:"nodeName"`
	VMID            int              `pulumi:"vmId"`
	Name            string           `pulumi:"name"`
	Description     string           `pulumi:"description"`
	Tags            []string         `pulumi:"tags"`
	OnBoot          bool             `pulumi:"onBoot"`
	Started         bool             `pulumi:"started"`
	StopOnDestroy   bool             `pulumi:"stopOnDestroy"`
	Clone           vmClone          `pulumi:"clone"`
	CPU             vmCPU            `pulumi:"cpu"`
	Memory          vmMemory         `pulumi:"memory"`
	Agent           vmAgent          `pulumi:"agent"`
	OperatingSystem vmOS             `pulumi:"operatingSystem"`
	Disks           []vmDisk         `pulumi:"disks"`
	NetworkDevices  []vmNetwork      `pulumi:"networkDevices"`
	Initialization  vmInitialization `pulumi:"initialization"`
}

type vmClone struct {
	VMID     int    `pulumi:"vmId"`
	NodeName string `pulumi:"nodeName"`
	Full     bool   `pulumi:"full"`
	Retries  int    `pulumi:"retries"`
}

type vmCPU struct {
	Cores   int    `pulumi:"cores"`
	Sockets int    `pulumi:"sockets"`
	Type    string `pulumi:"type"`
}

type vmMemory struct {
	Dedicated int `pulumi:"dedicated"` // MiB
}

type vmAgent struct {
	Enabled bool `pulumi:"enabled"`
}

type vmOS struct {
	Type string `pulumi:"type"`
}

type vmDisk struct {
	Interface   string `pulumi:"interface"`
	DatastoreID string `pulumi:"datastoreId"`
	Size        int    `pulumi:"size"` // GB
	Discard     string `pulumi:"discard"`
	IOThread    bool   `pulumi:"iothread"`
	SSD         bool   `pulumi:"ssd"`
}

type vmNetwork struct {
	Bridge string `pulumi:"bridge"`
	Model  string `pulumi:"model"`
	VlanID *int   `pulumi:"vlanId,optional"`
}

type vmInitialization struct {
	DatastoreID string        `pulumi:"datastoreId"`
	IPConfigs   []vmIPConfig  `pulumi:"ipConfigs"`
	DNS         *vmDNS        `pulumi:"dns,optional"`
	UserAccount vmUserAccount `pulumi:"userAccount"`
}

type vmIPConfig struct {
	IPv4 vmIPv4 `pulumi:"ipv4"`
}

type vmIPv4 struct {
	Address string `pulumi:"address"`
	Gateway string `pulumi:"gateway"`
}

type vmDNS struct {
	Domain  string   `pulumi:"domain,optional"`
	Servers []string `pulumi:"servers"`
}

type vmUserAccount struct {
	Username string   `pulumi:"username"`
	Keys     []string `pulumi:"keys"`
}

// vmSpec is the plain VmLegacy spec of one host, without the SSH public key.
func vmSpec(s Spec, p *ProxmoxArgs, user string) vmArgs {
	disks := []vmDisk{{Interface: "scsi0", DatastoreID: p.Datastore, Size: s.Sizing.OSDiskGB, Discard: "on", IOThread: true, SSD: true}}
	for i, gb := range s.Sizing.DataDisksGB {
		disks = append(disks, vmDisk{Interface: fmt.Sprintf("scsi%d", i+1), DatastoreID: p.Datastore, Size: gb, Discard: "on", IOThread: true, SSD: !s.Roles.Has(RoleStorage)})
	}
	nic := vmNetwork{Bridge: p.Bridge, Model: "virtio"}
	if p.VLAN > 0 {
		v := p.VLAN
		nic.VlanID = &v
	}
	init := vmInitialization{
		DatastoreID: p.Datastore,
		IPConfigs:   []vmIPConfig{{IPv4: vmIPv4{Address: fmt.Sprintf("%s/%d", s.Address, p.PrefixLength), Gateway: p.Gateway}}},
		UserAccount: vmUserAccount{Username: user},
	}
	if len(p.DNSServers) > 0 {
		init.DNS = &vmDNS{Domain: p.SearchDomain, Servers: p.DNSServers}
	}
	node := s.ProxmoxNode
	templateNode := p.TemplateNode
	if templateNode == "" {
		templateNode = node
	}
	return vmArgs{
		NodeName:        node,
		VMID:            s.VMID,
		Name:            s.Name,
		Description:     "PM4ML " + s.Roles.String() + " node, managed by pm4ml-onprem (Pulumi)",
		Tags:            append([]string{"pm4ml"}, roleTags(s.Roles)...),
		OnBoot:          true,
		Started:         true,
		StopOnDestroy:   true,
		Clone:           vmClone{VMID: p.TemplateVMID, NodeName: templateNode, Full: true, Retries: 3},
		CPU:             vmCPU{Cores: s.Sizing.CPUs, Sockets: 1, Type: "host"},
		Memory:          vmMemory{Dedicated: s.Sizing.MemoryGB * 1024},
		Agent:           vmAgent{Enabled: true},
		OperatingSystem: vmOS{Type: "l26"},
		Disks:           disks,
		NetworkDevices:  []vmNetwork{nic},
		Initialization:  init,
	}
}

func roleTags(rs Roles) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = strings.ToLower(string(r))
	}
	return out
}

// newVM clones one VM. The SSH public key for cloud-init is derived from the (secret) private key.
func newVM(ctx *pulumi.Context, name string, s Spec, p *ProxmoxArgs, access SSH, opts ...pulumi.ResourceOption) (*VM, error) {
	spec := vmSpec(s, p, access.User)
	pub := access.PrivateKey.ToStringOutput().ApplyT(func(key string) (string, error) {
		signer, err := ssh.ParsePrivateKey([]byte(key))
		if err != nil {
			return "", fmt.Errorf("pm4ml:sshPrivateKey: cannot derive the public key for cloud-init: %w", err)
		}
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
	}).(pulumi.StringOutput)
	props := spec.toInputs(pub)
	vm := &VM{}
	opts = append(opts, pulumi.Version(ProxmoxVersion), pulumi.PluginDownloadURL(ProxmoxDownloadURL))
	return vm, ctx.RegisterResource(VMLegacyToken, name, props, vm, opts...)
}

// toInputs turns the spec into resource inputs; the cloud-init user gets pub as its key.
func (a vmArgs) toInputs(pub pulumi.StringOutput) pulumi.Map {
	m := plain(reflect.ValueOf(a)).(map[string]any)
	in := pulumi.Map{}
	for k, v := range m {
		in[k] = pulumi.Any(v)
	}
	init := m["initialization"].(map[string]any)
	// The public key is not sensitive; keep it readable in the diff.
	in["initialization"] = pulumi.Unsecret(pub).ApplyT(func(k string) map[string]any {
		out := map[string]any{}
		for kk, vv := range init {
			out[kk] = vv
		}
		ua := map[string]any{}
		for kk, vv := range init["userAccount"].(map[string]any) {
			ua[kk] = vv
		}
		ua["keys"] = []any{k}
		out["userAccount"] = ua
		return out
	})
	return in
}

// plain converts a tagged struct tree into maps keyed by the `pulumi` tag, dropping nil optional
// pointers and empty strings, so only properties that are set are sent.
func plain(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("pulumi"), ",")
			if tag == "" {
				continue
			}
			f := v.Field(i)
			if (f.Kind() == reflect.Pointer && f.IsNil()) || (f.Kind() == reflect.String && f.String() == "") {
				continue
			}
			out[tag] = plain(f)
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i))
		}
		return out
	}
	return v.Interface()
}
