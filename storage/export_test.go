package storage

// SetCopyThreshold lowers the size above which S3 copies use multipart
// UploadPartCopy, so that tests exercise it without 5 GB objects.
func SetCopyThreshold(o *BackendOptions, n int64) { o.copyThreshold = n }

// SetBeforeKeep sets a function an S3 Append calls between the HEAD of
// the object and the copy of its content, so that tests can change the
// object there.
func SetBeforeKeep(o *BackendOptions, f func()) { o.hooks = &testHooks{beforeKeep: f} }
