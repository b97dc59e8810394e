//! Shared by the aks tests: a fake Azure Resource Manager (`fake_arm/server.py`, its own Python
//! process on a free loopback port, standard library only) and a fake `az` on PATH whose token
//! is the one the fake accepts. The fake's `/_fake` controls read its call log and resources and
//! set faults, latency and seeded resources. See `fake_arm/NOTES.md`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The one subscription the fake knows unless told otherwise.
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000c0de";

/// Variables that would send kat to a real Azure credential instead of the fake `az`.
pub const CREDENTIAL_VARS: &[&str] = &[
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CONFIG_DIR",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
];

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aks_support")
}

/// The directory holding the fake `az` (put first on PATH).
pub fn az_dir() -> PathBuf {
    support_dir().join("fake")
}

/// The Python interpreter `python3` on PATH really is, asked once: a version manager's shim
/// (pyenv) costs ~0.3 s a start, and the fake `az` starts at every token kat asks for.
pub fn python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 on PATH (3.8 or newer) runs the fake ARM server and the fake az");
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(out.status.success() && path.is_file(), "python3: {out:?}");
        path
    })
}

/// One ARM call as the fake logged it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub api_version: Option<String>,
    pub status: u16,
    /// Unix seconds.
    pub at: f64,
}

impl Call {
    /// Changes something in Azure: PUT/PATCH/DELETE, and POST except the read-only actions
    /// (list*, check*: listClusterUserCredential, checkNameAvailability). register and purge
    /// change things.
    pub fn is_mutating(&self) -> bool {
        match self.method.as_str() {
            "PUT" | "PATCH" | "DELETE" => true,
            "POST" => {
                let last = self.path.rsplit('/').next().unwrap_or("").to_lowercase();
                !(last.starts_with("list") || last.starts_with("check"))
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.status)
    }
}

/// A resource the fake holds.
#[derive(Debug, Clone)]
pub struct FakeResource {
    pub id: String,
    pub type_: String,
    pub tags: BTreeMap<String, String>,
    pub provisioning_state: String,
}

/// An HTTP answer from the fake.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_lowercase()).map(String::as_str)
    }

    /// ARM's error code (`error.code`), or "" when the answer is not an error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn provisioning_state(&self) -> &str {
        self.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("")
    }
}

pub struct FakeArm {
    child: Child,
    /// `http://127.0.0.1:<port>`, also the ARM endpoint kat is given.
    pub url: String,
    pub subscription: String,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
    token: std::sync::OnceLock<String>,
}

impl FakeArm {
    /// The fake with its defaults, serving `kubeconfig` from listClusterUserCredential.
    pub fn start(kubeconfig: &Path) -> FakeArm {
        FakeArm::start_with(kubeconfig, &[])
    }

    /// The fake with more server flags (`--unregistered NS`, `--location L`,
    /// `--principal-delay N`, `--latency-scale F`, `--state-file F`, `--subscription S`).
    pub fn start_with(kubeconfig: &Path, args: &[&str]) -> FakeArm {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = support_dir().join("fake_arm/server.py");
        let mut child = Command::new(python())
            .arg(&server)
            .args(["--port", "0", "--kubeconfig"])
            .arg(kubeconfig)
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("FAKE_AZ_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the fake ARM server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the fake ARM server's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("the fake ARM server did not start (first line: {line:?})")
            })
            .to_string();
        let subscription = args
            .iter()
            .position(|a| *a == "--subscription")
            .map(|i| args[i + 1].to_string())
            .unwrap_or_else(|| SUBSCRIPTION.to_string());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        std::fs::write(dir.path().join("az.log"), "").unwrap();
        FakeArm {
            child,
            url,
            subscription,
            dir,
            agent,
            token: std::sync::OnceLock::new(),
        }
    }

    /// What a kat child process needs to talk to the fake through the fake `az`: set these,
    /// and remove [`CREDENTIAL_VARS`] (see [`FakeArm::apply`]).
    pub fn env(&self) -> Vec<(String, String)> {
        // The real interpreter's directory next: the fake az's `env python3` skips the shim.
        let path = format!(
            "{}:{}:{}",
            az_dir().display(),
            python().parent().expect("python's directory").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("KAT_AZURE_ARM_ENDPOINT".into(), self.url.clone()),
            ("PATH".into(), path),
            ("AZURE_SUBSCRIPTION_ID".into(), self.subscription.clone()),
            (
                "FAKE_AZ_LOG".into(),
                self.az_log_path().display().to_string(),
            ),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ]
    }

    /// Sets [`FakeArm::env`] on a command and removes every other Azure credential source.
    pub fn apply(&self, cmd: &mut Command) {
        for var in CREDENTIAL_VARS
            .iter()
            .chain(["FAKE_AZ_TOKEN", "FAKE_AZ_LOGGED_OUT"].iter())
        {
            cmd.env_remove(var);
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    fn az_log_path(&self) -> PathBuf {
        self.dir.path().join("az.log")
    }

    /// Every fake `az` invocation so far (its argv).
    pub fn az_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.az_log_path())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("az log line");
                v["argv"]
                    .as_array()
                    .expect("argv")
                    .iter()
                    .map(|a| a.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect()
    }

    /// The token the fake `az` hands out (asked of the fake `az` itself, once).
    pub fn token(&self) -> String {
        self.token.get_or_init(ask_az_for_token).clone()
    }

    /// `/subscriptions/{sub}` + `rest`.
    pub fn sub_path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{rest}", self.subscription)
    }

    /// The path of resource group `rg`.
    pub fn group_path(&self, rg: &str) -> String {
        self.sub_path(&format!("/resourceGroups/{rg}"))
    }

    /// An ARM call with the fake az's token. `path` may be absolute (an operation URL).
    pub fn arm(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.request(method, path, body, Some(&self.token()))
    }

    /// An HTTP call with the given bearer token (or none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        let auth = token.map(|t| format!("Bearer {t}"));
        macro_rules! with_auth {
            ($req:expr) => {{
                let req = $req;
                match &auth {
                    Some(a) => req.header("Authorization", a.as_str()),
                    None => req,
                }
            }};
        }
        let text = body.map(|b| b.to_string());
        let result = match method {
            "GET" => with_auth!(self.agent.get(&url)).call(),
            "HEAD" => with_auth!(self.agent.head(&url)).call(),
            "DELETE" => with_auth!(self.agent.delete(&url)).call(),
            "PUT" => with_auth!(self.agent.put(&url))
                .header("Content-Type", "application/json")
                .send(text.unwrap_or_default()),
            "POST" => match text {
                Some(t) => with_auth!(self.agent.post(&url))
                    .header("Content-Type", "application/json")
                    .send(t),
                None => with_auth!(self.agent.post(&url)).send_empty(),
            },
            other => panic!("method {other} not supported by the test client"),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Follows a long-running operation's `Azure-AsyncOperation` (until its status is not
    /// InProgress) or `Location` (until it stops answering 202). Returns every answer seen.
    pub fn poll(&self, accepted: &Answer) -> Vec<Answer> {
        let (url, by_status) = match (
            accepted.header("Azure-AsyncOperation"),
            accepted.header("Location"),
        ) {
            (Some(u), _) => (u.to_string(), true),
            (None, Some(u)) => (u.to_string(), false),
            _ => panic!("not a long-running answer: {accepted:?}"),
        };
        let mut seen = Vec::new();
        for _ in 0..200 {
            let a = self.arm("GET", &url, None);
            let done = if by_status {
                a.status != 200 || a.body["status"] != "InProgress"
            } else {
                a.status != 202
            };
            seen.push(a);
            if done {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("operation {url} still running after 200 polls: {seen:?}")
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let a = self.request(method, path, body, None);
        assert_eq!(a.status, 200, "{method} {path}: {a:?}");
        a.body
    }

    /// Every ARM call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.control("GET", "/_fake/calls", None)
            .as_array()
            .expect("calls")
            .iter()
            .map(|c| Call {
                method: c["method"].as_str().unwrap_or("").to_string(),
                path: c["path"].as_str().unwrap_or("").to_string(),
                api_version: c["api_version"].as_str().map(str::to_string),
                status: c["status"].as_u64().unwrap_or(0) as u16,
                at: c["at"].as_f64().unwrap_or(0.0),
            })
            .collect()
    }

    /// The calls that change something (see [`Call::is_mutating`]).
    pub fn mutating_calls(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_mutating).collect()
    }

    pub fn clear_calls(&self) {
        self.control("DELETE", "/_fake/calls", None);
    }

    /// Every resource that exists (groups, child resources, role assignments, soft-deleted
    /// vaults).
    pub fn resources(&self) -> Vec<FakeResource> {
        self.control("GET", "/_fake/resources", None)
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| FakeResource {
                id: r["id"].as_str().unwrap_or("").to_string(),
                type_: r["type"].as_str().unwrap_or("").to_string(),
                tags: r["tags"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                provisioning_state: r["provisioningState"].as_str().unwrap_or("").to_string(),
            })
            .collect()
    }

    /// Resources tagged `kat:environment=<env>`.
    pub fn resources_of(&self, env: &str) -> Vec<FakeResource> {
        self.resources()
            .into_iter()
            .filter(|r| r.tags.get("kat:environment").map(String::as_str) == Some(env))
            .collect()
    }

    /// Queues a fault: `{"match": "<regex on 'METHOD /path'>", "status": 429, "code": "...",
    /// "times": N, "retry_after": s}`, or `{"match", "lro": "Failed", "code", "message"}` (the
    /// operation ends Failed), or with `"after": true` (carried out, answer lost).
    pub fn fault(&self, spec: Value) {
        self.control("POST", "/_fake/faults", Some(spec));
    }

    /// `times` answers with `status` for calls matching `pattern`.
    pub fn fault_status(&self, pattern: &str, status: u16, times: u32) {
        self.fault(json!({"match": pattern, "status": status, "times": times}));
    }

    /// From now on the first GET after each create whose `PUT /path` matches `pattern` answers
    /// 404, as ARM may right after it accepted the create.
    pub fn not_found_after_put(&self, pattern: &str) {
        self.fault(json!({"not_found_after_put": true, "match": pattern}));
    }

    /// A share of all ARM calls answered 429 or 503 at random (seeded).
    pub fn share(&self, share: f64, seed: u64) {
        self.fault(json!({"share": share, "seed": seed}));
    }

    pub fn clear_faults(&self) {
        self.control("DELETE", "/_fake/faults", None);
    }

    /// Real-world operation durations (AKS ~6 min, pool ~4 min, ACR ~30 s, flexible server
    /// ~8 min, ...) times `scale`; 0 goes back to "done after 2 looks".
    pub fn latency(&self, scale: f64) {
        self.control("POST", "/_fake/latency", Some(json!({"scale": scale})));
    }

    /// Creates resources directly (`{"resources": [{"id", "location", "tags", "properties"}]}`,
    /// groups first), and/or `registry_names_taken`, `server_names_reserved`, `principals`,
    /// `principal_delay`.
    pub fn seed(&self, body: Value) {
        self.control("POST", "/_fake/seed", Some(body));
    }

    /// Finishes every operation in progress now.
    pub fn settle(&self) {
        self.control("POST", "/_fake/settle", None);
    }
}

fn ask_az_for_token() -> String {
    let out = Command::new(python())
        .arg(az_dir().join("az"))
        .args([
            "account",
            "get-access-token",
            "--output",
            "json",
            "--scope",
            "https://management.azure.com/.default",
        ])
        .env_remove("FAKE_AZ_TOKEN")
        .env_remove("FAKE_AZ_LOGGED_OUT")
        .env_remove("FAKE_AZ_LOG")
        .output()
        .expect("the fake az runs");
    assert!(out.status.success(), "fake az: {out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("fake az prints JSON");
    v["accessToken"].as_str().expect("accessToken").to_string()
}

impl Drop for FakeArm {
    fn drop(&mut self) {
        // SIGTERM first (the server exits cleanly), SIGKILL if it has not gone in 2 s.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
