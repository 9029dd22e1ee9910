package ftp

import (
	"errors"
	"io"
	"os"
)

// listPage is how many entries one storage listing call returns.
const listPage = 1000

// ReadDir serves LIST, NLST, MLSD and STAT of a directory.
//
// The storage listing streams page by page, but ftpserverlib takes the
// whole directory as one slice before it opens the data connection, so a
// listing costs memory in proportion to the directory (about 150 bytes per
// entry). Entries are appended as the storage returns them, without
// copies, and a directory above Config.MaxListEntries is refused rather
// than allowed to exhaust memory.
func (d *driver) ReadDir(name string) ([]os.FileInfo, error) {
	ctx := d.sess.ctx
	ls, err := d.fs.List(ctx, name)
	if err != nil {
		return nil, mapError(d.log, "list", name, err)
	}
	d.sess.startTransfer("list", name)
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
