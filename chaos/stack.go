package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ports are the scratch stack's listening ports, all on 127.0.0.1.
type Ports struct {
	Postgres, Kafka, KafkaController, Elasticsearch, ElasticsearchTransport int
}

// FreePorts asks the kernel for five free ports. They are free when asked; a server that
// starts a moment later finds them free unless something else took them meanwhile.
func FreePorts() (Ports, error) {
	var ps [5]int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := range ps {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Ports{}, fmt.Errorf("chaos: free port: %w", err)
		}
		lns = append(lns, ln)
		ps[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return Ports{ps[0], ps[1], ps[2], ps[3], ps[4]}, nil
}

// Stack is a scratch Shopflow stack of the fault suite's own: its own state directory
// (data, logs, pid files) and ports, started with the project's scripts, so that killing
// its servers disturbs nobody else's. Its shopflow processes are started by the Stack
// itself (see Instance). Not safe for concurrent use, except Instance methods.
type Stack struct {
	// Root is the repository root (scripts/ lives there).
	Root string
	// StateDir is the scratch stack's SHOPFLOW_STATE_DIR.
	StateDir string
	// SeedStateDir, if set, is another stack's state directory whose resolved Kafka and
	// Elasticsearch jars are copied (hard-linked where possible) instead of resolved again.
	SeedStateDir string
	// Ports of the servers.
	Ports Ports
	// Binary is the shopflow executable the instances run.
	Binary string
	// Env is added to every shopflow instance's environment (e.g. a shorter deadline).
	Env []string
	// Logf, if set, is told what the stack does.
	Logf func(format string, args ...any)
	// Token is a bearer token with every staff scope, minted by StartInfra with the
	// scratch stack's own local signing key (the instances trust its key set).
	Token string

	mu        sync.Mutex
	instances map[string]*Instance
}

func (s *Stack) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// env is the environment of the scripts: the caller's, without any SHOPFLOW_ or OTEL_
// variable (the caller may point at the shared stack and its Jaeger), plus the scratch
// stack's. Tracing is off: the scratch stack has no Jaeger of its own, and its traces must
// not land in the shared one, where other tests look for theirs.
func (s *Stack) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHOPFLOW_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	env = append(env, "OTEL_SDK_DISABLED=true")
	p := s.Ports
	return append(env,
		"SHOPFLOW_STATE_DIR="+s.StateDir,
		"SHOPFLOW_PG_PORT="+strconv.Itoa(p.Postgres),
		"SHOPFLOW_KAFKA_PORT="+strconv.Itoa(p.Kafka),
		"SHOPFLOW_KAFKA_CONTROLLER_PORT="+strconv.Itoa(p.KafkaController),
		"SHOPFLOW_ES_PORT="+strconv.Itoa(p.Elasticsearch),
		"SHOPFLOW_ES_TRANSPORT_PORT="+strconv.Itoa(p.ElasticsearchTransport),
		"SHOPFLOW_KAFKA_HEAP=512m",
		"SHOPFLOW_ES_HEAP=512m",
	)
}

// DatabaseURL is the URL of one context's database on the scratch server.
func (s *Stack) DatabaseURL(context string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s", s.Ports.Postgres, context)
}

// KafkaBroker is the scratch broker's address.
func (s *Stack) KafkaBroker() string { return fmt.Sprintf("127.0.0.1:%d", s.Ports.Kafka) }

// ElasticsearchURL is the scratch node's URL.
func (s *Stack) ElasticsearchURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.Ports.Elasticsearch)
}

// script runs scripts/<name>.sh with args in the scratch stack's environment; its output
// goes to logs/chaos-scripts.log and, on failure, into the error.
func (s *Stack) script(ctx context.Context, name string, args ...string) error {
	if err := os.MkdirAll(filepath.Join(s.StateDir, "logs"), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.Root, "scripts", name+".sh"), args...)
	cmd.Env = s.env()
	cmd.Dir = s.Root
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(filepath.Join(s.StateDir, "logs", "chaos-scripts.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); ferr == nil {
		fmt.Fprintf(f, "%s $ %s.sh %s\n%s", time.Now().Format(time.RFC3339), name, strings.Join(args, " "), out)
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("chaos: %s.sh %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Prepare stops whatever an earlier run of this state directory left running, wipes its
// data (every run starts from empty databases, topics and indices, so that the checks see
// only this run), and seeds the jars from SeedStateDir.
func (s *Stack) Prepare(ctx context.Context) error {
	s.stopLeftoverInstances()
	for _, name := range []string{"elasticsearch", "kafka"} {
		if err := s.script(ctx, name, "stop"); err != nil {
			return err
		}
	}
	if err := s.script(ctx, "postgres", "destroy"); err != nil {
		return err
	}
	for _, dir := range []string{"kafka/data", "kafka/cluster.id", "elasticsearch/home/data", "logs"} {
		if err := os.RemoveAll(filepath.Join(s.StateDir, dir)); err != nil {
			return fmt.Errorf("chaos: wipe %s: %w", dir, err)
		}
	}
	for _, lib := range []string{"kafka/lib", "elasticsearch/lib"} {
		if err := s.seedJars(lib); err != nil {
			return err
		}
	}
	return nil
}

// seedJars copies SeedStateDir/lib into the state directory when it has none: the scripts
// then find their build stamp up to date and skip Maven.
func (s *Stack) seedJars(lib string) error {
	dst := filepath.Join(s.StateDir, lib)
	src := filepath.Join(s.SeedStateDir, lib)
	if s.SeedStateDir == "" || fileExists(filepath.Join(dst, ".stamp")) || !fileExists(filepath.Join(src, ".stamp")) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	os.RemoveAll(dst)
	if err := exec.Command("cp", "-al", src, dst).Run(); err == nil {
		return nil
	}
	os.RemoveAll(dst)
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: copy %s: %w: %s", src, err, out)
	}
	return nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// StartInfra starts Postgres, Kafka and Elasticsearch, in parallel, and creates the
// topics with the shopflow binary.
func (s *Stack) StartInfra(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, name := range []string{"postgres", "kafka", "elasticsearch"} {
		wg.Go(func() { errs[i] = s.script(ctx, name, "start") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := s.shopflow(ctx, "topics"); err != nil {
		return err
	}
	if _, err := s.shopflow(ctx, "auth", "init-local", filepath.Join(s.StateDir, "auth")); err != nil {
		return err
	}
	tok, err := s.shopflow(ctx, "token", "--role", "all", "--subject", "make-chaos", "--ttl", "12h")
	s.Token = strings.TrimSpace(tok)
	return err
}

// shopflow runs a shopflow subcommand in an instance's environment and returns its
// standard output.
func (s *Stack) shopflow(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Binary, args...)
	cmd.Env = s.instanceEnv("cli", 0)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chaos: shopflow %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// StopInstances stops every shopflow process of the stack gracefully.
func (s *Stack) StopInstances() {
	s.mu.Lock()
	insts := make([]*Instance, 0, len(s.instances))
	for _, in := range s.instances {
		insts = append(insts, in)
	}
	s.mu.Unlock()
	for _, in := range insts {
		in.Stop(20 * time.Second)
	}
}

// Stop stops every instance and server of the stack (servers with the scripts' graceful
// stop). It leaves the data in place, for a look after the run.
func (s *Stack) Stop(ctx context.Context) error {
	s.StopInstances()
	var errs []error
	for _, name := range []string{"elasticsearch", "kafka", "postgres"} {
		errs = append(errs, s.script(ctx, name, "stop"))
	}
	return errors.Join(errs...)
}

// pid reads a server's pid file (run/<name>.pid).
func (s *Stack) pid(name string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(s.StateDir, "run", name+".pid"))
	if err != nil {
		return 0, fmt.Errorf("chaos: %s pid: %w", name, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// KillServer sends SIGKILL to the scratch Kafka or Elasticsearch ("kafka",
// "elasticsearch") and waits until it is gone.
func (s *Stack) KillServer(name string) error {
	pid, err := s.pid(name)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("chaos: kill -9 %s (%d): %w", name, pid, err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// StartServer starts a server again with its script and returns when the script saw it
// ready.
func (s *Stack) StartServer(ctx context.Context, name string) error {
	return s.script(ctx, name, "start")
}

// CrashPostgres stops the scratch Postgres immediately (no checkpoint: crash recovery on
// the next start).
func (s *Stack) CrashPostgres(ctx context.Context) error { return s.script(ctx, "postgres", "crash") }

// instanceEnv is the environment of a shopflow process named name on httpPort.
func (s *Stack) instanceEnv(name string, httpPort int) []string {
	env := s.env()
	env = append(env,
		"SHOPFLOW_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"SHOPFLOW_ORDERS_DATABASE_URL="+s.DatabaseURL("orders"),
		"SHOPFLOW_INVENTORY_DATABASE_URL="+s.DatabaseURL("inventory"),
		"SHOPFLOW_PAYMENTS_DATABASE_URL="+s.DatabaseURL("payments"),
		"SHOPFLOW_KAFKA_BROKERS="+s.KafkaBroker(),
		"SHOPFLOW_ES_URLS="+s.ElasticsearchURL(),
		"SHOPFLOW_INSTANCE_ID=chaos-"+name,
		// The scratch stack's own local issuer, as make up sets up its own (scripts/lib.sh).
		"SHOPFLOW_AUTH_ISSUER=shopflow-local",
		"SHOPFLOW_AUTH_JWKS_FILE="+filepath.Join(s.StateDir, "auth", "jwks.json"),
		"SHOPFLOW_AUTH_SIGNING_KEY="+filepath.Join(s.StateDir, "auth", "signing-key.json"),
	)
	return append(env, s.Env...)
}

// Instance is one shopflow serve process of the stack. Its methods are safe for concurrent
// use.
type Instance struct {
	Name string
	URL  string

	stack *Stack
	port  int
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
}

// StartInstance starts a shopflow serve process named name (its consumer-group instance id
// is chaos-<name>) on a free port and waits until /readyz answers 200.
func (s *Stack) StartInstance(ctx context.Context, name string) (*Instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	in := &Instance{Name: name, URL: fmt.Sprintf("http://127.0.0.1:%d", port), stack: s, port: port}
	s.mu.Lock()
	if s.instances == nil {
		s.instances = map[string]*Instance{}
	}
	s.instances[name] = in
	s.mu.Unlock()
	return in, in.Start(ctx)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("chaos: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the process (again) and waits until it is ready.
func (in *Instance) Start(ctx context.Context) error {
	s := in.stack
	logf, err := os.OpenFile(filepath.Join(s.StateDir, "logs", "shopflow-"+in.Name+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.Binary, "serve")
	cmd.Env = s.instanceEnv(in.Name, in.port)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("chaos: start shopflow %s: %w", in.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	os.WriteFile(in.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	in.mu.Lock()
	in.cmd, in.done = cmd, done
	in.mu.Unlock()
	return in.WaitReady(ctx, 90*time.Second)
}

func (in *Instance) pidFile() string {
	return filepath.Join(in.stack.StateDir, "run", "chaos-shopflow-"+in.Name+".pid")
}

// Ready reports whether /readyz answers 200.
func (in *Instance) Ready() bool {
	c := http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(in.URL + "/readyz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// WaitReady polls /readyz every 50 ms until it answers 200, the process exits or timeout
// passes.
func (in *Instance) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !in.Ready() {
		in.mu.Lock()
		done := in.done
		in.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("chaos: shopflow %s exited (see logs/shopflow-%s.log)", in.Name, in.Name)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chaos: shopflow %s not ready after %v", in.Name, timeout)
		}
	}
	return nil
}

// Signal sends sig to the process.
func (in *Instance) Signal(sig syscall.Signal) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return fmt.Errorf("chaos: shopflow %s not started", in.Name)
	}
	return in.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits until the process is gone.
func (in *Instance) Kill() error {
	if err := in.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	in.mu.Lock()
	done := in.done
	in.mu.Unlock()
	<-done
	return nil
}

// Stop sends SIGTERM (after SIGCONT, in case it is frozen) and waits up to timeout, then
// kills it.
func (in *Instance) Stop(timeout time.Duration) {
	in.mu.Lock()
	done, cmd := in.done, in.cmd
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
	}
	os.Remove(in.pidFile())
}

// stopLeftoverInstances kills the shopflow processes an interrupted earlier run left, by
// the pid files it wrote.
func (s *Stack) stopLeftoverInstances() {
	files, _ := filepath.Glob(filepath.Join(s.StateDir, "run", "chaos-shopflow-*.pid"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && isShopflow(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Remove(f)
	}
}

// isShopflow reports whether pid runs a "shopflow serve" (a pid file may be stale and the
// pid reused by now).
func isShopflow(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(raw), "shopflow") && strings.Contains(string(raw), "serve")
}
