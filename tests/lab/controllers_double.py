#!/usr/bin/env python3
"""pm4ml LAB stand-in for two controllers a real PM4ML cluster runs and the lab's kwok cluster
does not (never on a real cluster), so that the realistic GitOps repository
(tests/e2e/make-gitops.sh --realistic) becomes Synced and Healthy in Argo CD:

  cert-manager  every Certificate, ClusterIssuer and Issuer without a Ready=True condition gets
                one (reason LabStandIn). Nothing is issued: no key, no certificate, no Secret.
  provisioner   every Pending PersistentVolumeClaim of a StorageClass that exists gets a
                PersistentVolume pre-bound to it (hostPath under /var/lib/pm4ml-lab-pv, Retain,
                label pm4ml-lab/stand-in=provisioner), as MicroK8s' hostpath provisioner or Ceph
                CSI would provision one; the PV controller and the scheduler bind it. Nothing is
                written on a host (kwok's pods mount nothing).

It talks only to the lab's apiserver, with kubectl and the lab's kubeconfig, inside the lab's
network namespace: tests/lab/stack-up.sh starts it there and records its PID, stack-down.sh stops
it by that PID. One line per object it changes.

Usage: controllers_double.py KUBECONFIG [--once]
"""
import datetime
import json
import subprocess
import sys
import time

CERT_MANAGER = ["certificates.cert-manager.io", "clusterissuers.cert-manager.io", "issuers.cert-manager.io"]


def kubectl(kubeconfig, *args, stdin=None):
    """kubectl's stdout, or None when it fails (a kind whose CRD is not there yet, a timeout)."""
    p = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--request-timeout=10s", *args],
                       input=stdin, capture_output=True, text=True, check=False)
    return p.stdout if p.returncode == 0 else None


def items(kubeconfig, resource):
    out = kubectl(kubeconfig, "get", resource, "-A", "-o", "json")
    return json.loads(out)["items"] if out else []


def ready(obj):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def mark_ready(kubeconfig, resource):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = json.dumps({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "LabStandIn", "lastTransitionTime": now,
        "message": "LAB stand-in for cert-manager: marked Ready, nothing issued"}]}})
    for obj in items(kubeconfig, resource):
        if ready(obj):
            continue
        md = obj["metadata"]
        ns = ["-n", md["namespace"]] if md.get("namespace") else []
        if kubectl(kubeconfig, *ns, "patch", resource, md["name"], "--subresource=status",
                   "--type=merge", "-p", patch) is not None:
            print(f"cert-manager stand-in: {resource} {md.get('namespace', '-')}/{md['name']} Ready", flush=True)


def persistent_volume(pvc):
    md, spec = pvc["metadata"], pvc["spec"]
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "lab-pv-" + md["uid"], "labels": {"pm4ml-lab/stand-in": "provisioner"}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": spec["storageClassName"],
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]},
            "hostPath": {"path": "/var/lib/pm4ml-lab-pv/" + md["uid"]},
        },
    }


def provision(kubeconfig):
    classes = {sc["metadata"]["name"] for sc in items(kubeconfig, "storageclasses")}
    for pvc in items(kubeconfig, "persistentvolumeclaims"):
        spec = pvc["spec"]
        if (pvc.get("status") or {}).get("phase") != "Pending" or spec.get("volumeName"):
            continue
        if spec.get("storageClassName") not in classes:
            continue
        if kubectl(kubeconfig, "create", "-f", "-", stdin=json.dumps(persistent_volume(pvc))) is not None:
            md = pvc["metadata"]
            print(f"provisioner stand-in: PersistentVolume for {md['namespace']}/{md['name']} "
                  f"({spec['storageClassName']}, {spec['resources']['requests']['storage']})", flush=True)


def main():
    if len(sys.argv) < 2 or sys.argv[2:] not in ([], ["--once"]):
        sys.exit("usage: controllers_double.py KUBECONFIG [--once]")
    kubeconfig = sys.argv[1]
    while True:
        for resource in CERT_MANAGER:
            mark_ready(kubeconfig, resource)
        provision(kubeconfig)
        if sys.argv[2:] == ["--once"]:
            return
        time.sleep(2)


if __name__ == "__main__":
    main()
