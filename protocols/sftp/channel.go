package sftp

import (
	"bufio"
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	// channelReadBuffer is read from a channel at once: pkg/sftp reads
	// each packet in two small reads, and x/crypto/ssh answers every read
	// with a window adjustment; reading ahead sends one per buffer instead
	// (measured: about a tenth of the server's CPU on uploads).
	channelReadBuffer = 256 << 10

	// packSize is the unit replies are packed into: the largest payload of
	// an SSH channel data message that OpenSSH, PuTTY and x/crypto/ssh
	// clients accept (a larger limit still takes these whole; a smaller
	// one of 16 KiB splits them evenly).
	packSize = 32 << 10

	// packDelay bounds how long a reply waits to be packed with others
	// while the client still has requests in progress.
	packDelay = time.Millisecond
)

// channel is an SSH channel as pkg/sftp's request server sees it. It reads
// ahead of pkg/sftp, packs the replies into full SSH packets, and counts
// the SFTP packets both ways to know when every request has been answered.
//
// Packing matters for downloads: pkg/sftp writes the 13-byte header of a
// data reply and its data separately, and x/crypto/ssh sends every write
// as an SSH packet of its own, encrypted, authenticated and written to the
// socket by itself, so a 32 KiB read cost two packets. Packed, the replies
// stream in packets of packSize, as OpenSSH's sftp-server's do. A reply
// is sent at once when it answers the last request the client has sent,
// so an interactive client waits for nothing; while other requests are
// still being answered it waits for them at most packDelay.
type channel struct {
	ssh.Channel
	r *bufio.Reader // reads ahead of pkg/sftp

	mu sync.Mutex // guards in; taken after wmu
	in frameCounter

	wmu   sync.Mutex // guards what follows
	out   frameCounter
	buf   []byte        // replies not yet sent: fewer than packSize bytes
	delay time.Duration // packDelay
	timer *time.Timer   // sends buf delay after it stopped being empty
	armed bool          // the timer runs
	err   error         // the channel failed: every later write returns it
}

func newChannel(ch ssh.Channel) *channel {
	c := &channel{Channel: ch, r: bufio.NewReaderSize(ch, channelReadBuffer), buf: make([]byte, 0, packSize),
		delay: packDelay}
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	return c
}

func (c *channel) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.in.feedBytes(p[:n])
	c.mu.Unlock()
	return n, err
}

// Write takes p in full or fails: what it cannot send yet waits in the
// pack buffer.
func (c *channel) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n := len(p)
	c.out.feedBytes(p)
	if len(c.buf) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf, p = c.buf[:len(c.buf)+k], p[k:]
		if len(c.buf) < packSize {
			return n, c.settle()
		}
		if err := c.send(c.buf); err != nil {
			return 0, err
		}
	}
	for len(p) >= packSize {
		if err := c.send(p[:packSize]); err != nil {
			return 0, err
		}
		p = p[packSize:]
	}
	c.buf = append(c.buf, p...)
	return n, c.settle()
}

// settle sends the pack buffer when every request read has been answered,
// and otherwise makes sure it is sent within packDelay.
func (c *channel) settle() error {
	if len(c.buf) == 0 {
		return nil
	}
	c.mu.Lock()
	caughtUp := c.in.packets == c.out.packets && c.out.between()
	c.mu.Unlock()
	if caughtUp {
		return c.send(c.buf)
	}
	if !c.armed {
		c.armed = true
		c.timer.Reset(c.delay)
	}
	return nil
}

// send writes p to the SSH channel and empties the pack buffer (p is the
// buffer, or a piece of a write when the buffer is empty).
func (c *channel) send(p []byte) error {
	c.buf = c.buf[:0]
	if c.armed {
		c.timer.Stop()
		c.armed = false
	}
	if _, err := c.Channel.Write(p); err != nil {
		c.err = err
		return err
	}
	return nil
}

// expire sends what waited packDelay.
func (c *channel) expire() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.armed = false
	if len(c.buf) > 0 && c.err == nil {
		c.send(c.buf)
	}
}

// Flush sends the pack buffer now.
func (c *channel) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	return c.send(c.buf)
}

// Close sends what waits, then closes the channel.
func (c *channel) Close() error {
	c.Flush()
	c.timer.Stop()
	return c.Channel.Close()
}

// answered reports whether every request read has been answered and the
// answers sent.
func (c *channel) answered() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.packets == c.out.packets && c.out.between() && len(c.buf) == 0
}

// frameCounter follows SFTP's framing (a 4-byte big-endian length, then
// the packet) through a byte stream and counts complete packets.
type frameCounter struct {
	hdr     [4]byte
	hdrN    int    // header bytes seen of the current packet
	left    uint32 // body bytes of the current packet still to come
	packets int64
}

// between reports whether the stream so far ends on a packet boundary.
func (f *frameCounter) between() bool { return f.left == 0 && f.hdrN == 0 }

func (f *frameCounter) feedBytes(p []byte) {
	for len(p) > 0 {
		if f.left > 0 {
			k := min(uint32(len(p)), f.left)
			f.left -= k
			p = p[k:]
			if f.left == 0 {
				f.packets++
			}
			continue
		}
		k := copy(f.hdr[f.hdrN:], p)
		f.hdrN += k
		p = p[k:]
		if f.hdrN == 4 {
			f.hdrN = 0
			f.left = binary.BigEndian.Uint32(f.hdr[:])
			if f.left == 0 {
				f.packets++
			}
		}
	}
}
