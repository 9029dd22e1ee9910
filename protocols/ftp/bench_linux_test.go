package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

// BenchmarkRETR measures a 256 MiB RETR of a text file (80-byte lines)
// from the local disk over loopback, in binary (TYPE I) and in ASCII
// (TYPE A, each LF sent as CRLF): throughput, and the write system calls
// the process made per RETR (nearly all of them the server's writes to the
// data connection):
//
//	go test ./protocols/ftp -run '^$' -bench RETR -benchtime 5x
func BenchmarkRETR(b *testing.B) {
	const size = 256 << 20
	e := newEnv(b, options{})
	e.put(homePrefix+"big.txt", textBytes(size))
	for _, typ := range []string{"I", "A"} {
		b.Run("type="+typ, func(b *testing.B) {
			r := e.dialLogin()
			r.expect("TYPE "+typ, 200)
			want := int64(size)
			if typ == "A" {
				want += size / 80
			}
			b.SetBytes(size)
			writes := 0
			b.ResetTimer()
			for range b.N {
				d := r.epsv()
				w0 := procWrites(b)
				r.expect("RETR /big.txt", 150)
				n, err := io.Copy(io.Discard, d)
				if err != nil || n != want {
					b.Fatalf("RETR: %d bytes, %v; want %d", n, err, want)
				}
				r.want(226)
				writes += procWrites(b) - w0
			}
			b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
		})
	}
}

// textBytes returns n bytes of text in lines of 80 bytes, LF included
// (n a multiple of 80 or not).
func textBytes(n int) []byte {
	line := strings.Repeat("0123456789", 8)[:79] + "\n"
	return []byte(strings.Repeat(line, n/80+1)[:n])
}

// BenchmarkSTOR measures a 256 MiB STOR of a text file to the local disk,
// written as wharf serve writes it, over loopback: in binary with and
// without a quota on the home, and in ASCII (the client sending CRLF
// lines). It reports throughput, the read system calls the process made
// per STOR, and the process's CPU time per STOR (the client's included,
// the same in all). In binary the kernel splices what the data connection
// receives into the file, so the server reads (nearly) nothing itself; a
// copy through the process reads every 256 KiB or so.
//
//	go test ./protocols/ftp -run '^$' -bench STOR -benchtime 5x
func BenchmarkSTOR(b *testing.B) {
	const size = 256 << 20
	text := textBytes(size)
	crlf := bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))
	for _, c := range []struct {
		typ   string
		quota int64
	}{{"I", 0}, {"I", 1 << 40}, {"A", 0}} {
		b.Run(fmt.Sprintf("type=%s/quota=%d", c.typ, c.quota), func(b *testing.B) {
			e := newEnv(b, options{native: true})
			e.addUser("quinn", "quinn-pw", func(u *auth.User) { u.Limits.QuotaBytes = c.quota })
			r := e.dialLoginAs("quinn", "quinn-pw")
			r.expect("TYPE "+c.typ, 200)
			data := text
			if c.typ == "A" {
				data = crlf
			}
			b.SetBytes(size)
			reads, cpu := 0, time.Duration(0)
			b.ResetTimer()
			for range b.N {
				d := r.epsv()
				r0, c0 := procIO(b, "syscr"), cpuTime(b)
				r.expect("STOR /big.bin", 150)
				if _, err := d.Write(data); err != nil {
					b.Fatal(err)
				}
				d.Close()
				r.want(226)
				reads += procIO(b, "syscr") - r0
				cpu += cpuTime(b) - c0
			}
			b.ReportMetric(float64(reads)/float64(b.N), "reads/op")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procWrites returns the write system calls this process has made.
func procWrites(tb testing.TB) int { return procIO(tb, "syscw") }

// procIO returns the counter name of /proc/self/io.
func procIO(tb testing.TB, name string) int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	tb.Fatalf("no %s in /proc/self/io", name)
	return 0
}
