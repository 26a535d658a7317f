//! `madoguchi serve` as a real child process on a free port: started, killed with
//! SIGKILL, restarted on the same data (optionally with a fault-injection point), and
//! spoken to over HTTP. For the tests that need a process to die (Q2, I10, E3, E8).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Serve {
    child: Option<Child>,
    pub port: u16,
    bin: PathBuf,
    args: Vec<String>,
    /// `MADOGUCHI_FAULT` of the next start: the process aborts at that point.
    fault: Option<String>,
}

impl Serve {
    /// Starts `bin serve --listen … --data-dir data_dir extra…` (with the fault point
    /// `fault`) and waits until `/healthz` answers 200.
    pub async fn start(bin: &str, data_dir: &Path, extra: &[String], fault: Option<&str>) -> Self {
        let port = free_port();
        let mut args = vec![
            "serve".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ];
        args.extend_from_slice(extra);
        let mut s = Self {
            child: None,
            port,
            bin: PathBuf::from(bin),
            args,
            fault: fault.map(str::to_owned),
        };
        s.restart().await;
        s
    }

    /// Starts the process again with the same arguments and fault point.
    pub async fn restart(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.fault {
            Some(f) => cmd.env("MADOGUCHI_FAULT", f),
            None => cmd.env_remove("MADOGUCHI_FAULT"),
        };
        self.child = Some(cmd.spawn().expect("starting madoguchi"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base())).await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "madoguchi did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the process again with the fault point `fault` (none: runs normally).
    pub async fn restart_with_fault(&mut self, fault: Option<&str>) {
        self.fault = fault.map(str::to_owned);
        self.restart().await;
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (blocking) for the process to end by itself (an injected fault aborted it).
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("a running server");
        child.wait().expect("waiting for madoguchi")
    }

    /// Waits (at most 30 s, without blocking the runtime) until the process died by
    /// itself.
    pub async fn wait_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().expect("the child").is_some() {
                    self.child = None;
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the server did not abort");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A request with an optional Bearer token and JSON body; answers the status and
    /// the JSON body (Null when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.base()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A POST that must succeed (2xx); answers its body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let (status, v) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await;
        assert!((200..300).contains(&status), "POST {path}: {status} {v}");
        v
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
    }
}
