package ftp_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
)

// waitBytesOut waits until the session has sent at least n bytes: a
// transfer is under way.
func (e *env) waitBytesOut(n int64) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("a transfer of %d bytes", n), func() bool {
		for _, s := range e.reg.List() {
			if s.BytesOut >= n {
				return true
			}
		}
		return false
	})
}

// A download is audited with its real result: ok only when the whole
// range was sent and the client got 226; aborted by ABOR; interrupted when
// the data connection broke. ABOR answers 426 then 226, and the session
// goes on.
func TestDownloadResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	data := randomBytes(16 << 20) // more than the socket buffers hold
	e.put(homePrefix+"a.bin", data)
	e.put(homePrefix+"b.bin", data)
	e.put(homePrefix+"c.bin", data)
	r := e.dialLogin()

	// ABOR while the server is blocked writing: the client reads nothing.
	d := r.epsv()
	r.expect("RETR /a.bin", 150)
	e.waitBytesOut(1 << 20)
	r.expect("ABOR", 426)
	r.want(226)
	d.Close()
	r.expect("NOOP", 200)
	e.waitLog("op=download path=/a.bin result=aborted")

	// The client closes the data connection in the middle.
	d = r.epsv()
	r.expect("RETR /b.bin", 150)
	buf := make([]byte, 1<<20)
	if _, err := d.Read(buf); err != nil {
		t.Fatal(err)
	}
	d.(*net.TCPConn).SetLinger(0)
	d.Close()
	if code, msg := r.read(); code != 426 || strings.Contains(msg, "error") {
		t.Fatalf("data connection reset during RETR: %d %q", code, msg)
	}
	e.waitLog("op=download path=/b.bin result=interrupted")

	// A whole download, and a resumed one, are ok.
	d = r.epsv()
	r.expect("RETR /c.bin", 150)
	if got := readAll(t, d); !bytes.Equal(got, data) {
		t.Fatalf("RETR after ABOR: %d bytes differ", len(got))
	}
	r.want(226)
	e.waitLog(fmt.Sprintf("op=download path=/c.bin result=ok offset=0 bytes=%d", len(data)))
	r.expect("REST 100", 350)
	d = r.epsv()
	r.expect("RETR /c.bin", 150)
	if got := readAll(t, d); !bytes.Equal(got, data[100:]) {
		t.Fatalf("REST+RETR: %d bytes differ", len(got))
	}
	r.want(226)
	e.waitLog(fmt.Sprintf("op=download path=/c.bin result=ok offset=100 bytes=%d", len(data)-100))
	for _, bad := range []string{"path=/a.bin result=ok", "path=/b.bin result=ok"} {
		if strings.Contains(e.logs.String(), bad) {
			t.Errorf("audited %q", bad)
		}
	}
}

// ABOR during a LIST answers the listing (426 if it was cut, else its
// 226) and then 226, and the session lists again.
func TestAbortListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	const n = 3000
	for i := range n {
		e.put(fmt.Sprintf("%sbig/f%04d-%s.txt", homePrefix, i, strings.Repeat("x", 100)), []byte("x"))
	}
	r := e.dialLogin()
	d := r.epsv()
	r.expect("LIST /big", 150)
	code, _ := r.cmd("ABOR")
	if code != 426 && code != 226 {
		t.Fatalf("ABOR during LIST: %d", code)
	}
	r.want(226)
	d.Close()
	r.expect("NOOP", 200)
	if got := r.list("LIST /big"); len(got) != n {
		t.Fatalf("LIST after ABOR: %d lines", len(got))
	}
	want := "op=list path=/big result=ok"
	if code == 426 {
		want = "op=list path=/big result=aborted"
	}
	e.waitLog(want)
}

// TYPE A transfers carry network text: a download puts a CR before every
// LF without one, an upload drops the CR of every CRLF, on S3 and on the
// local disk, through buffers larger than the converters' (and the
// library's 4 KiB lines). SIZE and REST are refused in ASCII mode, and
// TYPE I goes back to the stored bytes.
func TestASCII(t *testing.T) {
	t.Parallel()
	var text strings.Builder
	text.WriteString("l1\nl2\r\nlone\rCR\n\n")
	for i := range 20000 {
		fmt.Fprintf(&text, "line %d %s\n", i, strings.Repeat("x", i%300))
	}
	text.WriteString(strings.Repeat("y", 9000) + "\r\n" + "no end\r")
	stored := text.String()
	toNet := strings.ReplaceAll(strings.ReplaceAll(stored, "\r\n", "\n"), "\n", "\r\n")
	for _, s3 := range []bool{false, true} {
		e := newEnv(t, options{s3: s3})
		e.put(homePrefix+"t.txt", []byte(stored))
		r := e.dialLogin()
		r.expect("TYPE A", 200)
		r.expect("SIZE /t.txt", 550)
		r.expect("REST 0", 501)
		d := r.epsv()
		r.expect("RETR /t.txt", 150)
		if got := string(readAll(t, d)); got != toNet {
			t.Fatalf("s3 %v: TYPE A download: %d bytes, want %d", s3, len(got), len(toNet))
		}
		r.want(226)

		d = r.epsv()
		r.expect("STOR /up.txt", 150)
		if _, err := d.Write([]byte(toNet)); err != nil {
			t.Fatal(err)
		}
		d.Close()
		r.want(226)
		if got := string(e.get(homePrefix + "up.txt")); got != strings.ReplaceAll(toNet, "\r\n", "\n") {
			t.Fatalf("s3 %v: TYPE A upload stored %d bytes, want %d", s3, len(got), len(stored))
		}

		r.expect("TYPE I", 200)
		if msg := r.expect("SIZE /t.txt", 213); msg != fmt.Sprint(len(stored)) {
			t.Fatalf("s3 %v: SIZE in TYPE I: %s", s3, msg)
		}
		d = r.epsv()
		r.expect("RETR /t.txt", 150)
		if got := string(readAll(t, d)); got != stored {
			t.Fatalf("s3 %v: TYPE I download changed the bytes", s3)
		}
		r.want(226)
	}
}
