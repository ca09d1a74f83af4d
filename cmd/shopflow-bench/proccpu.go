package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// procStat is what the CPU figures need of one /proc/<pid>/stat line, in clock ticks.
type procStat struct {
	comm                         string
	utime, stime, cutime, cstime int64
}

// parseProcStat parses a /proc/<pid>/stat line. The comm field (the second) is the
// executable name in parentheses and may itself hold spaces and parentheses, so the numeric
// fields are read after the last ')': state is field 3, utime to cstime fields 14 to 17.
func parseProcStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("proc stat %.40q: no (comm)", line)
	}
	fields := strings.Fields(line[end+1:])
	if len(fields) < 15 {
		return procStat{}, fmt.Errorf("proc stat %.40q: %d fields after comm", line, len(fields))
	}
	s := procStat{comm: line[open+1 : end]}
	for i, dst := range []*int64{&s.utime, &s.stime, &s.cutime, &s.cstime} {
		v, err := strconv.ParseInt(fields[11+i], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("proc stat field %d: %w", 14+i, err)
		}
		*dst = v
	}
	return s, nil
}

// isPostgres tells whether a process is a Postgres server process: the postmaster, whose
// argv[0] is the postgres binary, or one of its children (backends, checkpointer, walwriter,
// autovacuum…), which keep the comm "postgres" and retitle their command line
// "postgres: …".
func isPostgres(comm string, cmdline []byte) bool {
	if comm == "postgres" || comm == "postmaster" {
		return true
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	base := filepath.Base(string(argv0))
	return base == "postgres" || base == "postmaster" || bytes.HasPrefix(cmdline, []byte("postgres:"))
}

// postgresTicks sums utime+stime over every Postgres process under procRoot (normally
// /proc), plus their cutime+cstime: a backend that exits is reaped by the postmaster and its
// CPU moves into the postmaster's cutime+cstime, so the sum never drops when a connection
// closes and counts processes that lived between two samples. byDB is the part of live
// backends connected to each database. Processes that exit while being read are skipped.
func postgresTicks(procRoot string) (total int64, byDB map[string]int64, err error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, nil, err
	}
	byDB = map[string]int64{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		s, cmdline, ok, err := readPostgresStat(filepath.Join(procRoot, e.Name()))
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			continue
		}
		total += s.utime + s.stime + s.cutime + s.cstime
		if db := backendDatabase(cmdline); db != "" {
			byDB[db] += s.utime + s.stime
		}
	}
	return total, byDB, nil
}

// readPostgresStat reads one process's stat and command line, and reports whether it is a
// Postgres process.
func readPostgresStat(dir string) (procStat, []byte, bool, error) {
	line, err := os.ReadFile(filepath.Join(dir, "stat"))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return procStat{}, nil, false, nil
	}
	if err != nil {
		return procStat{}, nil, false, err
	}
	s, err := parseProcStat(string(line))
	if err != nil {
		return procStat{}, nil, false, err
	}
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline")) // gone or unreadable: only comm tells
	return s, cmdline, isPostgres(s.comm, cmdline), nil
}

// backendDatabase is the database of a backend, from the command line Postgres gives it
// ("postgres: <user> <database> <host>(<port>) <state>", or "[local]" for a Unix socket);
// "" for other processes.
func backendDatabase(cmdline []byte) string {
	f := strings.Fields(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	if len(f) < 4 || f[0] != "postgres:" || !(strings.HasSuffix(f[3], ")") || f[3] == "[local]") {
		return ""
	}
	return f[2]
}

// selfTicks is this process's utime+stime (every thread), from /proc/self/stat.
func selfTicks() (int64, error) {
	line, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	s, err := parseProcStat(string(line))
	return s.utime + s.stime, err
}

// clockTicks is the kernel's clock ticks per second (USER_HZ), from getconf CLK_TCK once;
// 100, its value on every common Linux, when getconf fails.
var clockTicks = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if hz, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && hz > 0 {
		return float64(hz)
	}
	return 100
})

// cpuSample is the CPU seconds Postgres and this process have used so far; rigPG is the
// part of Postgres's that the live backends of the given databases used.
type cpuSample struct{ pg, rigPG, app float64 }

// sampleCPU reads them from /proc.
func sampleCPU(rigDBs []string) (cpuSample, error) {
	pg, byDB, err1 := postgresTicks("/proc")
	app, err2 := selfTicks()
	if err := errors.Join(err1, err2); err != nil {
		return cpuSample{}, fmt.Errorf("read CPU from /proc: %w", err)
	}
	var rig int64
	for _, db := range rigDBs {
		rig += byDB[db]
	}
	hz := clockTicks()
	return cpuSample{pg: float64(pg) / hz, rigPG: float64(rig) / hz, app: float64(app) / hz}, nil
}

// sub is the CPU used between two samples.
func (s cpuSample) sub(earlier cpuSample) cpuSample {
	return cpuSample{pg: s.pg - earlier.pg, rigPG: s.rigPG - earlier.rigPG, app: s.app - earlier.app}
}

func (s cpuSample) total() float64 { return s.pg + s.app }
