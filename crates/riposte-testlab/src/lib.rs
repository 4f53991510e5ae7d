//! Test support for the real Samba AD lab that `scripts/lab up` provisions.
//!
//! The admin side (creating test users, setting flags, reading attributes)
//! goes through Debian's ldap-utils as the forest's Administrator over
//! LDAPS, independently of riposte's own connector, so a test never checks
//! riposte with riposte. Effective state is proven with a real `kinit`.
#![forbid(unsafe_code)]

pub mod argv_stub;
pub mod fault_proxy;
pub mod fuzz;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct LabForest {
    pub name: String,
    pub realm: String,
    pub domain: String,
    pub address: String,
    pub ldaps_url: String,
    pub base_dn: String,
    pub admin_dn: String,
    pub admin_password_file: PathBuf,
    pub action_dn: String,
    pub action_password_file: PathBuf,
    pub users_password_file: PathBuf,
    pub staff_ou: String,
    pub tier0_ou: String,
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// The DC's host name (its Kerberos SPN is ldap/<dc_host>).
    pub dc_host: String,
    pub action_keytab: PathBuf,
    pub action_principal: String,
    /// The forest's DCs, its first DC first (CORP has two).
    #[serde(default)]
    pub dcs: Vec<LabDc>,
}

/// One DC of a lab forest.
#[derive(Debug, Clone, Deserialize)]
pub struct LabDc {
    /// Its key for `scripts/lab stop-dc` / `start-dc` (corp, fabrikam, corp2).
    pub key: String,
    pub host: String,
    pub address: String,
    pub ldaps_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lab {
    pub repo: PathBuf,
    pub krb5_conf: PathBuf,
    pub config: PathBuf,
    pub ca_file: PathBuf,
    pub forests: Vec<LabForest>,
}

/// What a real Kerberos login said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Succeeded,
    /// "Client's credentials have been revoked": disabled (or locked out).
    Revoked(String),
    /// "Password expired. You must change it now."
    PasswordExpired(String),
    Other(String),
}

/// An OU a test created under OU=Staff; deleted when dropped.
pub struct TestOu {
    pub forest: LabForest,
    pub dn: String,
    lab: Lab,
}

impl Drop for TestOu {
    fn drop(&mut self) {
        let mut cmd = self.lab.ldap_tool("ldapdelete", &self.forest);
        cmd.arg(&self.dn)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    }
}

/// A user a test created in OU=Staff; deleted when dropped.
pub struct TestUser {
    pub forest: LabForest,
    pub name: String,
    pub dn: String,
    pub password: String,
    lab: Lab,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// The running lab, or a panic that says how to start it.
    pub fn load() -> Lab {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = std::env::var_os("RIPOSTE_LAB_JSON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".lab/lab.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the Samba AD lab is not provisioned ({}: {e}); run `scripts/lab up` first",
                path.display()
            )
        });
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is malformed: {e}", path.display()))
    }

    pub fn forest(&self, name: &str) -> &LabForest {
        self.forests
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("the lab has no forest {name}"))
    }

    fn ldap_tool(&self, tool: &str, forest: &LabForest) -> Command {
        self.ldap_tool_at(tool, forest, &forest.ldaps_url)
    }

    fn ldap_tool_at(&self, tool: &str, forest: &LabForest, url: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.env("LDAPTLS_CACERT", &self.ca_file)
            .env("LDAPTLS_REQCERT", "demand")
            .args(["-H", url, "-x", "-D", &forest.admin_dn, "-y"])
            .arg(&forest.admin_password_file);
        cmd
    }

    /// The forest's DC with this key, or a panic naming the ones there are.
    pub fn dc(&self, forest: &str, key: &str) -> LabDc {
        let f = self.forest(forest);
        f.dcs
            .iter()
            .find(|d| d.key == key)
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "forest {forest} has no DC {key} in lab.json (it has {:?}); run `scripts/lab up`",
                    f.dcs.iter().map(|d| &d.key).collect::<Vec<_>>()
                )
            })
    }

    fn lab_script(&self, args: &[&str]) {
        let script = self.repo.join("scripts/lab");
        let out = Command::new(&script)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "scripts/lab {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops one DC's Samba (`scripts/lab stop-dc`): its clients see the
    /// connections close and the address refuse new ones.
    pub fn stop_dc(&self, key: &str) {
        self.lab_script(&["stop-dc", key]);
    }

    /// Starts one DC again and waits until LDAPS and its KDC answer.
    pub fn start_dc(&self, key: &str) {
        self.lab_script(&["start-dc", key]);
    }

    /// The joined DC and its forest's first DC pull each other's changes now.
    pub fn replicate(&self, joined_key: &str) {
        self.lab_script(&["replicate", joined_key]);
    }

    /// Reads attributes of one entry as Administrator on one DC (by LDAPS URL).
    pub fn read_at(
        &self,
        forest: &LabForest,
        url: &str,
        dn: &str,
        attrs: &[&str],
    ) -> HashMap<String, Vec<String>> {
        self.search(self.ldap_tool_at("ldapsearch", forest, url), dn, attrs)
    }

    /// Applies an LDIF change as the forest's Administrator.
    pub fn modify(&self, forest: &LabForest, ldif: &str) {
        let out = run_with_stdin(self.ldap_tool("ldapmodify", forest), ldif);
        assert!(
            out.status.success(),
            "ldapmodify failed: {}\n{ldif}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Reads attributes of one entry as Administrator (values as text).
    pub fn read(
        &self,
        forest: &LabForest,
        dn: &str,
        attrs: &[&str],
    ) -> HashMap<String, Vec<String>> {
        self.search(self.ldap_tool("ldapsearch", forest), dn, attrs)
    }

    fn search(&self, mut cmd: Command, dn: &str, attrs: &[&str]) -> HashMap<String, Vec<String>> {
        cmd.args([
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-s",
            "base",
            "-b",
            dn,
            "(objectClass=*)",
        ])
        .args(attrs);
        // A DC busy with other tests may drop a connection now and then: a
        // read is retried a few times before the test is failed.
        let mut attempt = 0;
        loop {
            let out = cmd.output().expect("ldapsearch runs");
            if out.status.success() {
                return parse_ldif(&String::from_utf8_lossy(&out.stdout));
            }
            attempt += 1;
            assert!(
                attempt < 4,
                "ldapsearch of {dn} failed {attempt} times: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    pub fn read_u32(&self, forest: &LabForest, dn: &str, attr: &str) -> u32 {
        self.read(forest, dn, &[attr])
            .get(attr)
            .and_then(|v| v.first())
            .map(|v| v.parse::<i64>().expect("a number") as u32)
            .unwrap_or(0)
    }

    /// The replication metadata version of one attribute of an entry (its
    /// `attributeID`, e.g. [`ATTID_USER_ACCOUNT_CONTROL`]), read from
    /// `replPropertyMetaData` with ldapsearch as Administrator: how many
    /// times the DC has changed it. 0 when the entry has no such entry.
    pub fn metadata_version(&self, forest: &LabForest, dn: &str, attid: u32) -> u32 {
        let read = self.read(forest, dn, &["replPropertyMetaData"]);
        let value = read
            .get("replPropertyMetaData")
            .and_then(|v| v.first())
            .unwrap_or_else(|| panic!("{dn} has no replPropertyMetaData"));
        let blob = base64_decode(value)
            .unwrap_or_else(|| panic!("replPropertyMetaData of {dn} is not base64: {value}"));
        metadata_version_in(&blob, attid)
    }

    /// Creates an enabled user in OU=Staff with a random password and
    /// `extra_uac` bits (e.g. 0x10000 for "password never expires").
    pub fn create_user(&self, forest_name: &str, prefix: &str, extra_uac: u32) -> TestUser {
        let ou = self.forest(forest_name).staff_ou.clone();
        self.create_user_in(forest_name, &ou, prefix, extra_uac)
    }

    /// Creates an OU of this test's own under OU=Staff (deleted when dropped, after the
    /// users in it: declare it before them), so that what a test lets riposte do can be
    /// scoped to it and never reach another test's accounts in the shared lab.
    pub fn create_ou(&self, forest_name: &str, prefix: &str) -> TestOu {
        let forest = self.forest(forest_name).clone();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dn = format!(
            "OU={prefix}{}{n},{}",
            std::process::id() % 100_000,
            forest.staff_ou
        );
        self.modify(
            &forest,
            &format!("dn: {dn}\nchangetype: add\nobjectClass: organizationalUnit\n"),
        );
        TestOu {
            forest,
            dn,
            lab: self.clone(),
        }
    }

    /// Like `create_user`, in the OU `ou` (a DN).
    pub fn create_user_in(
        &self,
        forest_name: &str,
        ou: &str,
        prefix: &str,
        extra_uac: u32,
    ) -> TestUser {
        let forest = self.forest(forest_name).clone();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}{}{n}", std::process::id() % 100_000);
        assert!(name.len() <= 20, "sAMAccountName {name} is too long");
        let dn = format!("CN={name},{ou}");
        let password = format!("Rt-{}-{n}x!Q9", std::process::id());
        let ldif = format!(
            "dn: {dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\nuserPrincipalName: {name}@{}\n\
             unicodePwd:: {}\nuserAccountControl: {}\n",
            forest.domain,
            base64(&utf16_quoted(&password)),
            0x200 | extra_uac
        );
        self.modify(&forest, &ldif);
        TestUser {
            forest,
            name,
            dn,
            password,
            lab: self.clone(),
        }
    }

    /// A real Kerberos login (kinit) with this lab's krb5.conf.
    pub fn kinit(&self, forest: &LabForest, user: &str, password: &str) -> Login {
        let cache =
            std::env::temp_dir().join(format!("riposte-krb5cc-{}-{user}", std::process::id()));
        let mut cmd = Command::new("kinit");
        cmd.env("KRB5_CONFIG", &self.krb5_conf)
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .arg(format!("{user}@{}", forest.realm));
        let out = run_with_stdin(cmd, &format!("{password}\n"));
        let _ = std::fs::remove_file(&cache);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Login::Succeeded
        } else if text.contains("Password expired") {
            Login::PasswordExpired(text)
        } else if text.contains("credentials have been revoked") {
            Login::Revoked(text)
        } else {
            Login::Other(text)
        }
    }

    /// A copy of the lab's riposte.toml in `dir`, with its own ledger there,
    /// edited by `edit` (e.g. to point a forest at a dead DC).
    pub fn private_config(&self, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
        let text = std::fs::read_to_string(&self.config).expect("the lab config");
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("data_dir"))
            .map(String::from)
            .collect();
        lines.insert(
            0,
            format!("data_dir = {:?}", dir.join("data").display().to_string()),
        );
        let path = dir.join("riposte.toml");
        std::fs::write(&path, edit(lines.join("\n") + "\n")).expect("write config");
        path
    }

    /// A `riposte` command against the lab's config.
    pub fn riposte(&self, binary: &str) -> Command {
        let mut cmd = Command::new(binary);
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("RIPOSTE_FAILPOINTS")
            .env("RIPOSTE_LOG", "warn");
        cmd
    }
}

impl TestUser {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.forest.name, self.name)
    }
    pub fn kinit(&self) -> Login {
        self.lab.kinit(&self.forest, &self.name, &self.password)
    }
    /// A real Kerberos login with another password (one riposte set, say).
    pub fn kinit_with(&self, password: &str) -> Login {
        self.lab.kinit(&self.forest, &self.name, password)
    }
    /// How many times the DC has changed this user's userAccountControl.
    pub fn uac_version(&self) -> u32 {
        self.lab
            .metadata_version(&self.forest, &self.dn, ATTID_USER_ACCOUNT_CONTROL)
    }
    pub fn uac(&self) -> u32 {
        self.lab
            .read_u32(&self.forest, &self.dn, "userAccountControl")
    }
    pub fn set_uac(&self, value: u32) {
        self.lab.modify(&self.forest, &format!("dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {value}\n", self.dn));
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let mut cmd = self.lab.ldap_tool("ldapdelete", &self.forest);
        cmd.arg(&self.dn)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    }
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {:?}: {e} (is the lab's tooling installed? run scripts/lab up)",
                cmd.get_program()
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A password as unicodePwd wants it: in double quotes, UTF-16LE.
pub fn utf16_quoted(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The attributeID of userAccountControl in replPropertyMetaData.
pub const ATTID_USER_ACCOUNT_CONTROL: u32 = 0x0009_0008;

/// The version of attribute `attid` in a replPropertyMetaDataBlob (MS-DRSR
/// 5.167: version, reserved, count, reserved, then 48-byte entries of
/// attid, version, time, invocation id, usns). Parsed here, apart from
/// riposte's own parser, so a test does not check riposte with riposte.
pub fn metadata_version_in(blob: &[u8], attid: u32) -> u32 {
    let u32_at = |at: usize| {
        blob.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    assert_eq!(
        u32_at(0),
        Some(1),
        "not a version 1 replPropertyMetaData blob"
    );
    let count = u32_at(8).unwrap_or(0) as usize;
    (0..count)
        .map(|i| 16 + i * 48)
        .find(|at| u32_at(*at) == Some(attid))
        .and_then(|at| u32_at(at + 4))
        .unwrap_or(0)
}

/// Decodes standard base64 (as ldapsearch prints binary values); None if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64, for LDIF `attr:: value` lines.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Attribute values from unwrapped LDIF (`attr: value`; base64 `attr::` values are kept encoded).
fn parse_ldif(text: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines() {
        if let Some((attr, value)) = line.split_once(": ").or_else(|| line.split_once(":: ")) {
            let attr = attr.trim_end_matches(':');
            out.entry(attr.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        for data in [&b""[..], b"f", b"fo", b"foo", b"foobar", &[0, 255, 7, 128]] {
            assert_eq!(super::base64_decode(&super::base64(data)).unwrap(), data);
        }
        assert!(super::base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn the_metadata_version_is_read_from_its_own_entry() {
        let mut blob = Vec::new();
        for v in [1u32, 0, 2, 0] {
            blob.extend_from_slice(&v.to_le_bytes());
        }
        for (attid, version) in [
            (0x0009_0060u32, 3u32),
            (super::ATTID_USER_ACCOUNT_CONTROL, 9),
        ] {
            blob.extend_from_slice(&attid.to_le_bytes());
            blob.extend_from_slice(&version.to_le_bytes());
            blob.extend_from_slice(&[0u8; 40]);
        }
        assert_eq!(
            super::metadata_version_in(&blob, super::ATTID_USER_ACCOUNT_CONTROL),
            9
        );
        assert_eq!(super::metadata_version_in(&blob, 0x0009_0296), 0);
    }
}

/// A minimal HTTP/1.1 client over std, for API tests (one request per connection).
pub mod http {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    #[derive(Debug, Clone)]
    pub struct Response {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: String,
    }

    impl Response {
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
        }
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// Sends one request; `headers` are extra header lines ("Name: value").
    pub fn request(
        addr: &str,
        method: &str,
        path: &str,
        headers: &[String],
        body: Option<&str>,
    ) -> Response {
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        if let Some(b) = body {
            stream.write_all(b.as_bytes()).unwrap();
        }
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        parse(&raw)
    }

    fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        Response {
            status,
            headers,
            body,
        }
    }

    fn dechunk(mut body: &str) -> String {
        let mut out = String::new();
        while let Some((size, rest)) = body.split_once("\r\n") {
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            if n == 0 || rest.len() < n {
                break;
            }
            out.push_str(&rest[..n]);
            body = rest[n..].trim_start_matches("\r\n");
        }
        out
    }
}
