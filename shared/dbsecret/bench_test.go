package dbsecret

import (
	"testing"

	"github.com/dbcreds/provisioner/shared/credential"
)

// BenchmarkEnginePassword is generation throughput under each engine's
// default policy, as make bench records it.
func BenchmarkEnginePassword(b *testing.B) {
	for _, name := range Names() {
		e, _ := Lookup(name)
		p, err := e.PasswordPolicy(credential.DefaultPolicy(), false)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := credential.Password(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
