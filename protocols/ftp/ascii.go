package ftp

import (
	"bytes"
	"io"
	"strings"
)

// TYPE A (ASCII) transfers carry text in the network's format, lines
// ending in CRLF (RFC 959, 3.1.1.1). Files are stored with LF line ends:
// an upload drops the CR of every CRLF, a download puts a CR before every
// LF that has none. Lone CRs, and CRLFs already in a stored file, go
// through unchanged.
//
// The conversion is ours rather than the library's: the library's
// converter hands the copy one line per read, which cost a system call
// (and, on uploads, a storage write) per line, and hides the data
// connection from the idle timer of active-mode transfers. Ours works on
// whole buffers, between the connection under its idle timer and the file.
//
// As with ProFTPD and the library, SIZE and REST are refused in ASCII
// mode: the converted size and offsets differ from the stored ones.

// transferType returns whether a TYPE argument the library accepts asks
// for ASCII, and false for ok when it accepts none (it answers 504 then).
func transferType(arg string) (ascii, ok bool) {
	switch strings.ReplaceAll(strings.ToUpper(arg), " ", "") {
	case "A", "AN", "L7":
		return true, true
	case "I", "L8":
		return false, true
	}
	return false, false
}

// asciiBuf is what one Read of toLF reads, and the most one Write of
// toCRLF converts at once.
const asciiBuf = 64 << 10

// toLF reads network text from r and returns it with LF line ends. Each
// Read makes at most one Read of r, so that a wait for data is one Read of
// the data connection, under its idle timer.
type toLF struct {
	r    io.Reader
	buf  []byte
	pend []byte // read from r, not yet returned; a CR at its end waits for the next byte
	err  error  // r's error, returned once pend is drained
}

func newToLF(r io.Reader) *toLF { return &toLF{r: r, buf: make([]byte, asciiBuf)} }

func (c *toLF) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.err == nil && (len(c.pend) == 0 || len(c.pend) == 1 && c.pend[0] == '\r') {
		held := copy(c.buf, c.pend)
		n, err := c.r.Read(c.buf[held:])
		c.pend, c.err = c.buf[:held+n], err
	}
	n, i := 0, 0
	for ; i < len(c.pend) && n < len(p); i++ {
		b := c.pend[i]
		if b == '\r' {
			if i+1 == len(c.pend) && c.err == nil {
				break // CRLF or not: the next read tells
			}
			if i+1 < len(c.pend) && c.pend[i+1] == '\n' {
				continue
			}
		}
		p[n] = b
		n++
	}
	c.pend = c.pend[i:]
	if len(c.pend) == 0 && c.err != nil {
		return n, c.err
	}
	return n, nil
}

// toCRLF writes what it is given to w as network text: a CR before every
// LF that has none.
type toCRLF struct {
	w   io.Writer
	cr  bool // the last byte given was a CR
	out []byte
}

func newToCRLF(w io.Writer) *toCRLF { return &toCRLF{w: w, out: make([]byte, 0, 2*asciiBuf)} }

func (c *toCRLF) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		in := p[done:min(len(p), done+asciiBuf)]
		out := c.out[:0]
		for len(in) > 0 {
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				out = append(out, in...)
				c.cr = in[len(in)-1] == '\r'
				break
			}
			out = append(out, in[:i]...)
			if !(i > 0 && in[i-1] == '\r' || i == 0 && c.cr) {
				out = append(out, '\r')
			}
			out = append(out, '\n')
			c.cr = false
			in = in[i+1:]
		}
		if _, err := c.w.Write(out); err != nil {
			return done, err
		}
		done = min(len(p), done+asciiBuf)
	}
	return done, nil
}
