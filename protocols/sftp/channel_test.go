package sftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshChannel is the SSH side of a channel: requests to read, and the
// writes the channel makes, one per SSH packet.
type sshChannel struct {
	ssh.Channel // nil: only Read and Write are called
	in          *bytes.Reader
	mu          sync.Mutex
	writes      [][]byte
	fail        error
}

func (f *sshChannel) Read(p []byte) (int, error) { return f.in.Read(p) }

func (f *sshChannel) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	f.writes = append(f.writes, bytes.Clone(p))
	return len(p), nil
}

func (f *sshChannel) sent() (n int, all []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes), bytes.Join(f.writes, nil)
}

// frame returns an SFTP packet of n body bytes, each b.
func frame(n int, b byte) []byte {
	p := make([]byte, 4+n)
	binary.BigEndian.PutUint32(p, uint32(n))
	for i := range n {
		p[4+i] = b
	}
	return p
}

// readRequests reads n requests through c, as pkg/sftp does.
func readRequests(t *testing.T, c *channel, n int) {
	t.Helper()
	for range n {
		var hdr [4]byte
		if _, err := c.Read(hdr[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := c.Read(body); err != nil {
			t.Fatal(err)
		}
	}
}

// Data replies written as header and data, as pkg/sftp writes them, go out
// in full SSH packets while other requests are being answered, and the
// reply to the last request goes out at once.
func TestChannelPacksReplies(t *testing.T) {
	var reqs []byte
	for range 5 {
		reqs = append(reqs, frame(20, 'r')...)
	}
	f := &sshChannel{in: bytes.NewReader(reqs)}
	c := newChannel(f, nil)
	defer c.timer.Stop()
	c.delay = time.Hour // the first replies wait for the last
	readRequests(t, c, 3)

	var want []byte
	for i := range 3 {
		reply := frame(9+packSize, byte('a'+i))
		want = append(want, reply...)
		for _, part := range [][]byte{reply[:13], reply[13:]} { // header, then data
			if n, err := c.Write(part); n != len(part) || err != nil {
				t.Fatalf("Write: %d, %v", n, err)
			}
		}
		if i < 2 && c.answered() {
			t.Fatalf("reply %d: answered with requests outstanding", i)
		}
	}
	if !c.answered() {
		t.Fatal("every request answered, but answered() is false")
	}
	n, got := f.sent()
	if !bytes.Equal(got, want) {
		t.Fatalf("sent %d bytes, want %d in order", len(got), len(want))
	}
	// 3 × (32 KiB + 13): three full packets and the rest, not six.
	if n != 4 {
		t.Fatalf("%d SSH writes, want 4", n)
	}
	for i, w := range f.writes[:3] {
		if len(w) != packSize {
			t.Errorf("write %d: %d bytes, want %d", i, len(w), packSize)
		}
	}

	// A small reply while another request is still being answered waits
	// at most packDelay; the reply to the last one goes out at once.
	c.delay = time.Millisecond
	readRequests(t, c, 2)
	status := frame(24, 's')
	c.Write(status)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := f.sent(); n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a waiting reply was not sent after packDelay")
		}
		time.Sleep(time.Millisecond)
	}
	if c.answered() {
		t.Fatal("answered() with a request outstanding")
	}
	c.Write(status)
	if n, got := f.sent(); n != 6 || !bytes.Equal(got, append(append(want, status...), status...)) {
		t.Fatalf("the last reply: %d writes, %d bytes", n, len(got))
	}
}

// A channel that failed fails every later write, and Flush says so.
func TestChannelWriteFailure(t *testing.T) {
	f := &sshChannel{in: bytes.NewReader(append(frame(20, 'r'), frame(20, 'r')...))}
	c := newChannel(f, nil)
	defer c.timer.Stop()
	readRequests(t, c, 2)
	c.Write(frame(24, 's')) // waits: one request is still outstanding
	boom := errors.New("connection lost")
	f.mu.Lock()
	f.fail = boom
	f.mu.Unlock()
	if err := c.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: %v", err)
	}
	if _, err := c.Write(frame(24, 's')); !errors.Is(err, boom) {
		t.Fatalf("Write after a failure: %v", err)
	}
}

// The channel offers limits@openssh.com in pkg/sftp's VERSION reply,
// answers the request itself, and passes every other packet to pkg/sftp.
func TestChannelLimits(t *testing.T) {
	packet := func(typ byte, body ...[]byte) []byte {
		p := append([]byte{0, 0, 0, 0, typ}, bytes.Join(body, nil)...)
		binary.BigEndian.PutUint32(p, uint32(len(p)-4))
		return p
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	str := func(s string) []byte { return append(u32(uint32(len(s))), s...) }
	hello := packet(1, u32(3)) // INIT
	ask := packet(fxpExtended, u32(7), str(limitsExtension))
	stat := packet(17, u32(8), str("/a"))
	f := &sshChannel{in: bytes.NewReader(bytes.Join([][]byte{hello, ask, stat}, nil))}
	lim := &limits{packet: 1, read: 2, write: 3, handles: 4}
	c := newChannel(f, lim)
	defer c.timer.Stop()

	var got []byte
	read := func() {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		got = append(append(got, hdr[:]...), body...)
	}
	read() // INIT
	version := packet(fxpVersion, u32(3), str("posix-rename@openssh.com"), str("1"))
	c.Write(version[:4]) // header and body apart, as pkg/sftp writes
	c.Write(version[4:])
	read() // the limits request is answered, STAT is read
	if want := append(hello, stat...); !bytes.Equal(got, want) {
		t.Fatalf("pkg/sftp read %q, want %q", got, want)
	}
	c.Write(packet(101, u32(8), u32(0), str(""), str(""))) // STAT's answer
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	_, out := f.sent()
	offered := packet(fxpVersion, u32(3), str("posix-rename@openssh.com"), str("1"), str(limitsExtension), str("1"))
	if !bytes.HasPrefix(out, offered) {
		t.Fatalf("VERSION sent as %q, want %q", out[:min(len(out), len(offered))], offered)
	}
	out = out[len(offered):]
	reply := packet(fxpExtendedReply, u32(7), binary.BigEndian.AppendUint64(nil, 1), binary.BigEndian.AppendUint64(nil, 2),
		binary.BigEndian.AppendUint64(nil, 3), binary.BigEndian.AppendUint64(nil, 4))
	if !bytes.HasPrefix(out, reply) {
		t.Fatalf("limits answered with %q, want %q", out[:min(len(out), len(reply))], reply)
	}
	if c.in.packets != 2 || c.out.packets != 2 {
		t.Errorf("counted %d packets in and %d out, want 2 and 2 (the channel's own are not pkg/sftp's)", c.in.packets, c.out.packets)
	}
}
