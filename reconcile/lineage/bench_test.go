package lineage

import (
	"context"
	"testing"

	"trellis.dev/trellis/test/gitserver"
)

// BenchmarkLineagePush measures the write-back of one run: its record and
// log queued on disk, then pushed as one commit to the lineage branch of a
// repo on the loopback Git server, which already holds the records of the
// earlier iterations.
func BenchmarkLineagePush(b *testing.B) {
	srv := gitserver.Start(b, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(b, "config")
	srv.Commit(b, url, map[string]string{"README.md": "config\n"}, "init")
	w := newTestWriter(srv, url, b.TempDir())
	log := []byte("level=INFO msg=applied summary=\"1 configured\"\n")
	// A first push creates the branch and the writer's local clone.
	if err := w.Enqueue(testRecord(0, "staging"), log); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := w.Enqueue(testRecord(i+1, "staging"), log); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
