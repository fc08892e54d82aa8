package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Run: go test -run '^$' -bench . -benchtime 20x ./browserd/engine

func BenchmarkSessionCreateClose(b *testing.B) {
	e := startEngine(b, Config{MaxActions: 1 << 30, ActionsPerSecond: 1 << 30})
	ctx := context.Background()
	for b.Loop() {
		info, err := e.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.CloseSession(info.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNavigateLocal(b *testing.B) {
	e := startEngine(b, Config{MaxActions: 1 << 30, ActionsPerSecond: 1 << 30})
	site := testSite(b)
	id := create(b, e)
	for b.Loop() {
		navigate(b, e, id, site.URL+"/form")
	}
}

func BenchmarkScreenshot(b *testing.B) {
	e := startEngine(b, Config{MaxActions: 1 << 30, ActionsPerSecond: 1 << 30})
	site := testSite(b)
	id := create(b, e)
	navigate(b, e, id, site.URL+"/form")
	for b.Loop() {
		if _, err := e.Screenshot(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshot(b *testing.B) {
	e := startEngine(b, Config{MaxActions: 1 << 30, ActionsPerSecond: 1 << 30})
	site := testSite(b)
	id := create(b, e)
	navigate(b, e, id, site.URL+"/form")
	for b.Loop() {
		if _, err := e.Snapshot(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryPerSession opens 10 sessions, each on a small local page, and reports
// what the browser's processes grew by per session: PSS (shared pages split between
// the processes that share them) and RSS summed (shared pages counted in each).
func BenchmarkMemoryPerSession(b *testing.B) {
	const n = 10
	for b.Loop() {
		e := startEngine(b, Config{MaxSessions: n})
		site := testSite(b)
		e.mu.Lock()
		dir := e.browser.userDataDir
		e.mu.Unlock()
		// one session first, so the renderer and network processes exist before the baseline
		warm := create(b, e)
		navigate(b, e, warm, site.URL+"/form")
		pss0, rss0, procs0 := memoryOf(dir)
		for range n - 1 {
			navigate(b, e, create(b, e), site.URL+"/form")
		}
		pss1, rss1, procs1 := memoryOf(dir)
		b.ReportMetric(float64(pss1-pss0)/(n-1)/1024, "PSS-MiB/session")
		b.ReportMetric(float64(rss1-rss0)/(n-1)/1024, "RSS-MiB/session")
		b.ReportMetric(float64(pss0)/1024, "PSS-MiB-1-session")
		b.ReportMetric(float64(procs1-procs0)/(n-1), "procs/session")
		_ = procs0
		e.Close()
	}
}

// memoryOf sums PSS and RSS in KiB over the live processes whose command line holds dir.
func memoryOf(dir string) (pss, rss int64, procs int) {
	for _, pid := range chromiumWith(dir) {
		procs++
		pss += kib(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
		rss += kib(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	}
	return pss, rss, procs
}

func kib(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			var n int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &n)
			return n
		}
	}
	return 0
}
