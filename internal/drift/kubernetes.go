package drift

import (
	"strings"
	"text/template"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

const kubernetesComponent = "kubernetes"

// The Kubernetes side the program owns, read from the first master with `microk8s kubectl`
// (check mode only, nothing to apply): every configured node registered and Ready, the storage
// classes present (local one the only default), every Argo CD Application of the waves present,
// Synced and Healthy. Node labels and taints are the finalize step's, the classes' content the
// storageclasses step's: their checks report those.
var kubeTmpl = template.Must(template.New("kubernetes").Funcs(remotecmd.Funcs).Parse(`# Kubernetes side of the stack, read on {{.First}} (pm4ml drift; read-only).
kc() { microk8s kubectl "$@"; }
checking || die "this step only checks (run it with the word check)"
nodes=$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>&1) ||
  unmet_stop "the Kubernetes API on {{.First}} did not answer: ${nodes##*$'\n'}"
for n in {{range .Nodes}}{{quote .}} {{end}}; do
  ready=$(awk -v n="$n" '$1 == n {print $2}' <<<"$nodes")
  case $ready in
    True) say "k8s: node $n Ready" ;;
    "") changed "node $n is not in the cluster" ;;
    *) changed "node $n is not Ready ($ready)" ;;
  esac
done
classes=$(kc get storageclass -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}{"\n"}{end}')
for sc in {{range .Classes}}{{quote .}} {{end}}; do
  if awk -v n="$sc" '$1 == n {f = 1} END {exit !f}' <<<"$classes"; then say "k8s: storageclass $sc"; else changed "storageclass $sc is missing"; fi
done
{{- if .Apps}}
if kc get crd applications.argoproj.io >/dev/null 2>&1; then
  apps=$(kc -n {{quote .Namespace}} get applications.argoproj.io -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.sync.status}{" "}{.status.health.status}{"\n"}{end}')
else
  apps=
  changed "Argo CD is not installed (no Application CRD)"
fi
for app in {{range .Apps}}{{quote .}} {{end}}; do
  line=$(awk -v n="$app" '$1 == n' <<<"$apps")
  read -r _ sync health <<<"$line" || true
  if [ -z "$line" ]; then
    changed "application $app is missing"
  elif [ "$sync" = Synced ] && [ "$health" = Healthy ]; then
    say "k8s: application $app Synced Healthy"
  else
    changed "application $app is ${sync:-unknown}/${health:-unknown}, not Synced/Healthy"
  fi
done
{{- end}}
`))

// kubernetesStep renders the check of the Kubernetes side as a step of the first master.
func kubernetesStep(c *stacks.Config, first string) (stacks.Step, error) {
	data := struct {
		First, Namespace     string
		Nodes, Classes, Apps []string
	}{First: first, Namespace: c.ArgoCD.Namespace}
	if data.Namespace == "" {
		data.Namespace = "argocd"
	}
	addr := ""
	for _, h := range c.Hosts {
		if h.Name == first {
			addr = h.Address
		}
	}
	for _, n := range c.MicroK8sPlan().Nodes {
		data.Nodes = append(data.Nodes, n.Name)
	}
	sp := c.StoragePlan()
	for _, s := range []string{sp.LocalStorageClass, sp.StorageClass} {
		if s != "" {
			data.Classes = append(data.Classes, s)
		}
	}
	for _, w := range c.Waves {
		for _, a := range w.Apps {
			data.Apps = append(data.Apps, a.Name)
		}
	}
	var b strings.Builder
	if err := kubeTmpl.Execute(&b, data); err != nil {
		return stacks.Step{}, err
	}
	s := remotecmd.Script{Step: "kubernetes", Body: remotecmd.Wrap("kubernetes", b.String())}
	return stacks.Step{Host: first, Address: addr, Component: kubernetesComponent, Script: s}, nil
}
