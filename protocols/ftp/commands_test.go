package ftp_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/wharf-gw/wharf/protocols/ftp"
	"github.com/wharf-gw/wharf/storage/storagetest"
)

// Every command a client needs, through a Go client, on S3.
func TestCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{s3: true})
	c := e.dial()

	if dir, err := c.CurrentDir(); err != nil || dir != "/" {
		t.Fatalf("PWD: %q %v", dir, err)
	}
	if err := c.MakeDir("/docs"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("docs"); err != nil {
		t.Fatal(err)
	}
	if dir, _ := c.CurrentDir(); dir != "/docs" {
		t.Fatalf("PWD after CWD: %q", dir)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatal(err)
	}
	if dir, _ := c.CurrentDir(); dir != "/" {
		t.Fatalf("PWD after CDUP: %q", dir)
	}

	small := randomBytes(100_000)
	big := randomBytes(12<<20 + 123) // three parts of 5 MiB: a multipart upload
	if err := c.Stor("docs/small.bin", bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("/docs/big.bin", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.get(homePrefix+"docs/big.bin"), big) {
		t.Fatal("STOR: stored bytes differ")
	}
	if n, err := c.FileSize("/docs/big.bin"); err != nil || n != int64(len(big)) {
		t.Fatalf("SIZE: %d %v", n, err)
	}
	r, err := c.Retr("/docs/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r); !bytes.Equal(got, big) {
		t.Fatalf("RETR: %d bytes differ", len(got))
	}
	r.Close()
	off := 5<<20 + 7
	r, err = c.RetrFrom("/docs/big.bin", uint64(off))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r); !bytes.Equal(got, big[off:]) {
		t.Fatalf("REST+RETR: %d bytes differ", len(got))
	}
	r.Close()

	// LIST/MLSD (the client uses MLSD when offered), NLST, MLST.
	entries, err := c.List("/docs")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name)
		if en.Name == "small.bin" && (en.Size != uint64(len(small)) || en.Type != ftpc.EntryTypeFile) {
			t.Fatalf("MLSD entry %+v", en)
		}
	}
	if !slices.Equal(names, []string{"big.bin", "small.bin"}) {
		t.Fatalf("MLSD: %v", names)
	}
	if nl, err := c.NameList("/docs"); err != nil || len(nl) != 2 {
		t.Fatalf("NLST: %v %v", nl, err)
	}
	if en, err := c.GetEntry("/docs/small.bin"); err != nil || en.Size != uint64(len(small)) {
		t.Fatalf("MLST: %+v %v", en, err)
	}

	// MFMT, then MDTM and the listing show the time.
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := c.SetTime("/docs/small.bin", mt); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetTime("/docs/small.bin"); err != nil || !got.Equal(mt) {
		t.Fatalf("MDTM: %v %v", got, err)
	}

	// RNFR/RNTO of a file, then of a directory.
	if err := c.Rename("/docs/small.bin", "/docs/renamed.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FileSize("/docs/small.bin"); code(err) != 550 {
		t.Fatalf("renamed file still there: %v", err)
	}
	if err := c.Rename("/docs", "/papers"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.FileSize("/papers/renamed.bin"); err != nil || n != int64(len(small)) {
		t.Fatalf("after directory rename: %d %v", n, err)
	}

	// APPE, and REST+STOR at the end of the file (a resumed upload),
	// extend it, on small files and on multipart ones; a REST elsewhere is
	// refused and changes nothing.
	for _, tc := range []struct {
		name string
		old  []byte
	}{{"/papers/renamed.bin", small}, {"/papers/big.bin", big}} {
		key := homePrefix + strings.TrimPrefix(tc.name, "/")
		if err := c.Append(tc.name, strings.NewReader("more")); err != nil {
			t.Fatalf("APPE %s: %v", tc.name, err)
		}
		want := append(slices.Clone(tc.old), "more"...)
		if !bytes.Equal(e.get(key), want) {
			t.Fatalf("APPE %s: stored bytes differ", tc.name)
		}
		err = c.StorFrom(tc.name, strings.NewReader("tail"), 10)
		wantCode(t, "REST+STOR before the end", err, 550)
		if !strings.Contains(err.Error(), "REST before STOR must give its present size") {
			t.Fatalf("REST+STOR message: %v", err)
		}
		if err := c.StorFrom(tc.name, strings.NewReader("tail"), uint64(len(want))); err != nil {
			t.Fatalf("REST+STOR at the end of %s: %v", tc.name, err)
		}
		want = append(want, "tail"...)
		if !bytes.Equal(e.get(key), want) {
			t.Fatalf("REST+STOR %s: stored bytes differ", tc.name)
		}
	}
	if err := c.Append("/papers/new.log", strings.NewReader("first")); err != nil {
		t.Fatalf("APPE of a new file: %v", err)
	}
	if got := e.get(homePrefix + "papers/new.log"); string(got) != "first" {
		t.Fatalf("APPE of a new file stored %q", got)
	}
	wantCode(t, "REST+STOR of a missing file", c.StorFrom("/papers/none", strings.NewReader("x"), 5), 550)
	if err := c.Delete("/papers/new.log"); err != nil {
		t.Fatal(err)
	}

	// DELE, RMD.
	err = c.RemoveDir("/papers")
	wantCode(t, "RMD of a non-empty directory", err, 550)
	if !strings.Contains(err.Error(), "Directory not empty.") {
		t.Fatalf("RMD message: %v", err)
	}
	for _, f := range []string{"/papers/renamed.bin", "/papers/big.bin"} {
		if err := c.Delete(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveDir("/papers"); err != nil {
		t.Fatal(err)
	}
	err = c.Delete("/papers/renamed.bin")
	wantCode(t, "DELE of a missing file", err, 550)
	if !strings.Contains(err.Error(), "No such file or directory.") {
		t.Fatalf("DELE message: %v", err)
	}
	if err := c.NoOp(); err != nil {
		t.Fatal(err)
	}
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// Exact replies: features, binary by default, SITE and active mode off,
// and messages free of library and backend internals.
func TestReplies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	e.put(homePrefix+"a.txt", []byte("line1\nline2\n"))
	r := e.dialLogin()

	feat := r.expect("FEAT", 211)
	for _, f := range []string{"UTF8", "MLST", "MLSD", "SIZE", "MDTM", "MFMT", "REST STREAM", "EPSV", "AUTH TLS", "PBSZ", "PROT"} {
		if !strings.Contains(feat, "\n "+f+"\n") && !strings.HasSuffix(feat, "\n "+f) {
			t.Errorf("FEAT lacks %q:\n%s", f, feat)
		}
	}
	r.expect("OPTS UTF8 ON", 200)
	r.expect("SYST", 215)
	// Binary without TYPE I: SIZE and REST work, bytes are not rewritten.
	if msg := r.expect("SIZE /a.txt", 213); msg != "12" {
		t.Fatalf("SIZE: %q", msg)
	}
	d := r.epsv()
	r.expect("RETR /a.txt", 150)
	if got := readAll(t, d); string(got) != "line1\nline2\n" {
		t.Fatalf("RETR in the default type: %q", got)
	}
	r.want(226)
	r.expect("TYPE A", 200)
	r.expect("TYPE I", 200)
	r.expect("NOOP", 200)

	r.expect("SITE CHMOD 777 /a.txt", 500)
	r.expect("SITE RMDIR /", 500)
	r.expect("PORT 127,0,0,1,200,10", 502) // active mode is off by default
	r.expect("EPRT |1|127.0.0.1|51210|", 502)

	for _, c := range []struct {
		line string
		code int
		msg  string
	}{
		{"MDTM /missing", 550, "No such file or directory."},
		{"CWD /missing", 550, "No such file or directory."},
		{"CWD /a.txt", 550, "Not a Directory"},
		{"RETR /missing", 550, "No such file or directory."},
		{"MKD /a.txt", 550, "File exists."},
		{"RNFR /missing", 550, "No such file or directory."},
		{"DELE /", 550, "Is a directory."},
		{"RMD /", 550, "Permission denied."},
		{"MKD /bad\\name", 553, "File name not allowed."},
		{"CWD /bad\\name", 553, "File name not allowed."},
		{"RNFR /a.txt", 350, ""},
		{"RNTO /bad\\name", 553, "File name not allowed."},
	} {
		if c.line == "RETR /missing" {
			r.epsv()
		}
		code, msg := r.cmd(c.line)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: got %d %q, want %d …%q", c.line, code, msg, c.code, c.msg)
		}
		for _, leak := range []string{"error:", "driver", "users/", "stat ", "blob", "GetHandle"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: reply %q leaks %q", c.line, msg, leak)
			}
		}
	}
	r.expect("STOR /bad\\name", 553) // needs a data connection only once the name is accepted
	r.expect("APPE /bad\\name", 553)
	r.expect("HELP", 502)
	r.expect("QUIT", 221)
}

// A backend outage is a transient 451 with a plain message, never "not
// found", and never names the bucket or the server.
func TestBackendDown(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	e := newEnv(t, options{s3: true, s3srv: srv})
	e.put(homePrefix+"f.txt", []byte("x"))
	r := e.dialLogin()
	srv.Stop()
	for _, line := range []string{"LIST /", "RETR /f.txt", "STOR /g.txt", "MKD /d", "SIZE /f.txt", "DELE /f.txt"} {
		if strings.HasPrefix(line, "LIST") || strings.HasPrefix(line, "RETR") || strings.HasPrefix(line, "STOR") {
			r.epsv()
		}
		code, msg := r.cmd(line)
		if code != 451 || !strings.Contains(msg, "Storage temporarily unavailable, try again later.") {
			t.Errorf("%s: %d %q", line, code, msg)
		}
		for _, leak := range []string{e.s3Bucket, "127.0.0.1", "users/", "error", "dial"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: %q leaks %q", line, msg, leak)
			}
		}
	}
}

// LIST, NLST and MLSD stream: a directory larger than MaxListEntries (which
// bounds only STAT's in-memory listing) lists whole, in several storage
// pages, in each format; a file lists as itself, with ls options ignored.
func TestListingsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{cfg: func(c *ftp.Config) { c.MaxListEntries = 10 }})
	const n = 2345 // three storage pages
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		e.put(fmt.Sprintf("%sbig/f%04d.txt", homePrefix, i), []byte("x"))
	}
	r := e.dialLogin()
	r.expect("CWD /big", 250)
	r.expect("MFMT "+when.Format("20060102150405")+" f0007.txt", 213)
	list := r.list
	for _, cmd := range []string{"LIST", "LIST -la", "NLST", "MLSD", "LIST /big"} {
		lines := list(cmd)
		if len(lines) != n {
			t.Fatalf("%s: %d lines, want %d", cmd, len(lines), n)
		}
		last := lines[n-1]
		switch cmd {
		case "NLST":
			if last != "f2344.txt" {
				t.Errorf("NLST: last line %q", last)
			}
		case "MLSD":
			if !strings.HasPrefix(last, "Type=file;Size=1;Modify=") || !strings.HasSuffix(last, "; f2344.txt") {
				t.Errorf("MLSD: last line %q", last)
			}
			if l := lines[7]; l != "Type=file;Size=1;Modify=20200102030405; f0007.txt" {
				t.Errorf("MLSD: line %q", l)
			}
		default:
			if !strings.HasPrefix(last, "-") || !strings.HasSuffix(last, " f2344.txt") {
				t.Errorf("%s: last line %q", cmd, last)
			}
			if l := lines[7]; !strings.Contains(l, "Jan  2  2020 f0007.txt") {
				t.Errorf("%s: an old file's line %q shows no year", cmd, l)
			}
		}
	}
	if got := list("NLST /big/f0001.txt"); !slices.Equal(got, []string{"f0001.txt"}) {
		t.Errorf("NLST of a file: %q", got)
	}
	if got := list("LIST -l f0001.txt"); len(got) != 1 || !strings.HasSuffix(got[0], " f0001.txt") {
		t.Errorf("LIST of a file: %q", got)
	}
	r.expect("CWD /", 250)
	if got := list("NLST big"); len(got) != n || got[0] != "big/f0000.txt" {
		t.Errorf("NLST of a subdirectory: %d lines, first %q", len(got), got[0])
	}
	r.expect("MLSD /big/f0001.txt", 550)
	r.expect("LIST /nowhere", 550)
	// STAT of a directory is built in memory, and refused above the cap.
	if code, _ := r.cmd("STAT /big"); code < 400 {
		t.Errorf("STAT of %d entries with a cap of 10: %d", n, code)
	}
}

// Arguments the library would misread, or answer with Go error text, are
// refused with 501 and a plain message before it sees them; PASS needs a
// USER first.
func TestArgumentErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	e.put(homePrefix+"f.txt", []byte("hello"))

	r, _, _ := dialCtl(t, e.srv.Addr())
	if msg := r.expect("PASS x", 503); msg != "Login with USER first." {
		t.Fatalf("PASS before USER: %q", msg)
	}
	r.expect("USER", 501)
	r.expect("PASS x", 503)
	r.expect("USER alice", 331) // the connection is still usable
	r.expect("PASS alice-pw", 230)
	if logs := e.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "login failed") {
		t.Fatalf("PASS before USER reached the login:\n%s", logs)
	}

	for _, c := range []struct {
		line string
		code int
		msg  string
	}{
		{"REST -5", 501, "non-negative decimal"},
		{"REST abc", 501, "non-negative decimal"},
		{"REST +5", 501, "non-negative decimal"},
		{"REST 1.5", 501, "non-negative decimal"},
		{"REST 99999999999999999999", 501, "non-negative decimal"},
		{"REST", 501, "non-negative decimal"},
		{"REST 0", 350, ""},
		{"MFMT 2020 x", 501, "YYYYMMDDHHMMSS"},
		{"MFMT 20201301000000 f.txt", 501, "YYYYMMDDHHMMSS"}, // month 13
		{"MFMT 2020010100000a f.txt", 501, "YYYYMMDDHHMMSS"},
		{"MFMT 20200101000000. f.txt", 501, "YYYYMMDDHHMMSS"},
		{"MFMT 20200101000000", 501, "YYYYMMDDHHMMSS"},
		{"MFMT", 501, "YYYYMMDDHHMMSS"},
		{"MFMT 99991231235959 f.txt", 501, "2262"}, // past what a time can be stored as
		{"MFMT 19691231235959 f.txt", 501, "1970"},
		{"MFMT 20200102030405.123 f.txt", 213, ""},
		{"MDTM f.txt", 213, "20200102030405"},
		{"MFMT 19700101000000 f.txt", 213, ""},
		{"MDTM f.txt", 213, "19700101000000"},
		{"ALLO abc", 202, ""},
		{"ALLO 100", 202, ""},
	} {
		code, msg := r.cmd(c.line)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: got %d %q, want %d …%q", c.line, code, msg, c.code, c.msg)
		}
		for _, leak := range []string{"strconv", "parsing", "Parse", "Atoi", "syntax", "range", "error", "cannot parse"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: reply %q leaks %q", c.line, msg, leak)
			}
		}
	}
	// A valid REST still resumes a download.
	r.expect("REST 3", 350)
	d := r.epsv()
	r.expect("RETR f.txt", 150)
	if got := readAll(t, d); string(got) != "lo" {
		t.Fatalf("RETR after REST 3: %q", got)
	}
	r.want(226)
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", e.logs.String())
	}
}

// LIST and NLST ignore every leading ls option (-R lists the directory
// alone); "--" ends them, so a name starting with "-" can still be listed,
// as can "./-name".
func TestListOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	e.put(roPrefix+"catalogue.pdf", []byte("pdf"))
	e.put(homePrefix+"-dash.txt", []byte("dash"))
	e.put(homePrefix+"sub/deep.txt", []byte("deep"))
	r := e.dialLogin()
	names := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			out = append(out, l[strings.LastIndexByte(l, ' ')+1:])
		}
		return out
	}
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{"LIST -a -l /folder1", []string{"catalogue.pdf"}},
		{"LIST -la /folder1", []string{"catalogue.pdf"}},
		{"LIST -al -R /folder1", []string{"catalogue.pdf"}},
		{"LIST -R /sub", []string{"deep.txt"}},
		{"LIST -R", []string{"folder1", "folder2", "-dash.txt", "sub"}}, // mounts first
		{"LIST -a -l", []string{"folder1", "folder2", "-dash.txt", "sub"}},
		{"LIST -l -- -dash.txt", []string{"-dash.txt"}},
		{"LIST -- -dash.txt", []string{"-dash.txt"}},
		{"LIST ./-dash.txt", []string{"-dash.txt"}},
		{"NLST -a -l /folder1", []string{"folder1/catalogue.pdf"}},
		{"NLST -R sub", []string{"sub/deep.txt"}},
		{"NLST -- -dash.txt", []string{"-dash.txt"}},
	} {
		got := r.list(c.cmd)
		if strings.HasPrefix(c.cmd, "LIST") {
			got = names(got)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.cmd, got, c.want)
		}
	}
	r.expect("LIST -la /nowhere", 550)
	r.expect("LIST -- -nowhere", 550)
}

// A listing of a name with shell wildcards that names nothing lists what
// it matches in its directory, as Windows' ftp relies on for mget and
// mdelete (NLST *.csv); a name that exists, wildcards or not, lists
// itself. MLSD takes no pattern.
func TestListPattern(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	for _, k := range []string{"a.txt", "b.txt", "c.csv", ".hidden.txt", "star*.dat", "sub/d.txt", "sub/e.csv"} {
		e.put(homePrefix+k, []byte(k))
	}
	e.put(roPrefix+"cat.pdf", []byte("pdf"))
	r := e.dialLogin()
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{"NLST *.txt", []string{"a.txt", "b.txt"}},
		{"NLST -l *.csv", []string{"c.csv"}},
		{"NLST .*.txt", []string{".hidden.txt"}},
		{"NLST ?.t[x]t", []string{"a.txt", "b.txt"}},
		{"NLST sub/*", []string{"sub/d.txt", "sub/e.csv"}},
		{"NLST /sub/*.csv", []string{"sub/e.csv"}},
		{"NLST /folder1/*.pdf", []string{"folder1/cat.pdf"}},
		{"NLST star*.dat", []string{"star*.dat"}}, // the file of that name
		{"NLST *.none", nil},
	} {
		if got := r.list(c.cmd); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.cmd, got, c.want)
		}
	}
	if got := r.list("LIST *.csv"); len(got) != 1 || !strings.HasSuffix(got[0], " c.csv") {
		t.Errorf("LIST *.csv: %q", got)
	}
	for _, cmd := range []string{"MLSD *.txt", "NLST nowhere/*.txt", "NLST a.txt/*", "NLST [", "LIST *.txt/x"} {
		r.expect(cmd, 550)
	}
}
