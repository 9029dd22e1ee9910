package storage

// SetCopyLimits lowers the size above which S3 copies use multipart
// UploadPartCopy, and the size of its parts, so that tests exercise it
// without 5 GB objects.
func SetCopyLimits(o *BackendOptions, threshold, part int64) {
	o.copyThreshold, o.copyPart = threshold, part
}

// SetBeforeKeep sets a function an S3 Append calls between reading the
// object's attributes and the copy of its content, so that tests can change the
// object there.
func SetBeforeKeep(o *BackendOptions, f func()) { hooks(o).beforeKeep = f }

// SetLateModTime sets a function Writer.Close calls before it stores a
// time set after the metadata was fixed: an error it returns fails that
// step, as a backend would.
func SetLateModTime(o *BackendOptions, f func() error) { hooks(o).lateModTime = f }

func hooks(o *BackendOptions) *testHooks {
	if o.hooks == nil {
		o.hooks = &testHooks{}
	}
	return o.hooks
}
