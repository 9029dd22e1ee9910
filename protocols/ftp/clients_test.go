package ftp_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Real clients, when installed (always in CI): curl over plain FTP,
// explicit FTPS and implicit FTPS, uploading, downloading, listing,
// appending (APPE), and in ASCII mode.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := requireTool(t, "curl")
	e := newEnv(t, options{s3: true})
	dir := t.TempDir()
	data := randomBytes(6<<20 + 5) // two parts
	src := filepath.Join(dir, "up load.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tailData := []byte("appended by curl\n")
	tail := filepath.Join(dir, "tail.txt")
	if err := os.WriteFile(tail, tailData, 0o600); err != nil {
		t.Fatal(err)
	}
	textData := []byte("first line\nsecond line\n\nlast, without an end")
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, textData, 0o600); err != nil {
		t.Fatal(err)
	}
	_, port := hostPort(t, e.srv.Addr())
	_, iport := hostPort(t, e.srv.ImplicitAddr())
	for _, c := range []struct {
		name string
		url  string
		args []string
	}{
		{"plain", "ftp://127.0.0.1:" + port, nil},
		{"explicit", "ftp://127.0.0.1:" + port, []string{"--ssl-reqd", "-k"}},
		{"implicit", "ftps://127.0.0.1:" + iport, []string{"-k"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := append([]string{"-sS", "--fail", "-u", "alice:alice-pw", "--max-time", "60"}, c.args...)
			remote := c.url + "/" + c.name + "/"
			mustRun(t, time.Minute, curl, append(base, "--ftp-create-dirs", "-T", src, remote)...)
			if got := e.get(homePrefix + c.name + "/up load.bin"); !bytes.Equal(got, data) {
				t.Fatalf("upload: %d bytes differ", len(got))
			}
			out := filepath.Join(dir, c.name+".out")
			mustRun(t, time.Minute, curl, append(base, "-o", out, remote+"up%20load.bin")...)
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Fatalf("download: %d bytes differ", len(got))
			}
			list := mustRun(t, time.Minute, curl, append(base, remote)...)
			if !strings.Contains(list, "up load.bin") || !strings.Contains(list, fmt.Sprint(len(data))) {
				t.Fatalf("LIST: %q", list)
			}
			mustRun(t, time.Minute, curl, append(base, "--append", "-T", tail, remote+"up%20load.bin")...)
			if got := e.get(homePrefix + c.name + "/up load.bin"); !bytes.Equal(got, append(slices.Clone(data), tailData...)) {
				t.Fatalf("append: %d bytes differ", len(got))
			}

			// ASCII mode (-B, TYPE A): curl sends every LF as CRLF and
			// turns CRLF back into LF. The file is stored with LFs, and a
			// CRLF already in a stored file is sent as it is, not as
			// CR CR LF (which curl would keep a CR of).
			mustRun(t, time.Minute, curl, append(base, "-B", "-T", text, remote)...)
			if got := e.get(homePrefix + c.name + "/text.txt"); !bytes.Equal(got, textData) {
				t.Fatalf("ASCII upload stored %q, want %q", got, textData)
			}
			e.put(homePrefix+c.name+"/dos.txt", []byte("a\r\nb\nc"))
			if got := mustRun(t, time.Minute, curl, append(base, "-B", remote+"dos.txt")...); got != "a\nb\nc" {
				t.Fatalf("ASCII download: %q", got)
			}
		})
	}
}

// curl stopped by its time limit in the middle of a 50 MiB upload over an
// existing file closes its connections cleanly: the previous version
// stays, and no multipart upload is left behind.
func TestCurlUploadTimeLimit(t *testing.T) {
	t.Parallel()
	curl := requireTool(t, "curl")
	e := newEnv(t, options{s3: true})
	old := randomBytes(1 << 20)
	e.put(homePrefix+"big.bin", old)
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, randomBytes(50<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, time.Minute, curl, "-sS", "-u", "alice:alice-pw", "--limit-rate", "10M", "-m", "2",
		"-T", src, "ftp://"+e.srv.Addr()+"/big.bin")
	if err == nil {
		t.Fatalf("curl finished a 50 MiB upload at 10 MB/s in 2 s: %s", out)
	}
	e.waitLog(notStored)
	if got := e.get(homePrefix + "big.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the previous version was replaced (%d bytes)", len(got))
	}
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// lftp mirrors a tree of 200 files (nested folders, spaces and non-ASCII
// names) up over explicit FTPS and back over plain FTP, byte for byte, and
// resumes a download with get -c and an upload with put -c.
func TestLftp(t *testing.T) {
	t.Parallel()
	lftp := requireTool(t, "lftp")
	e := newEnv(t, options{s3: true})
	_, port := hostPort(t, e.srv.Addr())
	src := filepath.Join(t.TempDir(), "src")
	want := makeTree(t, src, 200)
	if err := os.MkdirAll(filepath.Join(src, "empty dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	settings := "set cmd:fail-exit true; set net:max-retries 1; set net:timeout 20; set ftp:ssl-protect-data true; " +
		"set ssl:verify-certificate no; "
	open := "open -u alice,alice-pw ftp://127.0.0.1:" + port + "; "

	mustRun(t, 2*time.Minute, lftp, "-c", settings+"set ftp:ssl-force true; "+open+
		"mirror -R --no-perms --parallel=4 "+quote(src)+" /tree")
	back := filepath.Join(t.TempDir(), "back")
	mustRun(t, 2*time.Minute, lftp, "-c", settings+"set ftp:ssl-allow false; "+open+
		"mirror --parallel=4 /tree "+quote(back))
	if got := hashTree(t, back); !equalTrees(t, want, got) {
		t.Fatal("the tree mirrored back differs")
	}
	if fi, err := os.Stat(filepath.Join(back, "empty dir")); err != nil || !fi.IsDir() {
		t.Fatalf("empty directory not mirrored: %v", err)
	}

	// get -c resumes a partial download with REST.
	data := randomBytes(3<<20 + 11)
	e.put(homePrefix+"resume.bin", data)
	part := filepath.Join(t.TempDir(), "resume.bin")
	if err := os.WriteFile(part, data[:1<<20], 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, time.Minute, lftp, "-c", settings+"set ftp:ssl-allow false; "+open+
		"get -c /resume.bin -o "+quote(part))
	if got, _ := os.ReadFile(part); !bytes.Equal(got, data) {
		t.Fatalf("resumed download: %d bytes differ", len(got))
	}
	if !strings.Contains(e.logs.String(), "op=download path=/resume.bin result=ok offset=1048576") {
		t.Fatal("the download was not resumed at the partial file's end")
	}

	// put -c resumes a partial upload at the remote file's end; the part
	// already stored (above S3's minimum part size) is kept server-side.
	up := randomBytes(7<<20 + 3)
	e.put(homePrefix+"resume-up.bin", up[:6<<20])
	local := filepath.Join(t.TempDir(), "resume-up.bin")
	if err := os.WriteFile(local, up, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, time.Minute, lftp, "-c", settings+"set ftp:ssl-allow false; "+open+
		"put -c "+quote(local)+" -o /resume-up.bin")
	if got := e.get(homePrefix + "resume-up.bin"); !bytes.Equal(got, up) {
		t.Fatalf("resumed upload: %d bytes differ", len(got))
	}
	if !strings.Contains(e.logs.String(), "op=append path=/resume-up.bin result=ok bytes=1048579") {
		t.Fatalf("the upload was not resumed at the remote file's end:\n%s", e.logs.String())
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// makeTree writes n files of varied sizes and names under root and returns
// their hashes by relative path.
func makeTree(t *testing.T, root string, n int) map[string][32]byte {
	t.Helper()
	dirs := []string{"", "docs", "docs/sub folder", "ünïcödé", "ünïcödé/日本語", "deep/a/b/c/d", "with spaces here"}
	names := []string{"file %03d.txt", "données-%03d.bin", "отчёт %03d.csv", "plain%03d", "写真 %03d.jpg"}
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string][32]byte{}
	for i := range n {
		rel := filepath.Join(dirs[i%len(dirs)], fmt.Sprintf(names[i%len(names)], i))
		size := rng.IntN(20 << 10)
		switch i {
		case 7:
			size = 0
		case 11:
			size = 6 << 20 // a multipart upload
		}
		data := randomBytes(size)
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out[filepath.ToSlash(rel)] = sha256.Sum256(data)
	}
	return out
}

func hashTree(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = sha256.Sum256(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalTrees(t *testing.T, want, got map[string][32]byte) bool {
	t.Helper()
	ok := len(want) == len(got)
	for k, h := range want {
		if g, found := got[k]; !found || g != h {
			t.Errorf("%s: missing or different", k)
			ok = false
		}
	}
	if len(want) != len(got) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
	return ok
}
