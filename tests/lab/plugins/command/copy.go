package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/infer/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// CopyToRemote is command:remote:CopyToRemote: copies a file asset, a text asset or a path
// archive (file or directory) to a remote host over SFTP.
type CopyToRemote struct{}

// CopyToRemoteInputs are the inputs of command:remote:CopyToRemote.
type CopyToRemoteInputs struct {
	Connection *Connection          `pulumi:"connection" provider:"secret"`
	Triggers   *[]any               `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Source     types.AssetOrArchive `pulumi:"source"`
	RemotePath string               `pulumi:"remotePath"`
}

// CopyToRemoteOutputs echo the inputs.
type CopyToRemoteOutputs struct {
	CopyToRemoteInputs
}

var (
	_ infer.CustomResource[CopyToRemoteInputs, CopyToRemoteOutputs] = (*CopyToRemote)(nil)
	_ infer.CustomCheck[CopyToRemoteInputs]                         = (*CopyToRemote)(nil)
	_ infer.CustomUpdate[CopyToRemoteInputs, CopyToRemoteOutputs]   = (*CopyToRemote)(nil)
)

// Annotate sets the token command:remote:CopyToRemote.
func (c *CopyToRemote) Annotate(a infer.Annotator) {
	a.SetToken("remote", "CopyToRemote")
	a.Describe(&c, "Copy an Asset or Archive to a remote host. (pm4ml-onprem lab stand-in for pulumi-command "+
		Version+".)")
}

// Annotate describes the inputs.
func (c *CopyToRemoteInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Connection, "The parameters with which to connect to the remote host.")
	a.Describe(&c.Triggers, "Trigger replacements on changes to this input.")
	a.Describe(&c.Source, "An asset or an archive to upload as the source of the copy. It must be a "+
		"`FileAsset`, `StringAsset`, or a `FileArchive`. The item will be copied as-is; archives like .tgz "+
		"will not be unpacked. Directories are copied recursively, overwriting existing files.")
	a.Describe(&c.RemotePath, "The destination path on the remote host. Any necessary parent directories "+
		"will be created automatically. When the remote path is an existing directory, the source file or "+
		"directory will be copied into that directory. When the source is a file and the remote path is an "+
		"existing file, that file will be overwritten. When the source is a directory and the remote path an "+
		"existing file, the copy will fail.")
}

// Check validates the source kind.
func (*CopyToRemote) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[CopyToRemoteInputs], error) {
	inputs, failures, err := infer.DefaultCheck[CopyToRemoteInputs](ctx, req.NewInputs)
	if err != nil {
		return infer.CheckResponse[CopyToRemoteInputs]{Inputs: inputs, Failures: failures}, err
	}
	src := inputs.Source
	switch {
	case src.Asset != nil && src.Archive != nil:
		failures = append(failures, p.CheckFailure{Property: "source", Reason: "only one of asset or archive can be set"})
	case src.Asset == nil && src.Archive == nil:
		failures = append(failures, p.CheckFailure{Property: "source", Reason: "either asset or archive must be set"})
	case src.Asset != nil && !src.Asset.IsPath() && !src.Asset.IsText():
		failures = append(failures, p.CheckFailure{Property: "source",
			Reason: "asset must be a path-based file asset or a text asset"})
	case src.Archive != nil && !src.Archive.IsPath():
		failures = append(failures, p.CheckFailure{Property: "source",
			Reason: "archive must be a path to a file or directory"})
	}
	return infer.CheckResponse[CopyToRemoteInputs]{Inputs: inputs, Failures: failures}, nil
}

// Create copies the source (nothing during preview).
func (*CopyToRemote) Create(ctx context.Context, req infer.CreateRequest[CopyToRemoteInputs]) (infer.CreateResponse[CopyToRemoteOutputs], error) {
	out := CopyToRemoteOutputs{req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil {
		return infer.CreateResponse[CopyToRemoteOutputs]{}, err
	}
	if req.DryRun {
		return infer.CreateResponse[CopyToRemoteOutputs]{ID: id, Output: out}, nil
	}
	return infer.CreateResponse[CopyToRemoteOutputs]{ID: id, Output: out}, copyToRemote(ctx, req.Inputs)
}

// Update copies again when the source's hash or the remote path changed.
func (*CopyToRemote) Update(ctx context.Context, req infer.UpdateRequest[CopyToRemoteInputs, CopyToRemoteOutputs]) (infer.UpdateResponse[CopyToRemoteOutputs], error) {
	out := CopyToRemoteOutputs{req.Inputs}
	if req.DryRun {
		return infer.UpdateResponse[CopyToRemoteOutputs]{Output: out}, nil
	}
	if req.Inputs.hash() == req.State.hash() && req.Inputs.RemotePath == req.State.RemotePath {
		return infer.UpdateResponse[CopyToRemoteOutputs]{Output: out}, nil
	}
	return infer.UpdateResponse[CopyToRemoteOutputs]{Output: out}, copyToRemote(ctx, req.Inputs)
}

func (c *CopyToRemoteInputs) hash() string {
	if c.Source.Archive != nil {
		return c.Source.Archive.Hash
	}
	if c.Source.Asset != nil {
		return c.Source.Asset.Hash
	}
	return ""
}

func copyToRemote(ctx context.Context, in CopyToRemoteInputs) error {
	client, err := in.Connection.Dial(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	sc, err := sftp.NewClient(client.Client)
	if err != nil {
		return err
	}
	defer func() { _ = sc.Close() }()

	if parent := path.Dir(in.RemotePath); parent != "." && parent != "/" {
		if err := sc.MkdirAll(parent); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", parent, err)
		}
	}
	if a := in.Source.Asset; a != nil && a.IsText() {
		st, err := remoteStat(sc, in.RemotePath)
		if err != nil {
			return err
		}
		if st != nil && st.IsDir() {
			return fmt.Errorf("remote path %s is a directory; when using a text asset, remotePath must be a file path", in.RemotePath)
		}
		return writeRemote(sc, in.RemotePath, func(f *sftp.File) error {
			_, err := f.Write([]byte(a.Text))
			return err
		})
	}
	source := ""
	if in.Source.Asset != nil {
		source = in.Source.Asset.Path
	} else {
		source = in.Source.Archive.Path
	}
	return sftpCopy(sc, source, in.RemotePath)
}

// remoteStat is nil, nil when the path does not exist.
func remoteStat(sc *sftp.Client, p string) (fs.FileInfo, error) {
	st, err := sc.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to stat remote path %s: %w", p, err)
	}
	return st, nil
}

// sftpCopy follows pulumi-command's rules:
//
//	source | dest is a dir       | dest missing              | dest is a file
//	dir    | dest/dir            | dest/dir (dest created)   | error
//	dir/   | dest/x for x in dir | dest/x (dest created)     | error
//	file   | dest/file           | dest                      | dest (overwritten)
func sftpCopy(sc *sftp.Client, source, dest string) error {
	info, err := os.Stat(source)
	if err != nil {
		return err
	}
	st, err := remoteStat(sc, dest)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if st != nil && st.IsDir() {
			dest = path.Join(dest, filepath.Base(source))
		}
		return copyFile(sc, source, dest)
	}
	if st != nil && !st.IsDir() {
		return fmt.Errorf("remote path %s exists but is not a directory", dest)
	}
	if st == nil {
		if err := sc.Mkdir(dest); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
		}
	}
	if !strings.HasSuffix(source, "/") {
		dest = path.Join(dest, filepath.Base(source))
	}
	return fs.WalkDir(os.DirFS(source), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := path.Join(dest, filepath.ToSlash(rel))
		if !d.IsDir() {
			return copyFile(sc, filepath.Join(source, rel), target)
		}
		st, err := remoteStat(sc, target)
		if err != nil {
			return err
		}
		if st == nil {
			if err := sc.Mkdir(target); err != nil {
				return fmt.Errorf("failed to create remote directory %s: %w", target, err)
			}
		} else if !st.IsDir() {
			return fmt.Errorf("remote path %s exists but is not a directory", target)
		}
		return nil
	})
}

func copyFile(sc *sftp.Client, src, dst string) error {
	local, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = local.Close() }()
	return writeRemote(sc, dst, func(f *sftp.File) error {
		if _, err := f.ReadFrom(local); err != nil {
			return fmt.Errorf("failed to copy file %s to remote path %s: %w", src, dst, err)
		}
		return nil
	})
}

func writeRemote(sc *sftp.Client, dst string, write func(*sftp.File) error) error {
	f, err := sc.Create(dst)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dst, err)
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
