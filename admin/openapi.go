package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// The OpenAPI 3.1 document of the admin API, built in Go so that it
// compiles with the code it describes; a test fails when it and the
// router disagree on any path or method.

type schema = map[string]any

type document struct {
	OpenAPI    string                           `json:"openapi"`
	Info       info                             `json:"info"`
	Security   []map[string][]string            `json:"security"`
	Tags       []tag                            `json:"tags"`
	Paths      map[string]map[string]*operation `json:"paths"`
	Components components                       `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type tag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type operation struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description,omitempty"`
	Tags        []string               `json:"tags"`
	Parameters  []parameter            `json:"parameters,omitempty"`
	RequestBody *requestBody           `json:"requestBody,omitempty"`
	Responses   map[string]*response   `json:"responses"`
	Security    *[]map[string][]string `json:"security,omitempty"` // empty: public
}

type parameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required"`
	Schema      schema `json:"schema"`
}

type requestBody struct {
	Required bool                 `json:"required"`
	Content  map[string]mediaType `json:"content"`
}

type mediaType struct {
	Schema schema `json:"schema"`
}

type response struct {
	Description string               `json:"description"`
	Headers     map[string]header    `json:"headers,omitempty"`
	Content     map[string]mediaType `json:"content,omitempty"`
	Ref         string               `json:"$ref,omitempty"`
}

type header struct {
	Description string `json:"description"`
	Schema      schema `json:"schema"`
}

type components struct {
	Schemas         map[string]schema    `json:"schemas"`
	Responses       map[string]*response `json:"responses"`
	Parameters      map[string]parameter `json:"parameters"`
	SecuritySchemes map[string]schema    `json:"securitySchemes"`
}

func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }
func str(desc string) schema { return schema{"type": "string", "description": desc} }
func integer(desc string) schema {
	return schema{"type": "integer", "format": "int64", "description": desc}
}
func boolean(desc string) schema { return schema{"type": "boolean", "description": desc} }
func timestamp(desc string) schema {
	return schema{"type": "string", "format": "date-time", "description": desc}
}
func array(items schema) schema { return schema{"type": "array", "items": items} }

func object(required []string, props schema) schema {
	s := schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func jsonContent(s schema) map[string]mediaType {
	return map[string]mediaType{"application/json": {Schema: s}}
}

func body(s schema) *requestBody { return &requestBody{Required: true, Content: jsonContent(s)} }

func ok(desc string, s schema) *response {
	return &response{Description: desc, Content: jsonContent(s)}
}

func problemRef(name string) *response { return &response{Ref: "#/components/responses/" + name} }

var etagHeader = map[string]header{"ETag": {Description: "The user's version; send it back in If-Match.", Schema: str("")}}

func userResponse(desc string) *response {
	return &response{Description: desc, Headers: etagHeader, Content: jsonContent(ref("User"))}
}

func pathParam(name, desc string) parameter {
	return parameter{Name: name, In: "path", Required: true, Description: desc, Schema: schema{"type": "string"}}
}

var (
	nameParam    = parameter{Name: "name", In: "path", Required: true, Description: "User name.", Schema: schema{"type": "string"}}
	ifMatchParam = parameter{Name: "If-Match", In: "header", Description: "An ETag of the user (or *): the change is made only if it is still the current version, otherwise 412.", Schema: schema{"type": "string"}}
	public       = &[]map[string][]string{}
)

// op makes an operation with the responses every authenticated
// operation may give.
func op(id, summary string, tags []string, responses map[string]*response) *operation {
	o := &operation{OperationID: id, Summary: summary, Tags: tags, Responses: responses}
	for code, name := range map[string]string{"401": "Unauthorized", "503": "Unavailable", "500": "Internal"} {
		if _, set := o.Responses[code]; !set {
			o.Responses[code] = problemRef(name)
		}
	}
	return o
}

func withParams(o *operation, ps ...parameter) *operation {
	o.Parameters = append(o.Parameters, ps...)
	return o
}
func withBody(o *operation, b *requestBody) *operation { o.RequestBody = b; return o }
func publicOp(o *operation) *operation {
	o.Security = public
	delete(o.Responses, "401")
	return o
}

// buildDocument returns the document of the router of routes().
func buildDocument() *document {
	users, sessions, bans, backends, authTag, ops := []string{"users"}, []string{"sessions"}, []string{"bans"},
		[]string{"backends"}, []string{"auth"}, []string{"operations"}
	nodes := []string{"nodes"}
	rs := func(kv ...any) map[string]*response {
		m := map[string]*response{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(*response)
		}
		return m
	}
	noContent := &response{Description: "Done."}
	userChange := func(id, summary string, extra ...any) *operation {
		o := op(id, summary, users, rs(append([]any{"200", userResponse("The user as it is now."),
			"404", problemRef("NotFound"), "412", problemRef("PreconditionFailed"), "409", problemRef("Conflict")}, extra...)...))
		return withParams(o, nameParam, ifMatchParam)
	}
	login := publicOp(withBody(op("login", "Exchange an admin's name and password for a short-lived token.", authTag, rs(
		"201", ok("A token; use it as Authorization: Bearer TOKEN. It is shown only here.", ref("LoginResponse")),
		"400", problemRef("BadRequest"), "403", problemRef("Forbidden"), "422", problemRef("Validation"))), body(ref("LoginRequest"))))
	login.Description = "Failed logins go through the defender: too many from an address ban it (403) on every node."
	login.Responses["401"] = problemRef("Unauthorized") // wrong name or password
	paths := map[string]map[string]*operation{
		"/healthz": {"get": publicOp(op("healthz", "The process is alive.", ops, rs("200", ok("Alive.", object(nil, schema{"status": str("ok")})))))},
		"/readyz": {"get": publicOp(op("readyz", "This node should receive new clients.", ops, rs(
			"200", ok("Ready: not draining, every check passes.", ref("ReadyStatus")),
			"503", ok("Not ready: draining, or the checks named in failed do not pass.", ref("ReadyStatus")))))},
		"/metrics": {"get": publicOp(op("metrics", "Prometheus metrics.", ops, rs("200", &response{
			Description: "The metrics in the Prometheus text format.",
			Content:     map[string]mediaType{"text/plain": {Schema: schema{"type": "string"}}}})))},

		"/api/v1/openapi.json": {"get": op("openapi", "This document.", ops, rs("200", ok("The OpenAPI document.", schema{"type": "object"})))},
		"/api/v1/auth/login":   {"post": login},
		"/api/v1/auth/me":      {"get": op("me", "The admin and token the request is authenticated with.", authTag, rs("200", ok("The caller.", ref("Caller"))))},
		"/api/v1/auth/logout":  {"post": op("logout", "Revoke the token the request is made with.", authTag, rs("204", noContent))},

		"/api/v1/users": {
			"get": withParams(op("listUsers", "List users in name order, a page at a time.", users, rs(
				"200", &response{Description: "A page of users; next is the after= of the next page, absent on the last.",
					Headers: map[string]header{"Link": {Description: `The next page, rel="next".`, Schema: str("")}},
					Content: jsonContent(ref("UserPage"))},
				"422", problemRef("Validation"))),
				parameter{Name: "limit", In: "query", Description: "Page size (default 100, at most 1000).", Schema: schema{"type": "integer", "minimum": 1}},
				parameter{Name: "after", In: "query", Description: "Start after this name: the next of the previous page.", Schema: schema{"type": "string"}},
				parameter{Name: "prefix", In: "query", Description: "Only names that start with this.", Schema: schema{"type": "string"}}),
			"post": withBody(op("createUser", "Create a user.", users, rs(
				"201", userResponse("The new user."), "400", problemRef("BadRequest"), "409", problemRef("Conflict"),
				"415", problemRef("UnsupportedMediaType"), "422", problemRef("Validation"))), body(ref("UserInput"))),
		},
		"/api/v1/users/{name}": {
			"get": withParams(op("getUser", "Get a user.", users, rs("200", userResponse("The user."), "304", &response{Description: "Not modified (If-None-Match)."},
				"404", problemRef("NotFound"))), nameParam,
				parameter{Name: "If-None-Match", In: "header", Schema: schema{"type": "string"}}),
			"put": withBody(userChange("replaceUser", "Replace a user's settings (absent fields take their defaults; the password is kept).",
				"400", problemRef("BadRequest"), "415", problemRef("UnsupportedMediaType"), "422", problemRef("Validation")), body(ref("UserInput"))),
			"patch": withBody(userChange("patchUser", "Change some of a user's settings with a JSON merge patch (RFC 7396).",
				"400", problemRef("BadRequest"), "415", problemRef("UnsupportedMediaType"), "422", problemRef("Validation")),
				&requestBody{Required: true, Content: map[string]mediaType{"application/merge-patch+json": {Schema: ref("UserPatch")}, "application/json": {Schema: ref("UserPatch")}}}),
			"delete": withParams(op("deleteUser", "Delete a user (their files stay in the backend).", users, rs(
				"204", noContent, "404", problemRef("NotFound"), "412", problemRef("PreconditionFailed"))), nameParam, ifMatchParam),
		},
		"/api/v1/users/{name}/enable":  {"post": userChange("enableUser", "Allow the user's logins.")},
		"/api/v1/users/{name}/disable": {"post": userChange("disableUser", "Refuse the user's logins (open sessions stay; kick them).")},
		"/api/v1/users/{name}/password": {
			"put": withBody(userChange("setPassword", "Set the user's password.", "400", problemRef("BadRequest"),
				"415", problemRef("UnsupportedMediaType"), "422", problemRef("Validation")), body(ref("PasswordRequest"))),
			"delete": userChange("removePassword", "Turn the user's password logins off."),
		},
		"/api/v1/users/{name}/keys": {"post": withBody(userChange("addKey", "Add an SSH public key (200 if the user had it already).",
			"201", userResponse("The key was added."), "400", problemRef("BadRequest"), "415", problemRef("UnsupportedMediaType"),
			"422", problemRef("Validation")), body(ref("KeyInput")))},
		"/api/v1/users/{name}/keys/{fingerprint}": {"delete": withParams(userChange("removeKey", "Remove an SSH public key.", "422", problemRef("Validation")),
			pathParam("fingerprint", "SHA256:… as shown in the user's keys, with or without SHA256:, / escaped as %2F or in URL-safe base64."))},
		"/api/v1/users/{name}/sessions": {"delete": withParams(op("kickUser", "Close every session of the user on this node.", sessions, rs(
			"200", ok("How many sessions were closed.", object([]string{"kicked"}, schema{"kicked": integer("")})))), nameParam)},

		"/api/v1/sessions": {"get": withParams(op("listSessions", "List this node's sessions, oldest first.", sessions, rs(
			"200", ok("The sessions.", object([]string{"sessions"}, schema{"sessions": array(ref("Session"))})))),
			parameter{Name: "user", In: "query", Description: "Only this user's sessions.", Schema: schema{"type": "string"}})},
		"/api/v1/sessions/{id}": {"delete": withParams(op("kickSession", "Close a session of this node.", sessions, rs(
			"204", noContent, "404", problemRef("NotFound"), "422", problemRef("Validation"))), pathParam("id", "Session id."))},

		"/api/v1/bans": {"get": op("listBans", "List the bans in force (shared by every node).", bans, rs(
			"200", ok("The bans.", object([]string{"bans"}, schema{"bans": array(ref("Ban"))}))))},
		"/api/v1/bans/{kind}/{key}": {"delete": withParams(op("liftBan", "Lift a ban and forget the failures behind it.", bans, rs(
			"204", noContent, "404", problemRef("NotFound"), "422", problemRef("Validation"))),
			parameter{Name: "kind", In: "path", Required: true, Schema: schema{"type": "string", "enum": []string{"addr", "user"}}},
			pathParam("key", "The banned address (or user name)."))},

		"/api/v1/nodes": {"get": op("listNodes", "List every node known to the shared store, with its last heartbeat.", nodes, rs(
			"200", ok("The nodes.", object([]string{"nodes"}, schema{"nodes": array(ref("Node"))}))))},
		"/api/v1/backends": {"get": op("listBackends", "List the configured backends with a live reachability check.", backends, rs(
			"200", ok("The backends.", object([]string{"backends"}, schema{"backends": array(ref("Backend"))}))))},
	}

	problemTypes := make([]string, 0, len(kinds))
	for _, k := range kinds {
		problemTypes = append(problemTypes, problemTypePrefix+k.name)
	}
	problemResponse := func(k kind) *response {
		return &response{Description: k.title + " (" + problemTypePrefix + k.name + ").",
			Content: map[string]mediaType{"application/problem+json": {Schema: ref("Problem")}}}
	}
	unauthorized := problemResponse(kindUnauthorized)
	unauthorized.Headers = map[string]header{"WWW-Authenticate": {Description: `Bearer realm="wharf"`, Schema: str("")}}

	keyItem := object([]string{"key", "fingerprint"}, schema{
		"key":         str("The authorized_keys line, normalized (no comment)."),
		"fingerprint": str("SHA256:… (read-only)."),
		"comment":     str(""),
	})
	userProps := func(input bool) schema {
		keys := array(ref("Key"))
		if input {
			keys = array(schema{"oneOf": []schema{ref("KeyInput"), str("An authorized_keys line.")}})
		}
		return schema{
			"name":    str("Letters, digits and . _ @ -, starting with a letter or digit, at most 64."),
			"enabled": boolean("Whether the user may log in (default true)."),
			"keys":    keys,
			"home":    ref("Home"),
			"mounts":  array(ref("Mount")),
			"rules": schema{"type": []string{"array", "null"}, "items": ref("Rule"),
				"description": "ACL rules; absent or null: [{pattern: /, perms: *}]."},
			"limits":       ref("Limits"),
			"password_set": boolean("Whether password login is possible (read-only)."),
			"version":      integer("Bumped by every change; the ETag (read-only)."),
			"created":      timestamp("(read-only)"),
			"updated":      timestamp("(read-only)"),
		}
	}
	inputProps := userProps(true)
	inputProps["password"] = str("Initial password (POST only).")
	session := object([]string{"id", "protocol", "remote", "started", "bytes_in", "bytes_out"}, schema{
		"id": integer(""), "user": str("Empty before login."), "protocol": str(""), "remote": str("address:port"),
		"started": timestamp(""), "transfer": str(`"upload /path" or "download /path" while one runs.`),
		"bytes_in": integer("Received from the client."), "bytes_out": integer("Sent to the client."),
	})
	check := object([]string{"name", "ok", "duration_seconds", "checked"}, schema{
		"name": str(""), "kind": str("store, backend, listener, ..."), "ok": boolean(""),
		"error": str("Why it failed (in /readyz only \"failed\")."), "duration_seconds": schema{"type": "number"},
		"checked": timestamp(""),
	})

	return &document{
		OpenAPI: "3.1.0",
		Info: info{Title: "wharf admin API", Version: "1",
			Description: "Users, keys, sessions, bans and backends of a wharf node. Every error is application/problem+json (RFC 9457) " +
				"with a stable type (" + problemTypePrefix + "…); validation problems name each field in errors[]. " +
				"Authenticate with an admin token: Authorization: Bearer wharf_… (wharf admin token create, or POST /api/v1/auth/login)."},
		Security: []map[string][]string{{"bearer": {}}},
		Tags: []tag{{"users", "Users who log in over FTP, FTPS and SFTP."}, {"sessions", "This node's sessions."},
			{"bans", "Addresses banned by the defender."}, {"nodes", "The nodes of the cluster."}, {"backends", "The buckets users' files live in."},
			{"auth", "Admin authentication."}, {"operations", "Probes, metrics and this document."}},
		Paths: paths,
		Components: components{
			SecuritySchemes: map[string]schema{"bearer": {"type": "http", "scheme": "bearer",
				"description": "An admin token (wharf_<id>_<secret>)."}},
			Parameters: map[string]parameter{},
			Responses: map[string]*response{
				"BadRequest": problemResponse(kindBadRequest), "Unauthorized": unauthorized,
				"Forbidden": problemResponse(kindForbidden), "NotFound": problemResponse(kindNotFound),
				"Conflict": problemResponse(kindConflict), "PreconditionFailed": problemResponse(kindPrecondition),
				"UnsupportedMediaType": problemResponse(kindMediaType), "Validation": problemResponse(kindValidation),
				"Internal": problemResponse(kindInternal), "Unavailable": problemResponse(kindUnavailable),
			},
			Schemas: map[string]schema{
				"Problem": object([]string{"type", "title", "status"}, schema{
					"type":   schema{"type": "string", "enum": problemTypes},
					"title":  str("The same for every problem of the type."),
					"status": schema{"type": "integer"},
					"detail": str("What went wrong this time."),
					"errors": array(object([]string{"field", "detail"}, schema{
						"field":  str(`A JSON path into the request ("mounts[0].backend") or a parameter ("limit").`),
						"detail": str(""),
					})),
				}),
				"User":      object([]string{"name", "enabled", "keys", "home", "mounts", "rules", "limits", "password_set", "version", "created", "updated"}, userProps(false)),
				"UserInput": object([]string{"name"}, inputProps),
				"UserPatch": schema{"type": "object", "description": "A JSON merge patch of UserInput (without password): " +
					"present fields replace, null removes (back to the default).", "properties": userProps(true)},
				"UserPage": object([]string{"users"}, schema{"users": array(ref("User")), "next": str("The after= of the next page.")}),
				"Key":      keyItem,
				"KeyInput": object([]string{"key"}, schema{"key": str("One authorized_keys line (ed25519, ecdsa, rsa ≥ 2048 bits)."),
					"comment": str("Replaces the line's comment."), "fingerprint": str("Ignored (computed).")}),
				"Home": object([]string{"backend"}, schema{"backend": str("Default: the only configured backend."),
					"prefix": str(`Key prefix, "" or ending in "/"; default users/NAME/.`)}),
				"Mount": object([]string{"path", "backend"}, schema{"path": str("Where it appears, e.g. /shared."),
					"backend": str(""), "prefix": str(`"" or ending in "/".`), "read_only": boolean("")}),
				"Rule": object([]string{"pattern", "perms"}, schema{"pattern": str("A path pattern such as /uploads/*."),
					"perms": str("list,read,write,overwrite,append,delete,rename,mkdir,rmdir,setstat; * or none.")}),
				"Limits":          object(nil, schema{"max_sessions": integer("0: unlimited."), "quota_bytes": integer("Bytes the home may hold; an upload past it fails. 0: none.")}),
				"PasswordRequest": object([]string{"password"}, schema{"password": str("")}),
				"LoginRequest":    object([]string{"name", "password"}, schema{"name": str("Admin name."), "password": str("")}),
				"LoginResponse": object([]string{"token", "id", "admin", "expires"}, schema{"token": str("The bearer token."),
					"id": str("Its public id."), "admin": str(""), "expires": timestamp("")}),
				"Caller": object([]string{"admin", "token_id"}, schema{"admin": str(""), "token_id": str(""),
					"label": str(""), "expires": timestamp("Absent: never.")}),
				"Session": session,
				"Ban": object([]string{"kind", "key", "until", "reason", "created"}, schema{
					"kind": schema{"type": "string", "enum": []string{"addr", "user"}}, "key": str(""),
					"until": timestamp(""), "reason": str(""), "created": timestamp("")}),
				"Node": object([]string{"id", "version", "ready", "draining", "sessions", "started", "heartbeat", "alive"}, schema{
					"id": str("The node id (node.id, or the host name)."), "version": str("wharf's version on the node."),
					"address":  str("The node's public address, if configured."),
					"ready":    boolean("Whether its readiness checks passed at the last heartbeat."),
					"draining": boolean(""), "sessions": integer("Its sessions at the last heartbeat."),
					"started": timestamp(""), "heartbeat": timestamp("The last heartbeat."),
					"alive": boolean("Whether the last heartbeat is recent (within admin.node_stale)."),
				}),
				"Backend": object([]string{"name", "check"}, schema{"name": str(""),
					"check": schema{"oneOf": []schema{ref("CheckResult"), {"type": "null"}}}}),
				"CheckResult": check,
				"ReadyStatus": object([]string{"ready", "draining", "failed", "checks"}, schema{
					"ready": boolean(""), "draining": boolean(""),
					"failed": array(str(`"draining", or the kind and name of a failing check ("backend local").`)),
					"checks": array(ref("CheckResult")),
				}),
			},
		},
	}
}

// openapiJSON encodes the document once, when the API is built.
func openapiJSON() ([]byte, error) {
	b, err := json.MarshalIndent(buildDocument(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("admin: the OpenAPI document does not encode: %w", err)
	}
	return append(b, '\n'), nil
}

func (a *Admin) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.openapiDoc)))
	_, err := w.Write(a.openapiDoc)
	return err
}
