//! The access log: one line per finished request, written by its own thread so a slow disk
//! never stalls a worker. Workers format the line and hand it over through a bounded queue;
//! when the queue is full the line is dropped and counted (`dropped()`), never waited for.
//! `reopen()` (SIGUSR1 in the binary) makes the writer reopen its file: log rotation by
//! rename-then-signal, as with nginx.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use shoal_config::{AccessLogConfig, AccessLogFormat, AccessLogTarget};

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 16 * 1024;

/// A running access log.
#[derive(Debug)]
pub struct AccessLog {
    config: AccessLogConfig,
    lines: SyncSender<String>,
    shared: Arc<WriterShared>,
}

#[derive(Debug, Default)]
struct WriterShared {
    reopen: AtomicBool,
    dropped: AtomicU64,
    written: AtomicU64,
}

/// Everything a line says about one request.
#[derive(Debug, Default)]
pub(crate) struct AccessRecord {
    pub start: Option<SystemTime>,
    pub client: Option<SocketAddr>,
    pub listener: String,
    pub method: String,
    pub target: String,
    pub version: &'static str,
    pub host: String,
    pub user_agent: String,
    pub referer: String,
    pub request_id: String,
    pub trace_id: String,
    pub route: String,
    pub upstream: String,
    pub backend: String,
    pub status: u16,
    pub bytes_sent: u64,
    pub duration: Duration,
    /// Time to the backend's response head; None when no backend answered.
    pub upstream_duration: Option<Duration>,
    /// Backends tried (a retry or a reconnect adds one; 0 when none was asked).
    pub attempts: u32,
    /// A gateway filter's refusal or reply (`401 invalid token: expired`), else empty.
    pub verdict: String,
}

impl AccessLog {
    /// Opens the target (a file is created if missing, appended to) and starts the writer.
    pub fn start(config: &AccessLogConfig) -> std::io::Result<AccessLog> {
        let out = open(&config.target)?;
        let (lines, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let shared = Arc::new(WriterShared::default());
        let writer_shared = Arc::clone(&shared);
        let target = config.target.clone();
        std::thread::Builder::new()
            .name("shoal-access-log".to_string())
            .spawn(move || write_lines(rx, out, target, writer_shared))?;
        Ok(AccessLog {
            config: config.clone(),
            lines,
            shared,
        })
    }

    pub fn config(&self) -> &AccessLogConfig {
        &self.config
    }

    /// Asks the writer to reopen its file before the next line (log rotation).
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Relaxed);
        // An empty line is not written: it only wakes the writer.
        let _ = self.lines.try_send(String::new());
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Lines written.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Whether to log a response with `status`, given a uniform draw in [0, 1): every 5xx,
    /// and `sample` of the others.
    pub(crate) fn wants(&self, status: u16, draw: f64) -> bool {
        status >= 500 || draw < self.config.sample
    }

    pub(crate) fn log(&self, record: &AccessRecord) {
        let line = match self.config.format {
            AccessLogFormat::Json => json_line(record),
            AccessLogFormat::Combined => combined_line(record),
        };
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

enum Out {
    Stdout(std::io::Stdout),
    File(std::io::BufWriter<std::fs::File>),
}

impl Out {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Out::Stdout(out) => {
                let mut lock = out.lock();
                lock.write_all(line.as_bytes())?;
                lock.write_all(b"\n")
            }
            Out::File(file) => {
                file.write_all(line.as_bytes())?;
                file.write_all(b"\n")
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Stdout(out) => out.flush(),
            Out::File(file) => file.flush(),
        }
    }
}

fn open(target: &AccessLogTarget) -> std::io::Result<Out> {
    Ok(match target {
        AccessLogTarget::Stdout => Out::Stdout(std::io::stdout()),
        AccessLogTarget::File(path) => Out::File(std::io::BufWriter::new(append(path)?)),
    })
}

fn append(path: &PathBuf) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The writer thread: lines as they come, flushed whenever the queue is empty (so a quiet
/// proxy's log is current, and a busy one writes in large blocks). Ends when every sender
/// is gone (the log was replaced or the proxy stopped).
fn write_lines(
    rx: Receiver<String>,
    mut out: Out,
    target: AccessLogTarget,
    shared: Arc<WriterShared>,
) {
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(line) = next.take() {
            if shared.reopen.swap(false, Ordering::Relaxed) {
                let _ = out.flush();
                match open(&target) {
                    Ok(fresh) => out = fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reopen the access log; keeps writing to the old file")
                    }
                }
            }
            if !line.is_empty() {
                if let Err(e) = out.write_line(&line) {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "access log write failed");
                } else {
                    shared.written.fetch_add(1, Ordering::Relaxed);
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
}

fn json_line(r: &AccessRecord) -> String {
    let mut out = String::with_capacity(512);
    out.push('{');
    let field = |out: &mut String, key: &str, value: &str| {
        if out.len() > 1 {
            out.push(',');
        }
        json_string(out, key);
        out.push(':');
        json_string(out, value);
    };
    field(
        &mut out,
        "time",
        &rfc3339(r.start.unwrap_or(SystemTime::UNIX_EPOCH)),
    );
    field(&mut out, "request_id", &r.request_id);
    field(&mut out, "trace_id", &r.trace_id);
    field(
        &mut out,
        "client",
        &r.client.map(|c| c.to_string()).unwrap_or_default(),
    );
    field(&mut out, "listener", &r.listener);
    field(&mut out, "method", &r.method);
    field(&mut out, "target", &r.target);
    field(&mut out, "protocol", r.version);
    field(&mut out, "host", &r.host);
    field(&mut out, "route", &r.route);
    field(&mut out, "upstream", &r.upstream);
    field(&mut out, "backend", &r.backend);
    field(&mut out, "user_agent", &r.user_agent);
    field(&mut out, "referer", &r.referer);
    field(&mut out, "filter_verdict", &r.verdict);
    let _ = write!(
        out,
        ",\"status\":{},\"bytes_sent\":{},\"attempts\":{},\"duration_ms\":{:.3}",
        r.status,
        r.bytes_sent,
        r.attempts,
        r.duration.as_secs_f64() * 1e3
    );
    match r.upstream_duration {
        Some(d) => {
            let _ = write!(out, ",\"upstream_ms\":{:.3}", d.as_secs_f64() * 1e3);
        }
        None => out.push_str(",\"upstream_ms\":null"),
    }
    out.push('}');
    out
}

/// Apache/nginx "combined", then shoal's own fields as `key=value`.
fn combined_line(r: &AccessRecord) -> String {
    // Quotes, backslashes and control bytes escaped as nginx does (`\"`, `\\`, `\xHH`), so
    // a client cannot forge a line or a field.
    let dash = |s: &str| {
        if s.is_empty() {
            return "-".to_string();
        }
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                }
                c => out.push(c),
            }
        }
        out
    };
    let client = r
        .client
        .map(|c| c.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let upstream_ms = r.upstream_duration.map_or_else(
        || "-".to_string(),
        |d| format!("{:.3}", d.as_secs_f64() * 1e3),
    );
    format!(
        "{client} - - [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" request_id={} trace_id={} route={} upstream={} backend={} attempts={} duration_ms={:.3} upstream_ms={} filter_verdict=\"{}\"",
        clf_time(r.start.unwrap_or(SystemTime::UNIX_EPOCH)),
        r.method,
        dash(&r.target),
        r.version,
        r.status,
        r.bytes_sent,
        dash(&r.referer),
        dash(&r.user_agent),
        dash(&r.request_id),
        dash(&r.trace_id),
        dash(&r.route),
        dash(&r.upstream),
        dash(&r.backend),
        r.attempts,
        r.duration.as_secs_f64() * 1e3,
        upstream_ms,
        dash(&r.verdict),
    )
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split(time: SystemTime) -> ((i64, u32, u32), u64, u32) {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    (
        civil((secs / 86_400) as i64),
        secs % 86_400,
        since.subsec_millis(),
    )
}

/// `2026-11-29T12:05:09.123Z`
fn rfc3339(time: SystemTime) -> String {
    let ((y, m, d), s, ms) = split(time);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `29/Nov/2026:12:05:09 +0000`
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((y, m, d), s, _) = split(time);
    let month = MONTHS[(m as usize).clamp(1, 12) - 1];
    format!(
        "{d:02}/{month}/{y:04}:{:02}:{:02}:{:02} +0000",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(rfc3339(at(1795953909, 123)), "2026-11-29T12:05:09.123Z");
        assert_eq!(clf_time(at(1795953909, 0)), "29/Nov/2026:12:05:09 +0000");
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00.000Z");
    }

    fn record() -> AccessRecord {
        AccessRecord {
            start: Some(at(1795953909, 5)),
            client: Some("192.0.2.7:51000".parse().expect("addr")),
            listener: "web".into(),
            method: "GET".into(),
            target: "/a?b=\"c\"".into(),
            version: "HTTP/1.1",
            host: "shop.example.com".into(),
            user_agent: "curl/8\n".into(),
            referer: String::new(),
            request_id: "abc".into(),
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            route: "web.routes[0]".into(),
            upstream: "api".into(),
            backend: "10.0.0.1:80".into(),
            status: 200,
            bytes_sent: 1234,
            duration: Duration::from_micros(1500),
            upstream_duration: Some(Duration::from_micros(1200)),
            verdict: String::new(),
            attempts: 2,
        }
    }

    #[test]
    fn json_lines_are_one_escaped_object() {
        let line = json_line(&record());
        assert!(!line.contains('\n'));
        assert_eq!(
            line,
            "{\"time\":\"2026-11-29T12:05:09.005Z\",\"request_id\":\"abc\",\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\
             \"client\":\"192.0.2.7:51000\",\"listener\":\"web\",\"method\":\"GET\",\"target\":\"/a?b=\\\"c\\\"\",\
             \"protocol\":\"HTTP/1.1\",\"host\":\"shop.example.com\",\"route\":\"web.routes[0]\",\"upstream\":\"api\",\
             \"backend\":\"10.0.0.1:80\",\"user_agent\":\"curl/8\\n\",\"referer\":\"\",\"filter_verdict\":\"\",\"status\":200,\"bytes_sent\":1234,\
             \"attempts\":2,\"duration_ms\":1.500,\"upstream_ms\":1.200}"
        );
        let mut shoal_answered = record();
        shoal_answered.upstream_duration = None;
        assert!(json_line(&shoal_answered).ends_with(",\"upstream_ms\":null}"));
    }

    #[test]
    fn combined_lines() {
        assert_eq!(
            combined_line(&record()),
            "192.0.2.7 - - [29/Nov/2026:12:05:09 +0000] \"GET /a?b=\\\"c\\\" HTTP/1.1\" 200 1234 \"-\" \"curl/8\\x0A\" \
             request_id=abc trace_id=0af7651916cd43dd8448eb211c80319c route=web.routes[0] upstream=api \
             backend=10.0.0.1:80 attempts=2 duration_ms=1.500 upstream_ms=1.200 filter_verdict=\"-\""
        );
    }

    #[test]
    fn sampling_keeps_every_server_error() {
        let dir = std::env::temp_dir().join(format!("shoal-al-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let log = AccessLog::start(&AccessLogConfig {
            target: AccessLogTarget::File(dir.join("a.log")),
            format: AccessLogFormat::Json,
            sample: 0.1,
        })
        .expect("start");
        assert!(log.wants(502, 0.99));
        assert!(log.wants(200, 0.05));
        assert!(!log.wants(200, 0.5));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
