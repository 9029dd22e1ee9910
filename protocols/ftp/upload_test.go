package ftp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/protocols/ftp"
)

// An upload is stored only when the client is alive at its end. A client
// that dies mid-STOR closes its data connection with a plain FIN (it looks
// like the end of the file) and its control connection with it; whatever
// the order, the previous version must survive whole and no multipart
// upload may be left in the bucket. Resets and ABOR abort too.
func TestUploadInterrupted(t *testing.T) {
	t.Parallel()
	t.Run("s3", func(t *testing.T) { t.Parallel(); testUploadInterrupted(t, true) })
	t.Run("disk", func(t *testing.T) { t.Parallel(); testUploadInterrupted(t, false) })
}

func testUploadInterrupted(t *testing.T, s3 bool) {
	// A settle time well above the gaps below, which a busy test machine
	// may stretch.
	const settle = 250 * time.Millisecond
	e := newEnv(t, options{s3: s3, cfg: func(c *ftp.Config) { c.UploadSettle = settle }})
	old := randomBytes(1 << 20)
	chunk := randomBytes(12 << 20) // more than two 5 MiB parts: a multipart upload is under way
	small := randomBytes(64 << 10) // one quick PutObject: the commit alone would beat the client's FIN

	check := func(t *testing.T, key string) {
		t.Helper()
		if got := e.get(homePrefix + key); !bytes.Equal(got, old) {
			t.Fatalf("%s: the previous version was replaced (%d bytes)", key, len(got))
		}
		if n := e.multipartUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left", n)
		}
	}
	startWith := func(t *testing.T, key string, data []byte) (*ctl, net.Conn) {
		e.put(homePrefix+key, old)
		r := e.dialLogin()
		d := r.epsv()
		r.expect("STOR /"+key, 150)
		if _, err := d.Write(data); err != nil {
			t.Fatal(err)
		}
		return r, d
	}
	start := func(t *testing.T, key string) (*ctl, net.Conn) { return startWith(t, key, chunk) }

	t.Run("data then control closed", func(t *testing.T) {
		r, d := start(t, "a.bin")
		d.Close()
		r.c.Close()
		e.waitLog(notStored + " component=ftp listener=ftp remote=" + r.c.LocalAddr().String())
		check(t, "a.bin")
	})
	t.Run("control then data closed", func(t *testing.T) {
		r, d := start(t, "b.bin")
		r.c.Close()
		d.Close()
		e.waitLog(notStored + " component=ftp listener=ftp remote=" + r.c.LocalAddr().String())
		check(t, "b.bin")
	})
	t.Run("control closed just after data", func(t *testing.T) {
		r, d := start(t, "c.bin")
		d.Close()
		time.Sleep(settle / 8)
		r.c.Close()
		e.waitLog(notStored + " component=ftp listener=ftp remote=" + r.c.LocalAddr().String())
		check(t, "c.bin")
	})
	t.Run("small file, control closed just after data", func(t *testing.T) {
		r, d := startWith(t, "g.bin", small)
		d.Close()
		time.Sleep(settle / 8)
		r.c.Close()
		e.waitLog(notStored + " component=ftp listener=ftp remote=" + r.c.LocalAddr().String())
		check(t, "g.bin")
	})
	t.Run("data connection reset", func(t *testing.T) {
		r, d := start(t, "d.bin")
		d.(*net.TCPConn).SetLinger(0)
		d.Close()
		if code, msg := r.read(); code != 426 || strings.Contains(msg, "error:") {
			t.Fatalf("reset: %d %q", code, msg)
		}
		check(t, "d.bin")
	})
	t.Run("ABOR", func(t *testing.T) {
		r, d := start(t, "e.bin")
		go d.Write(chunk) // blocks once the server stops reading
		r.expect("ABOR", 426)
		r.want(226)
		r.expect("NOOP", 200)
		check(t, "e.bin")
		e.waitLog("op=upload path=/e.bin result=aborted")
	})
	t.Run("complete", func(t *testing.T) {
		r, d := start(t, "f.bin")
		d.Close()
		r.want(226)
		if got := e.get(homePrefix + "f.bin"); !bytes.Equal(got, chunk) {
			t.Fatalf("stored %d bytes", len(got))
		}
	})
	// An interrupted append of a file above S3's smallest part (its bytes
	// copied inside the backend while the new ones arrive) keeps it too.
	t.Run("APPE, control then data closed", func(t *testing.T) {
		big := randomBytes(6<<20 + 1)
		e.put(homePrefix+"h.bin", big)
		r := e.dialLogin()
		d := r.epsv()
		r.expect("APPE /h.bin", 150)
		if _, err := d.Write(chunk); err != nil {
			t.Fatal(err)
		}
		r.c.Close()
		d.Close()
		e.waitLog(notStored + " component=ftp listener=ftp remote=" + r.c.LocalAddr().String())
		if got := e.get(homePrefix + "h.bin"); !bytes.Equal(got, big) {
			t.Fatalf("the file appended to was changed (%d bytes)", len(got))
		}
		if n := e.multipartUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left", n)
		}
	})
}

// notStored is the log line of a discarded upload.
const notStored = `msg="upload not stored, previous version kept"`

// dyingClient is run as a child process by TestUploadClientKilled: it
// uploads forever until it is killed.
func dyingClient(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	tp := textproto.NewConn(c)
	expect := func(line string, code int) string {
		if line != "" {
			tp.PrintfLine("%s", line)
		}
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", line, err))
		}
		return msg
	}
	expect("", 220)
	expect("USER alice", 331)
	expect("PASS alice-pw", 230)
	msg := expect("EPSV", 229)
	port, _ := strconv.Atoi(msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")])
	host, _, _ := net.SplitHostPort(addr)
	d, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		panic(err)
	}
	expect("STOR /victim.bin", 150)
	w := bufio.NewWriterSize(d, 1<<20)
	buf := randomBytes(1 << 20)
	for {
		if _, err := w.Write(buf); err != nil {
			panic(err)
		}
		runtime.KeepAlive(c) // or the collector closes the control connection
	}
}

func init() {
	if addr := os.Getenv("WHARF_FTP_TEST_DYING_CLIENT"); addr != "" {
		dyingClient(addr)
	}
}

// A client process killed (SIGKILL) in the middle of a 50 MiB upload over
// an existing object: the kernel closes both its connections with FINs.
func TestUploadClientKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{s3: true})
	old := randomBytes(1 << 20)
	e.put(homePrefix+"victim.bin", old)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WHARF_FTP_TEST_DYING_CLIENT="+e.srv.Addr())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it half-way through a 50 MiB upload.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var in int64
		for _, s := range e.reg.List() {
			in += s.BytesIn
		}
		if in >= 25<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the client never sent 25 MiB: %s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	e.waitLog(notStored)
	if got := e.get(homePrefix + "victim.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the previous version was replaced (%d bytes)", len(got))
	}
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// A user's quota: an upload that would take the home past it fails with
// 552 and stores nothing; replacing a file frees its bytes.
func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	e.addUser("quinn", "quinn-pw", func(u *auth.User) { u.Limits.QuotaBytes = 1 << 20 })
	cl := e.dialAs(e.srv.Addr(), "quinn", "quinn-pw")
	if err := cl.Stor("/a.bin", bytes.NewReader(randomBytes(600<<10))); err != nil {
		t.Fatalf("STOR within the quota: %v", err)
	}
	err := cl.Stor("/b.bin", bytes.NewReader(randomBytes(600<<10)))
	wantCode(t, "STOR past the quota", err, 552)
	if !strings.Contains(err.Error(), "Quota exceeded") {
		t.Fatalf("STOR past the quota: %v", err)
	}
	if e.exists("users/quinn/b.bin") {
		t.Fatal("the upload past the quota was stored")
	}
	data := randomBytes(1 << 20)
	if err := cl.Stor("/a.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("replacing a file up to the quota: %v", err)
	}
	if !bytes.Equal(e.get("users/quinn/a.bin"), data) {
		t.Fatal("the replacement was not stored")
	}

	// AVBL: what is left of the quota, files written directly in the
	// bucket included; 550 where there is no quota.
	e.put("users/quinn/direct.bin", make([]byte, 1000))
	r := e.dialLoginAs("quinn", "quinn-pw")
	if feat := r.expect("FEAT", 211); !strings.Contains(feat, "\n AVBL") {
		t.Fatalf("FEAT lacks AVBL:\n%s", feat)
	}
	if err := cl.Delete("/a.bin"); err != nil {
		t.Fatal(err)
	}
	if msg := r.expect("AVBL", 213); msg != fmt.Sprint(1<<20-1000) {
		t.Fatalf("AVBL: %q, want %d", msg, 1<<20-1000)
	}
	r.expect("AVBL /missing", 550)
	if msg := e.dialLogin().expect("AVBL /", 550); !strings.Contains(msg, "No quota") {
		t.Fatalf("AVBL without a quota: %q", msg)
	}
}
