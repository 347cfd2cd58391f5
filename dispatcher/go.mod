module github.com/hookline/hookline/dispatcher

go 1.26.0

require (
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/hookline/hookline/platform v0.0.0
	github.com/hookline/hookline/schemas v0.0.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
	go.uber.org/zap v1.28.0
)

require (
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/pkg/kadm v1.20.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)

replace (
	github.com/hookline/hookline/platform => ../platform
	github.com/hookline/hookline/schemas => ../schemas
)
