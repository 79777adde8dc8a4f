//! git's credential-helper protocol (bitbucket-facts.md C, contract.md §4): the typed
//! request git writes on our stdin and the response we write on stdout.
//!
//! Input is parsed once, here, into a [`Request`]; nothing downstream looks
//! at raw lines again. The rules, all from contract.md §4:
//! - lines end at LF; one CR right before the LF is stripped (git strips
//!   CRLF itself), a CR anywhere else is rejected (CVE-2024-52006: a lone CR
//!   must never become a line break);
//! - NUL anywhere, a line over 65535 bytes counting its LF, and input over
//!   1 MiB are rejected with a message;
//! - the list ends at an empty line or EOF; a line without `=` is an error;
//! - unknown keys are ignored; `key[]` keys keep every value in order, and
//!   an empty `key[]=` clears that list.
//!
//! Output values are validated too: we never write LF, CR or NUL.
//!
//! Encoding and decoding destructure the types exhaustively, so a new
//! field does not compile until both directions handle it. A [`Response`]
//! is one kind of credential (Basic or Bearer) or `quit`, never a mix.

use crate::secret::Secret;
use std::io::Write;

/// The operations git asks a credential helper for (bitbucket-facts.md C):
/// the last word of its command line. Any other word is not an `Action`;
/// git's rule is that a helper ignores operations it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give git a credential.
    Get,
    /// git used a credential successfully (we keep only what we issued).
    Store,
    /// git's credential was refused: forget it.
    Erase,
    /// Which protocol capabilities we understand (`authtype`).
    Capability,
}

impl Action {
    /// Every action, in the order the help text lists them.
    pub const ALL: [Action; 4] = [
        Action::Get,
        Action::Store,
        Action::Erase,
        Action::Capability,
    ];

    /// The word git sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Store => "store",
            Action::Erase => "erase",
            Action::Capability => "capability",
        }
    }
}

impl TryFrom<&str> for Action {
    type Error = ();

    /// The action git named, or `Err` for a word we do not know.
    fn try_from(word: &str) -> Result<Self, ()> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == word)
            .ok_or(())
    }
}

/// Longest line git may send, counting its LF (gitcredentials(7)).
pub const MAX_LINE: usize = 65535;
/// Most input we read: far beyond any real request, small enough to be safe.
pub const MAX_INPUT: usize = 1 << 20;

/// Why the input could not be parsed. Exit status 2 (contract.md §2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// More than [`MAX_INPUT`] bytes.
    #[error("credential input is larger than 1 MiB; git never sends that much")]
    InputTooLarge,
    /// A line over [`MAX_LINE`].
    #[error("credential input line {line} is longer than 65535 bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
    },
    #[error("credential input line {line} contains a NUL byte")]
    Nul {
        /// 1-based line number.
        line: usize,
    },
    /// A CR that is not the last byte before LF.
    #[error("credential input line {line} contains a carriage return inside a key or value")]
    CarriageReturn {
        /// 1-based line number.
        line: usize,
    },
    /// No `=`, or an empty key.
    #[error("credential input line {line} is not of the form key=value")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A key we use whose value is not UTF-8.
    #[error("the value of {key:?} on credential input line {line} is not valid UTF-8")]
    NotUtf8 {
        key: String,
        /// 1-based line number.
        line: usize,
    },
    /// Reading stdin failed.
    #[error("could not read the credential request from stdin: {0}")]
    Io(String),
}

/// A value we were about to write holds LF, CR or NUL.
#[derive(Debug, thiserror::Error)]
#[error("refusing to write credential attribute {key:?}: its value contains a line break or NUL")]
pub struct EncodeError {
    /// The attribute.
    pub key: &'static str,
}

/// What git sent us (bitbucket-facts.md C.3). Values are kept as git wrote them; the
/// accessors interpret them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// `capability[]`: what the caller supports (`authtype`, `state`).
    pub capability: Vec<String>,
    /// `authtype`, e.g. `Bearer`.
    pub authtype: Option<String>,
    /// `credential`: the pre-encoded credential that goes with `authtype`.
    pub credential: Option<Secret>,
    /// `ephemeral`.
    pub ephemeral: Option<String>,
    /// `protocol`, e.g. `https`.
    pub protocol: Option<String>,
    /// `host`, with `:port` when the URL had one.
    pub host: Option<String>,
    /// `path`, only sent with `credential.useHttpPath`.
    pub path: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<Secret>,
    /// `oauth_refresh_token` (another helper's; we never hand ours out).
    pub oauth_refresh_token: Option<Secret>,
    /// `password_expiry_utc`, as written.
    pub password_expiry_utc: Option<String>,
    /// `wwwauth[]`: the server's `WWW-Authenticate` headers.
    pub wwwauth: Vec<String>,
    /// `state[]`.
    pub state: Vec<String>,
}

impl Request {
    /// Parses git's input.
    ///
    /// ```
    /// use git_credential_bitbucket::fuzzing::Request;
    /// let req = Request::decode(b"protocol=https\nhost=bitbucket.org\nwwwauth[]=Basic realm=x\n\n")
    ///     .expect("valid input");
    /// assert_eq!(req.host.as_deref(), Some("bitbucket.org"));
    /// assert_eq!(req.wwwauth, ["Basic realm=x"]);
    /// assert!(Request::decode(b"host=a\rb\n").is_err());
    /// ```
    pub fn decode(input: &[u8]) -> Result<Request, DecodeError> {
        if input.len() > MAX_INPUT {
            return Err(DecodeError::InputTooLarge);
        }
        let mut req = Request::default();
        let mut rest = input;
        let mut line_no = 0;
        while !rest.is_empty() {
            line_no += 1;
            let (mut line, next, had_lf) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..], true),
                None => (rest, &rest[rest.len()..], false),
            };
            rest = next;
            if line.len() + 1 > MAX_LINE {
                return Err(DecodeError::LineTooLong { line: line_no });
            }
            if had_lf {
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
            }
            if line.contains(&0) {
                return Err(DecodeError::Nul { line: line_no });
            }
            if line.contains(&b'\r') {
                return Err(DecodeError::CarriageReturn { line: line_no });
            }
            if line.is_empty() {
                break;
            }
            let eq = line
                .iter()
                .position(|&b| b == b'=')
                .filter(|&i| i > 0)
                .ok_or(DecodeError::Syntax { line: line_no })?;
            req.set(&line[..eq], &line[eq + 1..], line_no)?;
        }
        Ok(req)
    }

    /// Reads up to the blank line that ends the request (or EOF), at most
    /// [`MAX_INPUT`] bytes plus one to detect more, and parses it. It does
    /// not wait for EOF: a caller may keep stdin open after the blank line.
    pub fn read_from(reader: impl std::io::BufRead) -> Result<Request, DecodeError> {
        use std::io::BufRead;
        let mut limited = std::io::Read::take(reader, MAX_INPUT as u64 + 1);
        let mut buf = Vec::new();
        loop {
            let start = buf.len();
            let n = limited
                .read_until(b'\n', &mut buf)
                .map_err(|e| DecodeError::Io(e.to_string()))?;
            let line = &buf[start..];
            if n == 0 || line == b"\n" || line == b"\r\n" {
                break;
            }
        }
        Request::decode(&buf)
    }

    fn set(&mut self, key: &[u8], value: &[u8], line: usize) -> Result<(), DecodeError> {
        let text = |k: &str| {
            std::str::from_utf8(value)
                .map(str::to_owned)
                .map_err(|_| DecodeError::NotUtf8 {
                    key: k.to_owned(),
                    line,
                })
        };
        let push = |list: &mut Vec<String>, v: String| {
            if v.is_empty() {
                list.clear();
            } else {
                list.push(v);
            }
        };
        match key {
            b"capability[]" => push(&mut self.capability, text("capability[]")?),
            b"authtype" => self.authtype = Some(text("authtype")?),
            b"credential" => self.credential = Some(Secret::new(text("credential")?)),
            b"ephemeral" => self.ephemeral = Some(text("ephemeral")?),
            b"protocol" => self.protocol = Some(text("protocol")?),
            b"host" => self.host = Some(text("host")?),
            b"path" => self.path = Some(text("path")?),
            b"username" => self.username = Some(text("username")?),
            b"password" => self.password = Some(Secret::new(text("password")?)),
            b"oauth_refresh_token" => {
                self.oauth_refresh_token = Some(Secret::new(text("oauth_refresh_token")?))
            }
            b"password_expiry_utc" => self.password_expiry_utc = Some(text("password_expiry_utc")?),
            b"wwwauth[]" => push(&mut self.wwwauth, text("wwwauth[]")?),
            b"state[]" => push(&mut self.state, text("state[]")?),
            // git's rule: unknown attributes are ignored (bitbucket-facts.md C.2).
            _ => {}
        }
        Ok(())
    }

    /// Writes the request in git's format (used by tests and the fuzz
    /// round trip; git is the one that normally writes requests).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let Request {
            capability,
            authtype,
            credential,
            ephemeral,
            protocol,
            host,
            path,
            username,
            password,
            oauth_refresh_token,
            password_expiry_utc,
            wwwauth,
            state,
        } = self;
        let mut w = Writer(out);
        for c in capability {
            w.field("capability[]", c)?;
        }
        w.opt("authtype", authtype.as_deref())?;
        w.opt("credential", credential.as_ref().map(Secret::expose))?;
        w.opt("ephemeral", ephemeral.as_deref())?;
        w.opt("protocol", protocol.as_deref())?;
        w.opt("host", host.as_deref())?;
        w.opt("path", path.as_deref())?;
        w.opt("username", username.as_deref())?;
        w.opt("password", password.as_ref().map(Secret::expose))?;
        w.opt(
            "oauth_refresh_token",
            oauth_refresh_token.as_ref().map(Secret::expose),
        )?;
        w.opt("password_expiry_utc", password_expiry_utc.as_deref())?;
        for v in wwwauth {
            w.field("wwwauth[]", v)?;
        }
        for v in state {
            w.field("state[]", v)?;
        }
        Ok(())
    }

    /// Whether git announced `capability[]=NAME`.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capability.iter().any(|c| c == name)
    }
}

/// What we answer to `get`: exactly one kind of credential, or `quit`.
/// Field order on the wire follows git's own (bitbucket-facts.md C.3):
/// capabilities first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `username` and `password` (HTTP Basic).
    Basic {
        username: String,
        password: Secret,
        /// `password_expiry_utc`, Unix seconds.
        expiry: Option<u64>,
    },
    /// `authtype=Bearer` and `credential`, behind `capability[]=authtype`
    /// (git 2.46 or later).
    Bearer {
        /// `credential`: the token.
        credential: Secret,
        /// `password_expiry_utc`, Unix seconds.
        expiry: Option<u64>,
        /// `ephemeral=1`: git should not store it elsewhere.
        ephemeral: bool,
    },
    /// `quit=1`: git stops and does not prompt (contract.md §4).
    Quit,
}

impl Response {
    /// `Authorization: Bearer` through git's `authtype` capability;
    /// ephemeral, so git does not hand the token to other helpers to keep
    /// (contract.md §4).
    pub fn bearer(credential: Secret, expiry: Option<u64>) -> Response {
        Response::Bearer {
            credential,
            expiry,
            ephemeral: true,
        }
    }

    /// Writes the response; every value is validated first, so nothing is
    /// written when one is bad.
    pub fn write_to(&self, out: &mut impl Write) -> Result<(), ProtocolWriteError> {
        let mut buf = Vec::new();
        self.encode(&mut buf)?;
        out.write_all(&buf)?;
        out.flush()?;
        Ok(())
    }

    /// Encodes into `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Writer(out);
        let expiry = match self {
            Response::Basic {
                username,
                password,
                expiry,
            } => {
                w.field("username", username)?;
                w.field("password", password.expose())?;
                expiry
            }
            Response::Bearer {
                credential,
                expiry,
                ephemeral,
            } => {
                w.field("capability[]", "authtype")?;
                w.field("authtype", "Bearer")?;
                w.field("credential", credential.expose())?;
                if *ephemeral {
                    w.field("ephemeral", "1")?;
                }
                expiry
            }
            Response::Quit => {
                w.field("quit", "1")?;
                &None
            }
        };
        if let Some(t) = expiry {
            w.field("password_expiry_utc", &t.to_string())?;
        }
        Ok(())
    }
}

/// Our answer to `capability`: the protocol version, then each capability
/// we understand, one per line (git 2.46's capability query; contract.md
/// §2). Not `key=value` lines, so not a [`Response`].
pub fn write_capabilities(out: &mut impl Write) -> Result<(), ProtocolWriteError> {
    out.write_all(b"version 0\ncapability authtype\n")?;
    out.flush()?;
    Ok(())
}

/// Writing the response failed.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolWriteError {
    /// A value was not fit for the wire.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// stdout failed.
    #[error("could not write the credential to stdout: {0}")]
    Io(#[from] std::io::Error),
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn field(&mut self, key: &'static str, value: &str) -> Result<(), EncodeError> {
        if value.bytes().any(|b| matches!(b, b'\n' | b'\r' | 0)) {
            return Err(EncodeError { key });
        }
        self.0.extend_from_slice(key.as_bytes());
        self.0.push(b'=');
        self.0.extend_from_slice(value.as_bytes());
        self.0.push(b'\n');
        Ok(())
    }

    fn opt(&mut self, key: &'static str, value: Option<&str>) -> Result<(), EncodeError> {
        match value {
            Some(v) => self.field(key, v),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(s: &str) -> Result<Request, DecodeError> {
        Request::decode(s.as_bytes())
    }

    #[test]
    fn parses_what_git_sends_for_get() {
        let r = decode(
            "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=bitbucket.org\n\
             wwwauth[]=Basic realm=\"Bitbucket.org HTTP\"\n\n",
        )
        .expect("valid input");
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("bitbucket.org"));
        assert!(r.has_capability("authtype") && r.has_capability("state"));
        assert_eq!(r.wwwauth, vec!["Basic realm=\"Bitbucket.org HTTP\""]);
        assert_eq!(r.username, None);
    }

    #[test]
    fn values_may_contain_equals_signs_and_stop_at_blank_line() {
        let r = decode("password=a=b==\n\nhost=ignored\n").expect("valid");
        assert_eq!(r.password.as_ref().map(Secret::expose), Some("a=b=="));
        assert_eq!(r.host, None);
    }

    #[test]
    fn crlf_is_accepted_and_a_lone_cr_is_rejected() {
        let r = decode("protocol=https\r\nhost=h\r\n\r\n").expect("CRLF is fine");
        assert_eq!(r.host.as_deref(), Some("h"));
        assert_eq!(
            decode("host=a\rpath=x\n"),
            Err(DecodeError::CarriageReturn { line: 1 })
        );
        // A CR at EOF without LF is inside the value, not a line ending.
        assert_eq!(
            decode("host=a\r"),
            Err(DecodeError::CarriageReturn { line: 1 })
        );
    }

    #[test]
    fn reading_stops_at_the_blank_line_without_waiting_for_eof() {
        let mut input = std::io::Cursor::new(b"protocol=https\nhost=h\n\nnot=read\n".to_vec());
        let r = Request::read_from(&mut input).expect("valid");
        assert_eq!(r.host.as_deref(), Some("h"));
        assert_eq!(
            input.position(),
            23,
            "nothing after the blank line was consumed"
        );
        let r = Request::read_from(std::io::Cursor::new(b"host=h".to_vec())).expect("EOF ends it");
        assert_eq!(r.host.as_deref(), Some("h"));
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(
            decode("protocol=https\nhost=a\0b\n"),
            Err(DecodeError::Nul { line: 2 })
        );
    }

    #[test]
    fn a_line_without_equals_or_with_an_empty_key_is_rejected() {
        assert_eq!(decode("protocol\n"), Err(DecodeError::Syntax { line: 1 }));
        assert_eq!(decode("=value\n"), Err(DecodeError::Syntax { line: 1 }));
    }

    #[test]
    fn overlong_lines_and_input_are_rejected() {
        let ok = format!("path={}\n", "a".repeat(MAX_LINE - 6));
        assert_eq!(ok.len(), MAX_LINE);
        assert!(decode(&ok).is_ok());
        let long = format!("path={}\n", "a".repeat(MAX_LINE - 5));
        assert_eq!(decode(&long), Err(DecodeError::LineTooLong { line: 1 }));
        let huge = "x=y\n".repeat(MAX_INPUT / 4 + 1);
        assert_eq!(decode(&huge), Err(DecodeError::InputTooLarge));
    }

    #[test]
    fn unknown_keys_are_ignored_and_lists_keep_order_and_clear() {
        let r = decode("future=1\nwwwauth[]=a\nwwwauth[]=b\nwwwauth[]=\nwwwauth[]=c\nstate[]=x\n")
            .expect("valid");
        assert_eq!(r.wwwauth, vec!["c"]);
        assert_eq!(r.state, vec!["x"]);
    }

    #[test]
    fn non_utf8_in_an_unknown_key_is_ignored_but_not_in_a_known_one() {
        assert!(Request::decode(b"x-unknown=\xff\nhost=a\n").is_ok());
        assert!(matches!(
            Request::decode(b"host=\xff\n"),
            Err(DecodeError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn response_is_written_in_gits_order() {
        let resp = Response::Bearer {
            credential: Secret::new("tok"),
            expiry: Some(1700000000),
            ephemeral: true,
        };
        let mut out = Vec::new();
        resp.encode(&mut out).expect("valid");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "capability[]=authtype\nauthtype=Bearer\ncredential=tok\nephemeral=1\n\
             password_expiry_utc=1700000000\n"
        );
        let mut out = Vec::new();
        Response::Quit.encode(&mut out).expect("valid");
        assert_eq!(out, b"quit=1\n");
        let resp = Response::Basic {
            username: "alice".into(),
            password: Secret::new("tok"),
            expiry: Some(1700000000),
        };
        let mut out = Vec::new();
        resp.encode(&mut out).expect("valid");
        assert_eq!(
            out,
            b"username=alice\npassword=tok\npassword_expiry_utc=1700000000\n"
        );
    }

    #[test]
    fn output_values_with_line_breaks_are_refused_whole() {
        for bad in ["a\nb", "a\rb", "a\0b"] {
            let resp = Response::Basic {
                username: "x-token-auth".into(),
                password: Secret::new(bad),
                expiry: None,
            };
            let mut out = Vec::new();
            assert!(resp.write_to(&mut out).is_err());
            assert!(out.is_empty(), "nothing is written when a value is bad");
        }
    }

    fn value() -> impl Strategy<Value = String> {
        // Any text without the three delimiters; may contain `=`.
        "[^\n\r\0]{0,40}"
    }

    fn request() -> impl Strategy<Value = Request> {
        let opt = || proptest::option::of(value().prop_filter("non-empty", |v| !v.is_empty()));
        let list = || proptest::collection::vec(value().prop_filter("ne", |v| !v.is_empty()), 0..3);
        (
            (list(), opt(), opt(), opt(), opt(), opt(), opt()),
            (opt(), opt(), opt(), opt(), list(), list()),
        )
            .prop_map(
                |(
                    (capability, authtype, credential, ephemeral, protocol, host, path),
                    (username, password, refresh, expiry, wwwauth, state),
                )| Request {
                    capability,
                    authtype,
                    credential: credential.map(Secret::new),
                    ephemeral,
                    protocol,
                    host,
                    path,
                    username,
                    password: password.map(Secret::new),
                    oauth_refresh_token: refresh.map(Secret::new),
                    password_expiry_utc: expiry,
                    wwwauth,
                    state,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn encode_then_decode_round_trips(req in request()) {
            let mut bytes = Vec::new();
            req.encode(&mut bytes).expect("generated values are valid");
            let back = Request::decode(&bytes).expect("own output parses");
            prop_assert_eq!(&back, &req);
            // decode → encode → decode is stable as well.
            let mut again = Vec::new();
            back.encode(&mut again).expect("valid");
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(req) = Request::decode(&input) {
                let mut bytes = Vec::new();
                // Whatever parsed must re-encode and parse to the same thing.
                if req.encode(&mut bytes).is_ok() {
                    prop_assert_eq!(Request::decode(&bytes).expect("re-decodes"), req);
                }
            }
        }

        #[test]
        fn line_shaped_input_never_panics(lines in proptest::collection::vec("[a-z\\[\\]_=\r\0]{0,12}", 0..8)) {
            let _ = Request::decode(lines.join("\n").as_bytes());
        }
    }
}
