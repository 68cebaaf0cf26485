package render

import (
	"fmt"
	"runtime"
	"sync"
)

// runPool hands items, in order, to up to workers goroutines, until stop
// (when set) reports true; each goroutine handles the items it takes (and
// their index) with the function start made for it (which holds its own state, such as a
// CUE context). A panic in a worker is raised again in the caller, where
// bounded recovers it, not in a goroutine of its own, which would end the
// process; the items left are drained, not handled.
func runPool[T any](items []T, workers int, stop func() bool, start func(worker int) func(int, T)) {
	if len(items) == 0 {
		return
	}
	workers = max(1, min(workers, len(items)))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var failure any
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					once.Do(func() { failure = p })
					for range jobs { // let the feeder finish
					}
				}
			}()
			handle := start(i)
			for i := range jobs {
				handle(i, items[i])
			}
		}()
	}
	for i := range items {
		if stop != nil && stop() {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failure != nil {
		panic(fmt.Sprint(failure))
	}
}

// forChunks calls f on consecutive ranges [lo, hi) that together cover
// [0, n), on a worker per core: for work on each of many objects too
// small for a job of its own.
func forChunks(n int, f func(lo, hi int)) {
	const chunk = 512
	starts := make([]int, 0, n/chunk+1)
	for lo := 0; lo < n; lo += chunk {
		starts = append(starts, lo)
	}
	runPool(starts, cores(), nil, func(int) func(int, int) {
		return func(_ int, lo int) { f(lo, min(lo+chunk, n)) }
	})
}

// cores is how many goroutines a pool of CPU-bound work runs on.
func cores() int { return runtime.GOMAXPROCS(0) }
