package samtemplate

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestProjectTemplate reads the real template.yaml: the four functions,
// each built by the makefile, with the parameters in its environment.
func TestProjectTemplate(t *testing.T) {
	tpl, err := Load("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CustomResourceFunction", "EventBridgeFunction", "HttpApiFunction", "RotationHealthFunction"}
	if got := tpl.Functions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("functions %v, want %v", got, want)
	}
	if got := tpl.RouteKeys(); !reflect.DeepEqual(got, []string{"ANY /secrets", "ANY /secrets/{name+}"}) {
		t.Fatalf("routes %v", got)
	}
	for _, id := range want {
		f, err := tpl.Function(id, map[string]string{"DefaultReplicaRegions": "eu-west-1"}, map[string]string{"AWS::AccountId": "123456789012"})
		if err != nil {
			t.Fatal(err)
		}
		if f.BuildMethod != "makefile" || f.Handler != "bootstrap" || f.Runtime != "provided.al2023" {
			t.Errorf("%s: build %q handler %q runtime %q", id, f.BuildMethod, f.Handler, f.Runtime)
		}
		if f.Environment["SECRET_NAME_PREFIX"] != "app/" || f.Environment["DEFAULT_REPLICA_REGIONS"] != "eu-west-1" || f.Environment["AWS_LAMBDA_LOG_FORMAT"] != "JSON" {
			t.Errorf("%s: environment %v", id, f.Environment)
		}
	}
}

func TestResolve(t *testing.T) {
	tpl, err := Load("testdata/template-intrinsics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := tpl.Function("Fn", map[string]string{"Prefix": "team/"}, map[string]string{"AWS::Region": "eu-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PREFIX": "team/", "REGION": "eu-west-2", "PLAIN": "overridden"}
	if !reflect.DeepEqual(f.Environment, want) || f.Timeout != 7*time.Second || f.MemoryMB != 128 {
		t.Fatalf("got %+v, want environment %v, 7s, 128 MB", f, want)
	}
	for _, tt := range []struct{ id, overrides, want string }{
		{"Joined", "", "only plain values and Ref"},
		{"Unset", "", "Ref NoDefault"},
		{"Queue", "", `no function "Queue"`},
		{"Fn", "Nope=1", `no such parameter`},
	} {
		overrides, _ := ParseOverrides(tt.overrides)
		if _, err := tpl.Function(tt.id, overrides, map[string]string{"AWS::Region": "eu-west-2"}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s with %q: got %v, want an error containing %q", tt.id, tt.overrides, err, tt.want)
		}
	}
}

func TestParseOverrides(t *testing.T) {
	got, err := ParseOverrides(`SecretNamePrefix="team a/" DefaultReplicaRegions="" EventSource=x.y`)
	want := map[string]string{"SecretNamePrefix": "team a/", "DefaultReplicaRegions": "", "EventSource": "x.y"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"novalue", `A="open`, "=x"} {
		if _, err := ParseOverrides(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
