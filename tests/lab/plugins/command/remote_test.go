package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const remoteType = "command:remote:Command"

// remoteFixture is a test sshd, its client key and a harness.
type remoteFixture struct {
	h   *harness
	srv *testSSHD
	key string
}

func newRemoteFixture(t *testing.T) *remoteFixture {
	signer, key := newKey(t)
	return &remoteFixture{h: newHarness(t), srv: startSSHD(t, signer.PublicKey(), ""), key: key}
}

func (f *remoteFixture) inputs(extra resource.PropertyMap) resource.PropertyMap {
	m := resource.PropertyMap{"connection": conn(f.srv, f.key, nil)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// up checks and creates u.
func (f *remoteFixture) up(u resource.URN, news resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap) {
	f.h.t.Helper()
	ins := f.h.check(u, nil, news)
	id, state, err := f.h.create(u, ins, false)
	if err != nil {
		f.h.t.Fatalf("Create: %v", err)
	}
	return id, ins, state
}

func TestCreateRunsCommandAndReturnsOutputs(t *testing.T) {
	f := newRemoteFixture(t)
	u := urn(remoteType, "create")
	ins := f.h.check(u, nil, f.inputs(resource.PropertyMap{
		"create":      str(`echo "out $GREETING"; echo err >&2; printf 'last\n\n'`),
		"environment": resource.NewProperty(resource.PropertyMap{"GREETING": str("hello")}),
	}))

	// Preview: nothing runs, stdout/stderr are unknown.
	_, prev, err := f.h.create(u, ins, true)
	if err != nil {
		t.Fatalf("preview Create: %v", err)
	}
	if n := len(f.srv.Execs()); n != 0 {
		t.Fatalf("preview ran %d commands", n)
	}
	if !prev["stdout"].IsComputed() || !prev["stderr"].IsComputed() {
		t.Fatalf("preview stdout/stderr should be unknown: %v", prev)
	}

	id, state, err := f.h.create(u, ins, false)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !strings.HasPrefix(id, "create") {
		t.Errorf("id %q should start with the resource name", id)
	}
	if got, want := plain(state, "stdout"), "out hello\nlast\n"; got != want {
		t.Errorf("stdout = %q, want %q (only the final newline trimmed)", got, want)
	}
	if got := plain(state, "stderr"); got != "err" {
		t.Errorf("stderr = %q, want %q", got, "err")
	}
	execs := f.srv.Execs()
	if len(execs) != 1 || execs[0].User != "lab" || execs[0].Env["GREETING"] != "hello" {
		t.Fatalf("server saw %+v", execs)
	}
	if _, ok := execs[0].Env[envPreviousStdout]; ok {
		t.Errorf("create must not set %s (no previous output)", envPreviousStdout)
	}
	if plain(state, "create") != plain(ins, "create") || !state["connection"].ContainsSecrets() {
		t.Errorf("state must echo the inputs with a secret connection: %v", state)
	}
	logs := f.h.logged(u)
	if !strings.Contains(logs, "out hello") || !strings.Contains(logs, "err") {
		t.Errorf("default logging (stdoutAndStderr) should log both streams, got %q", logs)
	}
	for _, l := range f.h.engine.Logs(u) {
		if !l.GetEphemeral() {
			t.Errorf("command output is logged as status (ephemeral) messages, got %v", l)
		}
	}
}

func TestCheckAppliesConnectionDefaultsAndSecrets(t *testing.T) {
	h := newHarness(t)
	u := urn(remoteType, "defaults")
	ins := h.check(u, nil, resource.PropertyMap{
		"connection": resource.NewProperty(resource.PropertyMap{
			"host":  str("127.0.0.1"),
			"proxy": resource.NewProperty(resource.PropertyMap{"host": str("127.0.0.2")}),
		}),
		"create": str("true"),
	})
	c := ins["connection"]
	if !c.IsSecret() {
		t.Fatalf("connection must be secret after Check: %v", c)
	}
	obj := c.SecretValue().Element.ObjectValue()
	for _, m := range []resource.PropertyMap{obj, obj["proxy"].ObjectValue()} {
		if m["port"].NumberValue() != 22 || m["user"].StringValue() != "root" ||
			m["dialErrorLimit"].NumberValue() != 10 || m["perDialTimeout"].NumberValue() != 15 {
			t.Errorf("defaults port 22, user root, dialErrorLimit 10, perDialTimeout 15 missing: %v", m)
		}
	}
	// Like pulumi-command (pulumi-go-provider infer), an unknown logging value is not refused by
	// Check; it logs nothing.
	if _, fails := h.checkFailures(u, nil, resource.PropertyMap{
		"connection": resource.NewProperty(resource.PropertyMap{"host": str("127.0.0.1")}),
		"logging":    str("everything"),
	}); len(fails) != 0 {
		t.Errorf("unexpected check failures %v", fails)
	}
	if out, errs := logMode(ptr(RemoteLogging("everything"))); out || errs {
		t.Errorf("an unknown logging value must log nothing")
	}
}

func TestStdinReachesCommandAndStaysSecret(t *testing.T) {
	f := newRemoteFixture(t)
	u := urn(remoteType, "stdin")
	secret := "s3cr3t 'quoted' $HOME\nline2"
	_, _, state := f.up(u, f.inputs(resource.PropertyMap{
		"create":  str("cat; echo; echo done"),
		"stdin":   resource.MakeSecret(str(secret)),
		"logging": str("none"),
	}))
	if got := plain(state, "stdout"); got != secret+"\ndone" {
		t.Errorf("stdout = %q, want the stdin back", got)
	}
	if !state["stdin"].IsSecret() {
		t.Errorf("secret stdin must stay secret in the returned state: %v", state["stdin"])
	}
	if state["stdout"].IsSecret() {
		t.Errorf("stdout depends on create/update only (as in pulumi-command): not secret here")
	}
	if l := f.h.engine.Logs(u); len(l) != 0 {
		t.Errorf("logging none: the provider must log nothing, got %v", l)
	}

	// A secret create makes stdout and stderr secret too.
	u2 := urn(remoteType, "secret-create")
	_, _, state2 := f.up(u2, f.inputs(resource.PropertyMap{"create": resource.MakeSecret(str("echo x"))}))
	if !state2["stdout"].IsSecret() || !state2["stderr"].IsSecret() {
		t.Errorf("stdout/stderr of a secret create must be secret: %v", state2)
	}
}

func TestLoggingModes(t *testing.T) {
	f := newRemoteFixture(t)
	cmd := str("echo to-out; echo to-err >&2")
	for mode, want := range map[string][2]bool{
		"stdout": {true, false}, "stderr": {false, true}, "stdoutAndStderr": {true, true}, "none": {false, false},
	} {
		u := urn(remoteType, "log-"+mode)
		_, _, state := f.up(u, f.inputs(resource.PropertyMap{"create": cmd, "logging": str(mode)}))
		if plain(state, "stdout") != "to-out" || plain(state, "stderr") != "to-err" {
			t.Errorf("%s: logging must not affect the outputs: %v", mode, state)
		}
		logs := f.h.logged(u)
		if strings.Contains(logs, "to-out") != want[0] || strings.Contains(logs, "to-err") != want[1] {
			t.Errorf("logging %s: logged %q, want stdout %v stderr %v", mode, logs, want[0], want[1])
		}
	}
}

func TestDiffTriggersReplaceOtherChangesUpdate(t *testing.T) {
	f := newRemoteFixture(t)
	u := urn(remoteType, "diff")
	base := resource.PropertyMap{
		"create":   str("echo v1"),
		"triggers": resource.NewProperty([]resource.PropertyValue{str("a"), resource.NewProperty(1.0)}),
	}
	id, ins, state := f.up(u, f.inputs(base))

	same := f.h.check(u, ins, f.inputs(base))
	if d := f.h.diff(u, id, state, ins, same); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("unchanged inputs: %v", d)
	}

	// A changed trigger element: the provider reports it at triggers[0] (as pulumi-command on
	// pulumi-go-provider does) and the engine replaces, because the SDK registers every command
	// with replaceOnChanges triggers[*] (TestEndToEndWithPulumiCLI checks the replacement).
	changedTrigger := f.h.check(u, ins, f.inputs(resource.PropertyMap{
		"create":   str("echo v1"),
		"triggers": resource.NewProperty([]resource.PropertyValue{str("b"), resource.NewProperty(1.0)}),
	}))
	d := f.h.diff(u, id, state, ins, changedTrigger)
	if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || d.GetDetailedDiff()["triggers[0]"] == nil {
		t.Errorf("changed trigger must show in the detailed diff at triggers[0]: %v", d)
	}
	// Triggers added where there were none: the provider itself says replace.
	noTriggers := base.Copy()
	delete(noTriggers, "triggers")
	id0, ins0, state0 := f.up(urn(remoteType, "diff-notriggers"), f.inputs(noTriggers))
	d = f.h.diff(u, id0, state0, ins0, changedTrigger)
	if len(d.GetReplaces()) != 1 || d.GetReplaces()[0] != "triggers" ||
		d.GetDetailedDiff()["triggers"].GetKind() != pulumirpc.PropertyDiff_ADD_REPLACE {
		t.Errorf("added triggers must replace: %v", d)
	}

	for name, change := range map[string]resource.PropertyMap{
		"create":      {"create": str("echo v2")},
		"update":      {"update": str("echo up")},
		"delete":      {"delete": str("echo bye")},
		"stdin":       {"stdin": str("in")},
		"environment": {"environment": resource.NewProperty(resource.PropertyMap{"A": str("1")})},
		"logging":     {"logging": str("none")},
	} {
		news := base.Copy()
		for k, v := range change {
			news[k] = v
		}
		d := f.h.diff(u, id, state, ins, f.h.check(u, ins, f.inputs(news)))
		if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 {
			t.Errorf("%s change must be an in-place update: %v", name, d)
		}
		if _, ok := d.GetDetailedDiff()[name]; !ok {
			t.Errorf("%s change missing from detailed diff: %v", name, d.GetDetailedDiff())
		}
	}
}

func TestUpdateRunsUpdateElseCreateWithPreviousOutput(t *testing.T) {
	f := newRemoteFixture(t)
	u := urn(remoteType, "update")
	id, ins, state := f.up(u, f.inputs(resource.PropertyMap{"create": str("echo first")}))

	// No update command: create runs again, with the previous stdout in the environment.
	news := f.h.check(u, ins, f.inputs(resource.PropertyMap{"create": str(`echo "second after $PULUMI_COMMAND_STDOUT"`)}))
	prev, err := f.h.update(u, id, state, ins, news, true)
	if err != nil {
		t.Fatal(err)
	}
	if !prev["stdout"].IsComputed() || len(f.srv.Execs()) != 1 {
		t.Errorf("preview update must not run and must show stdout unknown: %v", prev)
	}
	state2, err := f.h.update(u, id, state, ins, news, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := plain(state2, "stdout"); got != "second after first" {
		t.Errorf("stdout = %q", got)
	}

	// With update set, update runs (not create); addPreviousOutputInEnv false hides the output.
	news3 := f.h.check(u, news, f.inputs(resource.PropertyMap{
		"create": str("echo never"), "update": str(`echo "upd [$PULUMI_COMMAND_STDOUT]"`),
		"addPreviousOutputInEnv": resource.NewProperty(false),
	}))
	state3, err := f.h.update(u, id, state2, news, news3, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := plain(state3, "stdout"); got != "upd []" {
		t.Errorf("stdout = %q, want update to run without PULUMI_COMMAND_STDOUT", got)
	}
	for _, e := range f.srv.Execs() {
		if e.Command == "echo never" {
			t.Errorf("create ran although update is set")
		}
	}
}

func TestDeleteRunsOldDeleteCommand(t *testing.T) {
	f := newRemoteFixture(t)
	u := urn(remoteType, "delete")
	id, ins, state := f.up(u, f.inputs(resource.PropertyMap{
		"create": str("echo created"),
		"delete": str(`echo "deleting $PULUMI_COMMAND_STDOUT" >&2`),
	}))
	if err := f.h.delete(u, id, state, ins); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	execs := f.srv.Execs()
	last := execs[len(execs)-1]
	if last.Command != `echo "deleting $PULUMI_COMMAND_STDOUT" >&2` || last.Env[envPreviousStdout] != "created" {
		t.Errorf("delete must run the old delete command with the old stdout: %+v", last)
	}

	// No delete command: nothing runs.
	u2 := urn(remoteType, "nodelete")
	id2, ins2, state2 := f.up(u2, f.inputs(resource.PropertyMap{"create": str("true")}))
	before := len(f.srv.Execs())
	if err := f.h.delete(u2, id2, state2, ins2); err != nil || len(f.srv.Execs()) != before {
		t.Errorf("delete without a delete command must do nothing (err %v)", err)
	}
}

func TestNonZeroExitFailsWithOutput(t *testing.T) {
	f := newRemoteFixture(t)
	u := urn(remoteType, "fail")
	ins := f.h.check(u, nil, f.inputs(resource.PropertyMap{"create": str("echo partial; echo broken >&2; exit 3")}))
	_, _, err := f.h.create(u, ins, false)
	if err == nil {
		t.Fatal("a non-zero exit must fail Create")
	}
	for _, want := range []string{"Process exited with status 3", `running "echo partial; echo broken >&2; exit 3"`, "partial", "broken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestHostKeyPinning(t *testing.T) {
	f := newRemoteFixture(t)
	good := f.h.check(urn(remoteType, "pin-ok"), nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, resource.PropertyMap{"hostKey": str(authorizedLine(f.srv.HostKey))}),
		"create":     str("echo pinned"),
	})
	if _, state, err := f.h.create(urn(remoteType, "pin-ok"), good, false); err != nil || plain(state, "stdout") != "pinned" {
		t.Fatalf("matching host key: %v %v", err, state)
	}

	other, _ := newKey(t)
	u := urn(remoteType, "pin-bad")
	bad := f.h.check(u, nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, resource.PropertyMap{
			"hostKey": str(authorizedLine(other.PublicKey())), "dialErrorLimit": resource.NewProperty(0.0),
		}),
		"create": str("echo must-not-run"),
	})
	_, _, err := f.h.create(u, bad, false)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("a different host key must be refused, got %v", err)
	}
	for _, e := range f.srv.Execs() {
		if e.Command == "echo must-not-run" {
			t.Fatal("command ran on a host whose key does not match the pin")
		}
	}

	garbled := f.h.check(u, nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, resource.PropertyMap{"hostKey": str("not a key")}),
		"create":     str("true"),
	})
	if _, _, err := f.h.create(u, garbled, false); err == nil || !strings.Contains(err.Error(), "failed to parse host key") {
		t.Errorf("an unparsable host key must fail clearly, got %v", err)
	}
}

func TestProxyJumpThroughBastion(t *testing.T) {
	h := newHarness(t)
	targetSigner, targetKey := newKey(t)
	bastionSigner, bastionKey := newKey(t)
	target := startSSHD(t, targetSigner.PublicKey(), "")
	bastion := startSSHD(t, bastionSigner.PublicKey(), "")
	u := urn(remoteType, "jump")
	ins := h.check(u, nil, resource.PropertyMap{
		"connection": conn(target, targetKey, resource.PropertyMap{
			"hostKey": str(authorizedLine(target.HostKey)),
			"proxy": resource.NewProperty(resource.PropertyMap{
				"host":       str(bastion.Host),
				"port":       resource.NewProperty(float64(bastion.Port)),
				"user":       str("jump"),
				"privateKey": resource.MakeSecret(str(bastionKey)),
				"hostKey":    str(authorizedLine(bastion.HostKey)),
			}),
		}),
		"create": str("echo via-bastion"),
	})
	_, state, err := h.create(u, ins, false)
	if err != nil {
		t.Fatalf("Create through bastion: %v", err)
	}
	if plain(state, "stdout") != "via-bastion" {
		t.Errorf("stdout = %q", plain(state, "stdout"))
	}
	if fw := bastion.Forwards(); len(fw) != 1 || fw[0] != target.Addr {
		t.Errorf("bastion must forward exactly one channel to %s, got %v", target.Addr, fw)
	}
	if len(bastion.Execs()) != 0 {
		t.Errorf("nothing runs on the bastion: %v", bastion.Execs())
	}
	if e := target.Execs(); len(e) != 1 || e[0].Command != "echo via-bastion" {
		t.Errorf("target ran %v", e)
	}

	// The target key does not open the bastion: the proxy hop is authenticated on its own.
	u2 := urn(remoteType, "jump-badkey")
	bad := h.check(u2, nil, resource.PropertyMap{
		"connection": conn(target, targetKey, resource.PropertyMap{
			"proxy": resource.NewProperty(resource.PropertyMap{
				"host": str(bastion.Host), "port": resource.NewProperty(float64(bastion.Port)),
				"privateKey": str(targetKey), "dialErrorLimit": resource.NewProperty(0.0),
			}),
		}),
		"create": str("echo nope"),
	})
	if _, _, err := h.create(u2, bad, false); err == nil || !strings.Contains(err.Error(), "Dial proxy") {
		t.Errorf("wrong bastion key must fail on the proxy hop, got %v", err)
	}
}

func TestDialRetriesUntilServerAnswers(t *testing.T) {
	f := newRemoteFixture(t)
	// Reserve a loopback port, free it, and start sshd on it a moment later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	signer, key := newKey(t)
	late := make(chan *testSSHD, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			late <- nil
			return
		}
		late <- serveSSHD(t, l, signer.PublicKey(), "")
	}()
	_, port, _ := net.SplitHostPort(addr)
	u := urn(remoteType, "retry")
	connection := resource.NewProperty(resource.PropertyMap{
		"host": str("127.0.0.1"), "port": resource.NewProperty(float64(mustAtoi(t, port))),
		"user": str("lab"), "privateKey": str(key), "dialErrorLimit": resource.NewProperty(20.0),
	})
	ins := f.h.check(u, nil, resource.PropertyMap{"connection": connection, "create": str("echo late")})
	_, state, err := f.h.create(u, ins, false)
	s := <-late
	if s == nil {
		t.Skip("could not re-bind the reserved loopback port")
	}
	if err != nil || plain(state, "stdout") != "late" {
		t.Fatalf("dial should be retried until sshd answers: %v %v", err, state)
	}
	if !strings.Contains(f.h.logged(u), "Dial 1/20 failed: retrying") {
		t.Errorf("retries are reported as status messages, got %q", f.h.logged(u))
	}

	// dialErrorLimit 1 against a closed port: two dials, then the error.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, deadPort, _ := net.SplitHostPort(dead.Addr().String())
	_ = dead.Close()
	u2 := urn(remoteType, "retry-limit")
	ins2 := f.h.check(u2, nil, resource.PropertyMap{
		"connection": resource.NewProperty(resource.PropertyMap{
			"host": str("127.0.0.1"), "port": resource.NewProperty(float64(mustAtoi(t, deadPort))),
			"privateKey": str(key), "dialErrorLimit": resource.NewProperty(1.0),
		}),
		"create": str("true"),
	})
	if _, _, err := f.h.create(u2, ins2, false); err == nil || !strings.Contains(err.Error(), "after 2 failed attempts") {
		t.Errorf("dialErrorLimit 1 must give up after the second failed dial, got %v", err)
	}
}

func TestPasswordAuthentication(t *testing.T) {
	h := newHarness(t)
	s := startSSHD(t, nil, "pw-lab")
	u := urn(remoteType, "password")
	ins := h.check(u, nil, resource.PropertyMap{
		"connection": resource.NewProperty(resource.PropertyMap{
			"host": str(s.Host), "port": resource.NewProperty(float64(s.Port)), "user": str("lab"),
			"password": resource.MakeSecret(str("pw-lab")),
		}),
		"create": str("echo by-password"),
	})
	if _, state, err := h.create(u, ins, false); err != nil || plain(state, "stdout") != "by-password" {
		t.Fatalf("password auth: %v %v", err, state)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a port: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func ptr[T any](v T) *T { return &v }
