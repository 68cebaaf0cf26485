package source

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// VerificationError is returned by Poll when signature verification is on
// and a commit is unsigned or not signed by any of the given keys. The
// commit is not checked out for use.
type VerificationError struct {
	// Commit is the commit's hash.
	Commit string
	// Reason says what is wrong, e.g. "unsigned".
	Reason string
	// Err is the underlying OpenPGP error, if any.
	Err error
}

// Error implements error.
func (e *VerificationError) Error() string {
	return fmt.Sprintf("commit %s: signature verification failed: %s", e.Commit, e.Reason)
}

// Unwrap returns the OpenPGP error.
func (e *VerificationError) Unwrap() error { return e.Err }

// checkKeys parses each armored public key, so that a bad key is reported
// by New rather than as a failed verification of every commit.
func checkKeys(keys []string) error {
	var errs []error
	for i, key := range keys {
		if _, err := openpgp.ReadArmoredKeyRing(strings.NewReader(key)); err != nil {
			errs = append(errs, fmt.Errorf("verify key %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// verify checks that commit is signed by one of keys (armored OpenPGP
// public keys) with go-git's Commit.Verify. No keys means no verification.
func verify(commit *object.Commit, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	fail := func(reason string, err error) error {
		return &VerificationError{Commit: commit.Hash.String(), Reason: reason, Err: err}
	}
	if strings.TrimSpace(commit.PGPSignature) == "" {
		return fail("unsigned", nil)
	}
	var errs []error
	for _, key := range keys {
		_, err := commit.Verify(key)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	reason := fmt.Sprintf("not signed by any of the %d verify keys", len(keys))
	return fail(reason, errors.Join(errs...))
}
