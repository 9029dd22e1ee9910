package ftp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/wharf-gw/wharf/storage"
)

// listPage is how many entries one storage listing call returns.
const listPage = 1000

// ReadDir serves STAT of a directory (LIST, NLST and MLSD stream: see
// openListing).
//
// ftpserverlib takes the whole directory as one slice, so this costs
// memory in proportion to the directory (about 150 bytes per entry): a
// directory above Config.MaxListEntries is refused rather than allowed to
// exhaust memory.
func (d *driver) ReadDir(name string) ([]os.FileInfo, error) {
	ctx := d.sess.ctx
	ls, err := d.fs.List(ctx, name)
	if err != nil {
		return nil, mapError(d.log, "list", name, err)
	}
	d.sess.startTransfer("list", name, nil)
	limit := d.sess.srv.cfg.MaxListEntries
	var out []os.FileInfo
	for {
		page, err := ls.Next(ctx, listPage)
		for _, fi := range page {
			out = append(out, fi)
		}
		if len(out) > limit {
			d.log.Warn("directory too large to list", "path", name, "limit", limit)
			return nil, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, mapError(d.log, "list", name, err)
		}
	}
}

// Streamed listings. ftpserverlib builds LIST, NLST and MLSD in memory
// from one slice, so the control connection hands them to the library as
// a RETR of a name no file can have (listingPrefix and a sequence number;
// acl.Clean refuses backslashes). The library then does for the listing
// what it does for a download, data connection, TLS, ABOR and replies
// included, and GetHandle answers with a listing that reads the storage
// listing page by page: memory does not grow with the directory.

// listingPrefix starts the name a listing is retrieved under.
const listingPrefix = `\wharf-listing\`

// listRequest is a LIST, NLST or MLSD waiting for its RETR.
type listRequest struct {
	seq  uint64
	verb string
	arg  string
}

// queueListing records a listing command and returns the RETR line the
// library is given instead.
func (s *session) queueListing(verb, arg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listSeq++
	s.listReq = &listRequest{seq: s.listSeq, verb: verb, arg: arg}
	return "RETR " + listingPrefix + strconv.FormatUint(s.listSeq, 10) + "\r\n"
}

// takeListing returns the listing command the RETR of name stands for,
// and the working directory it was sent in.
func (s *session) takeListing(name string) (*listRequest, string, bool) {
	dir, base := path.Split(name)
	seq, ok := strings.CutPrefix(base, listingPrefix)
	if !ok {
		return nil, "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.listReq
	if req == nil || strconv.FormatUint(req.seq, 10) != seq {
		return nil, "", false
	}
	s.listReq = nil
	return req, path.Clean(dir), true
}

// stripOptions removes the ls options clients send before the path of a
// listing: every leading word that starts with "-" (-a, -l, -la, -R, …).
// They are ignored: a listing always shows every entry, LIST in the long
// format, and is never recursive (-R lists the directory alone). "--"
// ends the options, so "LIST -- -name" lists a file whose name starts with
// "-", as "LIST ./-name" does.
func stripOptions(arg string) string {
	for {
		arg = strings.TrimLeft(arg, " ")
		if !strings.HasPrefix(arg, "-") {
			return arg
		}
		word, rest, _ := strings.Cut(arg, " ")
		arg = rest
		if word == "--" {
			return strings.TrimLeft(arg, " ")
		}
	}
}

// openListing starts the listing req asks for, in the working directory
// cwd: the argument, without options, resolves as the library resolves
// it, a file lists as itself (except for MLSD), and NLST names are
// relative to cwd. A last path element with shell wildcards that names
// nothing (NLST *.csv, as Windows' ftp sends for mget) lists the entries
// of its directory it matches (see matchName); MLSD takes a directory
// only, as RFC 3659 says.
func (d *driver) openListing(req *listRequest, cwd string) (ftpserver.FileTransfer, error) {
	ctx := d.sess.ctx
	name := absPath(cwd, stripOptions(req.arg))
	lt := &listing{d: d, verb: req.verb, cwd: cwd, name: name}
	fi, err := d.fs.Stat(ctx, name)
	if errors.Is(err, storage.ErrNotExist) && req.verb != "MLSD" && isPattern(path.Base(name)) {
		lt.match = path.Base(name)
		if dfi, derr := d.fs.Stat(ctx, path.Dir(name)); derr != nil || dfi.IsDir() {
			fi, err = dfi, derr
		}
	}
	if err != nil {
		return nil, mapError(d.log, "list", name, err)
	}
	if !fi.IsDir() {
		if req.verb == "MLSD" {
			return nil, reply(msgNotDir)
		}
		lt.parent, lt.page = path.Dir(name), []os.FileInfo{fi}
	} else {
		dir := name
		if lt.match != "" {
			dir = path.Dir(name)
		}
		ls, err := d.fs.List(ctx, dir)
		if err != nil {
			return nil, mapError(d.log, "list", name, err)
		}
		lt.parent, lt.ls = dir, ls
		// The first page before the data connection opens: an outage is
		// a 451 to the command, not a broken transfer.
		if err := lt.fetch(); err != nil {
			return nil, err
		}
	}
	d.sess.startTransfer("list", name, lt.ended)
	return lt, nil
}

// isPattern reports whether a name has shell wildcards (* ? [...]) that
// make a valid pattern.
func isPattern(s string) bool {
	if !strings.ContainsAny(s, "*?[") {
		return false
	}
	_, err := path.Match(s, "")
	return err == nil
}

// matchName reports whether name matches pattern as a shell matches it:
// a leading dot only when the pattern has it too.
func matchName(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// absPath resolves p as ftpserverlib does.
func absPath(cwd, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(cwd, p)
}

// relPath returns p relative to the working directory cwd, as
// ftpserverlib's NLST writes it.
func relPath(cwd, p string) string {
	var b strings.Builder
	base := cwd
	for base != p {
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		if rest, ok := strings.CutPrefix(p, base); ok {
			b.WriteString(rest)
			break
		}
		if base == "/" {
			return p
		}
		b.WriteString("../")
		base = path.Dir(path.Clean(base))
	}
	return b.String()
}

// listing is a directory listing read as a file, in the library's formats.
// It is audited when its final reply has been sent (see ended).
type listing struct {
	d      *driver
	verb   string
	cwd    string
	name   string
	parent string          // the directory NLST names are relative to
	match  string          // a pattern entries must match (see matchName); "" lists all
	ls     *storage.Lister // nil when listing one file
	page   []os.FileInfo   // entries not yet formatted
	buf    []byte          // formatted entries
	off    int             // how much of buf was read
	eof    bool
	sent
}

var (
	_ io.WriterTo                 = (*listing)(nil)
	_ ftpserver.FileTransferError = (*listing)(nil)
)

// WriteTo is what the library's copy uses: the data connection gets the
// idle timer if it has none yet (see guardConn).
func (lt *listing) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(lt.d.dataWriter(w), struct{ io.Reader }{lt})
}

func (lt *listing) Read(p []byte) (int, error) {
	if lt.off == len(lt.buf) {
		lt.buf, lt.off = lt.buf[:0], 0 // reused for the next page
	}
	for len(lt.buf) == 0 {
		if len(lt.page) == 0 {
			if lt.eof || lt.ls == nil {
				lt.finish(nil)
				return 0, io.EOF
			}
			if err := lt.fetch(); err != nil {
				lt.finish(err)
				return 0, err
			}
			continue
		}
		for _, fi := range lt.page {
			lt.buf = lt.format(lt.buf, fi)
		}
		lt.page = lt.page[:0]
	}
	n := copy(p, lt.buf[lt.off:])
	lt.off += n
	return n, nil
}

// fetch reads the next page of the storage listing.
func (lt *listing) fetch() error {
	page, err := lt.ls.Next(lt.d.sess.ctx, listPage)
	if errors.Is(err, io.EOF) {
		lt.eof = true
	} else if err != nil {
		return mapError(lt.d.log, "list", lt.name, err)
	}
	for _, fi := range page {
		if lt.match == "" || matchName(lt.match, fi.Name()) {
			lt.page = append(lt.page, fi)
		}
	}
	return nil
}

// LIST dates: the time of day for the last six months, else the year.
const (
	listTimeFormat = "Jan _2 15:04"
	listYearFormat = "Jan _2  2006"
	listRecent     = 6 * 30 * 24 * time.Hour
)

// format appends one entry as ftpserverlib formats it.
func (lt *listing) format(b []byte, fi os.FileInfo) []byte {
	switch lt.verb {
	case "NLST":
		b = append(b, path.Join(relPath(lt.cwd, lt.parent), fi.Name())...)
	case "MLSD":
		typ := "file"
		if fi.IsDir() {
			typ = "dir"
		}
		b = fmt.Appendf(b, "Type=%s;Size=%d;Modify=%s; %s", typ, fi.Size(), fi.ModTime().UTC().Format("20060102150405"), fi.Name())
	default:
		f := listTimeFormat
		if lt.d.sess.started.Sub(fi.ModTime()) > listRecent {
			f = listYearFormat
		}
		b = fmt.Appendf(b, "%s 1 ftp ftp %12d %s %s", fi.Mode(), fi.Size(), fi.ModTime().Format(f), fi.Name())
	}
	return append(b, '\r', '\n')
}

// Seek accepts only the start: a REST before a listing is not honoured.
func (lt *listing) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekStart && offset == 0 {
		return 0, nil
	}
	return 0, errSeek
}

func (lt *listing) Write([]byte) (int, error) { return 0, errNotOpen }

// ended audits the listing with its real result.
func (lt *listing) ended(reply int, aborted bool) {
	lt.d.auditResult("list", lt.name, lt.result(reply, aborted))
}

func (lt *listing) Close() error { return nil }
