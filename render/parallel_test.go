package render

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func TestForChunksCoversEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 5000} {
		seen := make([]atomic.Int32, n)
		forChunks(n, func(lo, hi int) {
			require.True(t, 0 <= lo && lo < hi && hi <= n, "range [%d, %d) of %d", lo, hi, n)
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			require.EqualValues(t, 1, seen[i].Load(), "n=%d: index %d", n, i)
		}
	}
}

func TestReadAllWhateverTheSizeSaid(t *testing.T) {
	data := strings.Repeat("trellis ", 300)
	for _, size := range []int64{0, 1, int64(len(data)) - 1, int64(len(data)), int64(len(data)) + 10} {
		for name, r := range map[string]io.Reader{
			"whole":     strings.NewReader(data),
			"bytewise":  iotest.OneByteReader(strings.NewReader(data)),
			"eof-early": iotest.DataErrReader(strings.NewReader(data)),
		} {
			got, err := readAll(r, size)
			require.NoError(t, err, "%s, size %d", name, size)
			require.Equal(t, data, string(got), "%s, size %d", name, size)
		}
	}
	_, err := readAll(iotest.ErrReader(io.ErrUnexpectedEOF), 10)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}
