//! A loopback HTTP proxy in front of moto that answers the requests a rule picks with an error of
//! AWS's own format (throttling, 503) and passes the rest through: how the eks tests see a cloud
//! under load. One request per upstream connection; every answer closes its connection, so no
//! client ever reuses a connection the proxy has finished with.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One request as the rule sees it.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The AWS service the request is signed for (`ec2`, `sts`, `eks`, ...), from the SigV4
    /// credential scope `Credential=<key>/<date>/<region>/<service>/aws4_request`.
    pub fn service(&self) -> String {
        self.head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .and_then(|l| l.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("")
            .to_string()
    }
}

/// An error answer: status line code, content type, body. Status 0: the connection is closed
/// with no answer at all (a reset, as a load balancer in trouble does).
pub struct Fault {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Extra header lines (`x-amzn-ErrorType: ...`).
    pub headers: Vec<String>,
}

impl Fault {
    /// The throttling answer in the format of the service `request` is for: EC2's 503
    /// `RequestLimitExceeded`, the query APIs' `Throttling`, the JSON APIs' `ThrottlingException`,
    /// and EKS's bare 429.
    pub fn throttling_for(request: &Request) -> Fault {
        match request.service().as_str() {
            "ec2" => Fault {
                status: 503,
                content_type: "text/xml",
                body: "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>kat-fault</RequestID></Response>".into(),
                headers: Vec::new(),
            },
            "sts" | "iam" | "rds" | "elasticloadbalancing" => Fault::query_throttling(),
            "eks" => Fault {
                status: 429,
                content_type: "application/json",
                body: r#"{"message":"Too Many Requests"}"#.into(),
                headers: Vec::new(),
            },
            _ => Fault {
                status: 400,
                content_type: "application/x-amz-json-1.1",
                body: r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
                headers: vec!["x-amzn-ErrorType: ThrottlingException".into()],
            },
        }
    }

    /// A plain 503 from the front door, with no AWS error body.
    pub fn unavailable() -> Fault {
        Fault {
            status: 503,
            content_type: "text/html",
            body: "<html><body>Service Unavailable</body></html>".into(),
            headers: Vec::new(),
        }
    }

    /// The connection closed without an answer.
    pub fn reset() -> Fault {
        Fault {
            status: 0,
            content_type: "",
            body: String::new(),
            headers: Vec::new(),
        }
    }

    /// A rule failing about `percent` % of requests, the same ones for the same `seed`: each
    /// fault in turn a throttle in the service's format, a plain 503, a reset.
    pub fn share(
        percent: u64,
        seed: u64,
    ) -> impl Fn(&Request, usize) -> Option<Fault> + Send + Sync + 'static {
        move |r, n| {
            let x = mix(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            (x % 100 < percent).then(|| match (x >> 32) % 3 {
                0 => Fault::throttling_for(r),
                1 => Fault::unavailable(),
                _ => Fault::reset(),
            })
        }
    }
    /// The query APIs' (STS, IAM, RDS) throttling answer.
    pub fn query_throttling() -> Fault {
        Fault {
            status: 400,
            content_type: "text/xml",
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>kat-fault</RequestId></ErrorResponse>".into(),
            headers: Vec::new(),
        }
    }
}

/// splitmix64's finaliser: a well-spread number from a counter.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

type Rule = dyn Fn(&Request, usize) -> Option<Fault> + Send + Sync;

pub struct FaultProxy {
    pub url: String,
    /// Requests seen so far.
    pub seen: Arc<AtomicUsize>,
    /// Requests answered with a fault.
    pub faulted: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// `rule(request, n)` (n: this request's number, from 0) returns the fault to answer with,
    /// or None to pass the request to `upstream` (`http://host:port`).
    pub fn start(
        upstream: &str,
        rule: impl Fn(&Request, usize) -> Option<Fault> + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let rule: Arc<Rule> = Arc::new(rule);
        let (seen, faulted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, f) = (seen.clone(), faulted.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (rule, upstream, s, f) = (rule.clone(), upstream.clone(), s.clone(), f.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, rule.as_ref(), &s, &f);
                });
            }
        });
        FaultProxy { url, seen, faulted }
    }
}

fn serve(
    conn: TcpStream,
    upstream: &str,
    rule: &Rule,
    seen: &AtomicUsize,
    faulted: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let (head, body) = read_message(&mut reader)?;
    let request = Request { head, body };
    let n = seen.fetch_add(1, Ordering::SeqCst);
    let mut out = conn;
    if let Some(fault) = rule(&request, n) {
        faulted.fetch_add(1, Ordering::SeqCst);
        if fault.status == 0 {
            return out.shutdown(std::net::Shutdown::Both);
        }
        let extra: String = fault.headers.iter().map(|h| format!("{h}\r\n")).collect();
        let reason = match fault.status {
            400 => "Bad Request",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Error",
        };
        write!(
            out,
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            fault.status,
            fault.content_type,
            fault.body.len(),
            fault.body
        )?;
        return out.flush();
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(with_header(&request.head, "Connection: close").as_bytes())?;
    up.write_all(&request.body)?;
    up.flush()?;
    let mut answer = BufReader::new(up);
    let (head, body) = read_message(&mut answer)?;
    out.write_all(with_header(&head, "Connection: close").as_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

/// The head (through the blank line) and a body of Content-Length bytes, or to the end of the
/// stream when there is none (an answer on a closing connection).
fn read_message(r: &mut BufReader<TcpStream>) -> std::io::Result<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    let is_request = !head.starts_with("HTTP/");
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        None if is_request => {}
        None => {
            r.read_to_end(&mut body)?;
        }
    }
    Ok((head, body))
}

/// The head with any Connection header replaced by `header`.
fn with_header(head: &str, header: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push(header);
    format!("{}\r\n\r\n", lines.join("\r\n"))
}
