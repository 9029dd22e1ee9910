package ftp

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/wharf-gw/wharf/storage"
)

// Every storage error kind becomes a fixed message, with the sentinel the
// library turns into 552 or 553 where one applies; the original error,
// which may name keys, is never in the message.
func TestMapError(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	secret := errors.New("s3://secret-bucket/users/alice/x: dial tcp 10.0.0.1:443")
	for _, c := range []struct {
		kind error
		msg  string
		is   error
	}{
		{storage.ErrNotExist, msgNotExist, nil},
		{storage.ErrPermission, msgPermission, nil},
		{storage.ErrExist, msgExist, nil},
		{storage.ErrNotEmpty, msgNotEmpty, nil},
		{storage.ErrIsDir, msgIsDir, nil},
		{storage.ErrNotDir, msgNotDir, nil},
		{storage.ErrInvalidName, msgInvalidName, ftpserver.ErrFileNameNotAllowed},
		{storage.ErrInvalidArgument, msgInvalidArgument, nil},
		{storage.ErrQuotaExceeded, msgQuota, ftpserver.ErrStorageExceeded},
		{storage.ErrUnavailable, msgUnavailable, nil},
		{storage.ErrChanged, msgChanged, nil},
		{storage.ErrUnsupported, msgUnsupported, nil},
		{context.Canceled, msgClosed, nil},
		{secret, msgFailed, nil},
	} {
		err := mapError(log, "op", "/x", &fs.PathError{Op: "op", Path: "/x", Err: fmt.Errorf("%w: %w", c.kind, secret)})
		if c.kind == secret {
			err = mapError(log, "op", "/x", secret)
		}
		if err.Error() != c.msg {
			t.Errorf("%v: %q, want %q", c.kind, err, c.msg)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%v: does not wrap %v", c.kind, c.is)
		}
		if c.is == nil && (errors.Is(err, ftpserver.ErrFileNameNotAllowed) || errors.Is(err, ftpserver.ErrStorageExceeded)) {
			t.Errorf("%v: wraps a library sentinel", c.kind)
		}
	}
}

func TestRewriteReply(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"226 Closing transfer connection\r\n", "226 Closing transfer connection\r\n"},
		{"550 Could not access file: driver error: calling GetHandle: " + msgUnavailable + "\r\n",
			"451 Could not access file: " + msgUnavailable + "\r\n"},
		{"450 Could not list: " + msgUnavailable + "\r\n", "451 Could not list: " + msgUnavailable + "\r\n"},
		{"550 Could not access file: " + msgChanged + "\r\n", "451 Could not access file: " + msgChanged + "\r\n"},
		{"550 Couldn't access /" + msgUnavailable + ": " + msgNotExist + "\r\n",
			"550 Couldn't access /" + msgUnavailable + ": " + msgNotExist + "\r\n"},
		{"530 " + msgBanned + "\r\n", "421 " + msgBanned + "\r\n"},
		{"530 " + msgLoginFailed + "\r\n", "530 " + msgLoginFailed + "\r\n"},
		{"550 Issue during transfer: network error: error transferring data: " + msgDataFailed + "\r\n",
			"426 Issue during transfer: " + msgDataFailed + "\r\n"},
		{"553 Could not access file: driver error: calling GetHandle: " + msgInvalidName + "\r\n",
			"553 Could not access file: " + msgInvalidName + "\r\n"},
		{" 550 a listed name\r\n", " 550 a listed name\r\n"},
		// An invalid name is 553 on every command, MKD included.
		{`550 Could not create "/bad\name" : ` + msgInvalidName + "\r\n", `553 Could not create "/bad\name" : ` + msgInvalidName + "\r\n"},
		{"550 Couldn't access /a\\b: " + msgInvalidName + "\r\n", "553 Couldn't access /a\\b: " + msgInvalidName + "\r\n"},
		{"550 Couldn't access /" + msgInvalidName + ": " + msgNotExist + "\r\n", "550 Couldn't access /" + msgInvalidName + ": " + msgNotExist + "\r\n"},
		{`550 Couldn't set mtime "2300-01-01T00:00:00Z" for "/f", err: ` + msgInvalidArgument + "\r\n",
			`501 Couldn't set mtime "2300-01-01T00:00:00Z" for "/f", err: ` + msgInvalidArgument + "\r\n"},
		// The library's own Go errors never reach the client.
		{"425 failed to accept passive transfer connection: accept tcp 10.0.0.5:40000: i/o timeout\r\n",
			"425 Cannot open the data connection.\r\n"},
		{"425 could not establish active connection: dial tcp 127.0.0.1:5000: connect: connection refused\r\n",
			"425 Cannot open the data connection.\r\n"},
		{"550 Issue during transfer: network error: error transferring data: write tcp 10.0.0.5:2121->1.2.3.4:5000: write: broken pipe\r\n",
			"426 Issue during transfer: " + msgDataFailed + "\r\n"},
		{"550 Issue during transfer close: error closing transfer connection: close tcp 10.0.0.5:40000: bad\r\n",
			"426 Issue during transfer close: " + msgDataFailed + "\r\n"},
		{"421 Could not listen for passive connection: could not find any port to listen to\r\n",
			"421 Could not listen for passive connection: No passive port available, try again later.\r\n"},
		{"421 Could not listen for passive connection: PASV needs an IPv4 address: use EPSV\r\n",
			"421 Could not listen for passive connection: PASV needs an IPv4 address: use EPSV\r\n"},
		{"500 Unhandled internal error: runtime error: index out of range [3] with length 2\r\n", "500 Internal error.\r\n"},
	} {
		if got, _ := rewriteReply(c.in); got != c.out {
			t.Errorf("%q:\n got %q\nwant %q", c.in, got, c.out)
		}
	}
}

func TestParseActive(t *testing.T) {
	for _, c := range []struct {
		verb, arg string
		want      string
	}{
		{"PORT", "127,0,0,1,4,1", "127.0.0.1:1025"},
		{"PORT", " 10,1,2,3,0,25", "10.1.2.3:25"},
		{"PORT", "1,2,3,4,5", ""},
		{"PORT", "1,2,3,400,5,6", ""},
		{"EPRT", "|1|127.0.0.1|2000|", "127.0.0.1:2000"},
		{"EPRT", "|2|::1|2000|", "[::1]:2000"},
		{"EPRT", "!1!127.0.0.1!2000!", "127.0.0.1:2000"},
		{"EPRT", "|1|host|2000|", ""},
		{"EPRT", "|1|127.0.0.1|70000|", ""},
		{"EPRT", "|1|127.0.0.1|025|", "127.0.0.1:25"},
		{"PORT", "127,0,0,1,0,587", ""},
		{"PORT", "127,0,0,1,+2,1", ""},
		{"PORT", "127,0,0,1,0,0", ""},
		{"PORT", "", ""},
		{"EPRT", "|1|127.0.0.1|+25|", ""},
		{"EPRT", "|1|127.0.0.1|0|", ""},
		{"EPRT", "|1|::1|2000|", ""},
		{"EPRT", "|2|127.0.0.1|2000|", ""},
		{"EPRT", "|2|fe80::1%eth0|2000|", ""},
		{"EPRT", "1127.0.0.1120001", ""},
		{"EPRT", "", ""},
	} {
		got, ok := parseActive(c.verb, c.arg)
		if (c.want == "") == ok || ok && got != netip.MustParseAddrPort(c.want) {
			t.Errorf("%s %s: %v %v, want %q", c.verb, c.arg, got, ok, c.want)
		}
	}
}

// Every msg constant of errors.go is one ourMessage keeps: a message added
// there and forgotten in ourMessage would be replaced by a generic text
// where the library's own error text is rewritten.
func TestOurMessageKnowsEveryMessage(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "msg") {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				n++
				if !ourMessage(s) {
					t.Errorf("ourMessage(%s) = false: add it to ourMessage", name.Name)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found %d msg constants in errors.go, want them all", n)
	}
}
