package hosts

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a host does in the deployment (guide 1.1, 4.1, 4.2).
type Role string

const (
	RoleMaster  Role = "master"
	RoleWorker  Role = "worker"
	RoleHAProxy Role = "haproxy"
	RoleStorage Role = "storage"
	RoleBastion Role = "bastion"
)

// AllRoles in the guide's order. Every role-keyed table in the program iterates this list so that
// rendered output is deterministic.
var AllRoles = []Role{RoleMaster, RoleWorker, RoleHAProxy, RoleStorage, RoleBastion}

// Valid reports whether r is one of AllRoles.
func (r Role) Valid() bool { return slices.Contains(AllRoles, r) }

// Roles is a host's role list, kept sorted in AllRoles order and without duplicates.
type Roles []Role

// NewRoles normalises a role list (order of AllRoles, duplicates dropped).
func NewRoles(rs ...Role) Roles {
	out := Roles{}
	for _, r := range AllRoles {
		if slices.Contains(rs, r) {
			out = append(out, r)
		}
	}
	return out
}

// Has reports whether the set contains r.
func (rs Roles) Has(r Role) bool { return slices.Contains(rs, r) }

// Any reports whether the set contains any of want.
func (rs Roles) Any(want ...Role) bool {
	for _, r := range want {
		if rs.Has(r) {
			return true
		}
	}
	return false
}

// IsKubernetesNode is true for hosts that run MicroK8s (masters and workers).
func (rs Roles) IsKubernetesNode() bool { return rs.Any(RoleMaster, RoleWorker) }

func (rs Roles) String() string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, "+")
}

// Environment is the stack's environment class (guide 4.1 prod, 4.2 stg).
type Environment string

const (
	Prod Environment = "prod"
	Stg  Environment = "stg"
)

// Sizing is the minimum a host of a role must have (guide 4.1 / 4.2). Preflight checks a host
// against it; Proxmox VMs are created with it.
type Sizing struct {
	CPUs     int `json:"cpus"`
	MemoryGB int `json:"memoryGb"`
	// OSDiskGB is the system disk (the first disk); DataDisksGB are the further disks (NVMe for
	// Kubernetes nodes, the Ceph OSD disks for storage nodes).
	OSDiskGB    int   `json:"osDiskGb"`
	DataDisksGB []int `json:"dataDisksGb,omitempty"`
}

// GuideSizing is the guide's sizing table, per environment and role.
//
// prod (4.1): masters 8 CPU / 32 GB / 2 x 300 GB NVMe; workers 16 / 64 / 2 x 500 GB NVMe; HAProxy
// 4 / 16 / 100 GB SSD; storage (VM alternative) 16 vCPU / 64 GB / OS 200 GB + data block storage;
// bastion 2 / 8 / 50 GB.
// stg (4.2): master+worker 8 CPU / 16-32 GB / 500 GB SSD; HAProxy 2 / 4 / 100 GB; storage 8 / 32 /
// OS 200 GB + 2 x 2 TB HDD. Ranges use their lower bound (the minimum).
var GuideSizing = map[Environment]map[Role]Sizing{
	Prod: {
		RoleMaster:  {CPUs: 8, MemoryGB: 32, OSDiskGB: 300, DataDisksGB: []int{300}},
		RoleWorker:  {CPUs: 16, MemoryGB: 64, OSDiskGB: 500, DataDisksGB: []int{500}},
		RoleHAProxy: {CPUs: 4, MemoryGB: 16, OSDiskGB: 100},
		RoleStorage: {CPUs: 16, MemoryGB: 64, OSDiskGB: 200, DataDisksGB: []int{8000, 8000, 8000}},
		RoleBastion: {CPUs: 2, MemoryGB: 8, OSDiskGB: 50},
	},
	Stg: {
		RoleMaster:  {CPUs: 8, MemoryGB: 16, OSDiskGB: 500},
		RoleWorker:  {CPUs: 8, MemoryGB: 16, OSDiskGB: 500},
		RoleHAProxy: {CPUs: 2, MemoryGB: 4, OSDiskGB: 100},
		RoleStorage: {CPUs: 8, MemoryGB: 32, OSDiskGB: 200, DataDisksGB: []int{2000, 2000}},
		RoleBastion: {CPUs: 2, MemoryGB: 8, OSDiskGB: 50},
	},
}

// SizingFor is the element-wise maximum over the host's roles: a combined master+worker must
// satisfy both.
func SizingFor(env Environment, rs Roles) (Sizing, error) {
	table, ok := GuideSizing[env]
	if !ok {
		return Sizing{}, fmt.Errorf("no sizing for environment %q", env)
	}
	var out Sizing
	for _, r := range rs {
		s := table[r]
		out.CPUs = max(out.CPUs, s.CPUs)
		out.MemoryGB = max(out.MemoryGB, s.MemoryGB)
		out.OSDiskGB = max(out.OSDiskGB, s.OSDiskGB)
		for i, gb := range s.DataDisksGB {
			if i < len(out.DataDisksGB) {
				out.DataDisksGB[i] = max(out.DataDisksGB[i], gb)
			} else {
				out.DataDisksGB = append(out.DataDisksGB, gb)
			}
		}
	}
	return out, nil
}
