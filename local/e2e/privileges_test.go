package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestLevelsAndRolesThroughTheStack: through the custom resource's real
// bootstrap, with the template's default grants (stacks may ask for any
// level) and a deployment's GrantableRoles: an owner may create, alter and
// drop, and a role a DBA maintains is the user's at login; an Update moves
// the user down to readonly and takes the role away, in place; a role that
// does not exist is invalid and one the deployment does not allow is
// forbidden, with nothing made.
func TestLevelsAndRolesThroughTheStack(t *testing.T) {
	overrides := map[string]string{"GrantableRoles": "app_*"}
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			s := dbServer(t, engine)
			master := masterSecretFor(t, "masters/levels/"+engine, s)
			schema, table := "levels_app", "levels_app.reports"
			if engine == "mariadb" {
				schema, table = "", "levels_other.reports"
				asMasterOf(t, s, "CREATE DATABASE levels_other", "CREATE TABLE "+table+" (id int)", "CREATE ROLE app_reporting", "GRANT SELECT ON "+table+" TO app_reporting")
			} else {
				asMasterOf(t, s, "CREATE SCHEMA "+schema, "CREATE SCHEMA levels_reports", "CREATE TABLE levels_reports.data (id int)",
					"CREATE ROLE app_reporting NOLOGIN", "GRANT USAGE ON SCHEMA levels_reports TO app_reporting", "GRANT SELECT ON levels_reports.data TO app_reporting")
				table = "levels_reports.data"
			}
			props := func(name, privileges string, roles ...string) func(map[string]any) {
				return userProps(s, engine, "app/levels/"+engine+"/"+name, master, privileges, schema, roles...)
			}
			create := func(id, name, privileges string, roles ...string) cfnAnswer {
				t.Helper()
				out, _ := run(t, "CustomResourceFunction", "custom-resource-create.json", overrides, func(e map[string]any) {
					e["RequestId"] = id
					props(name, privileges, roles...)(e["ResourceProperties"].(map[string]any))
				})
				return answerOf(t, out)
			}
			// Refused before anything is made.
			for _, tt := range []struct{ id, name, role, reason string }{
				{"11111111-0000-4000-8000-00000000000" + strconv.Itoa(len(engine)), "ghost", "app_ghost", "does not exist"},
				{"22222222-0000-4000-8000-00000000000" + strconv.Itoa(len(engine)), "outside", "reporting_all", "GrantableRoles"},
			} {
				a := create(tt.id, tt.name, "readonly", tt.role)
				if a.Status != "FAILED" || !strings.Contains(a.Reason, tt.reason) {
					t.Fatalf("memberOf %s: %+v", tt.role, a)
				}
				notCreated(t, "app/levels/"+engine+"/"+tt.name)
			}
			a := create("33333333-0000-4000-8000-00000000000"+strconv.Itoa(len(engine)), "app", "owner", "app_reporting")
			if a.Status != "SUCCESS" || a.Data["DatabaseUserPrivileges"] != "owner" || a.Data["DatabaseUserMemberOf"] != "app_reporting" {
				t.Fatalf("create: %+v", a)
			}
			own := "levels_owned"
			if schema != "" {
				own = schema + ".owned"
			}
			if err := asSecret(t, engine, a.PhysicalResourceId, "CREATE TABLE "+own+" (id int)", "ALTER TABLE "+own+" ADD COLUMN note text",
				"CREATE INDEX owned_id ON "+own+" (id)", "INSERT INTO "+own+" (id) VALUES (1)", "SELECT count(*) FROM "+table); err != nil {
				t.Fatalf("the owner: %v", err)
			}
			out, _ := run(t, "CustomResourceFunction", "custom-resource-update.json", overrides, func(e map[string]any) {
				e["RequestId"], e["PhysicalResourceId"] = "44444444-0000-4000-8000-00000000000"+strconv.Itoa(len(engine)), a.PhysicalResourceId
				props("app", "owner", "app_reporting")(e["OldResourceProperties"].(map[string]any))
				props("app", "readonly")(e["ResourceProperties"].(map[string]any))
			})
			if u := answerOf(t, out); u.Status != "SUCCESS" || u.Data["DatabaseUserPrivileges"] != "readonly" || u.Data["DatabaseUserMemberOf"] != "" {
				t.Fatalf("update: %+v", u)
			}
			for _, refused := range []string{"CREATE TABLE " + own + "2 (id int)", "SELECT count(*) FROM " + table} {
				if err := asSecret(t, engine, a.PhysicalResourceId, refused); err == nil {
					t.Fatalf("after the update to readonly without the role: %s", refused)
				}
			}
			if err := asSecret(t, engine, a.PhysicalResourceId, "SELECT count(*) FROM "+own); err != nil {
				t.Fatalf("readonly cannot read: %v", err)
			}
		})
	}
}
