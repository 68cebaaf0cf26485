package render

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"
)

// A CUE evaluation cannot be interrupted: a render stopped by its context
// returns at once, but its evaluation goes on in the background until it
// ends, with the memory it takes. For a command that exits then, that is
// enough. The daemon and `trellis pr` render what pull requests (forks
// included) propose, and an expensive evaluation there would burn a core
// and grow without bound after its timeout. So they render in a child
// process: the same binary, given the request on its standard input and
// nothing else (no arguments, an environment of one variable: none of the
// parent's credentials), which answers on its standard output. The child
// is killed when the context ends, and kills itself when its memory
// passes Isolation.MemoryBytes.

// IsolatedEnv is the variable that makes a trellis process a render
// child (see ServeIsolated).
const IsolatedEnv = "TRELLIS_RENDER_CHILD"

// DefaultIsolatedMemory bounds a render child's memory by default.
const DefaultIsolatedMemory = 512 << 20

// maxIsolatedOutput bounds what a render child may answer.
const maxIsolatedOutput = 512 << 20

// Isolation says how to run a render in a child process.
type Isolation struct {
	// Path is the trellis binary (default: os.Executable), Args its
	// arguments (none: the environment makes it a child).
	Path string
	Args []string
	// MemoryBytes bounds the child's memory. Default
	// DefaultIsolatedMemory.
	MemoryBytes int64
}

// isolatedRequest is what the parent sends a child.
type isolatedRequest struct {
	Dir         string  `json:"dir"`
	Options     Options `json:"options"`
	MemoryBytes int64   `json:"memoryBytes"`
	// Persistent asks the child to answer further requests, one a line,
	// with a cache (see Renderer).
	Persistent bool `json:"persistent,omitempty"`
}

// isolatedResponse is what a child answers.
type isolatedResponse struct {
	Result   *Result   `json:"result,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	Secrets  []string  `json:"secrets,omitempty"`
	Error    string    `json:"error,omitempty"`
	// Cache is what the child's cache did so far (a Renderer's child).
	Cache *CacheStats `json:"cache,omitempty"`
	// Objects are the objects of Result's clusters (see wireSegment).
	Objects [][]wireSegment `json:"objects,omitempty"`
}

// DirIsolated is Dir in a child process (see Isolation). Problems of an
// invalid repo come back as Problems formats them (with Explain), and
// SecretValues works on its error as on Dir's.
func DirIsolated(ctx context.Context, root string, opts Options, iso Isolation) (*Result, error) {
	if ctx.Err() != nil {
		return nil, stopped(ctx)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if iso.Path == "" {
		if iso.Path, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
	}
	if iso.MemoryBytes <= 0 {
		iso.MemoryBytes = DefaultIsolatedMemory
	}
	req, err := json.Marshal(isolatedRequest{Dir: abs, Options: opts, MemoryBytes: iso.MemoryBytes})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, iso.Path, iso.Args...)
	cmd.Env = []string{IsolatedEnv + "=1"}
	cmd.Stdin = bytes.NewReader(req)
	stdout := &boundedBuffer{max: maxIsolatedOutput}
	stderr := &boundedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, stopped(ctx)
	}
	if runErr != nil {
		var exit *exec.ExitError
		if errors.As(runErr, &exit) && exit.ExitCode() == exitMemory {
			return nil, fmt.Errorf("%w: it used more than %s of memory, the limit for one render", ErrStopped, byteSize(iso.MemoryBytes))
		}
		return nil, fmt.Errorf("render: child process: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	return decodeIsolated(stdout.Bytes(), nil, newWireDecoder())
}

// decodeIsolated decodes a child's answer, its objects with objects, and
// its cache's stats into stats when it has them.
func decodeIsolated(answer []byte, stats *CacheStats, objects *wireDecoder) (*Result, error) {
	var resp isolatedResponse
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, fmt.Errorf("render: child process: %w", err)
	}
	if resp.Cache != nil && stats != nil {
		*stats = *resp.Cache
	}
	switch {
	case len(resp.Problems) > 0:
		return nil, &problemsError{problems: resp.Problems, secrets: resp.Secrets}
	case resp.Error != "":
		return nil, errors.New(resp.Error)
	case resp.Result == nil:
		return nil, errors.New("render: child process: no result")
	}
	if err := objects.decode(resp.Result, resp.Objects); err != nil {
		return nil, err
	}
	return resp.Result, nil
}

// DefaultTimeout bounds a render by default (see Bounds).
const DefaultTimeout = 2 * time.Minute

// Bounds bound a render that a daemon or a pull-request check runs on a
// revision it does not trust.
type Bounds struct {
	// Timeout bounds the render (default DefaultTimeout); past it, the
	// error says so, naming the --render-timeout flag.
	Timeout time.Duration
	// Isolation, when set, renders in a child process (see DirIsolated),
	// killed at the timeout or past its memory limit; else the render
	// runs in this process.
	Isolation *Isolation
}

// DirBounded is Dir within b.
func DirBounded(ctx context.Context, root string, opts Options, b Bounds) (*Result, error) {
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("it took longer than the render timeout of %s (--render-timeout)", timeout))
	defer cancel()
	if b.Isolation != nil {
		return DirIsolated(ctx, root, opts, *b.Isolation)
	}
	return Dir(ctx, root, opts)
}

// exitMemory is a child's exit code when its memory passed its limit.
const exitMemory = 3

// IsRenderChild reports whether this process is a render child: main
// then calls ServeIsolated and exits with its code.
func IsRenderChild() bool { return os.Getenv(IsolatedEnv) == "1" }

// ServeIsolated is a render child: it reads one request from in, renders
// and writes the answer to out, and returns the exit code.
func ServeIsolated(in io.Reader, out, errOut io.Writer) int {
	r := bufio.NewReader(in)
	line, err := readLine(r, 1<<20)
	var req isolatedRequest
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		fmt.Fprintln(errOut, "render child: request:", err)
		return 2
	}
	if req.MemoryBytes > 0 {
		// The collector works harder as the heap nears 3/4 of the limit,
		// rather than let garbage take the child past it.
		debug.SetMemoryLimit(req.MemoryBytes / 4 * 3)
		go watchMemory(req.MemoryBytes, errOut)
	}
	if req.Persistent {
		return serveRenders(req, r, out, errOut)
	}
	if err := writeResponse(out, serveOne(req, newWireEncoder())); err != nil {
		fmt.Fprintln(errOut, "render child: answer:", err)
		return 2
	}
	return 0
}

// serveOne renders one request, its objects encoded by objects.
func serveOne(req isolatedRequest, objects *wireEncoder) isolatedResponse {
	var resp isolatedResponse
	res, err := Dir(context.Background(), req.Dir, req.Options)
	if err == nil {
		resp.Objects, err = objects.encode(res)
	}
	switch {
	case err == nil:
		resp.Result = res
	default:
		resp.Problems = Problems(err, req.Dir, Explain())
		resp.Secrets = SecretValues(err)
		if len(resp.Problems) == 0 {
			resp.Error = err.Error()
		}
	}
	return resp
}

// watchMemory ends the process, with exitMemory, once the memory the Go
// runtime holds passes max.
func watchMemory(max int64, errOut io.Writer) {
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	for range time.Tick(20 * time.Millisecond) {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) > max {
			fmt.Fprintf(errOut, "render child: memory over the limit of %s\n", byteSize(max))
			os.Exit(exitMemory)
		}
	}
}

// boundedBuffer keeps at most max bytes; a write beyond fails, which
// ends the child.
type boundedBuffer struct {
	bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("more than %s of output", byteSize(int64(b.max)))
	}
	return b.Buffer.Write(p)
}
