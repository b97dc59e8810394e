//! A real OpenSSH server on a free loopback port, with a host key, a client key pair and a
//! config of the test's own (Debian's openssh-server; `.ci/run` installs it). Its sessions get
//! the fake microk8s first on PATH through `SetEnv`. Stopped (by its pid) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::FakeHost;

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub address: String,
    child: Child,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (apt-get install openssh-client)")
        .success();
    assert!(ok, "ssh-keygen -f {}", path.display());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sshd_binary() -> PathBuf {
    let p = PathBuf::from("/usr/sbin/sshd");
    assert!(
        p.exists(),
        "/usr/sbin/sshd is missing: `apt-get install -y openssh-server` (.ci/run does)"
    );
    p
}

impl Sshd {
    /// sshd for `host`'s fake, accepting the key at `client_key()`.
    pub fn start(host: &FakeHost) -> Sshd {
        Sshd::start_at(host, "127.0.0.1")
    }

    /// The same on another loopback address (`127.0.0.2`: a second machine, as far as what is
    /// reached by its address goes).
    pub fn start_at(host: &FakeHost, address: &str) -> Sshd {
        Sshd::start_with(host, address, None, None)
    }

    /// A second machine of a workshop: on `address`, on `first`'s port (hosts share one
    /// `provider.microk8s.port`), accepting `first`'s client key too (and one `key`).
    pub fn start_beside(host: &FakeHost, address: &str, first: &Sshd) -> Sshd {
        Sshd::start_with(host, address, Some(first.port), Some(&first.client_key()))
    }

    fn start_with(
        host: &FakeHost,
        address: &str,
        port: Option<u16>,
        also_accept: Option<&Path>,
    ) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        let mut authorized = std::fs::read_to_string(d.join("client_key.pub")).unwrap();
        if let Some(other) = also_accept {
            authorized.push_str(&std::fs::read_to_string(other.with_extension("pub")).unwrap());
        }
        std::fs::write(d.join("authorized_keys"), authorized).unwrap();
        // sshd's privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        // HOME too: the session's ~/.kube is the test's, not this machine's.
        std::fs::create_dir_all(host.home().join(".kube")).unwrap();
        let setenv: Vec<String> = host
            .vars()
            .into_iter()
            .chain([("HOME".to_string(), host.home().display().to_string())])
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let port = port.unwrap_or_else(free_port);
        let config = format!(
            "Port {port}\nListenAddress {address}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin yes\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             SetEnv {}\n",
            setenv.join(" "),
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let mut child = Command::new(sshd_binary())
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        // Ready once it accepts a connection (-D keeps it in the foreground: this child is sshd).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect((address, port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "sshd exited ({status}): {}",
                    std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                );
            }
            assert!(std::time::Instant::now() < deadline, "sshd never listened");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Sshd {
            dir,
            port,
            address: address.to_string(),
            child,
        }
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// `provider.microk8s` lines for this server.
    pub fn provider_lines(&self, key: &Path) -> String {
        format!(
            "host: root@{}\nport: {}\nkey: {}\nknown_hosts: {}\n",
            self.address,
            self.port,
            key.display(),
            self.known_hosts().display()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
