package auth

// Observer receives the events that metrics count: logins, bans and file
// transfers. *admin.Metrics is one; server hands it to the Registry and
// the Authenticator, so that no protocol needs to know about metrics.
// Label values are from small fixed sets: protocol names, "ok", "failed",
// "banned", "upload", "download".
type Observer interface {
	Login(protocol, result string)
	Ban()
	Transfer(protocol, direction string, n int64)
	TransferBytes(protocol, direction string, n int64)
}

// nopObserver counts nothing.
type nopObserver struct{}

func (nopObserver) Login(string, string)                {}
func (nopObserver) Ban()                                {}
func (nopObserver) Transfer(string, string, int64)      {}
func (nopObserver) TransferBytes(string, string, int64) {}
