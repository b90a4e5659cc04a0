package invoke

import (
	"os/exec"
	"testing"
	"time"
)

// TestPeakIsTheChildsOwn: a small child of a parent holding 200 MiB reports
// its own peak, not the parent's (rusage's Maxrss would say 200 MiB).
func TestPeakIsTheChildsOwn(t *testing.T) {
	held := make([]byte, 200<<20)
	for i := range held {
		held[i] = byte(i)
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(100 * time.Millisecond)
	peak := peakKiB(cmd.Process.Pid)
	if peak <= 0 || peak > 20<<10 {
		t.Fatalf("sleep's peak %d KiB, want its own few MiB", peak)
	}
	if held[len(held)-1] == 0 && held[1] == 0 {
		t.Log("kept")
	}
}
