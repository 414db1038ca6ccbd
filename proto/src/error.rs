//! The one place where Contrail's error kinds meet the wire: every crate's `Error::code()` returns
//! an [`ErrorCode`], and this module alone maps it to an HTTP status and a gRPC code.

/// What kind of failure an error is, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed: bad ID, bad query, bad parameter, undecodable body.
    BadRequest,
    /// The request is well-formed but asks for something Contrail does not support.
    Unsupported,
    /// The tenant is missing or not allowed.
    Unauthenticated,
    /// The thing asked for does not exist (trace, block, object).
    NotFound,
    /// A per-tenant limit was exceeded (rate, trace size, live traces).
    RateLimited,
    /// The request or its result is larger than allowed.
    TooLarge,
    /// The request took longer than its deadline.
    Timeout,
    /// A dependency (object store, ingester) is unavailable for now; retrying may succeed.
    Unavailable,
    /// Stored data is corrupt or unreadable.
    DataCorrupt,
    /// A bug or an unexpected failure inside Contrail.
    Internal,
}

impl ErrorCode {
    /// The HTTP status returned for this kind of error.
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            ErrorCode::BadRequest | ErrorCode::Unsupported => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DataCorrupt | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code returned for this kind of error.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            ErrorCode::BadRequest => Code::InvalidArgument,
            ErrorCode::Unsupported => Code::Unimplemented,
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::RateLimited => Code::ResourceExhausted,
            ErrorCode::TooLarge => Code::ResourceExhausted,
            ErrorCode::Timeout => Code::DeadlineExceeded,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::DataCorrupt => Code::DataLoss,
            ErrorCode::Internal => Code::Internal,
        }
    }

    /// The error kind for a gRPC status code received from another service (the inverse of
    /// [`ErrorCode::grpc_code`] where that is one-to-one).
    pub fn from_grpc_code(code: tonic::Code) -> ErrorCode {
        use tonic::Code;
        match code {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                ErrorCode::BadRequest
            }
            Code::Unimplemented => ErrorCode::Unsupported,
            Code::Unauthenticated | Code::PermissionDenied => ErrorCode::Unauthenticated,
            Code::NotFound => ErrorCode::NotFound,
            Code::ResourceExhausted => ErrorCode::RateLimited,
            Code::DeadlineExceeded => ErrorCode::Timeout,
            Code::Unavailable | Code::Aborted | Code::Cancelled => ErrorCode::Unavailable,
            Code::DataLoss => ErrorCode::DataCorrupt,
            Code::Ok | Code::Unknown | Code::Internal | Code::AlreadyExists => ErrorCode::Internal,
        }
    }

    /// Whether a client may retry the same request and expect a different outcome.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::Timeout | ErrorCode::Unavailable
        )
    }

    /// Builds a gRPC status with this code and the given message.
    pub fn to_status(self, message: impl Into<String>) -> tonic::Status {
        tonic::Status::new(self.grpc_code(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn client_errors_are_4xx_and_server_errors_5xx() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Unsupported,
            ErrorCode::Unauthenticated,
            ErrorCode::NotFound,
            ErrorCode::RateLimited,
            ErrorCode::TooLarge,
        ] {
            assert!(code.http_status().is_client_error(), "{code:?}");
        }
        for code in [
            ErrorCode::Timeout,
            ErrorCode::Unavailable,
            ErrorCode::DataCorrupt,
            ErrorCode::Internal,
        ] {
            assert!(code.http_status().is_server_error(), "{code:?}");
        }
    }

    #[test]
    fn grpc_codes_match_meaning() {
        assert_eq!(
            ErrorCode::BadRequest.grpc_code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(ErrorCode::NotFound.grpc_code(), tonic::Code::NotFound);
        assert_eq!(ErrorCode::DataCorrupt.grpc_code(), tonic::Code::DataLoss);
        assert!(ErrorCode::Unavailable.is_retryable());
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Unsupported,
            ErrorCode::Unauthenticated,
            ErrorCode::NotFound,
            ErrorCode::Timeout,
            ErrorCode::Unavailable,
            ErrorCode::DataCorrupt,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::from_grpc_code(code.grpc_code()), code);
        }
        // TooLarge and RateLimited share ResourceExhausted; it reads back as retryable.
        assert_eq!(
            ErrorCode::from_grpc_code(tonic::Code::ResourceExhausted),
            ErrorCode::RateLimited
        );
        assert!(!ErrorCode::BadRequest.is_retryable());
    }
}
