package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Logging values of pulumi-command v1.2.1 (command:remote:Logging and command:local:Logging).
const (
	logStdout          = "stdout"
	logStderr          = "stderr"
	logStdoutAndStderr = "stdoutAndStderr"
	logNone            = "none"
)

// Environment variables that carry the previous run's outputs (addPreviousOutputInEnv).
const (
	envPreviousStdout = "PULUMI_COMMAND_STDOUT"
	envPreviousStderr = "PULUMI_COMMAND_STDERR"
)

func loggingValues[T ~string]() []infer.EnumValue[T] {
	return []infer.EnumValue[T]{
		{Name: logStdout, Value: logStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: logStderr, Value: logStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: logStdoutAndStderr, Value: logStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: logNone, Value: logNone, Description: "Capture no logs"},
	}
}

// RemoteLogging is command:remote:Logging.
type RemoteLogging string

// Values lists the enum values.
func (RemoteLogging) Values() []infer.EnumValue[RemoteLogging] { return loggingValues[RemoteLogging]() }

// Annotate sets the token.
func (l *RemoteLogging) Annotate(a infer.Annotator) { a.SetToken("remote", "Logging") }

// LocalLogging is command:local:Logging.
type LocalLogging string

// Values lists the enum values.
func (LocalLogging) Values() []infer.EnumValue[LocalLogging] { return loggingValues[LocalLogging]() }

// Annotate sets the token.
func (l *LocalLogging) Annotate(a infer.Annotator) { a.SetToken("local", "Logging") }

// logMode says which streams go to the engine log; unset means stdoutAndStderr.
func logMode[T ~string](l *T) (stdout, stderr bool) {
	if l == nil {
		return true, true
	}
	switch string(*l) {
	case logStdout:
		return true, false
	case logStderr:
		return false, true
	case logStdoutAndStderr:
		return true, true
	}
	return false, false
}

// concurrentWriter serialises writes of two streams into one buffer.
type concurrentWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *concurrentWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write(b)
}

// capture collects a process's stdout and stderr separately and interleaved, and forwards each
// line of the streams that logging selects to the engine as an info status message.
type capture struct {
	stdout, stderr, combined bytes.Buffer
	Stdout, Stderr           io.Writer
	pipes                    []*io.PipeWriter
	done                     []chan struct{}
}

func newCapture(ctx context.Context, logStdout, logStderr bool) *capture {
	c := &capture{}
	both := &concurrentWriter{w: &c.combined}
	c.Stdout = io.MultiWriter(&c.stdout, both)
	c.Stderr = io.MultiWriter(&c.stderr, both)
	logTo := func(w io.Writer) io.Writer {
		r, pw := io.Pipe()
		done := make(chan struct{})
		c.pipes = append(c.pipes, pw)
		c.done = append(c.done, done)
		go func() {
			defer close(done)
			s := bufio.NewScanner(r)
			s.Buffer(make([]byte, 64*1024), 16*1024*1024)
			for s.Scan() {
				p.GetLogger(ctx).InfoStatus(s.Text())
			}
			_, _ = io.Copy(io.Discard, r)
		}()
		return io.MultiWriter(w, pw)
	}
	if logStdout {
		c.Stdout = logTo(c.Stdout)
	}
	if logStderr {
		c.Stderr = logTo(c.Stderr)
	}
	return c
}

// finish waits until every logged line has been sent.
func (c *capture) finish() {
	for _, pw := range c.pipes {
		_ = pw.Close()
	}
	for _, d := range c.done {
		<-d
	}
}

// outputs are stdout and stderr without their final newline, as pulumi-command returns them.
func (c *capture) outputs() (string, string) {
	return strings.TrimSuffix(c.stdout.String(), "\n"), strings.TrimSuffix(c.stderr.String(), "\n")
}
