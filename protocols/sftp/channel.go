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

	limitsExtension = "limits@openssh.com"

	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201
)

// limits is what a channel answers OpenSSH's limits@openssh.com request
// with: the largest SFTP packet it takes, the largest read and write, and
// how many files a client may hold open. OpenSSH's sftp client sizes its
// requests by read and write, and keeps at most handles of them in flight
// (without the extension it asks 32 KiB at a time, 64 requests deep).
type limits struct {
	packet, read, write, handles uint64
}

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
//
// pkg/sftp knows nothing of the limits@openssh.com extension, so the
// channel speaks it: it adds the extension to pkg/sftp's VERSION reply,
// and answers the requests for it itself, at packet boundaries of the
// stream pkg/sftp reads, which never sees them.
type channel struct {
	ssh.Channel
	r      *bufio.Reader // reads ahead of pkg/sftp
	limits *limits       // nil: the extension is not offered

	mu sync.Mutex // guards in; taken after wmu. Only Read writes in.
	in frameCounter

	wmu     sync.Mutex // guards what follows
	out     frameCounter
	first   []byte        // the first reply (VERSION) until it is complete
	started bool          // the first reply went out (kept only with limits)
	pending []byte        // replies of the channel's own, waiting for a packet boundary
	buf     []byte        // replies not yet sent: fewer than packSize bytes
	delay   time.Duration // packDelay
	timer   *time.Timer   // sends buf delay after it stopped being empty
	armed   bool          // the timer runs
	err     error         // the channel failed: every later write returns it
}

func newChannel(ch ssh.Channel, lim *limits) *channel {
	c := &channel{Channel: ch, r: bufio.NewReaderSize(ch, channelReadBuffer), limits: lim,
		buf: make([]byte, 0, packSize), delay: packDelay}
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	return c
}

// Read never reads past the end of a packet, so that the channel sees
// every packet's start before pkg/sftp reads it.
func (c *channel) Read(p []byte) (int, error) {
	if c.in.between() && c.limits != nil {
		if err := c.answerLimits(); err != nil {
			return 0, err
		}
	}
	n, err := c.r.Read(c.in.clip(p))
	c.mu.Lock()
	c.in.feedBytes(p[:n])
	c.mu.Unlock()
	return n, err
}

// answerLimits answers the limits@openssh.com requests that come next in
// the stream, and leaves any other packet for pkg/sftp. A stream that
// ends or fails before a whole header is left for Read to report.
func (c *channel) answerLimits() error {
	const head = 4 + 1 + 4 + 4 // length, type, request id, name length
	for {
		// Every packet has its length and type (INIT has only 4 bytes
		// more, and the client waits for the answer to it).
		if h, err := c.r.Peek(5); err != nil || h[4] != fxpExtended {
			return nil
		}
		h, err := c.r.Peek(head)
		if err != nil || binary.BigEndian.Uint32(h[9:]) != uint32(len(limitsExtension)) {
			return nil
		}
		size := 4 + int(binary.BigEndian.Uint32(h))
		if size < head+len(limitsExtension) || size > 1024 {
			return nil
		}
		pkt, err := c.r.Peek(size)
		if err != nil || string(pkt[head:head+len(limitsExtension)]) != limitsExtension {
			return nil
		}
		id := binary.BigEndian.Uint32(pkt[5:])
		c.r.Discard(size)
		if err := c.reply(c.limits.reply(id)); err != nil {
			return err
		}
	}
}

// reply sends a reply of the channel's own, between pkg/sftp's replies.
func (c *channel) reply(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.err != nil {
		return c.err
	}
	if !c.out.between() || !c.started {
		c.pending = append(c.pending, p...) // Write sends it when pkg/sftp's reply is whole
		return nil
	}
	if err := c.push(p); err != nil {
		return err
	}
	return c.settle()
}

// reply encodes the answer to the limits request id.
func (l *limits) reply(id uint32) []byte {
	p := make([]byte, 4, 4+1+4+4*8)
	p = append(p, fxpExtendedReply)
	p = binary.BigEndian.AppendUint32(p, id)
	for _, v := range []uint64{l.packet, l.read, l.write, l.handles} {
		p = binary.BigEndian.AppendUint64(p, v)
	}
	binary.BigEndian.PutUint32(p, uint32(len(p)-4))
	return p
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
	if !c.started && c.limits != nil {
		// Hold the first reply until it is whole: it is VERSION, which
		// gets the extension added.
		c.first = append(c.first, p...)
		if len(c.first) < 4 || len(c.first) < 4+int(binary.BigEndian.Uint32(c.first)) {
			return n, nil
		}
		p, c.first, c.started = c.offer(c.first), nil, true
	}
	c.out.feedBytes(p)
	if err := c.push(p); err != nil {
		return 0, err
	}
	if c.pending != nil && c.out.between() {
		if err := c.push(c.pending); err != nil {
			return 0, err
		}
		c.pending = nil
	}
	return n, c.settle()
}

// offer adds the limits extension to a VERSION reply.
func (c *channel) offer(p []byte) []byte {
	if len(p) < 5 || p[4] != fxpVersion {
		return p
	}
	for _, s := range []string{limitsExtension, "1"} {
		p = binary.BigEndian.AppendUint32(p, uint32(len(s)))
		p = append(p, s...)
	}
	binary.BigEndian.PutUint32(p, uint32(len(p)-4))
	return p
}

// push adds p to the pack buffer, sending every full packet.
func (c *channel) push(p []byte) error {
	if len(c.buf) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf, p = c.buf[:len(c.buf)+k], p[k:]
		if len(c.buf) < packSize {
			return nil
		}
		if err := c.send(c.buf); err != nil {
			return err
		}
	}
	for len(p) >= packSize {
		if err := c.send(p[:packSize]); err != nil {
			return err
		}
		p = p[packSize:]
	}
	c.buf = append(c.buf, p...)
	return nil
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

// clip shortens p to end at most where the current packet's header or
// body does.
func (f *frameCounter) clip(p []byte) []byte {
	n := uint32(4 - f.hdrN)
	if f.hdrN == 0 && f.left > 0 {
		n = f.left
	}
	return p[:min(uint32(len(p)), n)]
}

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
