// Package waves deploys the platform's Argo CD Applications in waves (guide 6.1): one
// apiextensions.CustomResource Application per app, every app of wave N+1 depending on every app
// of wave N, the apps of one wave in parallel. The Kubernetes provider awaits each Application
// until Argo CD reports it Synced and Healthy for the spec Pulumi just applied (the
// `pulumi.com/waitFor` annotation), so wave N+1 is created only when wave N is up.
//
// # The wait condition
//
// `pulumi.com/waitFor` is a JSON array; the provider requires all of its expressions to hold on
// the same (latest) watched object:
//
//	jsonpath={.status.sync.comparedTo.source.repoURL}=<repoURL>
//	jsonpath={.status.sync.comparedTo.source.path}=<path>
//	jsonpath={.status.sync.comparedTo.source.targetRevision}=<revision>
//	jsonpath={.status.sync.status}=Synced
//	jsonpath={.status.health.status}=Healthy
//
// The three comparedTo expressions guard against a stale status on UPDATE: right after Pulumi
// patches an existing
// Application, the object still carries the previous Synced/Healthy, and a plain
// [Synced, Healthy] passes at once while Argo CD has not even compared the new source. Argo CD
// writes comparedTo in the same status update as sync.status, so requiring comparedTo to equal
// the new source makes the wait about the new spec. Limits: the provider splits an expression
// on '=', so repoURL, path and revision may not contain '=' (New refuses them); and a change
// that leaves the source unchanged (e.g. only the retry settings) is not guarded. Fresh creates
// are unaffected (their status starts empty). `pulumi.com/timeoutSeconds` bounds the wait.
//
// # When a wave fails
//
// The provider's error names the resource but says only that it "failed to fully initialize or
// become live: timed out waiting for the condition"; its last progress line holds the unmet
// condition (e.g. `Waiting for {.status.health.status}=Healthy (found "Degraded")`). Argo CD's own
// reason is in the Application: every Application carries the annotation pm4ml.io/on-failure,
// the exact kubectl command that prints it
//
//	kubectl -n argocd get app NAME -o jsonpath='{.status.operationState.message}{.status.conditions}'
//
// and pm4ml.io/wave names its wave. An end-to-end test (Automation API) should, when `up` fails,
// run that command for every Application that is not Synced+Healthy and print the result next
// to the engine's error; components/verify's checks print the same for the whole platform after
// the last wave.
//
// The program surfaces that reason during `up` itself: with Args.Kubeconfig every wave is also
// watched from the program (watch.go: the loop; assess.go: what a status means; kubeclient.go:
// the API client) while the provider awaits its Applications, and a wave that does not come up
// fails the update with .status.operationState.message, .status.conditions and the unhealthy
// resources, beside the provider's generic error (registered output "watched").
//
// # Deletion
//
// OnDelete "cascade" adds Argo CD's resources-finalizer.argocd.argoproj.io: deleting the
// Application (pulumi destroy) deletes what it deployed, and the provider waits until Argo CD
// removed the finalizer. "protect" marks each Application protected in Pulumi (no finalizer), so
// destroy refuses to proceed until unprotected. "orphan" uses neither: deleting the
// Application leaves its workloads in place. Applications depend on Argo CD's install (through
// Args.DependsOn), so on destroy they are deleted while Argo CD still runs.
package waves

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// Token is the component's type token.
const Token = "pm4ml:waves:Waves"

// Wave is one step of the deployment order: its apps are created together, after every app of
// the previous wave is Synced and Healthy.
type Wave struct {
	Name string
	Apps []App
}

// App is one Argo CD Application.
type App struct {
	Name      string // the Application's name (a DNS label)
	Path      string // its path in the GitOps repository
	Namespace string // where it deploys to (created by Argo CD: CreateNamespace=true)
}

// OnDelete is what deleting an Application does (pm4ml:argocd.onDelete).
type OnDelete string

const (
	Cascade OnDelete = "cascade" // Argo CD's resources finalizer: the app's resources are deleted with it
	Protect OnDelete = "protect" // Pulumi protect: Applications cannot be deleted by Pulumi
	Orphan  OnDelete = "orphan"  // neither: the app's resources stay
)

// Finalizer is Argo CD's cascading-delete finalizer.
const Finalizer = "resources-finalizer.argocd.argoproj.io"

// Retry is Argo CD's automated sync retry (spec.syncPolicy.retry).
type Retry struct {
	Limit       int    // attempts (Argo CD default 5)
	Duration    string // first backoff, e.g. "5s"
	Factor      int    // backoff multiplier, e.g. 2
	MaxDuration string // backoff cap, e.g. "3m"
}

// DefaultRetry is Argo CD's documented default. Its full backoff (5+10+20+40+80 s) is about
// 155 s: a repaired spec may wait that long for a running retry to end, so keep TimeoutSeconds
// well above it.
var DefaultRetry = Retry{Limit: 5, Duration: "5s", Factor: 2, MaxDuration: "3m"}

// Args of the waves.
type Args struct {
	// Provider is the Kubernetes provider of the cluster.
	Provider pulumi.ProviderResource
	// Namespace of Argo CD, where the Applications live (default "argocd").
	Namespace string
	// Project of the Applications (default "default").
	Project string
	// RepoURL and Revision of the GitOps repository (Revision default "HEAD").
	RepoURL  string
	Revision string
	// Waves in order.
	Waves []Wave
	// TimeoutSeconds bounds the wait for each Application (default 1800).
	TimeoutSeconds int
	// OnDelete: Cascade (default), Protect or Orphan.
	OnDelete OnDelete
	// Retry of Argo CD's automated sync (nil: DefaultRetry).
	Retry *Retry
	// DependsOn: what the first wave waits for (argocd.ArgoCD.Ready).
	DependsOn []pulumi.Resource
	// WaveDependsOn: what a wave waits for besides the wave before it, by wave name (the storage
	// wave: the cluster's StorageClasses). A name that is no wave is refused.
	WaveDependsOn map[string][]pulumi.Resource
	// Kubeconfig of the cluster (a secret is fine). When set, each wave is also watched from the
	// program while the provider awaits it (watch.go), and an update whose wave fails carries
	// Argo CD's own reason (operation message, conditions, unhealthy resources) in its error:
	// the provider's await error alone says only "timed out waiting". Previews watch nothing.
	Kubeconfig pulumi.StringInput
	// WatchInterval between two reads of a wave's Applications (default DefaultWatchInterval).
	WatchInterval time.Duration
	// Gate is the result of the pre-deployment checklist (components/checklist): the first wave's
	// Applications carry it as the annotation pm4ml.io/checklist, so none of them is registered
	// before the checklist passed, and none at all when it failed (nil: no gate).
	Gate pulumi.StringInput
}

// DefaultWatchInterval is how often a wave watch reads its Applications.
const DefaultWatchInterval = 3 * time.Second

// WatchMargin is how much earlier than the provider's await (TimeoutSeconds) a wave watch gives
// up, so that its error (with Argo CD's reason) is the one the user sees.
const WatchMargin = 5 * time.Second

// Defaults.
const (
	DefaultNamespace      = "argocd"
	DefaultProject        = "default"
	DefaultRevision       = "HEAD"
	DefaultTimeoutSeconds = 1800
)

// Annotation keys.
const (
	AnnotationWaitFor   = "pulumi.com/waitFor"
	AnnotationTimeout   = "pulumi.com/timeoutSeconds"
	AnnotationWave      = "pm4ml.io/wave"
	AnnotationOnFailure = "pm4ml.io/on-failure"
	AnnotationChecklist = "pm4ml.io/checklist"
	LabelWave           = "pm4ml.io/wave"
)

// Waves is the component.
type Waves struct {
	pulumi.ResourceState

	// Order are the wave names in order; ByWave their Applications (in app order).
	Order  []string
	ByWave map[string][]pulumi.Resource
	// Apps by Application name.
	Apps map[string]*apiextensions.CustomResource
	// Ready are the Applications of the last wave: what comes after the platform depends on them.
	Ready []pulumi.Resource

	// Fingerprint changes whenever any Application's desired state changes (and only then):
	// use it as a trigger of checks that must re-run after a change of the waves.
	Fingerprint pulumi.StringOutput `pulumi:"fingerprint"`
	// Watched lists the waves whose program-side watch passed during this update, in order
	// (registered output "watched"; empty without Args.Kubeconfig). A wave that does not come up
	// fails this output, and with it the update, with Argo CD's reason.
	Watched pulumi.StringArrayOutput `pulumi:"watched"`
	// WaveApps maps each wave to its Application names (registered output "waves").
	WaveApps pulumi.StringArrayMapOutput `pulumi:"waves"`

	waveOfApp map[string]string
}

// After returns the Applications of a wave: resources that must come after that wave depend on
// them. It is nil for an unknown wave name; see AfterApp.
func (w *Waves) After(wave string) []pulumi.Resource { return w.ByWave[wave] }

// AfterApp returns the Applications of the wave that holds app (e.g. "vault" for the MCM client
// secret), nil when no wave holds it. It survives custom wave names.
func (w *Waves) AfterApp(app string) []pulumi.Resource { return w.ByWave[w.waveOfApp[app]] }

// WaveOf names the wave that holds app ("" if none).
func (w *Waves) WaveOf(app string) string { return w.waveOfApp[app] }

func (a *Args) defaults() {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.Project == "" {
		a.Project = DefaultProject
	}
	if a.Revision == "" {
		a.Revision = DefaultRevision
	}
	if a.TimeoutSeconds == 0 {
		a.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if a.OnDelete == "" {
		a.OnDelete = Cascade
	}
	if a.Retry == nil {
		r := DefaultRetry
		a.Retry = &r
	}
}

// Validate checks Args after defaults, naming the stack settings to fix.
func (a *Args) Validate() error {
	var errs []string
	add := func(f string, v ...any) { errs = append(errs, fmt.Sprintf(f, v...)) }
	if !grammar.DNSLabel.OK(a.Namespace) {
		add("namespace %q is not a DNS label (pm4ml:argocd.namespace)", a.Namespace)
	}
	if a.RepoURL == "" {
		add("no repository URL (pm4ml:gitops.repoUrl)")
	}
	for _, f := range []struct{ key, v string }{{"gitops.repoUrl", a.RepoURL}, {"gitops.revision", a.Revision}} {
		if strings.ContainsAny(f.v, "= \t\n") {
			add("pm4ml:%s %q contains '=' or blanks, which the pulumi.com/waitFor condition cannot express", f.key, f.v)
		}
	}
	if a.TimeoutSeconds < 30 {
		add("timeout %d s is too short (pm4ml:argocd.appTimeoutSeconds, at least 30)", a.TimeoutSeconds)
	}
	if !slices.Contains([]OnDelete{Cascade, Protect, Orphan}, a.OnDelete) {
		add("onDelete %q is not cascade, protect or orphan (pm4ml:argocd.onDelete)", a.OnDelete)
	}
	if r := a.Retry; r != nil {
		if r.Limit < 1 || r.Factor < 1 {
			add("retry limit %d / factor %d must be at least 1", r.Limit, r.Factor)
		}
		for _, d := range []string{r.Duration, r.MaxDuration} {
			if _, err := time.ParseDuration(d); err != nil {
				add("retry backoff %q is not a duration (e.g. 5s, 3m)", d)
			}
		}
	}
	if len(a.Waves) == 0 {
		add("no waves (pm4ml:waves)")
	}
	seenW, seenA := map[string]bool{}, map[string]string{}
	for i, w := range a.Waves {
		if !grammar.AppName.OK(w.Name) || seenW[w.Name] {
			add("pm4ml:waves[%d].name %q is not a unique DNS label", i, w.Name)
		}
		seenW[w.Name] = true
		if len(w.Apps) == 0 {
			add("pm4ml:waves[%d] (%s) has no apps", i, w.Name)
		}
		for j, app := range w.Apps {
			k := fmt.Sprintf("pm4ml:waves[%d].apps[%d]", i, j)
			if !grammar.AppName.OK(app.Name) {
				add("%s.name %q is not a DNS label", k, app.Name)
			} else if prev, dup := seenA[app.Name]; dup {
				add("%s.name %q is already in wave %s", k, app.Name, prev)
			}
			seenA[app.Name] = w.Name
			if !grammar.RelPath.OK(app.Path) {
				add("%s.path %q is not a relative path in the repository", k, app.Path)
			}
			if !grammar.DNSLabel.OK(app.Namespace) {
				add("%s.namespace %q is not a DNS label", k, app.Namespace)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("waves: %s", strings.Join(errs, "; "))
	}
	return nil
}

// WaitFor is the pulumi.com/waitFor value of an Application (see the package doc).
func WaitFor(repoURL, path, revision string) string {
	return mustJSON([]string{
		"jsonpath={.status.sync.comparedTo.source.repoURL}=" + repoURL,
		"jsonpath={.status.sync.comparedTo.source.path}=" + path,
		"jsonpath={.status.sync.comparedTo.source.targetRevision}=" + revision,
		"jsonpath={.status.sync.status}=Synced",
		"jsonpath={.status.health.status}=Healthy",
	})
}

// OnFailure is the pm4ml.io/on-failure value: the command that prints Argo CD's reason.
func OnFailure(namespace, app string) string {
	return fmt.Sprintf("kubectl -n %s get app %s -o jsonpath='{.status.operationState.message}{.status.conditions}'", namespace, app)
}

// Application is one rendered Application.
type Application struct {
	Wave   string
	Name   string
	Object map[string]any // apiVersion, kind, metadata, spec
}

// IgnoreClaimTemplates is the jq path of a StatefulSet's volumeClaimTemplates, whose differences
// the Applications do not compare.
const IgnoreClaimTemplates = ".spec.volumeClaimTemplates[]?"

// Applications renders every Application in wave order: what New registers and what the render
// command shows. It applies the defaults and validates.
func Applications(args Args) ([]Application, error) {
	a := args
	a.defaults()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	r := a.Retry
	var out []Application
	for _, w := range a.Waves {
		for _, app := range w.Apps {
			md := map[string]any{
				"name":      app.Name,
				"namespace": a.Namespace,
				"labels": map[string]any{
					LabelWave:                   w.Name,
					"app.kubernetes.io/part-of": "pm4ml",
				},
				"annotations": map[string]any{
					AnnotationWaitFor:   WaitFor(a.RepoURL, app.Path, a.Revision),
					AnnotationTimeout:   strconv.Itoa(a.TimeoutSeconds),
					AnnotationWave:      w.Name,
					AnnotationOnFailure: OnFailure(a.Namespace, app.Name),
				},
			}
			if a.OnDelete == Cascade {
				md["finalizers"] = []any{Finalizer}
			}
			out = append(out, Application{Wave: w.Name, Name: app.Name, Object: map[string]any{
				"apiVersion": "argoproj.io/v1alpha1",
				"kind":       "Application",
				"metadata":   md,
				"spec": map[string]any{
					"project": a.Project,
					"source": map[string]any{
						"repoURL":        a.RepoURL,
						"path":           app.Path,
						"targetRevision": a.Revision,
					},
					"destination": map[string]any{
						"server":    "https://kubernetes.default.svc",
						"namespace": app.Namespace,
					},
					// With ServerSideApply a StatefulSet whose volumeClaimTemplates omit the fields the
					// API server fills in (apiVersion, kind, volumeMode, status) stays OutOfSync for
					// ever (argo-cd#11143), and the wave never passes. The templates cannot change
					// after creation anyway (the API server refuses it), so their differences are
					// not compared; what is created is still exactly what the repository says.
					"ignoreDifferences": []any{map[string]any{
						"group": "apps", "kind": "StatefulSet",
						"jqPathExpressions": []any{IgnoreClaimTemplates},
					}},
					"syncPolicy": map[string]any{
						"automated":   map[string]any{"prune": true, "selfHeal": true},
						"syncOptions": []any{"CreateNamespace=true", "ServerSideApply=true"},
						"retry": map[string]any{
							"limit": r.Limit,
							"backoff": map[string]any{
								"duration":    r.Duration,
								"factor":      r.Factor,
								"maxDuration": r.MaxDuration,
							},
						},
					},
				},
			}})
		}
	}
	return out, nil
}

// Fingerprint hashes the rendered Applications (and the deletion mode): it changes exactly when
// the desired state of the waves changes.
func Fingerprint(args Args) (string, error) {
	apps, err := Applications(args)
	if err != nil {
		return "", err
	}
	a := args
	a.defaults()
	h := sha256.New()
	h.Write([]byte(a.OnDelete))
	for _, app := range apps {
		h.Write([]byte("\x00" + app.Wave + "\x00"))
		h.Write([]byte(mustJSON(app.Object)))
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// RenderYAML renders the Applications as one multi-document YAML, in wave order, for review.
func RenderYAML(args Args) (string, error) {
	apps, err := Applications(args)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for i, app := range apps {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "# wave %s\n", app.Wave)
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(app.Object); err != nil {
			return "", err
		}
		if err := enc.Close(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// New registers the Applications, wave after wave.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Waves, error) {
	if args.Provider == nil {
		return nil, fmt.Errorf("waves: no Kubernetes provider")
	}
	apps, err := Applications(*args)
	if err != nil {
		return nil, err
	}
	fp, err := Fingerprint(*args)
	if err != nil {
		return nil, err
	}
	a := *args
	a.defaults()
	if err := remotecmd.CustomOnly("waves: Args.DependsOn", a.DependsOn); err != nil {
		return nil, err
	}
	for wn, rs := range a.WaveDependsOn {
		if !slices.ContainsFunc(a.Waves, func(w Wave) bool { return w.Name == wn }) {
			return nil, fmt.Errorf("waves: Args.WaveDependsOn names %q, which is no wave", wn)
		}
		if err := remotecmd.CustomOnly("waves: Args.WaveDependsOn["+wn+"]", rs); err != nil {
			return nil, err
		}
	}

	c := &Waves{ByWave: map[string][]pulumi.Resource{}, Apps: map[string]*apiextensions.CustomResource{}, waveOfApp: map[string]string{}}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	prev := a.DependsOn
	waveApps := pulumi.StringArrayMap{}
	watched := pulumi.StringArray{}
	i := 0
	for wi, w := range a.Waves {
		deps := append(slices.Clone(prev), a.WaveDependsOn[w.Name]...)
		var cur []pulumi.Resource
		names := pulumi.StringArray{}
		for range w.Apps {
			app := apps[i]
			i++
			o := []pulumi.ResourceOption{
				pulumi.Parent(c), pulumi.Provider(a.Provider),
				pulumi.DependsOn(deps),
				// the Kubernetes name is fixed: a replacement must delete first
				pulumi.DeleteBeforeReplace(true),
			}
			if a.OnDelete == Protect {
				o = append(o, pulumi.Protect(true))
			}
			var gate pulumi.StringInput
			if wi == 0 {
				gate = a.Gate
			}
			cr, err := newApplication(ctx, name+"-"+app.Name, app.Object, gate, o...)
			if err != nil {
				return nil, err
			}
			c.Apps[app.Name] = cr
			c.waveOfApp[app.Name] = w.Name
			cur = append(cur, cr)
			names = append(names, pulumi.String(app.Name))
		}
		c.Order = append(c.Order, w.Name)
		c.ByWave[w.Name] = cur
		waveApps[w.Name] = names
		if a.Kubeconfig != nil {
			// done closes when the engine is finished with this wave: every Application's await
			// passed (its ID resolves only then).
			done := make(chan struct{})
			ids := make([]any, len(cur))
			for j, r := range cur {
				ids[j] = r.(pulumi.CustomResource).ID()
			}
			pulumi.All(ids...).ApplyT(func([]any) int { close(done); return 0 })
			var gate pulumi.StringInput
			if wi == 0 {
				gate = a.Gate
			}
			watched = append(watched, c.watch(ctx, &a, w, deps, gate, done))
		}
		prev = cur
	}
	c.Ready = prev
	c.Fingerprint = pulumi.String(fp).ToStringOutput()
	c.WaveApps = waveApps.ToStringArrayMapOutput()
	c.Watched = watched.ToStringArrayOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"fingerprint": c.Fingerprint,
		"watched":     c.Watched,
		"waves":       c.WaveApps,
		"order":       pulumi.ToStringArray(c.Order),
		"namespace":   pulumi.String(a.Namespace),
		"repoUrl":     pulumi.String(a.RepoURL),
		"revision":    pulumi.String(a.Revision),
		"onDelete":    pulumi.String(string(a.OnDelete)),
	})
}

// watch registers the program-side watch of wave w: it starts when what the wave depends on is
// done (the previous wave's Applications have passed their awaits: when one failed its ID stays
// unknown and this wave is neither created nor watched) and reads the wave's Applications until
// they are ready, the engine is done with them, or the deadline passes with Argo CD's reason.
// gate (the first wave's: the checklist's result) is waited for too: a failed checklist
// registers no Application, so there is nothing to watch and the update fails at once.
func (c *Waves) watch(ctx *pulumi.Context, a *Args, w Wave, after []pulumi.Resource, gate pulumi.StringInput, done <-chan struct{}) pulumi.StringOutput {
	inputs := []any{a.Kubeconfig}
	if gate != nil {
		inputs = append(inputs, gate)
	}
	for _, r := range after {
		if cr, ok := r.(pulumi.CustomResource); ok {
			inputs = append(inputs, cr.ID())
		} else {
			inputs = append(inputs, r.URN())
		}
	}
	var apps []WatchedApp
	for _, app := range w.Apps {
		apps = append(apps, WatchedApp{Name: app.Name, Want: Source{RepoURL: a.RepoURL, Path: app.Path, Revision: a.Revision}})
	}
	interval := a.WatchInterval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	timeout := max(time.Duration(a.TimeoutSeconds)*time.Second-WatchMargin, interval)
	ns := a.Namespace
	out := pulumi.All(inputs...).ApplyTWithContext(ctx.Context(), func(gctx context.Context, vs []any) (string, error) {
		if ctx.DryRun() {
			return w.Name, nil
		}
		kc, _ := vs[0].(string)
		cl, err := NewKubeClient(kc)
		if err != nil {
			return "", fmt.Errorf("waves: watch of wave %s: %w (Args.Kubeconfig)", w.Name, err)
		}
		wt := &Watcher{Client: cl, Namespace: ns, Interval: interval, Done: done, Warn: func(app, reason string) {
			_ = ctx.Log.Warn(fmt.Sprintf("wave %s: Application %s: %s", w.Name, app, reason), &pulumi.LogArgs{Resource: c})
		}}
		if err := wt.Watch(gctx, w.Name, apps, timeout); err != nil {
			_ = ctx.Log.Error(err.Error(), &pulumi.LogArgs{Resource: c})
			return "", err
		}
		return w.Name, nil
	}).(pulumi.StringOutput)
	return pulumi.Unsecret(out).(pulumi.StringOutput)
}

// newApplication registers one rendered Application as a CustomResource.
func newApplication(ctx *pulumi.Context, name string, obj map[string]any, gate pulumi.StringInput, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	md := obj["metadata"].(map[string]any)
	ann, labels := pulumi.StringMap{}, pulumi.StringMap{}
	for k, v := range md["annotations"].(map[string]any) {
		ann[k] = pulumi.String(v.(string))
	}
	if gate != nil {
		ann[AnnotationChecklist] = gate
	}
	for k, v := range md["labels"].(map[string]any) {
		labels[k] = pulumi.String(v.(string))
	}
	meta := &metav1.ObjectMetaArgs{
		Name:        pulumi.String(md["name"].(string)),
		Namespace:   pulumi.String(md["namespace"].(string)),
		Labels:      labels,
		Annotations: ann,
	}
	if f, ok := md["finalizers"].([]any); ok {
		fs := pulumi.StringArray{}
		for _, x := range f {
			fs = append(fs, pulumi.String(x.(string)))
		}
		meta.Finalizers = fs
	}
	return apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(obj["apiVersion"].(string)),
		Kind:        pulumi.String(obj["kind"].(string)),
		Metadata:    meta,
		OtherFields: kubernetes.UntypedArgs{"spec": obj["spec"]},
	}, opts...)
}

func mustJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain maps, slices and strings are encoded
	}
	return strings.TrimSuffix(b.String(), "\n")
}
