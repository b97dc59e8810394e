//! A tiny HTTP server on loopback serving fixture files (tests cannot reach the internet).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct FixtureServer {
    pub base: String,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl FixtureServer {
    pub fn start() -> FixtureServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = served.lock().unwrap().get(&path).cloned();
                let mut stream = stream;
                let _ = match body {
                    Some(b) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        );
                        stream.write_all(&b)
                    }
                    None => write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                };
            }
        });
        FixtureServer { base, files }
    }

    pub fn serve(&self, path: &str, body: &str) -> String {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_string(), body.as_bytes().to_vec());
        format!("{}{path}", self.base)
    }

    /// Serves nothing from now on (every path answers 404): the network is gone.
    pub fn clear(&self) {
        self.files.lock().unwrap().clear();
    }
}
