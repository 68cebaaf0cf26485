package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/source"
)

// lineageFlags are the flags every lineage command shares.
type lineageFlags struct {
	repo, branch, cluster string
	// auth reads the credentials of --repo as trellis serve does.
	auth source.Auth
}

func (f *lineageFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.repo, "repo", "", "config repo: a URL or a local directory (required)")
	cmd.Flags().StringVar(&f.branch, "branch", lineage.DefaultBranch, "lineage branch")
	f.auth.AddFlags(cmd.Flags())
}

// check refuses a missing --repo, as a usage error.
func (f *lineageFlags) check() error {
	if f.repo == "" {
		return usageError{fmt.Errorf("--repo is required: the config repo's URL or a local directory")}
	}
	return nil
}

func (f *lineageFlags) open(cmd *cobra.Command) (*lineage.Store, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	auth, err := f.auth.Method(f.repo)
	if err != nil {
		return nil, fmt.Errorf("--repo: %w", err)
	}
	return lineage.Open(cmd.Context(), f.repo, f.branch, auth)
}

func newLineageCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lineage",
		Short: "List, show and trace the lineage records on the lineage branch",
		Long: "Every run of trellis commits a lineage record and its log to the lineage branch\n" +
			"of the config repo (default " + lineage.DefaultBranch + "). These commands read them.",
	}
	cmd.AddCommand(newLineageListCommand(s), newLineageShowCommand(s), newLineageTraceCommand(s), newLineageServeCommand(s))
	return cmd
}

func newLineageListCommand(s streams) *cobra.Command {
	var f lineageFlags
	var limit int
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return usageError{fmt.Errorf("--output %q: want json or nothing", output)}
			}
			st, err := f.open(cmd)
			if err != nil {
				return err
			}
			recs, err := st.Records()
			if err != nil {
				return err
			}
			recs = filterRecords(recs, f.cluster, limit)
			if output == "json" {
				return writeJSON(s.out, recs)
			}
			return writeRunTable(s.out, recs)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.cluster, "cluster", "", "only runs of this cluster")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many runs (0: all)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: a table)")
	return cmd
}

func filterRecords(recs []lineage.Record, cluster string, limit int) []lineage.Record {
	out := []lineage.Record{}
	for _, r := range recs {
		if cluster != "" && r.Cluster != cluster {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, r)
	}
	return out
}

func writeRunTable(w io.Writer, recs []lineage.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tCLUSTER\tREVISION\tRESULT\tOBJECTS CHANGED")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.RunID, r.Cluster, lineage.ShortRevision(r.Source.Revision), r.Result, r.Changed())
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newLineageShowCommand(s streams) *cobra.Command {
	var f lineageFlags
	var withLog bool
	cmd := &cobra.Command{
		Use:   "show RUN-ID",
		Short: "Print a run's record (or its log, with --log)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.open(cmd)
			if err != nil {
				return err
			}
			if withLog {
				log, err := st.Log(args[0])
				if err != nil {
					return err
				}
				_, err = s.out.Write(log)
				return err
			}
			rec, err := st.Record(args[0])
			if err != nil {
				return err
			}
			return writeJSON(s.out, rec)
		},
	}
	cmd.ValidArgsFunction = completeRunIDs(&f)
	f.register(cmd)
	cmd.Flags().BoolVar(&withLog, "log", false, "print the run's log instead of its record")
	return cmd
}

func newLineageTraceCommand(s streams) *cobra.Command {
	var f lineageFlags
	var endpoint, revision, output string
	cmd := &cobra.Command{
		Use:   "trace --endpoint NAME | --revision SHA",
		Short: "Which commit and pipeline run produced an endpoint's model, or what a commit led to",
		Long: `With --endpoint, walk back from an endpoint: the model it serves, the pipeline
run whose output that model is, and the commit whose apply created that run.

With --revision, walk forward from a commit: the applies of it, the pipeline
runs they created with their phase and outputs, and the endpoints pinned to
those outputs.

-o json, dot or mermaid prints the walk as a graph (nodes and edges):
JSON for scripts, DOT for Graphviz (dot -Tsvg), Mermaid for Markdown.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (endpoint == "") == (revision == "") {
				return usageError{fmt.Errorf("give one of --endpoint or --revision")}
			}
			if !slices.Contains([]string{"", "text", "json", "dot", "mermaid"}, output) {
				return usageError{fmt.Errorf("--output %q: want text, json, dot or mermaid", output)}
			}
			st, err := f.open(cmd)
			if err != nil {
				return err
			}
			recs, err := st.Records()
			if err != nil {
				return err
			}
			var graph lineage.Graph
			var text func(io.Writer)
			if revision != "" {
				out, err := lineage.Forward(recs, revision)
				if err != nil {
					return err
				}
				graph, text = out.Graph(), func(w io.Writer) { writeOutcome(w, out) }
			} else {
				chain, err := lineage.Trace(recs, endpoint, f.cluster)
				if err != nil {
					return err
				}
				graph, text = chain.Graph(), func(w io.Writer) { writeChain(w, chain) }
			}
			switch output {
			case "json":
				return writeJSON(s.out, graph)
			case "dot":
				_, err = io.WriteString(s.out, graph.DOT())
			case "mermaid":
				_, err = io.WriteString(s.out, graph.Mermaid())
			default:
				text(s.out)
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.cluster, "cluster", "", "the endpoint's cluster (default: any)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the Endpoint's (InferenceService's) name")
	cmd.Flags().StringVar(&revision, "revision", "", "a commit of the config repo (at least 7 characters)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json, dot or mermaid")
	return cmd
}

// writeOutcome prints what a commit led to, one link a paragraph.
func writeOutcome(w io.Writer, o lineage.Outcome) {
	first := o.Applied[len(o.Applied)-1]
	fmt.Fprintf(w, "commit     %s\n", first.Source.Revision)
	if first.Source.Author != "" {
		fmt.Fprintf(w, "  author   %s\n", first.Source.Author)
	}
	if first.Source.Message != "" {
		fmt.Fprintf(w, "  message  %s\n", lineage.FirstLine(first.Source.Message))
	}
	for i := len(o.Applied) - 1; i >= 0; i-- {
		r := o.Applied[i]
		fmt.Fprintf(w, "applied    to %s by run %s (%s)\n", r.Cluster, r.RunID, r.Result)
	}
	if len(o.Runs) == 0 {
		fmt.Fprintln(w, "pipeline runs: none created")
		return
	}
	for _, p := range o.Runs {
		r := p.Run
		phase := r.Phase
		if phase == "" {
			phase = "not followed"
		}
		fmt.Fprintf(w, "pipeline run Workflow %s/%s/%s (%s", p.Cluster, r.Namespace, r.Name, phase)
		if r.Finished != nil {
			fmt.Fprintf(w, ", finished %s", r.Finished.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w, ")")
		for _, out := range r.Outputs {
			fmt.Fprintf(w, "  %-9s %s/%s = %s\n", out.Kind, out.Step, out.Name, out.Value)
		}
		for _, sv := range p.Served {
			fmt.Fprintf(w, "  served by endpoint %s/%s/%s (%s/%s/%s), pinned by run %s\n", p.Cluster, sv.Pin.Namespace, sv.Pin.Endpoint,
				sv.Pin.Pipeline, sv.Pin.Step, sv.Pin.Artifact, sv.Record.RunID)
		}
		if len(p.Served) == 0 {
			fmt.Fprintln(w, "  served by no endpoint")
		}
	}
}

// writeChain prints a trace, one link a paragraph.
func writeChain(w io.Writer, c lineage.Chain) {
	e := c.Serving
	fmt.Fprintf(w, "endpoint   %s/%s/%s (InferenceService, %s)\n", c.Endpoint.Cluster, e.Namespace, e.Name, e.Phase)
	if e.URL != "" {
		fmt.Fprintf(w, "  url      %s\n", e.URL)
	}
	fmt.Fprintf(w, "  recorded run %s at revision %s\n", c.Endpoint.RunID, lineage.ShortRevision(c.Endpoint.Source.Revision))
	fmt.Fprintf(w, "model      %s\n", c.ModelURI)
	if c.Pin != nil {
		fmt.Fprintf(w, "  pinned to %s/%s/%s of run %s\n", c.Pin.Pipeline, c.Pin.Step, c.Pin.Artifact, c.Pin.Run)
	}
	if c.Producer == nil {
		fmt.Fprintln(w, "produced by: no recorded pipeline run has this output")
		return
	}
	p := c.Producer
	fmt.Fprintf(w, "produced by Workflow %s/%s (%s, %s", p.Namespace, p.Name, p.RunOf, p.Phase)
	if p.Finished != nil {
		fmt.Fprintf(w, ", finished %s", p.Finished.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, ")\n  output   %s/%s\n", c.Output.Step, c.Output.Name)
	r := c.Creator
	fmt.Fprintf(w, "created by run %s\n", r.RunID)
	fmt.Fprintf(w, "  commit   %s\n", r.Source.Revision)
	if r.Source.Author != "" {
		fmt.Fprintf(w, "  author   %s\n", r.Source.Author)
	}
	if r.Source.Message != "" {
		fmt.Fprintf(w, "  message  %s\n", lineage.FirstLine(r.Source.Message))
	}
}
