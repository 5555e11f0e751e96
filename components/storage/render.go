// Package storage gives the Kubernetes cluster its two storage tiers (guide 1.4, 4.1): the cold
// tier, Ceph RBD on the external MicroCeph cluster (microk8s connect-external-ceph), for logs,
// backups and archives; and the transaction-critical tier, node-local high-performance storage
// (hostpath on the workers' NVMe) for databases and messaging. Every step runs on one master:
// rook-ceph (addon) -> connect (secret: ceph.conf + keyring on stdin, connect-external-ceph) ->
// storageclasses (hostpath-storage addon, the local class, the tier annotations).
//
// Choices and limits:
//   - The local class is the cluster's default StorageClass and the Ceph class never is: a claim
//     that names no class lands on the fast tier, never on cold storage (guide 4.1 "Cold storage
//     must not be used for latency-sensitive transaction processing"); cold-tier users name the
//     Ceph class. The addon's own microk8s-hostpath class is un-defaulted.
//   - The keyring is client.admin's: connect-external-ceph connects as client.admin and creates
//     Rook's restricted CSI users itself. It is staged under /run only while the import runs.
//   - connect-external-ceph always names its class ceph-rbd; another pm4ml:ceph.storageClass is
//     a copy of it under that name (Rook's original is deleted).
//   - The local class's directory (pm4ml:ceph.localStoragePath) must be on each worker's NVMe;
//     this component does not mount it.
//   - Local volumes are bound to the node that first mounts them (WaitForFirstConsumer) and kept
//     on delete (reclaimPolicy Retain).
package storage

import (
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("storage", files, "scripts/*.tmpl")

// Tiers, as the pm4ml.io/tier annotation names them (read by the policy pack).
const (
	TierAnnotation          = "pm4ml.io/tier"
	TierCold                = "cold"
	TierTransactionCritical = "transaction-critical"
)

// Fixed names of the MicroK8s side.
const (
	// RookStorageClass is the RBD class connect-external-ceph always creates.
	RookStorageClass = "ceph-rbd"
	// RookNamespace is where connect-external-ceph puts the external CephCluster.
	RookNamespace = "rook-ceph-external"
	// RBDProvisioner is the CSI driver of the Rook RBD class.
	RBDProvisioner = "rook-ceph.rbd.csi.ceph.com"
	// LocalProvisioner is the MicroK8s hostpath provisioner (addon hostpath-storage).
	LocalProvisioner = "microk8s.io/hostpath"
)

// Steps in execution order.
var Steps = []string{"rook-ceph", "connect", "storageclasses"}

// Plan is everything the scripts are rendered from.
type Plan struct {
	Master            string // the master the steps run on (for messages)
	Pool              string // RBD pool (pm4ml:ceph.pool)
	StorageClass      string // Ceph RBD class (pm4ml:ceph.storageClass), default ceph-rbd
	LocalStorageClass string // node-local class (pm4ml:ceph.localStorageClass)
	LocalStoragePath  string // its directory on the nodes (pm4ml:ceph.localStoragePath)
}

// Class is one StorageClass the component manages.
type Class struct {
	Name        string
	Tier        string // TierCold or TierTransactionCritical
	Default     bool
	Provisioner string
}

// Classes are the plan's StorageClasses, cold tier first.
func (p Plan) Classes() []Class {
	return []Class{
		{Name: p.storageClass(), Tier: TierCold, Default: false, Provisioner: RBDProvisioner},
		{Name: p.LocalStorageClass, Tier: TierTransactionCritical, Default: true, Provisioner: LocalProvisioner},
	}
}

func (p Plan) storageClass() string {
	if p.StorageClass == "" {
		return RookStorageClass
	}
	return p.StorageClass
}

// Validate checks the plan; every problem names the configuration key and the fix.
func (p Plan) Validate() error {
	var errs []error
	add := func(key, problem, fix string) { errs = append(errs, fmt.Errorf("pm4ml:%s %s: %s", key, problem, fix)) }
	if p.Master == "" {
		add("hosts", "has no master", "give at least one host the master role")
	}
	if !grammar.Pool.OK(p.Pool) {
		add("ceph.pool", fmt.Sprintf("%q is not a Ceph pool name", p.Pool), "use letters, digits, '-', '_' or '.', e.g. rbd-pm4ml")
	}
	if !grammar.K8sName.OK(p.storageClass()) {
		add("ceph.storageClass", fmt.Sprintf("%q is not a Kubernetes object name", p.StorageClass), "use lower-case letters, digits, '-' and '.', e.g. ceph-rbd")
	}
	if !grammar.K8sName.OK(p.LocalStorageClass) {
		add("ceph.localStorageClass", fmt.Sprintf("%q is not a Kubernetes object name", p.LocalStorageClass), "use lower-case letters, digits, '-' and '.', e.g. local-nvme")
	}
	if p.LocalStorageClass == p.storageClass() || p.LocalStorageClass == grammar.ReservedStorageClass {
		add("ceph.localStorageClass", fmt.Sprintf("%q is taken", p.LocalStorageClass), "give the local high-performance class its own name, e.g. local-nvme")
	}
	if !grammar.AbsPath.OK(p.LocalStoragePath) {
		add("ceph.localStoragePath", fmt.Sprintf("%q is not an absolute path", p.LocalStoragePath), "use an absolute path on the workers' NVMe, e.g. /var/lib/pm4ml-local")
	}
	return errors.Join(errs...)
}

// Rendered is what the master receives.
type Rendered struct {
	Master  string             // the master the steps run on (Plan.Master)
	Scripts []remotecmd.Script // in Steps order; Scripts[1] (connect) is secret
	// LocalManifest is the local StorageClass (also inside the storageclasses script).
	LocalManifest string
}

// Stdin bundle markers: the connect step reads ceph.conf and the keyring between them.
const (
	confBegin    = "-----BEGIN CEPH CONF-----"
	confEnd      = "-----END CEPH CONF-----"
	keyringBegin = "-----BEGIN CEPH KEYRING-----"
	keyringEnd   = "-----END CEPH KEYRING-----"
)

// Bundle is the connect step's stdin: ceph.conf and the keyring between markers.
func Bundle(conf, keyring string) string {
	nl := func(s string) string {
		if strings.HasSuffix(s, "\n") {
			return s
		}
		return s + "\n"
	}
	return confBegin + "\n" + nl(conf) + confEnd + "\n" + keyringBegin + "\n" + nl(keyring) + keyringEnd + "\n"
}

// sedRange prints the lines strictly between two marker lines.
func sedRange(begin, end string) string { return fmt.Sprintf("/^%s$/,/^%s$/{//!p;}", begin, end) }

type data struct {
	Plan
	StorageClass     string
	Namespace        string
	RookStorageClass string
	ConfSed          string
	KeyringSed       string
	TierAnnotation   string
	LocalTier        string
	LocalProvisioner string
	Manifest         string
	Immutable        string
	ImmutableJQ      string
	CephPatch        string
	NotDefaultPatch  string
}

// Render renders the master's scripts. It contacts nothing and needs no secret.
func Render(p Plan) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	d := data{
		Plan: p, StorageClass: p.storageClass(), Namespace: RookNamespace, RookStorageClass: RookStorageClass,
		ConfSed: sedRange(confBegin, confEnd), KeyringSed: sedRange(keyringBegin, keyringEnd),
		TierAnnotation: TierAnnotation, LocalTier: TierTransactionCritical, LocalProvisioner: LocalProvisioner,
		Immutable:   strings.Join([]string{LocalProvisioner, p.LocalStoragePath, "Retain", "WaitForFirstConsumer"}, "|"),
		ImmutableJQ: `"\(.provisioner)|\(.parameters.pvDir)|\(.reclaimPolicy)|\(.volumeBindingMode)"`,
		CephPatch: fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,"storageclass.kubernetes.io/is-default-class":"false"}}}`,
			TierAnnotation, TierCold),
		NotDefaultPatch: `{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"false"}}}`,
	}
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, "local-storageclass.yaml.tmpl", d); err != nil {
		return Rendered{}, fmt.Errorf("render local StorageClass: %w", err)
	}
	out := Rendered{Master: p.Master, LocalManifest: b.String()}
	d.Manifest = out.LocalManifest
	for _, step := range Steps {
		s, err := remotecmd.Render("storage-"+step, tmpl.Lookup(step+".sh.tmpl"), d)
		if err != nil {
			return Rendered{}, err
		}
		s.Secret = step == "connect"
		out.Scripts = append(out.Scripts, s)
	}
	return out, nil
}

// Component names the package's directory in the render output (<master>/storage/...).
const Component = "storage"

// Files lists the master's files in execution order: the scripts ("10-rook-ceph.sh" ...), then
// the local StorageClass the storageclasses step applies.
func (r Rendered) Files() []remotecmd.File {
	var out []remotecmd.File
	for i, s := range r.Scripts {
		out = append(out, remotecmd.ScriptFiles(r.Master, Component, remotecmd.NumberedName(i, Steps[i]), s)...)
	}
	return append(out, remotecmd.ConfigFile(r.Master, Component, "local-storageclass.yaml", r.LocalManifest, remotecmd.ConfigMode))
}
