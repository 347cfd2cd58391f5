module github.com/hookline/hookline/dispatcher

go 1.26.0

require (
	github.com/hookline/hookline/platform v0.0.0
	github.com/hookline/hookline/schemas v0.0.0
)

replace (
	github.com/hookline/hookline/platform => ../platform
	github.com/hookline/hookline/schemas => ../schemas
)
