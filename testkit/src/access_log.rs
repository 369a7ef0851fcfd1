//! Distribution's access log, one request a line, as the tests and the benchmark count requests.
//!
//! The registry writes its own lines (`time="..." level=info msg=...`) and the access log
//! (gorilla's Apache combined format) to the same stream; only the latter become requests.

/// One request in a registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The request target as sent: path and query (e.g. `/v2/r/blobs/uploads/?mount=...`).
    pub uri: String,
    /// The response status.
    pub status: u16,
    /// The `User-Agent` the client sent (empty when it sent none).
    pub user_agent: String,
}

impl LoggedRequest {
    /// Parses one line of the access log:
    /// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"`; `None` for the
    /// registry's other lines (`time="..." level=info msg=...`) and anything else.
    pub fn parse(line: &str) -> Option<LoggedRequest> {
        if line.starts_with("time=") {
            return None;
        }
        let (_, rest) = line.split_once("] \"")?;
        let (request, rest) = rest.split_once('"')?;
        let mut parts = request.split(' ');
        let method = parts.next()?.to_owned();
        let uri = parts.next()?.to_owned();
        let status = rest.split_whitespace().next()?.parse().ok()?;
        // The last quoted field is the user agent.
        let user_agent = rest
            .trim_end()
            .strip_suffix('"')?
            .rsplit_once('"')?
            .1
            .to_owned();
        Some(LoggedRequest {
            method,
            uri,
            status,
            user_agent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines() {
        let line = r#"127.0.0.1 - - [12/Nov/2026:09:00:00 +0000] "PUT /v2/r/blobs/uploads/x?_state=a&digest=sha256:b HTTP/1.1" 201 0 "" "curl/7.88.1""#;
        assert_eq!(
            LoggedRequest::parse(line),
            Some(LoggedRequest {
                method: "PUT".to_owned(),
                uri: "/v2/r/blobs/uploads/x?_state=a&digest=sha256:b".to_owned(),
                status: 201,
                user_agent: "curl/7.88.1".to_owned(),
            })
        );
        let no_agent =
            r#"127.0.0.1 - - [12/Nov/2026:09:00:00 +0000] "GET /v2/ HTTP/1.1" 200 2 "" """#;
        assert_eq!(LoggedRequest::parse(no_agent).unwrap().user_agent, "");
    }

    #[test]
    fn other_lines_are_not_requests() {
        assert_eq!(
            LoggedRequest::parse(
                r#"time="2026-11-12T09:00:00Z" level=info msg="response completed" http.request.uri="/v2/""#
            ),
            None
        );
        assert_eq!(LoggedRequest::parse("garbage"), None);
        assert_eq!(LoggedRequest::parse(""), None);
    }
}
