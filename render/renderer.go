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
	"strings"
	"sync"
)

// Renderer renders the successive revisions of one repo (the daemon's),
// each within Bounds as DirBounded does, and keeps a Cache from one to the
// next: a revision costs the files it changed, plus the checks across
// declarations and the render, which run in full. With Bounds.Isolation,
// the cache lives in one render child kept across renders (it is started
// by the first render, and again after one is killed: at a timeout, past
// its memory limit, or when the Renderer is closed); the child is given
// the same request as DirIsolated's, one JSON line at a time, and answers
// each on one line. Its memory limit covers the cache. A Renderer renders
// one revision at a time.
type Renderer struct {
	bounds Bounds
	mu     sync.Mutex
	cache  *Cache
	child  *renderChild
}

// NewRenderer returns a Renderer within b.
func NewRenderer(b Bounds) *Renderer {
	return &Renderer{bounds: b, cache: NewCache()}
}

// Dir renders the repo at root, as DirBounded does.
func (r *Renderer) Dir(ctx context.Context, root string, opts Options) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	timeout := r.bounds.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("it took longer than the render timeout of %s (--render-timeout)", timeout))
	defer cancel()
	if r.bounds.Isolation == nil {
		opts.Cache = r.cache
		return Dir(ctx, root, opts)
	}
	if ctx.Err() != nil {
		return nil, stopped(ctx)
	}
	for attempt := 0; ; attempt++ {
		if r.child == nil {
			c, err := startRenderChild(*r.bounds.Isolation)
			if err != nil {
				return nil, err
			}
			r.child = c
		}
		warm := r.child.served > 0
		res, err := r.child.render(ctx, root, opts)
		r.child.served++
		if !r.child.dead {
			return res, err
		}
		r.child.stop()
		r.child = nil
		// A child that passed its memory limit with a warm cache is
		// replaced, and the revision rendered again from scratch: the
		// cache never fails a render that fits without it.
		if !warm || attempt > 0 || ctx.Err() != nil || !errors.Is(err, errChildMemory) {
			return res, err
		}
	}
}

// Stats are what the cache did: the cache of this process, or of the
// render child (since it started).
func (r *Renderer) Stats() CacheStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.bounds.Isolation == nil:
		return r.cache.Stats()
	case r.child != nil:
		return r.child.stats
	}
	return CacheStats{}
}

// Close stops the render child, if any.
func (r *Renderer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.child != nil {
		r.child.stop()
		r.child = nil
	}
}

// renderChild is a render child kept across renders.
type renderChild struct {
	iso    Isolation
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *boundedBuffer
	// dead is set once the child is to be stopped.
	dead bool
	// stats are its cache's, as of its last answer; served counts its
	// renders.
	stats  CacheStats
	served int
	// objects are those of its last answer (see wireSegment).
	objects *wireDecoder
}

// errChildMemory is wrapped by the error of a child past its memory limit.
var errChildMemory = errors.New("render child past its memory limit")

func startRenderChild(iso Isolation) (*renderChild, error) {
	var err error
	if iso.Path == "" {
		if iso.Path, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
	}
	if iso.MemoryBytes <= 0 {
		iso.MemoryBytes = DefaultIsolatedMemory
	}
	cmd := exec.Command(iso.Path, iso.Args...)
	cmd.Env = []string{IsolatedEnv + "=1"}
	stderr := &boundedBuffer{max: 64 << 10}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("render: child process: %w", err)
	}
	return &renderChild{iso: iso, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20), stderr: stderr, objects: newWireDecoder()}, nil
}

// stop kills the child and waits for it.
func (c *renderChild) stop() {
	_ = c.in.Close()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// render sends one request and reads its answer; the child is marked dead
// when ctx ends first or it fails.
func (c *renderChild) render(ctx context.Context, root string, opts Options) (*Result, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	req, err := json.Marshal(isolatedRequest{Dir: abs, Options: opts, MemoryBytes: c.iso.MemoryBytes, Persistent: true})
	if err != nil {
		return nil, err
	}
	type answer struct {
		line []byte
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		if _, err := c.in.Write(append(req, '\n')); err != nil {
			done <- answer{err: err}
			return
		}
		line, err := readLine(c.out, maxIsolatedOutput)
		done <- answer{line, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		c.dead = true
		c.stop() // ends the goroutine's read
		<-done
		return nil, stopped(ctx)
	}
	if a.err != nil {
		c.dead = true
		_ = c.in.Close()
		_ = c.cmd.Process.Kill()
		waitErr := c.cmd.Wait()
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) && exit.ExitCode() == exitMemory {
			return nil, fmt.Errorf("%w: it used more than %s of memory, the limit for one render%w", ErrStopped, byteSize(c.iso.MemoryBytes), quietErr{errChildMemory})
		}
		return nil, fmt.Errorf("render: child process: %w: %s", a.err, strings.TrimSpace(c.stderr.String()))
	}
	res, err := decodeIsolated(a.line, &c.stats, c.objects)
	if err != nil && errors.Is(err, errWire) {
		c.dead = true // the two sides no longer agree on what was sent
	}
	return res, err
}

// readLine reads one line of at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, fmt.Errorf("more than %s of output", byteSize(int64(max)))
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, errors.New("it exited")
		case errors.Is(err, io.EOF):
			return line, nil
		default:
			return nil, err
		}
	}
}

// serveRenders answers requests, one a line, until in ends, with one
// cache for all: the render child of a Renderer.
func serveRenders(first isolatedRequest, in *bufio.Reader, out, errOut io.Writer) int {
	cache, objects := NewCache(), newWireEncoder()
	req := first
	for {
		req.Options.Cache = cache
		resp := serveOne(req, objects)
		stats := cache.Stats()
		resp.Cache = &stats
		if err := writeResponse(out, resp); err != nil {
			fmt.Fprintln(errOut, "render child: answer:", err)
			return 2
		}
		line, err := readLine(in, 1<<20)
		if err != nil {
			return 0 // the parent is gone, or closed the pipe
		}
		req = isolatedRequest{}
		if err := json.NewDecoder(bytes.NewReader(line)).Decode(&req); err != nil {
			fmt.Fprintln(errOut, "render child: request:", err)
			return 2
		}
	}
}

// quietErr wraps err for errors.Is without adding to a message.
type quietErr struct{ err error }

func (q quietErr) Error() string { return "" }
func (q quietErr) Unwrap() error { return q.err }
