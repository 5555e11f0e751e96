package main

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The create / update / delete semantics shared by command:local:Command and
// command:remote:Command; each resource's state runs a command its own way (commandRunner).

// commandRunner runs one command line and keeps its stdout and stderr.
type commandRunner interface {
	run(ctx context.Context, command string) error
}

// createCommand gives the resource its ID and runs `create` (nothing when it is unset, nothing
// during preview).
func createCommand(ctx context.Context, name string, dryRun bool, create *string, r commandRunner) (string, error) {
	id, err := resource.NewUniqueHex(name, 8, 0)
	if err != nil || dryRun || create == nil {
		return id, err
	}
	return id, r.run(ctx, *create)
}

// updateCommand runs `update`, or `create` when `update` is unset (nothing during preview).
func updateCommand(ctx context.Context, dryRun bool, update, create *string, r commandRunner) error {
	if update == nil {
		update = create
	}
	if dryRun || update == nil {
		return nil
	}
	return r.run(ctx, *update)
}

// deleteCommand runs `delete` of the state (the old inputs), if any.
func deleteCommand(ctx context.Context, del *string, r commandRunner) error {
	if del == nil {
		return nil
	}
	return r.run(ctx, *del)
}
