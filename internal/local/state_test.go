package local

import "testing"

// TestDownCommand: the stop command a person is shown stops the cluster they
// started, wherever its state is.
func TestDownCommand(t *testing.T) {
	cases := []struct {
		opts Options
		want string
	}{
		{Options{Root: "/src/kubernaut", StateDir: "/src/kubernaut/.kubernaut-local"}, "kubernaut local down"},
		{Options{Root: "/src/kubernaut"}, "kubernaut local down"},
		{Options{Root: "/src/kubernaut", StateDir: "/tmp/kubernaut"}, "kubernaut local down --state-dir /tmp/kubernaut"},
		{Options{Root: "/src/kubernaut", StateDir: "/tmp/my cluster's state"}, `kubernaut local down --state-dir '/tmp/my cluster'\''s state'`},
	}
	for _, tc := range cases {
		if got := tc.opts.DownCommand(); got != tc.want {
			t.Errorf("DownCommand(%+v) = %s, want %s", tc.opts, got, tc.want)
		}
	}
}
