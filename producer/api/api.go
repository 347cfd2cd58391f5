// Package api holds the OpenAPI 3.1 document of the producer's HTTP API,
// kept in this directory as openapi.json and served at /openapi.json. A
// test checks that its paths and methods are exactly the routes the
// server registers.
package api

import _ "embed"

// OpenAPI is the OpenAPI document (JSON).
//
//go:embed openapi.json
var OpenAPI []byte
