// Package event is the CloudEvents 1.0 envelope Hookline routes, and its
// Kafka protocol binding.
//
// Decode accepts three shapes of Kafka record:
//
//   - binary mode: ce_* headers carry the attributes, the value is the data
//     and the content-type header its media type;
//   - structured mode: the value is a JSON CloudEvent and the content-type
//     header is application/cloudevents+json (a JSON object carrying
//     "specversion" is also taken as structured);
//   - plain JSON with a top-level string "type", as services in the seed
//     article emit: {"type":"payment_success","amount":49.99,...}. The whole
//     object becomes the event's data, so raw deliveries are byte-identical.
//
// Anything else is a *DecodeError that names what is wrong.
//
// Event.MarshalJSON writes the structured JSON form, embedding JSON data as
// a JSON value (compacted by encoding/json). Hookline's own records use
// Event.MarshalExact, which falls back to data_base64 whenever embedding
// would change the bytes, so data survives the pipeline byte for byte.
package event
