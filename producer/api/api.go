// Package api holds the OpenAPI 3.1 document of the producer's HTTP API,
// kept in this directory as openapi.json and served at /openapi.json.
// Tests check that its paths and methods are exactly the routes the
// server registers, and validate every answer of the API tests against it
// (kin-openapi's openapi3filter: status, headers and body schema).
package api

import _ "embed"

// OpenAPI is the OpenAPI document (JSON).
//
//go:embed openapi.json
var OpenAPI []byte
