package main

import (
	"path/filepath"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestPrebuilt(t *testing.T) {
	opts := func(m map[string]any) *pulumirpc.ProgramInfo {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return &pulumirpc.ProgramInfo{ProgramDirectory: "/p", Options: s}
	}
	for _, tc := range []struct {
		name string
		info *pulumirpc.ProgramInfo
		want string
	}{
		{"no info", nil, ""},
		{"no options", &pulumirpc.ProgramInfo{ProgramDirectory: "/p"}, ""},
		{"other option", opts(map[string]any{"buildTarget": "x"}), ""},
		{"empty", opts(map[string]any{"binary": ""}), ""},
		{"absolute", opts(map[string]any{"binary": "/opt/prog"}), "/opt/prog"},
		{"relative", opts(map[string]any{"binary": "bin/prog"}), filepath.Join("/p", "bin/prog")},
	} {
		if got := prebuilt(tc.info, "/p"); got != tc.want {
			t.Errorf("%s: prebuilt = %q, want %q", tc.name, got, tc.want)
		}
	}
}
