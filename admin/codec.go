package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// writeJSON writes v as the JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// checkMediaType refuses a body that is not of one of types (a missing
// Content-Type is taken for JSON).
func checkMediaType(r *http.Request, types ...string) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, t := range types {
			if mt == t {
				return nil
			}
		}
	}
	return problemf(kindMediaType, "Content-Type %q: send %s", ct, strings.Join(types, " or "))
}

// readBody reads the whole body (bounded by limitBody).
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, problemf(kindBadRequest, "reading the body: %v", err)
	}
	return body, nil
}

// decodeJSON reads the body as one JSON value into v. Unknown fields are
// refused. Malformed JSON is a bad request; well-formed JSON of the wrong
// shape is a validation problem naming the field.
func decodeJSON(r *http.Request, v any) error {
	if err := checkMediaType(r, "application/json"); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, v)
}

func unmarshalStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problemf(kindBadRequest, "the body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problemf(kindBadRequest, "malformed JSON: more than one value in the body")
	}
	return nil
}

// jsonError describes an error of encoding/json.
func jsonError(err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return problemf(kindBadRequest, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problemf(kindBadRequest, "malformed JSON: unexpected end of the body")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return problemf(kindBadRequest, "the body must be a JSON %s, not %s", typeName(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return invalid(field, "must be %s, not %s", typeName(typeErr.Type.Kind().String()), typeErr.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalid(strings.Trim(f, `"`), "unknown field")
	}
	var fe *apiError
	if errors.As(err, &fe) {
		return fe // from an UnmarshalJSON of ours
	}
	return problemf(kindBadRequest, "malformed JSON: %v", err)
}

func typeName(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "uint32", "uint8":
		return "a whole number"
	case "float64", "float32":
		return "a number"
	}
	return k
}
