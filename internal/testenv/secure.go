package testenv

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SecureServers are scratch servers whose links need TLS and credentials, started by
// scripts/secure-links.sh for one test: a Kafka broker with only a SASL_SSL listener
// (SCRAM-SHA-512 and -256) and a PostgreSQL cluster that admits only TLS connections with a
// password, with certificates the script made. They run from the shared stack's binaries
// in a directory of their own on free ports, so the shared servers are not touched.
type SecureServers struct {
	// Dir is the servers' directory (certificates under Dir/certs).
	Dir string
	// KafkaBroker and PostgresAddr are host:port on 127.0.0.1.
	KafkaBroker, PostgresAddr string
	// CAFile signed both servers' certificates (for 127.0.0.1 and localhost); OtherCAFile
	// signed nothing they present. ServerCertFile and ServerKeyFile are the servers'
	// certificate and key (other TLS test servers may present them too).
	CAFile, OtherCAFile, ServerCertFile, ServerKeyFile string
	// KafkaUser, KafkaPasswordFile: the SCRAM credentials; PostgresUser, PostgresPassword:
	// the role owning the databases orders, inventory and payments.
	KafkaUser, KafkaPasswordFile, PostgresUser, PostgresPassword string
}

// StartSecureServers starts the scratch servers and stops them (and removes their
// directory) when the test ends. Without the shared stack's Kafka jars or PostgreSQL
// binaries (`make up` installs them) the test is skipped, or fails when servers are
// required.
func StartSecureServers(t testing.TB) SecureServers {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "secure-links.sh")
	stopAbandoned(t, script, root)
	dir, err := os.MkdirTemp("", secureDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	env := append(os.Environ(), "SHOPFLOW_STATE_DIR="+stateDir(root),
		"SHOPFLOW_SECURE_KAFKA_PORT="+strconv.Itoa(ports[0]), "SHOPFLOW_SECURE_KAFKA_CONTROLLER_PORT="+strconv.Itoa(ports[1]),
		"SHOPFLOW_SECURE_PG_PORT="+strconv.Itoa(ports[2]))
	t.Cleanup(func() {
		cmd := exec.Command(script, "stop", dir)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("secure-links.sh stop: %v\n%s", err, out)
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "start", dir)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "run scripts/stack.sh infra first") {
			unavailable(t, "kafka and postgres binaries", errors.New(strings.TrimSpace(string(out))))
		}
		t.Fatalf("secure-links.sh start: %v\n%s", err, out)
	}
	certs := filepath.Join(dir, "certs")
	return SecureServers{Dir: dir,
		KafkaBroker: fmt.Sprintf("127.0.0.1:%d", ports[0]), PostgresAddr: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		CAFile: filepath.Join(certs, "ca.pem"), OtherCAFile: filepath.Join(certs, "other-ca.pem"),
		ServerCertFile: filepath.Join(certs, "server.pem"), ServerKeyFile: filepath.Join(certs, "server.key"),
		KafkaUser: readTrimmed(t, filepath.Join(dir, "kafka-user")), KafkaPasswordFile: filepath.Join(dir, "kafka-password"),
		PostgresUser: readTrimmed(t, filepath.Join(dir, "pg-user")), PostgresPassword: readTrimmed(t, filepath.Join(dir, "pg-password"))}
}

// secureDirPrefix starts the name of every scratch servers' directory under os.TempDir.
const secureDirPrefix = "shopflow-secure-"

// stopAbandoned stops the scratch servers of test processes that ended without their
// cleanup (a test binary killed by its -timeout), and removes their directories.
func stopAbandoned(t testing.TB, script, root string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), secureDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || perr != nil || syscall.Kill(pid, 0) == nil {
			continue // not ours, or its owner still runs
		}
		cmd := exec.Command(script, "stop", dir)
		cmd.Env = append(os.Environ(), "SHOPFLOW_STATE_DIR="+stateDir(root))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("stop abandoned scratch servers in %s: %v\n%s", dir, err, out)
			continue
		}
		os.RemoveAll(dir)
	}
}

// DatabaseURL is the URL of a database on the TLS-only cluster with the given password and
// extra query parameters (e.g. "sslmode=verify-full&sslrootcert=…").
func (s SecureServers) DatabaseURL(db, password, query string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.PostgresUser, password), Host: s.PostgresAddr, Path: "/" + db, RawQuery: query}
	return u.String()
}

// SecureElasticProxy serves HTTPS with the certificate and key given, and passes the
// requests that carry "Authorization: ApiKey <apiKey>" to the configured (shared, plain
// http) Elasticsearch; others get Elasticsearch's 401. It stands in for a node with
// security on, which the local build cannot run (it has no x-pack). It returns the proxy's
// URL; the proxy stops when the test ends.
func SecureElasticProxy(t testing.TB, certFile, keyFile, apiKey string) string {
	t.Helper()
	target, err := url.Parse(Config(t).ElasticsearchURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // requests cancelled when serve stops
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "ApiKey") || subtle.ConstantTimeCompare([]byte(key), []byte(apiKey)) != 1 {
			w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security" charset="UTF-8"`)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"type":"security_exception","reason":"unable to authenticate with provided credentials and anonymous access is not allowed for this request"},"status":401}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes that tests make fail on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// repoRoot is the directory holding go.mod, from the test's working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// stateDir is the shared stack's state directory, where the scripts installed the servers.
func stateDir(root string) string {
	if d := os.Getenv("SHOPFLOW_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".shopflow")
}

// freePorts asks the kernel for n free ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func readTrimmed(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
