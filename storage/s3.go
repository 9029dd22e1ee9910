package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// s3Native does what the portable blob API cannot on S3: multipart uploads
// that are aborted when they fail (gocloud leaves the parts behind), and
// server-side copies above 5 GB.
type s3Native struct {
	client *s3.Client
	bucket string
	bulk   s3.HTTPClient // for requests whose body is a part buffer: see bulkClient
}

// withBulk has one request sent by the bulk client.
func (n *s3Native) withBulk(o *s3.Options) { o.HTTPClient = n.bulk }

// cleanupTimeout bounds the requests that clean up after a failure; they
// run even when the caller's context has ended.
const cleanupTimeout = 30 * time.Second

// s3Meta converts our metadata for a native request.
func s3Meta(meta map[string]string) map[string]string {
	if len(meta) == 0 {
		return nil
	}
	return meta // our keys and values are plain ASCII: nothing to escape
}

// s3Writer streams an object as one PutObject (objects smaller than a part)
// or as a multipart upload with up to Concurrency parts in flight. Part
// buffers come from the Budget, so memory per writer is at most
// (Concurrency+1) × PartSize, and all writers together stay within the
// budget.
type s3Writer struct {
	ctx    context.Context // cancelled on abort
	s3     *s3Native
	key    string // escaped
	opts   BackendOptions
	budget *Budget
	meta   func() map[string]string

	cur      *partBuf
	uploadID string
	nextPart int32
	slots    chan struct{}
	wg       sync.WaitGroup

	// partsCtx is the context of part uploads: not ctx, because a part
	// cancelled mid-request may still be written by the server after the
	// upload was aborted (versitygw does), which leaves the upload behind.
	// An abort lets the parts in flight finish, and cancels them only
	// after cleanupTimeout.
	partsCtx    context.Context
	cancelParts context.CancelFunc

	mu    sync.Mutex
	parts []types.CompletedPart
	err   error     // first part failure
	spare []*[]byte // chunks of finished parts, reused by the next ones
}

// getChunk and putChunk make the writer reuse its own chunks, so that one
// upload allocates at most (Concurrency+1) × PartSize whatever the garbage
// collector does to the shared pool.
func (w *s3Writer) getChunk() *[]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.spare); n > 0 {
		c := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return c
	}
	return w.budget.getChunk()
}

func (w *s3Writer) putChunk(c *[]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spare = append(w.spare, c)
}

// releaseSpare gives the writer's spare chunks to the shared pool.
func (w *s3Writer) releaseSpare() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.spare {
		w.budget.putChunk(c)
	}
	w.spare = nil
}

func (n *s3Native) newWriter(ctx context.Context, key string, opts BackendOptions, budget *Budget, meta func() map[string]string) *s3Writer {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &s3Writer{
		ctx: ctx, s3: n, key: escapeS3Key(key), opts: opts, budget: budget, meta: meta,
		partsCtx: pctx, cancelParts: cancel,
		slots: make(chan struct{}, opts.Concurrency),
	}
}

func (w *s3Writer) newPart() *partBuf {
	return &partBuf{budget: w.budget, chunks: w, size: w.opts.PartSize}
}

// setErr records the first failure of a part.
func (w *s3Writer) setErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *s3Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *s3Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := w.failed(); err != nil {
			return written, err
		}
		if w.cur == nil {
			w.cur = w.newPart()
		}
		k, err := w.cur.fill(w.ctx, p)
		written += k
		p = p[k:]
		if err != nil {
			return written, err
		}
		if w.cur.full() {
			if err := w.sendPart(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// sendPart starts the upload of the current buffer as the next part,
// waiting for a free slot.
func (w *s3Writer) sendPart() error {
	if w.uploadID == "" {
		id, err := w.s3.createUpload(w.ctx, w.key, s3Meta(w.meta()))
		if err != nil {
			return err
		}
		w.uploadID = id
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	w.nextPart++
	num, pb := w.nextPart, w.cur
	w.cur = nil
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { pb.free(); <-w.slots }()
		out, err := w.s3.client.UploadPart(w.partsCtx, &s3.UploadPartInput{
			Bucket:        aws.String(w.s3.bucket),
			Key:           aws.String(w.key),
			UploadId:      aws.String(w.uploadID),
			PartNumber:    aws.Int32(num),
			Body:          pb.reader(),
			ContentLength: aws.Int64(pb.n),
		}, w.s3.withBulk)
		if err != nil {
			w.setErr(fmt.Errorf("upload part %d: %w", num, err))
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.parts = append(w.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
	}()
	return nil
}

// ReadFrom reads r straight into part buffers, saving the copy Write makes.
func (w *s3Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := w.failed(); err != nil {
			return total, err
		}
		if w.cur == nil {
			w.cur = w.newPart()
		}
		k, rerr := w.cur.readFrom(w.ctx, r)
		total += k
		if w.cur.full() {
			if err := w.sendPart(); err != nil {
				return total, err
			}
		}
		switch {
		case rerr == io.EOF:
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

func (w *s3Writer) commit() error {
	defer w.releaseSpare()
	defer w.cancelParts()
	if w.uploadID == "" {
		if w.cur == nil {
			w.cur = w.newPart()
		}
		defer w.cur.free()
		_, err := w.s3.client.PutObject(w.ctx, &s3.PutObjectInput{
			Bucket:        aws.String(w.s3.bucket),
			Key:           aws.String(w.key),
			Body:          w.cur.reader(),
			ContentLength: aws.Int64(w.cur.n),
			ContentType:   aws.String("application/octet-stream"),
			Metadata:      s3Meta(w.meta()),
		}, w.s3.withBulk)
		if err != nil {
			return s3Error(err)
		}
		return nil
	}
	if w.cur != nil && w.cur.n > 0 {
		if err := w.sendPart(); err != nil {
			w.abort()
			return err
		}
	}
	if w.cur != nil { // empty, but perhaps reserved by ReadFrom
		w.cur.free()
		w.cur = nil
	}
	w.waitParts()
	if err := w.failed(); err != nil {
		w.abort()
		return s3Error(err)
	}
	slices.SortFunc(w.parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	_, err := w.s3.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(w.s3.bucket),
		Key:             aws.String(w.key),
		UploadId:        aws.String(w.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		w.abort()
		return s3Error(fmt.Errorf("complete multipart upload: %w", err))
	}
	w.uploadID = ""
	return nil
}

// waitParts waits for the parts in flight, cancelling them once the
// writer's context has ended and cleanupTimeout passed.
func (w *s3Writer) waitParts() {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-w.ctx.Done():
	}
	t := time.NewTimer(cleanupTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.cancelParts()
		<-done
	}
}

// abort waits for parts in flight (see partsCtx) and aborts the multipart
// upload with a context of its own, so that no part stays behind.
func (w *s3Writer) abort() {
	defer w.releaseSpare()
	defer w.cancelParts()
	w.waitParts()
	if w.cur != nil {
		w.cur.free()
		w.cur = nil
	}
	if w.uploadID == "" {
		return
	}
	w.s3.abortUpload(w.ctx, w.key, w.uploadID)
	w.uploadID = ""
}

// createUpload starts a multipart upload of escKey. The request itself is
// not cancelled with ctx: a cancellation that arrived while S3 was creating
// the upload would leave an upload nobody knows the id of. If ctx ended
// meanwhile, the new upload is aborted at once.
func (n *s3Native) createUpload(ctx context.Context, escKey string, meta map[string]string) (string, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	out, err := n.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(n.bucket),
		Key:         aws.String(escKey),
		ContentType: aws.String("application/octet-stream"),
		Metadata:    meta,
	})
	if err != nil {
		return "", fmt.Errorf("create multipart upload: %w", err)
	}
	id := aws.ToString(out.UploadId)
	if err := ctx.Err(); err != nil {
		n.abortUpload(ctx, escKey, id)
		return "", err
	}
	return id, nil
}

func (n *s3Native) abortUpload(ctx context.Context, escKey, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = n.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(n.bucket),
		Key:      aws.String(escKey),
		UploadId: aws.String(uploadID),
	})
}

// copyObject copies srcKey to dstKey inside the bucket with UploadPartCopy
// parts of partSize, as CopyObject is limited to 5 GB. When meta is not nil
// it replaces the object's metadata; otherwise the source's is kept.
func (n *s3Native) copyObject(ctx context.Context, dstKey, srcKey string, size, partSize int64, meta map[string]string) error {
	dst, src := escapeS3Key(dstKey), escapeS3Key(srcKey)
	if meta == nil {
		head, err := n.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(n.bucket), Key: aws.String(src)})
		if err != nil {
			return s3Error(err)
		}
		meta = head.Metadata
	}
	uploadID, err := n.createUpload(ctx, dst, meta)
	if err != nil {
		return s3Error(err)
	}
	parts, err := n.copyParts(ctx, dst, src, uploadID, size, partSize)
	if err == nil {
		_, err = n.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(n.bucket),
			Key:             aws.String(dst),
			UploadId:        aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if err != nil {
		n.abortUpload(ctx, dst, uploadID)
		return s3Error(err)
	}
	return nil
}

// copyParts copies src into the multipart upload of dst as parts of
// partSize (the last one shorter), copyConcurrency at a time.
func (n *s3Native) copyParts(ctx context.Context, dst, src, uploadID string, size, partSize int64) ([]types.CompletedPart, error) {
	count := max(1, (size+partSize-1)/partSize)
	parts := make([]types.CompletedPart, count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyConcurrency)
	for i := range count {
		off := i * partSize
		g.Go(func() error {
			part, err := n.copyPart(gctx, dst, src, uploadID, int32(i+1), off, min(off+partSize, size), nil)
			parts[i] = part
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return parts, nil
}

// copyPart copies bytes [off, end) of src as part num of the multipart
// upload of dst (all of an empty src when end is 0). With ifMatch, a
// source whose ETag is no longer that one fails the copy with ErrChanged.
func (n *s3Native) copyPart(ctx context.Context, dst, src, uploadID string, num int32, off, end int64, ifMatch *string) (types.CompletedPart, error) {
	in := &s3.UploadPartCopyInput{
		Bucket:            aws.String(n.bucket),
		Key:               aws.String(dst),
		UploadId:          aws.String(uploadID),
		PartNumber:        aws.Int32(num),
		CopySource:        aws.String(url.QueryEscape(n.bucket + "/" + src)),
		CopySourceIfMatch: ifMatch,
	}
	if end > 0 {
		in.CopySourceRange = aws.String("bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end-1, 10))
	}
	out, err := n.client.UploadPartCopy(ctx, in)
	switch {
	case ifMatch != nil && (isPreconditionFailed(err) || sourceShrank(err)):
		return types.CompletedPart{}, fmt.Errorf("copy part %d: %w", num, ErrChanged)
	case err != nil:
		return types.CompletedPart{}, fmt.Errorf("copy part %d: %w", num, err)
	}
	return types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(num)}, nil
}

// replaceMeta rewrites an object's metadata in place with a server-side
// copy onto itself.
func (n *s3Native) replaceMeta(ctx context.Context, key string, size, partSize, copyLimit int64, meta map[string]string) error {
	if size > copyLimit {
		return n.copyObject(ctx, key, key, size, partSize, meta)
	}
	esc := escapeS3Key(key)
	_, err := n.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(n.bucket),
		Key:               aws.String(esc),
		CopySource:        aws.String(url.QueryEscape(n.bucket + "/" + esc)),
		Metadata:          meta,
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       aws.String("application/octet-stream"),
	})
	return s3Error(err)
}

// s3Error classifies a native S3 error like classify does gocloud's.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrChanged) {
		return err
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return &backendError{ErrNotExist, err}
	}
	if isNameTooLong(err) {
		return &backendError{ErrInvalidName, err}
	}
	return &backendError{ErrUnavailable, err}
}

// isPreconditionFailed reports whether err is S3's answer to a condition
// (If-Match and the like) the object no longer meets.
func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
}

// sourceShrank reports whether err says a copy's source no longer has the
// range or the key asked for: the object was replaced by a smaller one or
// removed since its size was read. Some servers (versitygw) check the
// range before the If-Match condition.
func sourceShrank(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidRange", "NoSuchKey":
		return true
	case "InvalidArgument":
		return strings.Contains(strings.ToLower(ae.ErrorMessage()), "range")
	}
	return false
}

// keep starts the multipart upload with the present content of the
// object, copied inside S3 with UploadPartCopy, on the condition that the
// object is still the version of that ETag. Every part but the last must
// be at least MinPartSize, so an object smaller than that is not kept
// here: the caller sends it through the first part's buffer.
//
// The copies run while the new bytes arrive, in the slots of the parts
// (so that a large file does not keep an FTP client waiting for its 150
// reply); they are the first parts, and the commit waits for them. A copy
// that fails, ErrChanged included, fails the writer.
func (w *s3Writer) keep(size int64, etag string) (bool, error) {
	if size < MinPartSize || etag == "" {
		return false, nil
	}
	if w.opts.hooks != nil && w.opts.hooks.beforeKeep != nil {
		w.opts.hooks.beforeKeep()
	}
	id, err := w.s3.createUpload(w.ctx, w.key, s3Meta(w.meta()))
	if err != nil {
		return false, s3Error(err)
	}
	w.uploadID = id // abort removes it from now on
	// Parts of about copyPart, all of one size but the last, which takes
	// the rest: the new bytes come after it, so it must not be smaller
	// than MinPartSize either.
	n := (size + w.opts.copyPart - 1) / w.opts.copyPart
	partSize := max(MinPartSize, (size+n-1)/n)
	count := max(1, size/partSize)
	w.nextPart = int32(count)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for num := int32(1); num <= int32(count); num++ {
			off, end := int64(num-1)*partSize, int64(num)*partSize
			if num == int32(count) {
				end = size
			}
			select {
			case w.slots <- struct{}{}:
			case <-w.ctx.Done():
				w.setErr(w.ctx.Err())
				return
			}
			if w.failed() != nil {
				<-w.slots
				return
			}
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() { <-w.slots }()
				part, err := w.s3.copyPart(w.partsCtx, w.key, w.key, id, num, off, end, &etag)
				if err != nil {
					w.setErr(err)
					return
				}
				w.mu.Lock()
				w.parts = append(w.parts, part)
				w.mu.Unlock()
			}()
		}
	}()
	return true, nil
}
