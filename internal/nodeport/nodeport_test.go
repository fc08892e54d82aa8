package nodeport

import (
	"os"
	"strings"
	"testing"
)

func TestSaveThenLoad(t *testing.T) {
	home := t.TempDir()
	if port, err := Load(home); port != 0 || err != nil {
		t.Fatalf("Load with no file = %d, %v; want 0, nil", port, err)
	}
	if err := Save(home, 41234); err != nil {
		t.Fatal(err)
	}
	if port, err := Load(home); port != 41234 || err != nil {
		t.Fatalf("Load = %d, %v; want 41234", port, err)
	}
	if st, err := os.Stat(Path(home)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node-port mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if leftovers, _ := os.ReadDir(home); len(leftovers) != 1 {
		t.Errorf("state directory holds %d files, want only node-port", len(leftovers))
	}
}

func TestLoadRefusesWhatIsNoPort(t *testing.T) {
	for name, content := range map[string]string{
		"empty":     "",
		"zero":      "0\n",
		"too large": "70000\n",
		"words":     "seventy\n",
		"oversized": strings.Repeat("7", 4096),
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(Path(home), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			port, err := Load(home)
			if err == nil || port != 0 || !strings.Contains(err.Error(), "not a port") || len(err.Error()) > 400 {
				t.Fatalf("Load = %d, %v; want a short error saying it is not a port", port, err)
			}
		})
	}
}
