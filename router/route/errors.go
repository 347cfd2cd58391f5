package route

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors that end Run. Everything else Kafka answers (an unreachable broker,
// a coordinator that moved or is loading, an aborted produce) is ridden out:
// the Router backs off, routes the batch again and resumes by itself.
var (
	// ErrUnavailable is what Router.Check reports while Kafka does not
	// answer; Run keeps retrying.
	ErrUnavailable = errors.New("route: Kafka unavailable; routing paused")
	// ErrFenced means a newer instance with the same transactional id took
	// over. Two instances must never share one id; this one stops.
	ErrFenced = errors.New("route: fenced by a newer instance of the transactional id")
	// ErrConfig means Kafka refused the Router's configuration: an
	// authorization or authentication failure, an invalid transaction
	// timeout, or a topic that is still missing after
	// Config.MissingTopicGrace.
	ErrConfig = errors.New("route: Kafka refused the configuration")
)

// isFencing reports whether err says another producer epoch owns the
// transactional id. It is either a newer instance (fatal) or, after an
// outage longer than the transaction timeout, the broker's own abort of the
// open transaction (recoverable by starting a new session). Some brokers
// (kfake) answer a fenced producer's EndTxn with INVALID_TXN_STATE: the
// newer instance's InitProducerID already aborted the transaction.
// Retrying that in a new session would fence the newer instance in turn.
func isFencing(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.InvalidTxnState) ||
		errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) ||
		errors.Is(err, kerr.TransactionalIDNotFound)
}

// isConfigErr reports whether err is one no retry can fix.
func isConfigErr(err error) bool {
	for _, e := range []error{
		kerr.TransactionalIDAuthorizationFailed,
		kerr.GroupAuthorizationFailed,
		kerr.TopicAuthorizationFailed,
		kerr.ClusterAuthorizationFailed,
		kerr.SaslAuthenticationFailed,
		kerr.UnsupportedSaslMechanism,
		kerr.IllegalSaslState,
		kerr.InvalidTransactionTimeout,
		kerr.UnsupportedVersion,
		kerr.UnsupportedForMessageFormat,
		kerr.RecordListTooLarge,
		kerr.MessageTooLarge,
		kerr.InvalidConfig,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// isMissingTopic reports whether err says a topic does not exist.
func isMissingTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
}
