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

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
