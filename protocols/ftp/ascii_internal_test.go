package ftp

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// The conversions as whole-string replacements: what the streaming ones
// must produce however the bytes are cut.
func wantLF(s string) string   { return strings.ReplaceAll(s, "\r\n", "\n") }
func wantCRLF(s string) string { return strings.ReplaceAll(wantLF(s), "\n", "\r\n") }

func asciiInputs() []string {
	in := []string{"", "a", "\n", "\r", "\r\n", "\n\r", "a\r\nb\nc\r", "\r\r\n\n\r", "x\ny\r\nz\n\n", "\r\r\r"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{300, asciiBuf + 7, 3*asciiBuf + 1} {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab\r\n"[rng.IntN(4)]
		}
		in = append(in, string(b))
	}
	return in
}

// splitReader returns its data in reads cut at the given offsets.
type splitReader struct {
	data []byte
	cuts []int
	off  int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if s.off == len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	for len(s.cuts) > 0 && s.cuts[0] <= s.off {
		s.cuts = s.cuts[1:]
	}
	if len(s.cuts) > 0 {
		end = s.cuts[0]
	}
	n := copy(p, s.data[s.off:end])
	s.off += n
	return n, nil
}

func TestToLF(t *testing.T) {
	for _, in := range asciiInputs() {
		want := wantLF(in)
		readers := map[string]func() io.Reader{
			"whole":    func() io.Reader { return strings.NewReader(in) },
			"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
			"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
		}
		if len(in) < 50 {
			for k := 1; k < len(in); k++ {
				readers[fmt.Sprint("cut at ", k)] = func() io.Reader { return &splitReader{data: []byte(in), cuts: []int{k}} }
			}
		}
		for name, r := range readers {
			for _, size := range []int{1, 2, 3, 32 << 10} {
				c := newToLF(r())
				var got []byte
				p := make([]byte, size)
				for reads := 0; ; reads++ {
					if reads > 4*len(in)+10 {
						t.Fatalf("%q, %s, reads of %d: no end", in, name, size)
					}
					n, err := c.Read(p)
					got = append(got, p[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if string(got) != want {
					t.Fatalf("%.40q, %s, reads of %d: got %.40q, want %.40q", in, name, size, got, want)
				}
			}
		}
	}
}

// Each Read of toLF is at most one Read of its source: a wait for data is
// one Read of the data connection, under the idle timer.
func TestToLFOneReadEach(t *testing.T) {
	src := &countReader{r: iotest.OneByteReader(strings.NewReader("a\r\nb\r\r\nc"))}
	c := newToLF(src)
	p := make([]byte, 10)
	for reads := 1; ; reads++ {
		_, err := c.Read(p)
		if src.n > reads {
			t.Fatalf("%d reads of the source in %d reads", src.n, reads)
		}
		if err != nil {
			break
		}
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) { c.n++; return c.r.Read(p) }

func TestToCRLF(t *testing.T) {
	for _, in := range asciiInputs() {
		want := wantCRLF(in)
		splits := [][]int{nil}
		if len(in) < 50 {
			for k := 1; k < len(in); k++ {
				splits = append(splits, []int{k})
			}
			one := make([]int, 0, len(in))
			for k := 1; k < len(in); k++ {
				one = append(one, k)
			}
			splits = append(splits, one)
		}
		for _, cuts := range splits {
			var out bytes.Buffer
			c := newToCRLF(&out)
			prev := 0
			for _, k := range append(cuts, len(in)) {
				n, err := c.Write([]byte(in[prev:k]))
				if err != nil || n != k-prev {
					t.Fatalf("Write: %d, %v; want %d", n, err, k-prev)
				}
				prev = k
			}
			if out.String() != want {
				t.Fatalf("%.40q cut at %v: got %.40q, want %.40q", in, cuts, out.String(), want)
			}
		}
	}
}

func TestTransferType(t *testing.T) {
	for _, c := range []struct {
		arg       string
		ascii, ok bool
	}{
		{"A", true, true}, {"a", true, true}, {"A N", true, true}, {"L 7", true, true},
		{"I", false, true}, {"i", false, true}, {"L 8", false, true},
		{"E", false, false}, {"A T", false, false}, {"", false, false},
	} {
		if ascii, ok := transferType(c.arg); ascii != c.ascii || ok != c.ok {
			t.Errorf("transferType(%q) = %v, %v; want %v, %v", c.arg, ascii, ok, c.ascii, c.ok)
		}
	}
}
