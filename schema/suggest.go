package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Closest returns the candidate nearest to word (case-insensitive edit
// distance) when it is near enough to be what was meant: at most a third of
// the word's length apart, and at least 1 for short words. Otherwise "".
func Closest(word string, candidates []string) string {
	best, bestDist := "", -1
	limit := max(1, len(word)/3)
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// Hint says what a name that is none of candidates might have been:
// "did you mean staging? (known: prod, staging)", "known: prod, staging",
// or "none are declared".
func Hint(word string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	switch closest := Closest(word, sorted); {
	case len(sorted) == 0:
		return "none are declared"
	case closest != "":
		return fmt.Sprintf("did you mean %s? (known: %s)", closest, strings.Join(sorted, ", "))
	}
	return "known: " + strings.Join(sorted, ", ")
}

// editDistance is the optimal-string-alignment distance between a and b,
// in bytes: insertions, deletions, substitutions and transpositions of two
// neighbours (qouta, quota) cost one each.
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(a)][len(b)]
}
