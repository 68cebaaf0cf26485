// Command refgen prints the declaration reference of the README, generated
// from the schema, with examples taken from the repo's example
// declarations: go run ./schema/cmd/refgen (from the repo's root).
package main

import (
	"fmt"
	"os"

	"cuelang.org/go/cue/cuecontext"

	"trellis.dev/trellis/schema"
)

func main() {
	s, err := schema.Load(cuecontext.New())
	if err != nil {
		fail(err)
	}
	examples, err := schema.ExampleDeclarations(os.DirFS("."))
	if err != nil {
		fail(err)
	}
	md, err := s.ReferenceMarkdown(examples)
	if err != nil {
		fail(err)
	}
	fmt.Print(md)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "refgen:", err)
	os.Exit(1)
}
