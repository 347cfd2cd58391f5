// Package webhook implements Standard Webhooks signing and verification
// (https://www.standardwebhooks.com): whsec_ secrets, the webhook-id,
// webhook-timestamp and webhook-signature headers, and HMAC-SHA256 over
// "id.timestamp.body".
//
// It imports only the standard library so that webhook receivers can depend
// on it without pulling in Kafka or the rest of Hookline.
package webhook
