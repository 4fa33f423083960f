//! What the daemon's process tests share: the built binary, a scratch
//! directory, key generation and free ports.
#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The `linkmon` binary cargo built for these tests.
pub fn linkmon() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_linkmon"))
}

/// A directory for configs and keys, removed at the end.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `probekey-<test>-<pid>-<tag>` in the system's temporary directory,
    /// empty.
    pub fn new(test: &str, tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("probekey-{test}-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `linkmon` to completion: its status, stdout and stderr.
pub fn run_linkmon(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(linkmon())
        .args(args)
        .output()
        .expect("run linkmon");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `linkmon keygen`: writes the key file, returns its public key in hex.
pub fn keygen(path: &Path) -> String {
    let (status, stdout, stderr) = run_linkmon(&["keygen", path.to_str().expect("utf-8 path")]);
    assert!(status.success(), "keygen failed: {stderr}");
    let public = stdout.trim().to_owned();
    assert_eq!(public.len(), 64, "keygen printed {stdout:?}");
    public
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A UDP port free on the loopback address a moment ago.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("ephemeral port")
        .port()
}
