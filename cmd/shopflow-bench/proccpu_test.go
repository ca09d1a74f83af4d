package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// statLine is a /proc/<pid>/stat line of a process named comm using the given ticks.
func statLine(comm string, utime, stime, cutime, cstime int) string {
	return fmt.Sprintf("4242 (%s) S 1 4242 4242 0 -1 4194560 1019 0 0 0 %d %d %d %d 20 0 1 0 12345 "+
		"171892736 4567 18446744073709551615 1 1 0 0 0 0 0 4096 1536 0 0 0 17 1 0 0 0 0 0\n", comm, utime, stime, cutime, cstime)
}

// The comm field may hold spaces and parentheses; the ticks are read after the last ')'.
func TestParseProcStat(t *testing.T) {
	for _, comm := range []string{"postgres", "a b", "x) S 1 2 (y", "((", ")"} {
		t.Run(comm, func(t *testing.T) {
			s, err := parseProcStat(statLine(comm, 11, 22, 33, 44))
			if err != nil {
				t.Fatal(err)
			}
			want := procStat{comm: comm, utime: 11, stime: 22, cutime: 33, cstime: 44}
			if s != want {
				t.Errorf("got %+v, want %+v", s, want)
			}
		})
	}
}

func TestParseProcStatRejectsTruncatedLines(t *testing.T) {
	for name, line := range map[string]string{
		"no comm":   "4242 postgres S 1 2 3",
		"truncated": "4242 (postgres) S 1 4242 4242 0 -1 4194560 1019 0 0 0 11 22",
		"not ticks": "4242 (postgres) S 1 4242 4242 0 -1 4194560 1019 0 0 0 11 x 33 44 20 0 1",
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := parseProcStat(line); err == nil {
				t.Errorf("parsed %+v, want an error", s)
			}
		})
	}
}

func TestIsPostgres(t *testing.T) {
	for _, c := range []struct {
		comm, cmdline string
		want          bool
	}{
		{"postgres", "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/data\x00", true},
		{"postgres", "postgres: checkpointer   ", true},
		{"postmaster", "", true},
		{"pg", "/opt/pg/bin/postgres\x00-D\x00/data\x00", true},
		{"bash", "postgres: postgres bench_1 127.0.0.1(5000) idle", true},
		{"psql", "psql\x00postgres://127.0.0.1/orders\x00", false},
		{"shopflow-bench", "/tmp/shopflow-bench\x00-only\x00burst_recovery\x00", false},
		{"java", "", false},
	} {
		if got := isPostgres(c.comm, []byte(c.cmdline)); got != c.want {
			t.Errorf("isPostgres(%q, %q) = %v, want %v", c.comm, c.cmdline, got, c.want)
		}
	}
}

func TestBackendDatabase(t *testing.T) {
	for cmdline, want := range map[string]string{
		"postgres: postgres bench_ab12 127.0.0.1(51662) idle":            "bench_ab12",
		"postgres: shop orders [local] SELECT":                           "orders",
		"postgres: autovacuum worker bench_ab12":                         "",
		"postgres: checkpointer ":                                        "",
		"/usr/lib/postgresql/15/bin/postgres\x00-D\x00/data\x00":         "",
		"postgres: postgres orders 127.0.0.1(40000) idle in transaction": "orders",
	} {
		if got := backendDatabase([]byte(cmdline)); got != want {
			t.Errorf("backendDatabase(%q) = %q, want %q", cmdline, got, want)
		}
	}
}

// postgresTicks sums the ticks of Postgres processes only, including what the postmaster's
// reaped children used, and skips entries that are not processes.
func TestPostgresTicks(t *testing.T) {
	root := t.TempDir()
	procs := map[string][2]string{
		"100":  {statLine("postgres", 1, 2, 30, 40), "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/data\x00"},
		"101":  {statLine("postgres", 5, 5, 0, 0), "postgres: postgres bench_x 127.0.0.1(5000) idle"},
		"102":  {statLine("postgres", 100, 0, 0, 0), "postgres: postgres other 127.0.0.1(5001) idle"},
		"200":  {statLine("java (kafka)", 500, 500, 0, 0), "java\x00-cp\x00kafka\x00"},
		"self": {statLine("postgres", 900, 900, 0, 0), ""}, // not a pid
	}
	for pid, p := range procs {
		dir := filepath.Join(root, pid)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{"stat": p[0], "cmdline": p[1]} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(root, "300"), 0o755); err != nil { // exited while listed
		t.Fatal(err)
	}
	total, byDB, err := postgresTicks(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + 2 + 30 + 40 + 10 + 100); total != want {
		t.Errorf("total = %d, want %d", total, want)
	}
	if byDB["bench_x"] != 10 || byDB["other"] != 100 || len(byDB) != 2 {
		t.Errorf("byDB = %v, want bench_x:10 other:100", byDB)
	}
}

// The live /proc parses, and this process's ticks grow while it computes.
func TestSelfTicksGrow(t *testing.T) {
	before, err := selfTicks()
	if err != nil {
		t.Skip("no /proc:", err)
	}
	x := 0
	for after := before; after == before; after, err = selfTicks() {
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10_000_000 {
			x += i
		}
	}
	if _, err := sampleCPU(nil); err != nil {
		t.Fatal(err)
	}
	_ = x
}
