package credential

import "testing"

// BenchmarkPassword is the generation throughput make bench records:
// passwords per second is 1e9 / ns/op.
func BenchmarkPassword(b *testing.B) {
	p := DefaultPolicy()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Password(p); err != nil {
			b.Fatal(err)
		}
	}
}
