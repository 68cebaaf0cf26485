package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"trellis.dev/trellis/render"
)

// SOPS files of the config repo decrypt with age keys, found as SOPS
// finds them: the files of --sops-age-key-file, the file SOPS_AGE_KEY_FILE
// names, the keys SOPS_AGE_KEY holds, and, when none of those is given,
// SOPS's own key file ($XDG_CONFIG_HOME/sops/age/keys.txt, by default
// ~/.config/sops/age/keys.txt) when it exists. The keys are read by the
// command, never by the loader of the repo; they go to a render child on
// its standard input; no message shows them.

// maxAgeKeyFile bounds an age key file.
const maxAgeKeyFile = 1 << 20

// sopsOptions are the flags that give SOPS keys.
type sopsOptions struct {
	ageKeyFiles []string
}

func addSOPSFlags(f *pflag.FlagSet, o *sopsOptions) {
	f.StringArrayVar(&o.ageKeyFiles, "sops-age-key-file", nil, "age key file (AGE-SECRET-KEY-1… lines) that decrypts the repo's SOPS files; repeatable (also SOPS_AGE_KEY_FILE, SOPS_AGE_KEY)")
}

// keys reads the age keys.
func (o sopsOptions) keys() (render.SOPSKeys, error) { return o.read(false) }

// serveKeys reads the age keys for serve, whose key file is an optional
// Secret's (deploy/): one that does not exist yet gives no key, and a
// SOPS file is then a problem of the revision, reported as any.
func (o sopsOptions) serveKeys() (render.SOPSKeys, error) { return o.read(true) }

func (o sopsOptions) read(missingOK bool) (render.SOPSKeys, error) {
	var k render.SOPSKeys
	files := append([]string(nil), o.ageKeyFiles...)
	if f := os.Getenv("SOPS_AGE_KEY_FILE"); f != "" {
		files = append(files, f)
	}
	if v := os.Getenv("SOPS_AGE_KEY"); v != "" {
		k.Age = append(k.Age, v)
	}
	for _, f := range files {
		text, err := readAgeKeyFile(f)
		if missingOK && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return k, err
		}
		k.Age = append(k.Age, text)
	}
	if len(k.Age) == 0 {
		if f := defaultAgeKeyFile(); f != "" {
			if text, err := readAgeKeyFile(f); err == nil {
				k.Age = append(k.Age, text)
			}
		}
	}
	return k, nil
}

// readAgeKeyFile reads one key file; its error names the file, never
// what it holds.
func readAgeKeyFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("SOPS age key file: %w (give an age key file with --sops-age-key-file or SOPS_AGE_KEY_FILE)", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAgeKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("SOPS age key file %s: %w", name, err)
	}
	if len(data) > maxAgeKeyFile {
		return "", fmt.Errorf("SOPS age key file %s: over 1 MiB: not an age key file", name)
	}
	return string(data), nil
}

// defaultAgeKeyFile is where SOPS looks for age keys by default, "" when
// there is no home.
func defaultAgeKeyFile() string {
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "sops", "age", "keys.txt")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "sops", "age", "keys.txt")
	}
	return ""
}
