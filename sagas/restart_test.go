package sagas_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/internal/supervisor"
	"github.com/shopflow/shopflow/sagas"
)

// TestMain doubles as the reactor process of the restart test: with
// SHOPFLOW_TEST_REACTORS set, the test binary runs the three reactors until it is killed.
func TestMain(m *testing.M) {
	if spec := os.Getenv("SHOPFLOW_TEST_REACTORS"); spec != "" {
		runReactorsChild(spec)
		return
	}
	os.Exit(m.Run())
}

// reactorsSpec is what the child process needs: the saga configuration's names and the
// three databases.
type reactorsSpec struct {
	Brokers                     []string
	Orders, Inventory, Payments sagas.ContextConfig
	InstanceID                  string
	SessionTimeout              time.Duration
	DBs                         map[string]string
}

// runReactorsChild runs the three reactors under a supervisor, as shopflow serve does, and
// prints READY once every one of them is healthy: running and holding its partitions.
func runReactorsChild(raw string) {
	var spec reactorsSpec
	fail := func(err error) { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fail(err)
	}
	cfg := sagas.Config{Brokers: spec.Brokers, Orders: spec.Orders, Inventory: spec.Inventory, Payments: spec.Payments,
		InstanceID: spec.InstanceID, SessionTimeout: spec.SessionTimeout, Deadline: 5 * time.Minute, Backoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Log: logger}
	ctx := context.Background()
	sup := supervisor.New(supervisor.Config{Log: logger})
	for _, c := range contexts {
		pool, err := postgres.Open(ctx, spec.DBs[c])
		if err != nil {
			fail(err)
		}
		r, err := sagas.NewReactor(c, cfg, eventstore.New(pool), pool)
		if err != nil {
			fail(err)
		}
		sup.Add(c, r.Run, r.Health)
	}
	go sup.Run(ctx)
	for sup.Ready() != nil {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("READY")
	select {}
}

// startReactorsChild starts the reactors of w in a child process (their consumers static
// members named instanceID, with the group session timeout given; 0: franz-go's 45 s) and waits until it says
// READY; it returns the process and how long it took to be ready.
func startReactorsChild(t *testing.T, w *world, instanceID string, sessionTimeout time.Duration) (*exec.Cmd, time.Duration) {
	t.Helper()
	spec := reactorsSpec{Brokers: w.cfg.Brokers, Orders: w.cfg.Orders, Inventory: w.cfg.Inventory, Payments: w.cfg.Payments,
		InstanceID: instanceID, SessionTimeout: sessionTimeout, DBs: map[string]string{}}
	for c, d := range w.dbs {
		spec.DBs[c] = d.url
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHOPFLOW_TEST_REACTORS="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "READY"
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the reactors process exited before it was ready")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the reactors process was not ready within 90 s")
	}
	return cmd, time.Since(start)
}

// A process killed with -9 and started again gets its partitions back at once (static
// group membership) and is ready only once it holds them; orders placed before, during and
// after the crash are all confirmed. Before, the dead members kept their partitions until
// their session timed out (45 s by default): the restarted process looked ready within
// seconds, but nothing was confirmed for 45 s.
func TestRestartAfterKill9ConfirmsOrdersAtOnce(t *testing.T) {
	w := newWorld(t, worldOpts{partitions: 3})
	var products, customers []string
	for range 5 {
		products = append(products, w.newProduct(100, 1_000_000))
		customers = append(customers, w.newCustomer(1_000_000_000))
	}
	instance := "restart-test-" + fmt.Sprint(time.Now().UnixNano())
	child, _ := startReactorsChild(t, w, instance, 0)
	var placed []string
	placeSome := func(n int) {
		for range n {
			i := len(placed)
			placed = append(placed, w.newOrder(customers[i%len(customers)], products[i%len(products)], 1))
			time.Sleep(20 * time.Millisecond)
		}
	}
	placeSome(50)
	w.waitStatus(placed[len(placed)-1], order.StatusConfirmed)

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	placeSome(25) // while no reactor runs
	restarted := time.Now()
	_, toReady := startReactorsChild(t, w, instance, 0)
	ready := time.Now()
	probe := w.newOrder(customers[0], products[0], 1)
	w.waitStatus(probe, order.StatusConfirmed)
	toConfirmed := time.Since(ready)
	t.Logf("restart → ready %v, ready → an order placed then confirmed %v", toReady.Round(time.Millisecond), toConfirmed.Round(time.Millisecond))
	// 45 s is the session timeout a dead dynamic member keeps its partitions for; 20 s
	// leaves a slow machine room and still tells the two apart.
	if total := time.Since(restarted); total > 20*time.Second {
		t.Errorf("orders were confirmed again %v after the restart, want well under the 45 s session timeout", total.Round(time.Millisecond))
	}
	placeSome(25)
	for _, id := range placed {
		if o := w.waitSettled(id); o.Status() != order.StatusConfirmed {
			t.Errorf("order %s is %s, want confirmed", id, o.Status())
		}
	}
}

// A process that crashes and never comes back holds its partitions only for its session
// timeout (SHOPFLOW_KAFKA_SESSION_TIMEOUT): then the survivor takes them over, and the
// orders in them are confirmed before their settlement deadline. With franz-go's default of
// 45 s, longer than the 30 s deadline, they waited 45 s and would have timed out.
func TestAMemberLostForGoodHandsItsPartitionsOverWithinItsSessionTimeout(t *testing.T) {
	const session = 6 * time.Second // the brokers' smallest by default
	w := newWorld(t, worldOpts{partitions: 6})
	var products, customers []string
	for range 6 {
		products = append(products, w.newProduct(100, 1_000_000))
		customers = append(customers, w.newCustomer(1_000_000_000))
	}
	stamp := fmt.Sprint(time.Now().UnixNano())
	startReactorsChild(t, w, "survivor-"+stamp, session)
	lost, _ := startReactorsChild(t, w, "lost-"+stamp, session)
	var placed []string
	placeSome := func(n int) {
		for range n {
			i := len(placed)
			placed = append(placed, w.newOrder(customers[i%len(customers)], products[i%len(products)], 1))
		}
	}
	placeSome(12)
	for _, id := range placed {
		w.waitStatus(id, order.StatusConfirmed) // both processes hold partitions and work
	}

	if err := lost.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = lost.Wait()
	killed := time.Now()
	before := len(placed)
	placeSome(24) // over every partition: half were the lost member's
	for _, id := range placed[before:] {
		w.waitStatus(id, order.StatusConfirmed)
	}
	took := time.Since(killed)
	t.Logf("every order placed after the kill confirmed %v after it (session timeout %v)", took.Round(time.Millisecond), session)
	// 45 s is what the partitions waited before; 25 s leaves a slow machine room for the
	// rebalance after the session expires and still tells the two apart.
	if took > 25*time.Second {
		t.Errorf("the orders of the lost member's partitions were confirmed %v after the kill, want well under 45 s", took.Round(time.Millisecond))
	}
}
