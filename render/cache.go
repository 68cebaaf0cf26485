package render

import (
	"crypto/sha256"
	"sync"
)

// Cache keeps, from one load of a repo to the next, what each YAML and
// JSON file loaded (its declarations, validated and decoded, and its
// manifests), keyed by the file's path and the SHA-256 of its content,
// and what each CUE package loaded, keyed by its directory and the
// SHA-256 of the files it is made of: its own, its imports'
// (transitively) and the module's (a package that embeds files is not
// kept). A
// load given a cache (Options.Cache) reads every file as always, and
// parses and validates only those whose content it has not loaded
// before: a new revision costs the files it changed, and the checks
// across declarations (references, names, quotas, tenancy) and the render,
// which are run again in full. A file with any problem is not kept, nor
// is a SOPS file (its decrypted values are kept by no cache). Entries of
// files that a successful load did not see are dropped, so a cache holds
// about one repo. The cached result of a file is what loading it gives,
// so a render with a cache is the render without one, byte for byte.
//
// A Cache is safe for concurrent use; it is meant for the successive
// revisions of one repo (the daemon keeps one).
type Cache struct {
	mu       sync.Mutex
	gen      int
	files    map[string]*cachedFile
	rendered map[string]*renderedDecl
	// checked are the declarations whose own checks (those that look at
	// the declaration and its Cluster only) passed, by checkKey, with
	// the load that last needed them.
	checked map[string]int
	// plain are the CUE files prekeys found plain or not, by the SHA-256
	// of their name and content.
	plain map[[sha256.Size]byte]plainEntry
	stats CacheStats
}

type plainEntry struct {
	plain bool
	gen   int
}

// CacheStats count what the loads given a cache did with it.
type CacheStats struct {
	// Hits are files loaded from the cache, Misses files parsed and
	// validated.
	Hits, Misses int
	// RenderHits are declarations rendered from the cache (their runs
	// made again), RenderMisses declarations rendered.
	RenderHits, RenderMisses int
}

type cachedFile struct {
	sum  [sha256.Size]byte
	docs []docResult
	gen  int
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{files: map[string]*cachedFile{}, rendered: map[string]*renderedDecl{}, checked: map[string]int{}, plain: map[[sha256.Size]byte]plainEntry{}}
}

// Stats returns the counts so far.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// begin starts a load.
func (c *Cache) begin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
}

// sweep drops the files the load that just succeeded did not see.
func (c *Cache) sweep() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for rel, f := range c.files {
		if f.gen != c.gen {
			delete(c.files, rel)
		}
	}
	for k, gen := range c.checked {
		if gen != c.gen {
			delete(c.checked, k)
		}
	}
	for k, e := range c.plain {
		if e.gen != c.gen {
			delete(c.plain, k)
		}
	}
}

// plainFile returns what plain says of the CUE file name of content
// data, from the cache when it holds it.
func (c *Cache) plainFile(name string, data []byte, plain func() bool) bool {
	if c == nil {
		return plain()
	}
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(data)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	c.mu.Lock()
	e, ok := c.plain[key]
	c.mu.Unlock()
	if !ok {
		e.plain = plain()
	}
	e.gen = c.gen
	c.mu.Lock()
	c.plain[key] = e
	c.mu.Unlock()
	return e.plain
}

// checkKey identifies a declaration and its Cluster by content, for the
// checks that look at nothing else.
func checkKey(d, cluster *Declaration) string {
	return d.Kind + "\x00" + d.Path + "\x00" + string(d.sum[:]) + "\x00" + string(cluster.sum[:])
}

// passed reports whether the checks of key passed before, and keeps the
// entry for this load.
func (c *Cache) passed(key string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.checked[key]
	if ok {
		c.checked[key] = c.gen
	}
	return ok
}

// pass records that the checks of key passed.
func (c *Cache) pass(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[key] = c.gen
}

// file returns what rel, of content sum, loaded before, its origins
// bound to src.
func (c *Cache) file(rel string, sum [sha256.Size]byte, src *sources) ([]docResult, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[rel]
	if !ok || f.sum != sum {
		c.stats.Misses++
		return nil, false
	}
	c.stats.Hits++
	f.gen = c.gen
	return rebind(f.docs, src), true
}

// putFile keeps what rel, of content sum, loaded.
func (c *Cache) putFile(rel string, sum [sha256.Size]byte, docs []docResult) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[rel] = &cachedFile{sum: sum, docs: docs, gen: c.gen}
}

// rebind copies docs with their origins bound to src: a cached
// declaration's value is rebuilt from the bytes of the load that uses it.
func rebind(docs []docResult, src *sources) []docResult {
	out := make([]docResult, len(docs))
	for i, d := range docs {
		out[i].secrets = d.secrets
		for _, x := range d.decls {
			c := *x
			c.origin = c.origin.bind(src)
			out[i].decls = append(out[i].decls, &c)
		}
		for _, m := range d.manifests {
			c := *m
			c.origin = c.origin.bind(src)
			out[i].manifests = append(out[i].manifests, &c)
		}
	}
	return out
}

// cuePrefix keys CUE packages apart from files.
const cuePrefix = "cue package\x00"

// pkg returns what the CUE package arg, whose files hash to sum, loaded
// before, bound to src.
func (c *Cache) pkg(arg string, sum [sha256.Size]byte, cacheable bool, src *sources) ([]docResult, bool) {
	if !cacheable {
		return nil, false
	}
	return c.file(cuePrefix+arg, sum, src)
}

// putPkg keeps what the CUE package arg loaded.
func (c *Cache) putPkg(arg string, sum [sha256.Size]byte, events []docResult) {
	c.putFile(cuePrefix+arg, sum, events)
}
