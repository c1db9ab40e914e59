//! [`CtlError`]: why a `shoal ctl` command failed, the message it prints and its exit code.

use std::fmt;

/// Exit code: the admin API answered with an error (unknown upstream or backend, a refused
/// change, an invalid config on reload, a server error).
pub const EXIT_API_ERROR: u8 = 1;
/// Exit code: bad usage — arguments, `--admin` URL, token file.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the admin API could not be reached (refused, timed out, no such host).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the admin API refused the token (401).
pub const EXIT_UNAUTHORIZED: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlError {
    /// Bad arguments, URL or token file.
    Usage(String),
    /// No connection, or no answer in time.
    Unreachable { url: String, reason: String },
    /// 401.
    Unauthorized {
        url: String,
        message: String,
        token_sent: bool,
    },
    /// Any other non-2xx answer: its status, the API's `error` message and `details`.
    Api {
        status: u16,
        message: String,
        details: Vec<String>,
    },
    /// An answer that is not what the admin API sends (not JSON, wrong shape).
    Protocol(String),
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => EXIT_USAGE,
            CtlError::Unreachable { .. } => EXIT_UNREACHABLE,
            CtlError::Unauthorized { .. } => EXIT_UNAUTHORIZED,
            CtlError::Api { .. } | CtlError::Protocol(_) => EXIT_API_ERROR,
        }
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Usage(message) => f.write_str(message),
            CtlError::Unreachable { url, reason } => write!(
                f,
                "cannot reach the admin API at {url}: {reason}; is shoal running with [admin]? \
                 (set the address with --admin or SHOAL_ADMIN)"
            ),
            CtlError::Unauthorized {
                url,
                message,
                token_sent,
            } => {
                let hint = if *token_sent {
                    "check the token in --token-file"
                } else {
                    "this shoal requires a token: pass --token-file"
                };
                write!(
                    f,
                    "the admin API at {url} refused the request (401): {message}; {hint}"
                )
            }
            CtlError::Api {
                status,
                message,
                details,
            } => {
                write!(f, "the admin API answered {status}: {message}")?;
                for detail in details {
                    write!(f, "\n  {detail}")?;
                }
                Ok(())
            }
            CtlError::Protocol(message) => {
                write!(f, "unexpected answer from the admin API: {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes() {
        let unreachable = CtlError::Unreachable {
            url: "http://127.0.0.1:9090".into(),
            reason: "connection refused".into(),
        };
        assert!(unreachable.to_string().starts_with(
            "cannot reach the admin API at http://127.0.0.1:9090: connection refused; is shoal \
             running with [admin]?"
        ));
        assert_eq!(unreachable.exit_code(), 3);
        let api = CtlError::Api {
            status: 400,
            message: "invalid config".into(),
            details: vec!["a (line 1): b".into()],
        };
        assert_eq!(
            api.to_string(),
            "the admin API answered 400: invalid config\n  a (line 1): b"
        );
        assert_eq!(api.exit_code(), 1);
        let unauthorized = CtlError::Unauthorized {
            url: "http://x".into(),
            message: "invalid bearer token".into(),
            token_sent: true,
        };
        assert!(unauthorized.to_string().contains("invalid bearer token"));
        assert_eq!(unauthorized.exit_code(), 4);
        assert_eq!(CtlError::Usage("x".into()).exit_code(), 2);
    }
}
