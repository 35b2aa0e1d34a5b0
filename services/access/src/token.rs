//! Playback tokens: HS256 JWTs whose `sub` is a stream path prefix.
//!
//! Verification needs no database: the key comes from the `kid` header,
//! and the claims say which paths, until when and (optionally) for which
//! client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::key::{is_valid_kid, SigningKey};

/// The only algorithm issued or accepted: CloudFront Functions can verify
/// HMAC and nothing else (docs/design/playback-tokens.md).
pub const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock difference tolerated between issuer and verifier.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);
/// Longest `exp - iat` accepted unless configured otherwise: a leaked
/// token cannot outlive a day, whatever its issuer wrote.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Our tokens are ~200 bytes; anything far longer is not one of ours.
const MAX_TOKEN_LEN: usize = 1024;
const MAX_SCOPE_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybackClaims {
    /// Path scope: `live/main/` covers everything under `/live/main/`.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// When present, not valid before this (seconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// When present, only this client address may use the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The stream's id: once its name names another stream (deleted and
    /// re-created), the token is refused there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// An on_play session: the origin issued it when on_play let the viewer in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ses: bool,
}

impl PlaybackClaims {
    /// Claims for `scope`, valid from now for `ttl`.
    pub fn new(scope: impl Into<String>, ttl: Duration) -> Self {
        let now = unix_now();
        PlaybackClaims {
            sub: scope.into(),
            iat: now,
            exp: now.saturating_add(ttl.as_secs()),
            nbf: None,
            ip: None,
            sid: None,
            ses: false,
        }
    }

    /// Binds the token to the stream with this id (catalog `StreamRecord.id`).
    pub fn for_stream(mut self, stream_id: impl Into<String>) -> Self {
        self.sid = Some(stream_id.into());
        self
    }

    /// Marks an on_play session token.
    pub fn session(mut self) -> Self {
        self.ses = true;
        self
    }

    pub fn bound_to(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip.to_canonical());
        self
    }
}

/// Why a token was refused. The origin logs these; clients only learn
/// "expired" (so they fetch a new token) or "forbidden".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    #[error("token lifetime exceeds the maximum")]
    LifetimeTooLong,
    #[error("token does not cover this path")]
    WrongScope,
    #[error("token is bound to another address")]
    WrongIp,
    #[error("token is for another stream of that name")]
    WrongStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("a scope is one or more plain path segments, e.g. live/main/")]
    BadScope,
    #[error("cannot encode the token")]
    Encoding,
}

/// Issues tokens with the current key.
pub struct TokenSigner {
    kid: String,
    key: EncodingKey,
}

impl TokenSigner {
    pub fn new(key: &SigningKey) -> Self {
        TokenSigner { kid: key.kid().to_owned(), key: EncodingKey::from_secret(key.secret_bytes()) }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issue(&self, claims: &PlaybackClaims) -> Result<String, IssueError> {
        if !is_valid_scope(&claims.sub) {
            return Err(IssueError::BadScope);
        }
        let header = Header { typ: None, kid: Some(self.kid.clone()), ..Header::new(ALGORITHM) };
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|_| IssueError::Encoding)
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Holds every key a valid token may name: the current one and, during a
/// rotation, the previous one. A retired key is removed, and so are its tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    leeway_secs: u64,
    max_lifetime_secs: u64,
}

impl Default for TokenVerifier {
    fn default() -> Self {
        TokenVerifier::new()
    }
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kids", &self.key_ids())
            .field("leeway_secs", &self.leeway_secs)
            .field("max_lifetime_secs", &self.max_lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier with no keys refuses every token.
    pub fn new() -> Self {
        let mut validation = Validation::new(ALGORITHM);
        // Expiry is checked here against an injectable clock, after the signature.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        TokenVerifier {
            keys: HashMap::new(),
            validation,
            leeway_secs: DEFAULT_LEEWAY.as_secs(),
            max_lifetime_secs: DEFAULT_MAX_LIFETIME.as_secs(),
        }
    }

    pub fn with_keys<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Self {
        let mut verifier = TokenVerifier::new();
        for key in keys {
            verifier.add_key(key);
        }
        verifier
    }

    /// Adds (or replaces) the key with this key's id.
    pub fn add_key(&mut self, key: &SigningKey) {
        self.keys.insert(key.kid().to_owned(), DecodingKey::from_secret(key.secret_bytes()));
    }

    /// Removes a key; tokens signed with it fail from now on.
    pub fn retire_key(&mut self, kid: &str) -> bool {
        self.keys.remove(kid).is_some()
    }

    pub fn key_ids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    pub fn set_leeway(&mut self, leeway: Duration) {
        self.leeway_secs = leeway.as_secs();
    }

    /// Tokens whose `exp - iat` is longer are refused.
    pub fn set_max_lifetime(&mut self, max: Duration) {
        self.max_lifetime_secs = max.as_secs();
    }

    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_secs)
    }

    /// Takes `other`'s leeway and longest lifetime, keeping this one's keys.
    pub fn copy_rules_from(&mut self, other: &TokenVerifier) {
        self.leeway_secs = other.leeway_secs;
        self.max_lifetime_secs = other.max_lifetime_secs;
    }

    /// Verifies `token` for a request of `path` (e.g. `live/main/index.m3u8`)
    /// from `client_ip`, against the system clock.
    pub fn verify(&self, token: &str, path: &str, client_ip: IpAddr) -> Result<PlaybackClaims, TokenError> {
        self.verify_at(token, path, client_ip, unix_now())
    }

    /// As [`verify`](Self::verify), at `now` seconds since the Unix epoch.
    pub fn verify_at(
        &self,
        token: &str,
        path: &str,
        client_ip: IpAddr,
        now: u64,
    ) -> Result<PlaybackClaims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        // `alg: none` and unknown algorithms fail to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.as_deref().filter(|kid| is_valid_kid(kid)).ok_or(TokenError::Malformed)?;
        let key = self.keys.get(kid).ok_or(TokenError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<PlaybackClaims>(token, key, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Malformed,
            })?
            .claims;
        if claims.exp.saturating_add(self.leeway_secs) < now {
            return Err(TokenError::Expired);
        }
        let future = |time: u64| time > now.saturating_add(self.leeway_secs);
        if claims.nbf.is_some_and(future) {
            return Err(TokenError::NotYetValid);
        }
        if future(claims.iat) {
            return Err(TokenError::IssuedInFuture);
        }
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime_secs {
            return Err(TokenError::LifetimeTooLong);
        }
        if !scope_covers(&claims.sub, path) {
            return Err(TokenError::WrongScope);
        }
        if claims.ip.is_some_and(|bound| bound.to_canonical() != client_ip.to_canonical()) {
            return Err(TokenError::WrongIp);
        }
        Ok(claims)
    }
}

/// True when `scope` equals `path` or is a whole-segment prefix of it:
/// `live/main/` and `live/main` cover `live/main/seg1.m4s`, not `live/main2/seg1.m4s`.
/// Paths with empty or dot segments are never covered.
pub fn scope_covers(scope: &str, path: &str) -> bool {
    let scope = scope.trim_matches('/');
    let path = path.strip_prefix('/').unwrap_or(path);
    if scope.is_empty() || !path.split('/').all(is_plain_segment) {
        return false;
    }
    match path.strip_prefix(scope) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn is_valid_scope(scope: &str) -> bool {
    let trimmed = scope.trim_matches('/');
    scope.len() <= MAX_SCOPE_LEN
        && !trimmed.is_empty()
        && trimmed.split('/').all(|segment| {
            is_plain_segment(segment)
                && segment.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte))
        })
}

fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".."
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
