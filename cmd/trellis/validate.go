package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/render"
)

// validateReport is what `validate -o json` prints.
type validateReport struct {
	Dir          string           `json:"dir"`
	Valid        bool             `json:"valid"`
	Declarations int              `json:"declarations"`
	Manifests    int              `json:"manifests"`
	Problems     []render.Problem `json:"problems"`
}

func newValidateCommand(s streams) *cobra.Command {
	var output string
	var sops sopsOptions
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Validate the declarations of a config repo",
		Long: `Validate every declaration of the config repo in DIR against the schemas, and
the references between them (clusters, namespaces, node pools, pipeline steps,
quotas), and every custom resource against its upstream CRD's schema. Every
problem is printed as path:line:col: message; the exit code is 1 when there is
any. -o json prints a report instead; -o github prints GitHub Actions
annotations (::error file=...,line=...,col=...::message), which put each
problem on its line of a pull request's diff.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "text", "json", "github":
			default:
				return usageError{fmt.Errorf("--output must be text, json or github, not %q", output)}
			}
			dir := args[0]
			// Everything render checks: validate passes only what renders.
			keys, err := sops.keys()
			if err != nil {
				return err
			}
			res, err := render.Dir(cmd.Context(), dir, render.Options{UpstreamSchemas: true, SOPS: keys})
			switch output {
			case "json":
				return printValidateJSON(s.out, dir, res, err)
			case "github":
				if err != nil {
					printAnnotations(s.out, err, dir)
					return failed()
				}
			default:
				if err != nil {
					printProblems(s.err, err, dir)
					return failed()
				}
			}
			fmt.Fprintf(s.out, "%s: %d declarations and %d manifests are valid\n", dir, len(res.Declarations), res.Manifests)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text (path:line:col: message), json, or github (Actions annotations)")
	cmd.Flags().StringVar(&output, "format", "text", "the same as --output")
	addSOPSFlags(cmd.Flags(), &sops)
	return cmd
}

// printValidateJSON prints the report of a validation; invalid input exits 1.
func printValidateJSON(w io.Writer, dir string, res *render.Result, err error) error {
	r := validateReport{Dir: dir, Valid: err == nil, Problems: []render.Problem{}}
	if err != nil {
		r.Problems = render.Problems(err, dir, render.Explain())
		if len(r.Problems) == 0 {
			r.Problems = []render.Problem{{Message: err.Error()}}
		}
	} else {
		r.Declarations, r.Manifests = len(res.Declarations), res.Manifests
	}
	b, jerr := json.MarshalIndent(r, "", "  ")
	if jerr != nil {
		return jerr
	}
	fmt.Fprintln(w, string(b))
	if err != nil {
		return failed()
	}
	return nil
}

// printAnnotations prints each problem of err as a GitHub Actions error
// annotation, its file relative to the workspace (dir joined to the
// problem's path, when dir is relative).
func printAnnotations(w io.Writer, err error, dir string) {
	problems := render.Problems(err, dir, render.Explain())
	if len(problems) == 0 {
		problems = []render.Problem{{Message: err.Error()}}
	}
	for _, p := range problems {
		msg := p.Message
		if p.More > 0 {
			msg = fmt.Sprintf("… and %d more problems", p.More)
		}
		if p.Path == "" {
			fmt.Fprintf(w, "::error title=trellis validate::%s\n", escapeData(msg))
			continue
		}
		file := p.Path
		if !filepath.IsAbs(dir) {
			file = filepath.ToSlash(filepath.Join(dir, p.Path))
		}
		fmt.Fprintf(w, "::error file=%s,line=%d,col=%d,title=trellis validate::%s\n",
			escapeProperty(file), p.Line, p.Column, escapeData(msg))
	}
}

// escapeData and escapeProperty escape a workflow command's message and
// property values, as GitHub's toolkit does (@actions/core command.ts).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// printProblems prints each problem of err as path:line:col: message,
// paths relative to dir.
func printProblems(w io.Writer, err error, dir string) {
	problems := render.Problems(err, dir, render.Explain())
	for _, p := range problems {
		if p.Path == "" && p.More == 0 {
			fmt.Fprintln(w, "error:", p)
			continue
		}
		fmt.Fprintln(w, p)
	}
	if len(problems) == 0 {
		fmt.Fprintln(w, "error:", err)
	}
}
