// Package apigateway is a local stand-in for an API Gateway HTTP API, as sam
// local start-api offers one: real HTTP requests become payload format 2.0
// events for a function, and its answers become HTTP responses.
//
// It imports only invoke; nothing of shared/ or functions/.
package apigateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
)

// CallerHeader lets a local request say which IAM principal it comes from,
// since no SigV4 signature is checked here; "none" sends no identity.
const CallerHeader = "X-Local-Caller"

// maxBody is API Gateway's payload limit.
const maxBody = 10 << 20

// Invoker runs one event through the function.
type Invoker interface {
	Invoke(ctx context.Context, event []byte) (*invoke.Outcome, error)
}

// Gateway serves the routes of a function.
type Gateway struct {
	function Invoker
	routes   []route
	// DefaultCaller is the IAM principal of requests that name none; empty
	// leaves them without an identity.
	DefaultCaller string
	// Document, when set, is the API's OpenAPI document, served at
	// GET /openapi.json with this server as its server, for viewers and
	// clients to read; a deployed API does not serve it.
	Document []byte
}

// New returns a gateway for the template's route keys, like "ANY /secrets"
// or "GET /secrets/{name+}".
func New(function Invoker, routeKeys []string) *Gateway {
	g := &Gateway{function: function}
	for _, key := range routeKeys {
		method, path, _ := strings.Cut(key, " ")
		g.routes = append(g.routes, route{key: key, method: method, segments: strings.Split(strings.Trim(path, "/"), "/")})
	}
	return g
}

type route struct {
	key      string
	method   string
	segments []string
}

// match reports whether the route takes the request, with its path
// parameters ({name} is one segment, {name+} the rest).
func (r route) match(method, path string) (map[string]string, bool) {
	if r.method != "ANY" && r.method != method {
		return nil, false
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, seg := range r.segments {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}"):
			if i >= len(parts) {
				return nil, false
			}
			params[strings.Trim(seg, "{+}")] = strings.Join(parts[i:], "/")
			return params, true
		case strings.HasPrefix(seg, "{"):
			if i >= len(parts) || parts[i] == "" {
				return nil, false
			}
			params[strings.Trim(seg, "{}")] = parts[i]
		case i >= len(parts) || parts[i] != seg:
			return nil, false
		}
	}
	return params, len(parts) == len(r.segments)
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.Document != nil && r.URL.Path == "/openapi.json" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		g.serveDocument(w, r)
		return
	}
	var matched *route
	var params map[string]string
	for i := range g.routes {
		if p, ok := g.routes[i].match(r.Method, r.URL.Path); ok {
			matched, params = &g.routes[i], p
			break
		}
	}
	if matched == nil {
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, `{"message":"Request Entity Too Large"}`)
		return
	}
	event, err := json.Marshal(g.event(r, matched.key, params, body))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, `{"message":"Internal Server Error"}`)
		return
	}
	out, err := g.function.Invoke(r.Context(), event)
	if err != nil || out.InitError != nil || out.Error != nil {
		// What API Gateway answers when the integration fails.
		slog.Error("the function failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, `{"message":"Internal Server Error"}`)
		return
	}
	writeResponse(w, out.Response)
}

// event is what API Gateway sends for r: headers in lower case, repeated
// ones joined by commas, the caller in the authorizer context.
func (g *Gateway) event(r *http.Request, routeKey string, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	now := time.Now()
	e := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       routeKey,
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    invoke.AccountID,
			Stage:        "$default",
			RequestID:    requestID(),
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: strings.Split(r.Host, ".")[0],
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP(r), UserAgent: r.UserAgent(),
			},
		},
	}
	for k, v := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, c := range v {
				e.Cookies = append(e.Cookies, strings.Split(c, "; ")...)
			}
			continue
		}
		e.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	if q := r.URL.Query(); len(q) > 0 {
		e.QueryStringParameters = map[string]string{}
		for k, v := range q {
			e.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			e.Body = string(body)
		} else {
			e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	e.RequestContext.Authorizer = g.authorizer(r)
	return e
}

// authorizer is the identity API Gateway would have established: the
// claims of a bearer JWT (not verified: this is a development server), or an
// IAM principal from CallerHeader or DefaultCaller.
func (g *Gateway) authorizer(r *http.Request) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if claims := jwtClaims(token); claims != nil {
			return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			}
		}
	}
	caller := r.Header.Get(CallerHeader)
	if caller == "" {
		caller = g.DefaultCaller
	}
	if caller == "" || caller == "none" {
		return nil
	}
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
			AccountID: invoke.AccountID, UserARN: caller, CallerID: caller, UserID: caller,
		},
	}
}

// jwtClaims reads a JWT's payload; API Gateway passes every claim as a string.
func jwtClaims(token string) map[string]string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var raw map[string]any
	if json.Unmarshal(payload, &raw) != nil {
		return nil
	}
	claims := make(map[string]string, len(raw))
	for k, v := range raw {
		if s, ok := v.(string); ok {
			claims[k] = s
		} else {
			b, _ := json.Marshal(v)
			claims[k] = string(b)
		}
	}
	return claims
}

// writeResponse turns a payload 2.0 answer into HTTP: a response object, or
// any other JSON, which API Gateway sends as a 200.
func writeResponse(w http.ResponseWriter, raw []byte) {
	var resp events.APIGatewayV2HTTPResponse
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) != nil || probe["statusCode"] == nil || json.Unmarshal(raw, &resp) != nil {
		writeJSON(w, http.StatusOK, string(raw))
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if decoded, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = decoded
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func isText(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType == ""
	}
	return strings.HasPrefix(media, "text/") || strings.HasSuffix(media, "json") || strings.HasSuffix(media, "xml") ||
		media == "application/x-www-form-urlencoded"
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func requestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serveDocument answers with the OpenAPI document, its servers pointed at
// this gateway, so a viewer's "try it" reaches the local API.
func (g *Gateway) serveDocument(w http.ResponseWriter, r *http.Request) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(g.Document, &doc); err != nil {
		writeJSON(w, http.StatusInternalServerError, `{"message":"the OpenAPI document is not JSON"}`)
		return
	}
	doc["servers"], _ = json.Marshal([]map[string]string{{"url": "http://" + r.Host, "description": "make api (local)"}})
	body, _ := json.MarshalIndent(doc, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*") // for a viewer served elsewhere
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
