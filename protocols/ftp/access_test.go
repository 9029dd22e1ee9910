package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/protocols/ftp"
)

// The reference scenario over FTP on S3: /folder1 is read-only, /folder2
// read-write, and neither can be deleted or renamed.
func TestReferenceScenario(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{s3: true})
	catalogue := randomBytes(64 << 10)
	e.put(roPrefix+"catalogue.pdf", catalogue)
	c := e.dial()

	entries, err := c.List("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "folder1" || entries[1].Name != "folder2" {
		t.Fatalf("LIST /: %+v", entries)
	}
	// folder1: list and download only.
	if nl, err := c.NameList("/folder1"); err != nil || len(nl) != 1 {
		t.Fatalf("NLST /folder1: %v %v", nl, err)
	}
	r, err := c.Retr("/folder1/catalogue.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, r), catalogue) {
		t.Fatal("download from folder1 differs")
	}
	r.Close()
	wantCode(t, "STOR into folder1", c.Stor("/folder1/new.txt", strings.NewReader("x")), 550)
	wantCode(t, "STOR over a folder1 file", c.Stor("/folder1/catalogue.pdf", strings.NewReader("x")), 550)
	wantCode(t, "DELE in folder1", c.Delete("/folder1/catalogue.pdf"), 550)
	wantCode(t, "MKD in folder1", c.MakeDir("/folder1/sub"), 550)
	wantCode(t, "RNTO into folder1", c.Rename("/folder1/catalogue.pdf", "/folder1/x.pdf"), 550)
	wantCode(t, "MFMT in folder1", c.SetTime("/folder1/catalogue.pdf", time.Now()), 550)
	if !bytes.Equal(e.get(roPrefix+"catalogue.pdf"), catalogue) || e.exists(roPrefix+"new.txt") {
		t.Fatal("folder1 changed")
	}

	// folder2: upload, download, rename, delete.
	if err := c.Stor("/folder2/order.xml", strings.NewReader("<order/>")); err != nil {
		t.Fatal(err)
	}
	if got := e.get(rwPrefix + "order.xml"); string(got) != "<order/>" {
		t.Fatalf("folder2 upload: %q", got)
	}
	if err := c.Rename("/folder2/order.xml", "/folder2/done.xml"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/folder2/done.xml"); err != nil {
		t.Fatal(err)
	}

	// Neither mount can be removed or renamed.
	for _, d := range []string{"/folder1", "/folder2"} {
		wantCode(t, "RMD "+d, c.RemoveDir(d), 550)
		wantCode(t, "rename "+d, c.Rename(d, "/moved"), 550)
	}
	if err := c.ChangeDir("/folder1"); err != nil {
		t.Fatal(err)
	}
}

// Bad passwords are refused and the connection closed; enough of them ban
// the address: the failing login gets 421, and so does every new
// connection from it.
func TestBadPasswordsAndBan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{defender: func(d *auth.DefenderConfig) { d.MaxFailures = 3 }})

	for i := range 2 {
		r, code, _ := dialCtl(t, e.srv.Addr())
		if code != 220 {
			t.Fatalf("greeting %d", code)
		}
		r.expect("USER alice", 331)
		if msg := r.expect("PASS wrong", 530); msg != "Login incorrect." {
			t.Fatalf("attempt %d: %q", i, msg)
		}
	}
	r, _, _ := dialCtl(t, e.srv.Addr())
	r.expect("USER nobody", 331)
	msg := r.expect("PASS wrong", 421)
	if !strings.Contains(msg, "Too many failed logins") {
		t.Fatalf("banned login: %q", msg)
	}
	if _, err := r.tp.ReadLine(); err == nil {
		t.Fatal("connection still open after the ban")
	}
	r, code, msg := dialCtl(t, e.srv.Addr())
	if code != 421 || !strings.Contains(msg, "Too many failed logins") {
		t.Fatalf("new connection of a banned address: %d %q", code, msg)
	}
	if _, err := r.tp.ReadLine(); err == nil {
		t.Fatal("connection of a banned address still open")
	}
	// Implicit TLS answers the same, over TLS.
	tc := dialTLS(t, e.srv.ImplicitAddr())
	if code, msg := tc.read(); code != 421 {
		t.Fatalf("implicit TLS, banned: %d %q", code, msg)
	}
	if !strings.Contains(e.logs.String(), `msg="address banned" component=auth remote=127.0.0.1`) {
		t.Fatal("no ban log line")
	}
}

// The node's total of sessions: the next connection gets 421 at once,
// over implicit TLS too, and is admitted again once a session has ended.
func TestTotalSessionLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{limits: auth.RegistryLimits{Total: 2}})
	first := e.dialLogin()
	r, code, _ := dialCtl(t, e.srv.Addr()) // not logged in: it counts too
	if code != 220 {
		t.Fatalf("second connection: %d", code)
	}
	_, code, msg := dialCtl(t, e.srv.Addr())
	if code != 421 || msg != "Too many connections, try again later." {
		t.Fatalf("connection over the total: %d %q", code, msg)
	}
	tc := dialTLS(t, e.srv.ImplicitAddr())
	if code, msg := tc.read(); code != 421 || msg != "Too many connections, try again later." {
		t.Fatalf("implicit TLS over the total: %d %q", code, msg)
	}
	first.expect("QUIT", 221)
	e.waitIdleBelow(2)
	r2, code, _ := dialCtl(t, e.srv.Addr())
	if code != 220 {
		t.Fatalf("connection after a session ended: %d", code)
	}
	r2.expect("USER alice", 331)
	r2.expect("PASS alice-pw", 230)
	r.expect("QUIT", 221)
}

// Session limits: per address and total (the registry's), per user.
func TestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{limits: auth.RegistryLimits{PerAddr: 2}})
	e.addUser("bob", "bob-pw", func(u *auth.User) { u.Limits.MaxSessions = 1 })

	e.dialAs(e.srv.Addr(), "bob", "bob-pw")
	r, code, _ := dialCtl(t, e.srv.Addr())
	if code != 220 {
		t.Fatalf("second connection: %d", code)
	}
	r.expect("USER bob", 331)
	if msg := r.expect("PASS bob-pw", 421); msg != "Too many sessions for this user." {
		t.Fatalf("second session of bob: %q", msg)
	}
	e.waitIdleBelow(2)
	r, code, _ = dialCtl(t, e.srv.Addr())
	if code != 220 {
		t.Fatalf("second connection: %d", code)
	}
	_, code, msg := dialCtl(t, e.srv.Addr())
	if code != 421 || msg != "Too many connections, try again later." {
		t.Fatalf("third connection from one address: %d %q", code, msg)
	}
	r.expect("QUIT", 221)
}

// waitIdleBelow waits until fewer than n sessions are registered.
func (e *env) waitIdleBelow(n int) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("fewer than %d sessions", n), func() bool { return e.reg.Count() < n })
}

// A connection that does not log in in time is closed; so is a logged-in
// one that stays idle.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{cfg: func(c *ftp.Config) {
		c.LoginTimeout = 300 * time.Millisecond
		c.IdleTimeout = time.Second
	}})
	r, _, _ := dialCtl(t, e.srv.Addr())
	start := time.Now()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.tp.ReadLine(); err == nil {
		t.Fatal("not closed")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}

	r = e.dialLogin()
	time.Sleep(1500 * time.Millisecond) // past the login timeout too: logged in, it does not apply
	if code, msg := r.read(); code != 421 || !strings.Contains(msg, "timeout") {
		t.Fatalf("idle: %d %q", code, msg)
	}

	// A data connection that stalls fails the transfer; the upload is not
	// stored.
	e.put(homePrefix+"stalled.bin", []byte("old"))
	r = e.dialLogin()
	d := r.epsv()
	r.expect("STOR /stalled.bin", 150)
	d.Write(randomBytes(1000))
	if code, msg := r.read(); code != 426 {
		t.Fatalf("stalled upload: %d %q", code, msg)
	}
	if got := e.get(homePrefix + "stalled.bin"); string(got) != "old" {
		t.Fatalf("stalled upload stored %d bytes", len(got))
	}
}

// Drain: new connections are refused with 421, idle sessions closed, and a
// transfer in progress finishes, gets its reply, then its session closes.
func TestDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	idle := e.dialLogin()
	busy := e.dialLogin()
	d := busy.epsv()
	busy.expect("STOR /slow.bin", 150)
	d.Write(randomBytes(1000))
	// The registry shows the transfer and its bytes.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var found bool
		for _, s := range e.reg.List() {
			found = found || s.User == "alice" && s.Protocol == "ftp" && s.Transfer == "upload /slow.bin" && s.BytesIn == 1000
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry: %+v", e.reg.List())
		}
	}

	// STAT without argument, which the library answers during a transfer,
	// does not end it.
	if msg := busy.expect("STAT", 211); !strings.Contains(msg, "STOR /slow.bin") {
		t.Fatalf("STAT during the upload: %q", msg)
	}
	if s := e.reg.List(); len(s) != 2 || s[0].Transfer+s[1].Transfer != "upload /slow.bin" {
		t.Fatalf("registry after STAT: %+v", s)
	}

	drained := make(chan int)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- e.reg.Drain(ctx)
	}()
	// The idle session goes at once.
	idle.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.tp.ReadLine(); err == nil {
		t.Fatal("idle session not closed")
	}
	_, code, msg := dialCtl(t, e.srv.Addr())
	if code != 421 || !strings.Contains(msg, "shutting down") {
		t.Fatalf("new connection while draining: %d %q", code, msg)
	}
	// The upload goes on and completes.
	time.Sleep(100 * time.Millisecond)
	d.Write(randomBytes(1000))
	d.Close()
	busy.want(226)
	if got := e.get(homePrefix + "slow.bin"); len(got) != 2000 {
		t.Fatalf("stored %d bytes", len(got))
	}
	busy.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := busy.tp.ReadLine(); err == nil {
		t.Fatal("session not closed after its transfer")
	}
	select {
	case n := <-drained:
		if n != 0 {
			t.Fatalf("drain cut %d sessions", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end")
	}
}

// A drain whose grace period ends during an upload to S3 cuts the
// session: the upload is aborted, not committed, the previous object stays
// whole and no multipart upload is left.
func TestDrainGraceExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{s3: true})
	old := randomBytes(1 << 20)
	e.put(homePrefix+"big.bin", old)
	r := e.dialLogin()
	d := r.epsv()
	r.expect("STOR /big.bin", 150)
	if _, err := d.Write(randomBytes(12 << 20)); err != nil { // two parts sent: a multipart upload is under way
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if n := e.reg.Drain(ctx); n != 1 {
		t.Fatalf("drain cut %d sessions, want 1", n)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.tp.ReadLine(); err == nil {
		t.Fatal("session not closed at the end of the grace period")
	}
	go d.Write(randomBytes(1 << 20)) // the client goes on sending: nothing is stored
	e.waitLog(notStored)
	if got := e.get(homePrefix + "big.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the previous version was replaced (%d bytes)", len(got))
	}
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}
