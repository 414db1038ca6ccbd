//! Which object-store failures are transient, and whether the request may have been applied.
//!
//! `object_store` reports HTTP failures as `Error::Generic` wrapping a crate-private retry error,
//! so the source chain is searched for what is public: `HttpError` (transport failures), our own
//! [`RequestTimeout`], `std::io::Error` (local filesystem), and, as a last resort, the stable text
//! `object_store` renders for a non-2xx status ("Server returned non-2xx status code: 503 ...").

use std::error::Error as StdError;
use std::io::ErrorKind;
use std::time::Duration;

use object_store::client::{HttpError, HttpErrorKind};

/// The error an attempt fails with when it runs past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("request timed out after {elapsed:?}")]
pub struct RequestTimeout {
    /// How long the attempt ran before it was cut off.
    pub elapsed: Duration,
}

impl RequestTimeout {
    pub(crate) fn into_store_error(elapsed: Duration) -> object_store::Error {
        object_store::Error::Generic {
            store: "retry",
            source: Box::new(RequestTimeout { elapsed }),
        }
    }
}

/// A transient failure, by what it says about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transience {
    /// The request never reached the store: replaying anything is safe.
    NotSent,
    /// The request may or may not have been applied (timeout, 5xx, connection lost midway).
    Ambiguous,
}

const STATUS_MARKER: &str = "non-2xx status code: ";
const ERROR_BODY_MARKER: &str = "Server returned error response";

/// `Some` when `error` is transient, i.e. the same request may succeed later.
pub(crate) fn classify(error: &object_store::Error) -> Option<Transience> {
    // Every specific variant (not found, already exists, precondition, denied, invalid path,
    // not supported ...) is a definitive answer.
    if !matches!(error, object_store::Error::Generic { .. }) {
        return None;
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(err) = current {
        if err.is::<RequestTimeout>() {
            return Some(Transience::Ambiguous);
        }
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return is_transient_transport(http.kind());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(transience) = classify_io(io.kind())
        {
            return Some(transience);
        }
        let message = err.to_string();
        if let Some(status) = status_in_message(&message) {
            return is_transient_http_status(status).then_some(Transience::Ambiguous);
        }
        if message.contains(ERROR_BODY_MARKER) {
            // A 200 whose body is an S3 error (InternalError, SlowDown).
            return Some(Transience::Ambiguous);
        }
        current = err.source();
    }
    None
}

/// 5xx, 429 Too Many Requests and 408 Request Timeout are worth retrying.
pub(crate) fn is_transient_http_status(status: u16) -> bool {
    (500..600).contains(&status) || status == 429 || status == 408
}

pub(crate) fn is_transient_transport(kind: HttpErrorKind) -> Option<Transience> {
    match kind {
        HttpErrorKind::Connect | HttpErrorKind::Request => Some(Transience::NotSent),
        HttpErrorKind::Timeout | HttpErrorKind::Interrupted | HttpErrorKind::Decode => {
            Some(Transience::Ambiguous)
        }
        _ => None,
    }
}

fn classify_io(kind: ErrorKind) -> Option<Transience> {
    match kind {
        ErrorKind::ConnectionRefused | ErrorKind::NotConnected => Some(Transience::NotSent),
        ErrorKind::TimedOut
        | ErrorKind::Interrupted
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => Some(Transience::Ambiguous),
        _ => None,
    }
}

fn status_in_message(message: &str) -> Option<u16> {
    let start = message.find(STATUS_MARKER)? + STATUS_MARKER.len();
    message.get(start..start + 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn generic(source: Box<dyn StdError + Send + Sync>) -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source,
        }
    }

    #[test]
    fn definitive_answers_are_not_transient() {
        let not_found = object_store::Error::NotFound {
            path: "a".into(),
            source: "Server returned non-2xx status code: 503".into(),
        };
        assert_eq!(classify(&not_found), None);
        let exists = object_store::Error::AlreadyExists {
            path: "a".into(),
            source: "x".into(),
        };
        assert_eq!(classify(&exists), None);
    }

    #[test]
    fn server_errors_and_throttling_are_transient_client_errors_are_not() {
        let server = generic("Error performing PUT http://x/b/k in 3ms - Server returned non-2xx status code: 503 Service Unavailable: ".into());
        assert_eq!(classify(&server), Some(Transience::Ambiguous));
        let throttled =
            generic("Server returned non-2xx status code: 429 Too Many Requests".into());
        assert_eq!(classify(&throttled), Some(Transience::Ambiguous));
        let bad_request =
            generic("Server returned non-2xx status code: 400 Bad Request: nope".into());
        assert_eq!(classify(&bad_request), None);
        let unknown = generic("something odd".into());
        assert_eq!(classify(&unknown), None);
    }

    #[test]
    fn timeouts_and_io_failures_are_transient() {
        let timeout = generic(Box::new(RequestTimeout {
            elapsed: Duration::from_secs(1),
        }));
        assert_eq!(classify(&timeout), Some(Transience::Ambiguous));
        let refused = generic(Box::new(std::io::Error::from(ErrorKind::ConnectionRefused)));
        assert_eq!(classify(&refused), Some(Transience::NotSent));
        let denied = generic(Box::new(std::io::Error::from(ErrorKind::PermissionDenied)));
        assert_eq!(classify(&denied), None);
    }
}
