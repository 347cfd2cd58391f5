// Package registry holds the JSON Schemas (draft 2020-12) of the event
// types Hookline knows, embedded in the binary, and validates event data
// against them.
//
// Schemas live in schemas/<type>/v<N>.json. For a CloudEvent the schema
// describes its data; for a plain JSON event (the seed's
// {"type":"payment_success",...}) the whole object, "type" included, is
// the data. An event names its schema version through its dataschema
// attribute (see VersionOf); without one the latest version applies.
//
// Formats (date-time, email, uri...) are asserted, not just annotations,
// and schemas cannot load anything from outside the registry.
package registry
