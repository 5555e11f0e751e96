package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// One way to name a stack file for every subcommand: --config wins, --stack reads
// Pulumi.<stack>.yaml in --dir, neither is a usage error naming the subcommand.
func TestStackFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"--config", "x/Pulumi.a.yaml", "--stack", "b"}, "x/Pulumi.a.yaml", true},
		{[]string{"--stack", "prod", "--dir", "proj"}, "proj/Pulumi.prod.yaml", true},
		{[]string{"--stack", "stg"}, "Pulumi.stg.yaml", true},
		{nil, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		sf := addStackFlags(fs, "", "")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		got, ok := sf.path("pm4ml drift", &stderr)
		if got != c.want || ok != c.ok {
			t.Errorf("%v: %q %v, want %q %v", c.args, got, ok, c.want, c.ok)
		}
		if !ok && !strings.Contains(stderr.String(), "pm4ml drift: give --stack NAME or --config FILE") {
			t.Errorf("%v: usage error %q", c.args, stderr.String())
		}
	}
}
