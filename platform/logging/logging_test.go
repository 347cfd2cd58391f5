package logging_test

import (
	"testing"

	"github.com/hookline/hookline/platform/logging"
)

func TestNew(t *testing.T) {
	tests := []struct {
		cfg     logging.Config
		wantErr bool
	}{
		{cfg: logging.Config{}},
		{cfg: logging.Config{Format: "console", Level: "debug"}},
		{cfg: logging.Config{Format: "xml"}, wantErr: true},
		{cfg: logging.Config{Level: "loud"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Format+"/"+tt.cfg.Level, func(t *testing.T) {
			l, err := logging.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if l != nil {
				_ = l.Sync()
			}
		})
	}
}
