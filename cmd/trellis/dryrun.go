package main

import (
	"fmt"
	"strconv"
)

// dryRunFlag is --dry-run as kubectl takes it: none (the default), server
// (every write sent as a server-side dry run), or a bare --dry-run for
// server. trellis has no client-side dry run: `trellis render` shows what
// would be sent without a cluster, and `client` is refused with that hint.
// true and false are still taken, as before.
type dryRunFlag struct{ on *bool }

func (f dryRunFlag) String() string {
	if f.on != nil && *f.on {
		return "server"
	}
	return "none"
}

func (f dryRunFlag) Set(v string) error {
	switch v {
	case "server":
		*f.on = true
	case "none":
		*f.on = false
	case "client":
		return fmt.Errorf(`"client": trellis has no client-side dry run; use --dry-run=server, or trellis render for the objects without a cluster`)
	default:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q: must be none or server", v)
		}
		*f.on = b
	}
	return nil
}

func (dryRunFlag) Type() string { return "none|server" }
