package lineage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files of a run, in the state directory and on the lineage branch.
const (
	recordFile = "run.json"
	logFile    = "run.log"
	pendingDir = "pending"
	badDir     = "rejected"
)

// pendingRun is a record waiting on disk to be pushed.
type pendingRun struct {
	dir    string
	record Record
	json   []byte
	log    []byte
}

// encodeRecord is the record as written: indented JSON, without HTML
// escapes, ending with a newline; missing lists are empty lists.
func encodeRecord(rec Record) ([]byte, error) {
	if rec.Declarations == nil {
		rec.Declarations = []Declaration{}
	}
	if rec.Objects == nil {
		rec.Objects = []Object{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("record %s: %w", rec.RunID, err)
	}
	return b.Bytes(), nil
}

// validRunID refuses ids that could leave the state directory or the
// runs/ tree.
func validRunID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return fmt.Errorf("run id %q: not a valid directory name", id)
	}
	return nil
}

// writePending writes STATE/pending/<id>/{run.json,run.log} atomically: both
// files go to a temporary directory, are synced, and the directory is
// renamed into place.
func writePending(state string, rec Record, data, log []byte) error {
	base := filepath.Join(state, pendingDir)
	if err := os.MkdirAll(base, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w", state, err)
	}
	tmp, err := os.MkdirTemp(base, ".tmp-"+rec.RunID+"-")
	if err != nil {
		return fmt.Errorf("state directory %s: %w", state, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for name, content := range map[string][]byte{recordFile: data, logFile: log} {
		if err := writeSynced(filepath.Join(tmp, name), content); err != nil {
			return err
		}
	}
	final := filepath.Join(base, rec.RunID)
	if _, err := os.Stat(final); err == nil {
		return fmt.Errorf("run %s: already pending", rec.RunID)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("run %s: %w", rec.RunID, err)
	}
	return syncDir(base)
}

func writeSynced(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// replacePending replaces the files of the pending run rec, each
// atomically (the log first, then the record): a crash in between leaves
// a valid record.
func replacePending(state string, rec Record, data, log []byte) error {
	dir := filepath.Join(state, pendingDir, rec.RunID)
	for _, f := range []struct {
		name    string
		content []byte
	}{{logFile, log}, {recordFile, data}} {
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := writeSynced(tmp, f.content); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("run %s: %w", rec.RunID, err)
		}
	}
	return syncDir(dir)
}

// readPending returns the pending runs in run-id order, but those skip
// (may be nil) says to leave alone. A run whose record does not parse is
// moved to STATE/rejected, so that it never blocks the others, and
// reported in the error. The caller holds the Writer's stateMu.
func readPending(state string, skip func(id string) bool) ([]pendingRun, error) {
	base := filepath.Join(state, pendingDir)
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", state, err)
	}
	var out []pendingRun
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || (skip != nil && skip(e.Name())) {
			continue
		}
		p, err := readOne(filepath.Join(base, e.Name()))
		if err != nil {
			errs = append(errs, reject(state, e.Name(), err))
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].record.RunID < out[j].record.RunID })
	return out, errors.Join(errs...)
}

// countPending counts the pending runs on disk, without reading them.
func countPending(state string) (int, error) {
	entries, err := os.ReadDir(filepath.Join(state, pendingDir))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state directory %s: %w", state, err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n, nil
}

func readOne(dir string) (pendingRun, error) {
	p := pendingRun{dir: dir}
	var err error
	if p.json, err = os.ReadFile(filepath.Join(dir, recordFile)); err != nil {
		return p, fmt.Errorf("pending run %s: %w", filepath.Base(dir), err)
	}
	if p.log, err = os.ReadFile(filepath.Join(dir, logFile)); err != nil {
		return p, fmt.Errorf("pending run %s: %w", filepath.Base(dir), err)
	}
	if err := json.Unmarshal(p.json, &p.record); err != nil {
		return p, fmt.Errorf("pending run %s: %s: %w", filepath.Base(dir), recordFile, err)
	}
	if p.record.RunID != filepath.Base(dir) {
		return p, fmt.Errorf("pending run %s: record has run id %q", filepath.Base(dir), p.record.RunID)
	}
	return p, nil
}

// reject moves a broken pending run aside and returns why.
func reject(state, id string, cause error) error {
	to := filepath.Join(state, badDir)
	if err := os.MkdirAll(to, 0o700); err != nil {
		return errors.Join(cause, err)
	}
	if err := os.Rename(filepath.Join(state, pendingDir, id), filepath.Join(to, id)); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("%w (moved to %s)", cause, filepath.Join(to, id))
}
