package apigateway

import (
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestRouteMatch(t *testing.T) {
	g := New(nil, []string{"ANY /secrets", "ANY /secrets/{name+}", "GET /teams/{team}/members"})
	tests := []struct {
		method, path string
		key          string
		params       map[string]string
	}{
		{"POST", "/secrets", "ANY /secrets", map[string]string{}},
		{"GET", "/secrets/app/orders/db", "ANY /secrets/{name+}", map[string]string{"name": "app/orders/db"}},
		{"GET", "/teams/payments/members", "GET /teams/{team}/members", map[string]string{"team": "payments"}},
		{"POST", "/teams/payments/members", "", nil},
		{"GET", "/secret", "", nil},
		{"GET", "/secrets/app/x/extra/../y", "ANY /secrets/{name+}", map[string]string{"name": "app/x/extra/../y"}},
	}
	for _, tt := range tests {
		var key string
		var params map[string]string
		for _, r := range g.routes {
			if p, ok := r.match(tt.method, tt.path); ok {
				key, params = r.key, p
				break
			}
		}
		if key != tt.key || (tt.params != nil && !reflect.DeepEqual(params, tt.params)) {
			t.Errorf("%s %s: matched %q %v, want %q %v", tt.method, tt.path, key, params, tt.key, tt.params)
		}
	}
}

func TestWriteResponse(t *testing.T) {
	for _, tt := range []struct {
		raw    string
		status int
		body   string
		header string
	}{
		{`{"statusCode": 201, "headers": {"Location": "/secrets/x"}, "body": "{}"}`, 201, "{}", "/secrets/x"},
		{`{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}`, 200, "hi", ""},
		{`{"ok": true}`, 200, `{"ok": true}`, ""}, // any other JSON is a 200, as API Gateway infers
	} {
		w := httptest.NewRecorder()
		writeResponse(w, []byte(tt.raw))
		if w.Code != tt.status || w.Body.String() != tt.body || w.Header().Get("Location") != tt.header {
			t.Errorf("%s: got %d %q %v", tt.raw, w.Code, w.Body.String(), w.Header())
		}
	}
}

func TestJWTClaims(t *testing.T) {
	claims := jwtClaims("e30.eyJzdWIiOiJhbGljZSIsInRlYW0iOiJwYXltZW50cyIsImV4cCI6MTcwMH0.c2ln")
	if claims["sub"] != "alice" || claims["team"] != "payments" || claims["exp"] != "1700" {
		t.Fatalf("claims %v", claims)
	}
	if jwtClaims("not-a-jwt") != nil {
		t.Fatal("a malformed token gave claims")
	}
}
