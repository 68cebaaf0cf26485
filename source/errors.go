package source

import (
	"fmt"
	"strings"
)

// redactedError replaces an error whose text contained a secret. It does
// not unwrap: the original error would print the secret.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// scrub returns err, or a redacted copy of its text when it contains one of
// secrets. Secrets are not expected in go-git's errors; this is a guard.
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	leaked := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	return &redactedError{msg: msg}
}

// errorf starts an error with the source's URL (without credentials).
func (s *Source) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{s.url}, args...)...)
}
