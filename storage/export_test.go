package storage

// SetCopyThreshold lowers the size above which S3 copies use multipart
// UploadPartCopy, so that tests exercise it without 5 GB objects.
func SetCopyThreshold(o *BackendOptions, n int64) { o.copyThreshold = n }
