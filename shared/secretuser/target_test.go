package secretuser

import (
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/masterdb"
)

// TestTarget: the master's own database, whatever the request names. A
// master that holds no port gets its own engine's default, never the one
// of the engine the request names: that choice is the caller's, and would
// send the master's password to another port on the master's host.
func TestTarget(t *testing.T) {
	master := func(engine string, port int) masterdb.Master {
		return masterdb.Master{Host: "db.internal", Port: port, Engine: engine, Username: "master", Password: "pw"}
	}
	for _, tt := range []struct {
		name    string
		request Request
		master  masterdb.Master
		port    int
		field   string
		code    errcode.Code
	}{
		{"the master's port", Request{Engine: "postgres"}, master("postgres", 6432), 6432, "", ""},
		{"the master engine's default port", Request{Engine: "postgres"}, master("postgres", 0), 5432, "", ""},
		{"mysql's default, by the master's engine", Request{Engine: "mariadb"}, master("mysql", 0), 3306, "", ""},
		{"no port and no engine in the master", Request{Engine: "postgres"}, master("", 0), 0, "masterSecretArn", errcode.Invalid},
		{"an engine the master's is not", Request{Engine: "postgres"}, master("mysql", 0), 0, "engine", errcode.Invalid},
		{"another port", Request{Engine: "postgres", Port: 5433}, master("postgres", 0), 0, "port", errcode.Forbidden},
		{"the same port, said", Request{Engine: "postgres", Port: 5432}, master("postgres", 0), 5432, "", ""},
		{"another host", Request{Engine: "postgres", Host: "evil.example"}, master("postgres", 5432), 0, "host", errcode.Forbidden},
		{"the same host in capitals, with a dot", Request{Engine: "postgres", Host: "DB.internal."}, master("postgres", 5432), 5432, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := (&Users{}).target(tt.request, tt.master)
			if errcode.Of(err) != tt.code || errcode.FieldOf(err) != tt.field {
				t.Fatalf("got %v, want %s %s", err, tt.code, tt.field)
			}
			if err == nil && (e.Port != tt.port || e.Host != "db.internal") {
				t.Fatalf("endpoint %s:%d", e.Host, e.Port)
			}
		})
	}
}
