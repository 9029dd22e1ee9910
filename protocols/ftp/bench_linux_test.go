package ftp_test

import (
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

// BenchmarkRETR measures a 256 MiB RETR from the local disk over loopback:
// throughput, and the write system calls the process made per RETR
// (nearly all of them the server's writes to the data connection):
//
//	go test ./protocols/ftp -run '^$' -bench RETR -benchtime 5x
func BenchmarkRETR(b *testing.B) {
	const size = 256 << 20
	e := newEnv(b, options{})
	e.put(homePrefix+"big.bin", randomBytes(size))
	r := e.dialLogin()
	b.SetBytes(size)
	writes := 0
	b.ResetTimer()
	for range b.N {
		d := r.epsv()
		w0 := procWrites(b)
		r.expect("RETR /big.bin", 150)
		n, err := io.Copy(io.Discard, d)
		if err != nil || n != size {
			b.Fatalf("RETR: %d bytes, %v", n, err)
		}
		r.want(226)
		writes += procWrites(b) - w0
	}
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}

// BenchmarkSTOR measures a 256 MiB STOR to the local disk, written as
// wharf serve writes it, over loopback, with and without a quota on the
// home: throughput, the read system calls the process made per STOR, and
// the process's CPU time per STOR (the client's included, the same in
// both). The kernel splices what the data connection receives into the
// file, so the server reads (nearly) nothing itself; a copy through the
// process would read every 256 KiB or so.
//
//	go test ./protocols/ftp -run '^$' -bench STOR -benchtime 5x
func BenchmarkSTOR(b *testing.B) {
	const size = 256 << 20
	data := randomBytes(size)
	for _, quota := range []int64{0, 1 << 40} {
		b.Run(fmt.Sprintf("quota=%d", quota), func(b *testing.B) {
			e := newEnv(b, options{native: true})
			e.addUser("quinn", "quinn-pw", func(u *auth.User) { u.Limits.QuotaBytes = quota })
			r := e.dialLoginAs("quinn", "quinn-pw")
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
