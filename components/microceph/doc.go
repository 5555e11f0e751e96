// Package microceph builds the cold-storage Ceph cluster of the guide (1.4, 4.1 "Cold Data Storage
// Cluster", playbook 4.ceph) with MicroCeph on the storage hosts: the snap on every host, a
// bootstrap on the first, serial joins of the others, OSDs on the configured data disks, the RBD
// pool for Kubernetes, and the client configuration (ceph.conf + keyring, secret) that the storage
// component hands to MicroK8s. CONTRACT.md lists every command the scripts run.
//
// # Steps
//
// Per storage host H (resource names <name>-H-...): install (snap, channel pinned, refreshes
// held; the installs run one host at a time) -> member (the first host bootstraps, every other
// host joins, one at a time) -> disks (each configured disk not yet an OSD is wiped and added).
// For every host but the first, an add step on the first host issues H's join token (secret
// stdout, one line PM4ML_JOIN_TOKEN=...) that H's member step reads on stdin. Then, on the first
// host: pool (create, size, min_size, rbd) -> export (ceph.conf and the client.admin keyring,
// secret stdout, split into the CephConf and Keyring outputs). Every script is idempotent: a
// second run changes nothing and says so.
//
// # Lifecycle and limits
//
//   - Adding a storage host: append it to pm4ml:hosts. It installs, gets a token from the first
//     storage host, joins, and adds its disks; no other step changes.
//   - Removing a storage host other than the first: Pulumi deletes its steps only. Its disks step
//     removes its OSDs one by one (`microceph disk remove`, with MicroCeph's safety checks: it waits
//     until the data has a copy elsewhere, 30 minutes at most per OSD; run pulumi up again while
//     data is still moving), then its member step leaves (`microceph cluster remove`, run on the
//     host itself). It fails, and changes nothing further, when the remaining hosts cannot hold
//     pm4ml:ceph.replicationSize replicas (prod: 3 hosts with 3 replicas): add a host or lower the
//     replication first. The host must be reachable; for a dead host run
//     `microceph cluster remove --force <name>` on a member and `pulumi state delete` its steps.
//   - Removing the first storage host works the same way; the next one takes over the token,
//     pool and export steps (its member step becomes the bootstrap script, a no-op on a member:
//     the member step keeps one name whichever script it runs, so it is never deleted, which would
//     make the host leave). MicroCeph does not move a monitor by itself: check `microceph status`
//     and enable one elsewhere if fewer than three remain.
//   - Never insert a new storage host before the first one: it would bootstrap a cluster of its
//     own; the other hosts' join steps detect it and fail rather than split silently.
//   - A disk removed from cephDisks stays an OSD (the disks step reports it); remove it with
//     `microceph disk remove <id>`. Disks are never wiped while mounted.
//   - A channel change refreshes the hosts one at a time, each waiting for the monitors.
//   - A failed join whose token was used or has expired needs a new token: replace the host's
//     add step (`pulumi up --replace <urn>`); the join step says so.
//   - pulumi destroy does not wipe Ceph: the last member keeps its OSDs and stays bootstrapped,
//     and OSD removal stops at the safety checks above.
//   - The Monitors output comes from the cluster's own mon_host. The storage component imports
//     the cluster into Rook once (its connect step is guarded by the existing connection), so a
//     later monitor change is not pushed to Rook by this program: when the monitors Rook was
//     given are gone, update Rook's rook-ceph-mon-endpoints ConfigMap, or delete the CephCluster
//     in rook-ceph-external and replace the storage connect step (pulumi up --replace <urn>)
//     so that it imports again.
package microceph
