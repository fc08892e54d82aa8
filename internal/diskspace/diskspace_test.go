package diskspace

import "testing"

func TestFreeReadsTheFileSystem(t *testing.T) {
	free, err := Free(t.TempDir())
	if err != nil || free == 0 {
		t.Fatalf("Free = %d, %v", free, err)
	}
	if _, err := Free("/no/such/dir"); err == nil {
		t.Fatal("Free of a missing directory succeeded")
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 KiB", 12 << 10: "12 KiB", 512 << 20: "512 MiB", 3<<30 + 1<<29: "3.5 GiB"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
