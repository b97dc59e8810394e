//! kat's own small ARM client: JSON over [`Http`] with a bearer token, each request retried on
//! throttling, server errors and "another operation is in progress" (honouring `Retry-After`)
//! within the stage deadline and Ctrl-C, and long-running operations followed exactly as ARM
//! defines them: `Azure-AsyncOperation` (a status document), else `Location` (202 until done),
//! else the resource's own `provisioningState`.

use std::sync::Arc;
use std::time::Duration;

use kat_provider::ratelimit::{LimitKey, Limiter, Rate};
use kat_provider::wait::Backoff;
use kat_provider::{OpContext, ProviderError};

type R<T> = Result<T, AksError>;
use serde_json::Value;

use crate::credential::{Credentials, ARM_SCOPE};
use crate::error::AksError;
use crate::http::{Answer, Http};

pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";

/// Polls with no `Retry-After` back off from 2 s to 30 s.
const POLL: Backoff = Backoff {
    first: Duration::from_secs(2),
    max: Duration::from_secs(30),
    factor: 1.5,
};
const RETRY: Backoff = Backoff {
    first: Duration::from_millis(500),
    max: Duration::from_secs(20),
    factor: 1.7,
};
/// Attempts of one request before a transient failure is reported (the deadline usually ends
/// them first).
const ATTEMPTS: u32 = 12;

pub struct Arm {
    pub http: Http,
    pub base: String,
    pub creds: Arc<Credentials>,
    /// The subscription whose ARM request buckets every request to `base` draws from.
    pub subscription: String,
}

/// ARM's documented token buckets per subscription and region instance ("Understand how Azure
/// Resource Manager throttles requests"): reads 25 a second with a bucket of 250, writes and
/// deletes 10 a second with 200. kat's limiter takes the same figures for the whole process, so
/// a fleet of environments in one subscription stays under them together.
const ARM_RATES: [(&str, f64, f64); 3] = [
    ("management.read", 25.0, 250.0),
    ("management.write", 10.0, 200.0),
    ("management.delete", 10.0, 200.0),
];

/// The bucket of kat's limiter an ARM request with `method` takes its token from.
pub fn limit_key(subscription: &str, method: &str) -> LimitKey {
    let kind = match method {
        "GET" | "HEAD" => "management.read",
        "DELETE" => "management.delete",
        _ => "management.write",
    };
    LimitKey::new("aks", kind, subscription)
}

fn ensure_rate(key: &LimitKey) {
    let limiter = Limiter::global();
    if limiter.rate(key).is_some() {
        return;
    }
    if let Some((_, per_second, burst)) = ARM_RATES.iter().find(|(k, _, _)| *k == key.service) {
        if let Some(rate) = Rate::new(*per_second, *burst) {
            limiter.set_rate(key, rate);
        }
    }
}

/// Percent-encoding for a query value (`$filter=tagName eq 'x'`).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn retry_after(a: &Answer) -> Option<Duration> {
    a.header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(120)))
}

/// The pause before the n-th poll: what ARM asked for, else kat's backoff. `Retry-After: 0`
/// (under a second left) is followed by 50 ms pauses, the first twenty of them; an operation
/// that keeps answering 0 gets kat's backoff, not a busy loop.
fn pause(asked: Option<Duration>, n: u32, zeros: &mut u32) -> Duration {
    match asked {
        Some(d) if d.is_zero() => {
            *zeros += 1;
            if *zeros <= 20 {
                Duration::from_millis(50)
            } else {
                POLL.interval(*zeros - 20)
            }
        }
        Some(d) => d,
        None => POLL.interval(n),
    }
}

/// ARM's error body `{"error": {"code", "message"}}` (some services omit the wrapper).
fn arm_error(operation: &str, resource: &str, a: &Answer) -> AksError {
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&v);
    let code = e["code"].as_str().unwrap_or("").to_string();
    let message = e["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&a.body).chars().take(300).collect());
    AksError::Arm {
        operation: operation.to_string(),
        resource: resource.to_string(),
        status: a.status,
        code: if code.is_empty() {
            format!("HTTP{}", a.status)
        } else {
            code
        },
        message: crate::credential::one_line(&message),
    }
}

fn json(resource: &str, a: &Answer) -> Result<Value, AksError> {
    if a.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&a.body).map_err(|e| AksError::Decode {
        resource: resource.to_string(),
        message: e.to_string(),
    })
}

impl Arm {
    pub fn url(&self, path: &str, api: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}{path}{sep}api-version={api}",
            self.base.trim_end_matches('/')
        )
    }

    /// One request (retried while transient) to a full URL with a token for `scope`.
    pub async fn raw(
        &self,
        cx: &OpContext,
        method: &str,
        url: &str,
        scope: &str,
        body: Option<&Value>,
        resource: &str,
    ) -> R<Answer> {
        let operation = format!("{method} {resource}");
        // ARM throttles per subscription; other hosts (Key Vault's data plane) by their own rules.
        let limit = url
            .starts_with(&self.base)
            .then(|| limit_key(&self.subscription, method));
        if let Some(key) = &limit {
            ensure_rate(key);
        }
        let mut n = 0;
        loop {
            if let Some(key) = &limit {
                Limiter::global().acquire(cx, key).await?;
            }
            let token = self.creds.token(scope).await?;
            let headers = [("authorization", format!("Bearer {token}"))];
            let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
            let result = self.http.send(method, url, &headers, bytes).await;
            let (err, wait) = match result {
                Ok(a) if a.status < 400 => return Ok(a),
                Ok(a) => {
                    let e = arm_error(method, resource, &a);
                    (e, retry_after(&a))
                }
                Err(e) => (e, None),
            };
            if !err.is_transient() || n + 1 >= ATTEMPTS {
                return Err(err);
            }
            // ARM's Retry-After when it gave one; else throttling waits a random part of the
            // backoff (full jitter), so a fleet throttled together does not return together.
            let pause = wait.unwrap_or_else(|| {
                if err.status() == Some(429) {
                    RETRY.full_jitter(n)
                } else {
                    RETRY.interval(n)
                }
            });
            cx.step(format!(
                "{operation}: {err}; retrying in {}s",
                pause.as_secs()
            ));
            match cx.sleep(pause, &operation).await {
                Ok(()) => n += 1,
                Err(ProviderError::Interrupted) => return Err(ProviderError::Interrupted.into()),
                // Past the deadline: the refusal that kept coming says more than a bare timeout.
                Err(_) => return Err(err),
            }
        }
    }

    async fn call(
        &self,
        cx: &OpContext,
        method: &str,
        path: &str,
        api: &str,
        body: Option<&Value>,
        resource: &str,
    ) -> R<Answer> {
        self.raw(cx, method, &self.url(path, api), ARM_SCOPE, body, resource)
            .await
    }

    /// GET; `None` on 404.
    pub async fn get(
        &self,
        cx: &OpContext,
        path: &str,
        api: &str,
        resource: &str,
    ) -> R<Option<Value>> {
        match self.call(cx, "GET", path, api, None, resource).await {
            Ok(a) => Ok(Some(json(resource, &a)?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list, following `nextLink`.
    pub async fn list(
        &self,
        cx: &OpContext,
        path: &str,
        api: &str,
        resource: &str,
    ) -> R<Vec<Value>> {
        let mut out = Vec::new();
        let mut url = self.url(path, api);
        loop {
            let a = self.raw(cx, "GET", &url, ARM_SCOPE, None, resource).await?;
            let v = json(resource, &a)?;
            if let Some(items) = v["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            match v["nextLink"].as_str() {
                Some(next) if !next.is_empty() => url = next.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// POST an action (no long-running operation), its answer's body.
    pub async fn post(
        &self,
        cx: &OpContext,
        path: &str,
        api: &str,
        body: Option<&Value>,
        resource: &str,
    ) -> R<Value> {
        let a = self.call(cx, "POST", path, api, body, resource).await?;
        json(resource, &a)
    }

    /// PUT and wait for the operation to end; the resource as a GET then shows it.
    pub async fn put(
        &self,
        cx: &OpContext,
        path: &str,
        api: &str,
        body: &Value,
        resource: &str,
    ) -> R<Value> {
        let a = self
            .call(cx, "PUT", path, api, Some(body), resource)
            .await?;
        self.follow(cx, &a, resource, "PUT").await?;
        if a.header("azure-asyncoperation").is_none()
            && a.header("location").is_none()
            && a.status == 200
            && json(resource, &a)?["properties"]["provisioningState"]
                .as_str()
                .is_none_or(|s| s == "Succeeded")
        {
            return json(resource, &a);
        }
        self.get_after_create(cx, path, api, resource).await
    }

    /// The resource after a create was accepted: a GET can 404 for a moment (ARM's caches), and
    /// without an operation header its `provisioningState` is what to wait on.
    pub async fn get_after_create(
        &self,
        cx: &OpContext,
        path: &str,
        api: &str,
        resource: &str,
    ) -> R<Value> {
        let mut n = 0;
        loop {
            match self.get(cx, path, api, resource).await? {
                Some(v) => match v["properties"]["provisioningState"].as_str() {
                    Some("Failed") | Some("Canceled") => {
                        return Err(AksError::Arm {
                            operation: "PUT".into(),
                            resource: resource.into(),
                            status: 200,
                            code: format!(
                                "provisioningState{}",
                                v["properties"]["provisioningState"].as_str().unwrap_or("")
                            ),
                            message: "the resource ended in this state; see its activity log in the Azure portal, fix the cause, and run `kat up` again".into(),
                        })
                    }
                    Some("Succeeded") | None => return Ok(v),
                    Some(state) => {
                        if n == 0 {
                            cx.step(format!("waiting for {resource}: {state}"));
                        }
                        cx.sleep(POLL.interval(n), &format!("{resource} to be ready"))
                            .await?;
                    }
                },
                None if n < 5 => {
                    cx.sleep(RETRY.interval(n), &format!("{resource} to appear"))
                        .await?
                }
                None => {
                    return Err(ProviderError::Other(format!(
                        "{resource} was accepted by Azure but a GET still finds no such resource; run `kat up` again"
                    ))
                    .into())
                }
            }
            n += 1;
        }
    }

    /// DELETE and wait until the resource is gone. A missing resource is not an error.
    pub async fn delete(&self, cx: &OpContext, path: &str, api: &str, resource: &str) -> R<()> {
        let a = match self.call(cx, "DELETE", path, api, None, resource).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        self.follow(cx, &a, resource, "DELETE").await
    }

    /// Follows a long-running operation an answer started, until it ends.
    async fn follow(&self, cx: &OpContext, a: &Answer, resource: &str, operation: &str) -> R<()> {
        let what = format!("{operation} {resource} to finish");
        if let Some(status_url) = a.header("azure-asyncoperation").map(str::to_string) {
            let mut wait = retry_after(a);
            let mut n = 0;
            let mut said = String::new();
            let mut zeros = 0;
            loop {
                cx.sleep(pause(wait, n, &mut zeros), &what).await?;
                let s = self
                    .raw(cx, "GET", &status_url, ARM_SCOPE, None, resource)
                    .await?;
                let v = json(resource, &s)?;
                match v["status"].as_str().unwrap_or("InProgress") {
                    "Succeeded" => return Ok(()),
                    "Failed" | "Canceled" => {
                        let e = &v["error"];
                        return Err(AksError::Arm {
                            operation: operation.into(),
                            resource: resource.into(),
                            status: s.status,
                            code: e["code"]
                                .as_str()
                                .unwrap_or(v["status"].as_str().unwrap_or("Failed"))
                                .to_string(),
                            message: crate::credential::one_line(
                                e["message"].as_str().unwrap_or("the operation failed"),
                            ),
                        });
                    }
                    // Said once per state: a poll every few seconds would flood the live view.
                    state if state != said => {
                        cx.step(format!("waiting for {operation} {resource}: {state}"));
                        said = state.to_string();
                    }
                    _ => {}
                }
                wait = retry_after(&s);
                n += 1;
            }
        }
        if a.status == 202 {
            if let Some(location) = a.header("location").map(str::to_string) {
                let mut wait = retry_after(a);
                let mut n = 0;
                let mut zeros = 0;
                loop {
                    cx.sleep(pause(wait, n, &mut zeros), &what).await?;
                    let s = match self
                        .raw(cx, "GET", &location, ARM_SCOPE, None, resource)
                        .await
                    {
                        Ok(s) => s,
                        Err(e) if e.is_not_found() => return Ok(()),
                        Err(e) => return Err(e),
                    };
                    if s.status != 202 {
                        return Ok(());
                    }
                    if n == 0 {
                        cx.step(format!("waiting for {operation} {resource}"));
                    }
                    wait = retry_after(&s);
                    n += 1;
                }
            }
        }
        Ok(())
    }
}

impl Arm {
    /// POST an action that runs as a long-running operation (a vault purge), and wait for it.
    pub async fn post_wait(&self, cx: &OpContext, path: &str, api: &str, resource: &str) -> R<()> {
        let a = self.call(cx, "POST", path, api, None, resource).await?;
        self.follow(cx, &a, resource, "POST").await
    }
}
