package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/awsrotation"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// TestAccessSurvivesRotation: an owner-level user made through the custom
// resource's bootstrap is rotated three times by AWS's multi-user rotation
// function (or, without its source here, by the statements it runs).
// Between rotations the login now current (the user and its clone in
// turn) creates a table, writes to and alters the one the other login
// made, and drops one the other login made; a readonly secret on the same
// schema reads them all.
func TestAccessSurvivesRotation(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := dbServer(t, engine)
			source := awsrotation.Source(engine, t.TempDir())
			if source == "" {
				t.Log("AWS's rotation function is not here (AWS_ROTATION_LAMBDAS): rotating with its statements")
			} else {
				t.Log("rotating with AWS's function", source)
			}
			// AWS's functions read a self-managed master's engine too.
			out, err := secretsClient(t, "us-east-1").CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: aws.String("masters/rotaccess/" + engine), SecretString: aws.String(fmt.Sprintf(`{"engine": %q, "username": %q, "password": %q, "host": %q, "port": %d}`,
					engine, dbserver.MasterUser, dbserver.MasterPassword, s.Host, s.Port))})
			if err != nil {
				t.Fatal(err)
			}
			master := aws.ToString(out.ARN)
			schema, prefix := "rot_access", "rot_access."
			if engine == "mariadb" {
				schema, prefix = "", "rot_access_"
			} else {
				asMasterOf(t, s, "CREATE SCHEMA "+schema)
			}
			asMasterOf(t, s, "CREATE TABLE "+prefix+"base (id int)")
			make := func(name, privileges string) string {
				t.Helper()
				a := customResource(t, "custom-resource-create.json", "abababab-0000-4000-8000-0000000007"+strconv.Itoa(len(name)%10)+strconv.Itoa(len(engine)%10), "", "", userProps(s, engine, "app/rotaccess/"+engine+"/"+name, master, privileges, schema))
				if a.Status != "SUCCESS" {
					t.Fatalf("create %s: %+v", name, a)
				}
				return a.PhysicalResourceId
			}
			app, reader := make("app", "owner"), make("reader", "readonly")
			table := func(i int) string { return prefix + "t" + strconv.Itoa(i) }
			first, err := awsrotation.Current(ctx, secretsClient(t, "us-east-1"), app)
			if err != nil {
				t.Fatal(err)
			}
			if err := asCurrent(t, engine, first, "CREATE TABLE "+table(0)+" (id int)", "INSERT INTO "+prefix+"base VALUES (0)"); err != nil {
				t.Fatalf("the first login: %v", err)
			}
			logins := map[string]bool{}
			for i := 1; i <= 3; i++ {
				if err := awsrotation.Rotate(ctx, secretsClient(t, "us-east-1"), moto.Endpoint, engine, source, app); err != nil {
					t.Fatalf("rotation %d: %v", i, err)
				}
				v, err := awsrotation.Current(ctx, secretsClient(t, "us-east-1"), app)
				if err != nil {
					t.Fatal(err)
				}
				logins[v["username"].(string)] = true
				steps := []string{
					"CREATE TABLE " + table(i) + " (id int)",
					"INSERT INTO " + table(i-1) + " VALUES (" + strconv.Itoa(i) + ")",
					fmt.Sprintf("ALTER TABLE %s ADD COLUMN c%d int", table(i-1), i),
					"INSERT INTO " + prefix + "base VALUES (" + strconv.Itoa(i) + ")",
				}
				if i == 3 {
					steps = append(steps, "DROP TABLE "+table(2))
				}
				if err := asCurrent(t, engine, v, steps...); err != nil {
					t.Fatalf("after rotation %d, as %s: %v", i, v["username"], err)
				}
				for _, read := range []string{prefix + "base", table(0), table(1), table(i)} {
					if err := asSecret(t, engine, reader, "SELECT count(*) FROM "+read); err != nil {
						t.Fatalf("after rotation %d the reader cannot read %s: %v", i, read, err)
					}
				}
			}
			if len(logins) != 2 {
				t.Fatalf("the rotations did not alternate the logins: %v", logins)
			}
			if err := asSecret(t, engine, reader, "INSERT INTO "+table(1)+" VALUES (9)"); err == nil {
				t.Fatal("the reader can write")
			}
		})
	}
}

// asCurrent runs statements as the login a secret value holds.
func asCurrent(t *testing.T, engine string, v map[string]any, statements ...string) error {
	t.Helper()
	db := dbserver.Open(engine, v["host"].(string), int(v["port"].(float64)), v["dbname"].(string), v["username"].(string), v["password"].(string))
	defer db.Close()
	return dbserver.Run(db, statements...)
}
