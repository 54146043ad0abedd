//! A llama-server (built by `scripts/build-llama-server` into `tools/`, or `$DSPY_TOOLS_DIR`)
//! serving the embedded Qwen model on a free 127.0.0.1 port, for the examples that compare over
//! HTTP or need embeddings.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running llama-server; dropping it kills and reaps the process.
pub struct LlamaServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET /health` on 127.0.0.1:`port` answers 200.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut buf = String::new();
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_ok()
        && s.read_to_string(&mut buf).is_ok()
        && buf.starts_with("HTTP/1.1 200")
}

impl LlamaServer {
    /// Starts llama-server on the Qwen model with these extra arguments (`--embeddings`, …)
    /// and waits until it is healthy.
    pub fn qwen(extra: &[&str]) -> Result<LlamaServer, Box<dyn std::error::Error>> {
        LlamaServer::start(dspy::lm::local::QWEN_FILE, extra)
    }

    /// Starts llama-server on the GGUF `file` of the model directory with these extra
    /// arguments and waits until it is healthy.
    pub fn start(file: &str, extra: &[&str]) -> Result<LlamaServer, Box<dyn std::error::Error>> {
        let bin =
            std::env::var("DSPY_TOOLS_DIR").unwrap_or_else(|_| "tools".into()) + "/llama-server";
        let model = dspy::lm::local::locate_in(&dspy::lm::local::model_dir(), file)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&bin)
            .args([
                "-m",
                &model.to_string_lossy(),
                "--host",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .args(["-t", "2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin}: {e} (run scripts/build-llama-server)"))?;
        let server = LlamaServer { child, port };
        for _ in 0..600 {
            if healthy(port) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("llama-server did not become healthy".into())
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}
