package auth_test

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

func TestRegistryLimits(t *testing.T) {
	r := auth.NewRegistry(auth.RegistryLimits{Total: 3, PerAddr: 2}, nil)
	a := netip.MustParseAddrPort("192.0.2.1:40000")
	b := netip.MustParseAddrPort("192.0.2.2:40000")
	nop := func() {}
	c1, err := r.Open("ftp", a, nop)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open("sftp", a, nop); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open("ftp", a, nop); !errors.Is(err, auth.ErrTooMany) {
		t.Fatalf("third from one address: %v", err)
	}
	c3, err := r.Open("ftp", b, nop)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open("ftp", netip.MustParseAddrPort("192.0.2.3:1"), nop); !errors.Is(err, auth.ErrTooMany) {
		t.Fatalf("over the total: %v", err)
	}
	c1.Close()
	c1.Close() // idempotent
	if _, err := r.Open("ftp", a, nop); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	// Per-user limit.
	if err := c3.Login("bob", 1); err != nil {
		t.Fatal(err)
	}
	r2 := auth.NewRegistry(auth.RegistryLimits{}, nil)
	x, _ := r2.Open("ftp", a, nop)
	y, _ := r2.Open("ftp", b, nop)
	if err := x.Login("bob", 1); err != nil {
		t.Fatal(err)
	}
	if err := y.Login("bob", 1); !errors.Is(err, auth.ErrTooMany) {
		t.Fatalf("second session of a user limited to one: %v", err)
	}
	x.Close()
	if err := y.Login("bob", 1); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
}

func TestRegistryListKick(t *testing.T) {
	r := auth.NewRegistry(auth.RegistryLimits{}, nil)
	var kicked atomic.Int32
	c, _ := r.Open("sftp", netip.MustParseAddrPort("[2001:db8::1]:22"), func() { kicked.Add(1) })
	c.Login("alice", 0)
	c.StartTransfer("upload", "/folder2/x")
	c.AddBytes(100, 5)
	l := r.List()
	if len(l) != 1 || l[0].User != "alice" || l[0].Protocol != "sftp" || l[0].Transfer != "upload /folder2/x" || l[0].BytesIn != 100 || l[0].Remote != "[2001:db8::1]:22" {
		t.Fatalf("list: %+v", l)
	}
	if r.Kick(999) || !r.Kick(c.ID()) || kicked.Load() != 1 {
		t.Fatal("kick by id")
	}
	if n := r.KickUser("alice"); n != 1 || kicked.Load() != 2 {
		t.Fatalf("kick user: %d", n)
	}
}

func TestRegistryDrain(t *testing.T) {
	r := auth.NewRegistry(auth.RegistryLimits{}, nil)
	addr := netip.MustParseAddrPort("192.0.2.1:1")
	var idle, busy, stuck *auth.Conn
	closer := func(c **auth.Conn) func() { return func() { (*c).Close() } }
	idle, _ = r.Open("ftp", addr, closer(&idle))
	busy, _ = r.Open("ftp", addr, closer(&busy))
	stuck, _ = r.Open("ftp", addr, closer(&stuck))
	busy.StartTransfer("download", "/a")
	stuck.StartTransfer("upload", "/b")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan int)
	go func() { done <- r.Drain(ctx) }()
	// New sessions are refused at once; the idle one goes at once.
	for r.Count() > 2 || !r.Draining() {
		time.Sleep(time.Millisecond)
	}
	if _, err := r.Open("ftp", addr, func() {}); !errors.Is(err, auth.ErrDraining) {
		t.Fatalf("open while draining: %v", err)
	}
	busy.EndTransfer() // finishes in time: closed then
	select {
	case n := <-done:
		if n != 1 || r.Count() != 0 {
			t.Fatalf("drain cut %d sessions short, %d left; want 1 and 0", n, r.Count())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end after its grace period")
	}
}
