package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/wharf-gw/wharf/auth"
)

// problemTypePrefix starts the type URI of every problem; the rest is the
// kind's stable name ("urn:wharf:problem:not-found").
const problemTypePrefix = "urn:wharf:problem:"

// kind is a class of failure: a stable problem type, an HTTP status and a
// title that is the same for every problem of the kind (RFC 9457).
type kind struct {
	name   string
	status int
	title  string
}

var (
	kindBadRequest       = kind{"bad-request", http.StatusBadRequest, "The request is malformed"}
	kindUnauthorized     = kind{"unauthorized", http.StatusUnauthorized, "Authentication required"}
	kindForbidden        = kind{"forbidden", http.StatusForbidden, "Forbidden"}
	kindNotFound         = kind{"not-found", http.StatusNotFound, "Not found"}
	kindMethodNotAllowed = kind{"method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed"}
	kindConflict         = kind{"conflict", http.StatusConflict, "Conflict"}
	kindPrecondition     = kind{"precondition-failed", http.StatusPreconditionFailed, "The resource has changed"}
	kindTooLarge         = kind{"too-large", http.StatusRequestEntityTooLarge, "The request body is too large"}
	kindMediaType        = kind{"unsupported-media-type", http.StatusUnsupportedMediaType, "Unsupported media type"}
	kindValidation       = kind{"validation", http.StatusUnprocessableEntity, "The request is invalid"}
	kindInternal         = kind{"internal", http.StatusInternalServerError, "Internal error"}
	kindUnavailable      = kind{"unavailable", http.StatusServiceUnavailable, "Service unavailable"}
)

// kinds lists every kind, for the OpenAPI document.
var kinds = []kind{kindBadRequest, kindUnauthorized, kindForbidden, kindNotFound, kindMethodNotAllowed,
	kindConflict, kindPrecondition, kindTooLarge, kindMediaType, kindValidation, kindInternal, kindUnavailable}

// Problem is an application/problem+json body (RFC 9457).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors name each invalid field of a validation problem.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one invalid field: a JSON path into the request such as
// "mounts[0].backend", or a query parameter such as "limit".
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// apiError is an error that knows its problem.
type apiError struct {
	kind   kind
	detail string
	fields []FieldError
	header http.Header // set on the response (WWW-Authenticate, ...)
	cause  error       // logged, never shown
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.kind.name + ": " + e.detail + ": " + e.cause.Error()
	}
	return e.kind.name + ": " + e.detail
}

func (e *apiError) Unwrap() error { return e.cause }

func problemf(k kind, format string, args ...any) *apiError {
	return &apiError{kind: k, detail: fmt.Sprintf(format, args...)}
}

// invalid is a validation problem naming one field.
func invalid(field, format string, args ...any) *apiError {
	d := fmt.Sprintf(format, args...)
	return &apiError{kind: kindValidation, detail: field + ": " + d, fields: []FieldError{{field, d}}}
}

// writeError is the one place that turns an error into a response.
func (a *Admin) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	log := a.log.With("method", r.Method, "path", r.URL.Path, "status", e.kind.status)
	switch {
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		log.Debug("request abandoned by the client", "err", err)
		return
	case e.kind.status >= 500:
		log.Error("request failed", "err", err)
	default:
		log.Debug("request refused", "err", err)
	}
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	writeProblem(w, e)
}

func writeProblem(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.kind.status)
	_ = json.NewEncoder(w).Encode(Problem{Type: problemTypePrefix + e.kind.name, Title: e.kind.title,
		Status: e.kind.status, Detail: e.detail, Errors: e.fields})
}

// classify finds the problem of err: its own, or the one its auth kind
// stands for. Details of unexpected errors stay in the log.
func classify(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &apiError{kind: kindTooLarge, detail: fmt.Sprintf("the body may have at most %d bytes", tooBig.Limit), cause: err}
	case errors.Is(err, auth.ErrInvalid):
		return validationError(err)
	case errors.Is(err, auth.ErrNotFound):
		return &apiError{kind: kindNotFound, detail: err.Error()}
	case errors.Is(err, auth.ErrExists):
		return &apiError{kind: kindConflict, detail: err.Error()}
	case errors.Is(err, auth.ErrConflict):
		return &apiError{kind: kindConflict, detail: "changed by someone else meanwhile; read it again and retry", cause: err}
	case errors.Is(err, auth.ErrBanned):
		return &apiError{kind: kindForbidden, detail: "your address is " + strings.TrimPrefix(err.Error(), "address ")}
	case errors.Is(err, auth.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &apiError{kind: kindUnavailable, detail: "the identity store is unavailable; try again later", cause: err}
	}
	return &apiError{kind: kindInternal, detail: "internal error; the server log has the details", cause: err}
}

// fieldRE finds the field an auth validation message starts with:
// "mounts[0].backend: unknown backend ..." or `name "x y": use ...`.
var fieldRE = regexp.MustCompile(`^((?:name|password|enabled|home|mounts|rules|limits|keys)(?:\[\d+\])?(?:\.[a-z_]+)*)(?:[: ]|$)`)

// validationError turns an error made of auth validation errors (one per
// problem, joined) into a problem naming each field.
func validationError(err error) *apiError {
	var fields []FieldError
	var details []string
	for _, part := range leaves(err) {
		msg := strings.TrimPrefix(part.Error(), auth.ErrInvalid.Error()+": ")
		field := ""
		if m := fieldRE.FindStringSubmatch(msg); m != nil {
			field = m[1]
		}
		d := msg
		if field != "" {
			d = strings.TrimLeft(strings.TrimPrefix(msg, field), ": ")
		}
		fields = append(fields, FieldError{Field: field, Detail: d})
		details = append(details, msg)
	}
	return &apiError{kind: kindValidation, detail: strings.Join(details, "; "), fields: fields}
}

// leaves splits an error made with errors.Join into its parts.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
