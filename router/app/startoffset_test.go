package app

import (
	"io"
	"strings"
	"testing"

	"github.com/hookline/hookline/router/route"
)

// TestStartOffsetFlag: --start-offset (HOOKLINE_START_OFFSET) is earliest
// unless set, takes latest, and refuses anything else.
func TestStartOffsetFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{want: route.StartEarliest},
		{args: []string{"--start-offset", "latest"}, want: route.StartLatest},
		{env: map[string]string{"HOOKLINE_START_OFFSET": "latest"}, want: route.StartLatest},
		{args: []string{"--start-offset", "newest"}, wantErr: "start offset"},
	} {
		c, err := parse(tc.args, env(tc.env), io.Discard, io.Discard)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v %v: err = %v, want one mentioning %q", tc.args, tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.StartOffset != tc.want || c.route().StartOffset != tc.want {
			t.Errorf("%v %v: start offset %q, want %q", tc.args, tc.env, c.StartOffset, tc.want)
		}
	}
}
