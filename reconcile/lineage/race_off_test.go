//go:build !race

package lineage

// raceDetector is true when the tests run under -race.
const raceDetector = false
