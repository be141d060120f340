//! What a message says: text, or an ordered list of parts — text, images and files — in one
//! normalized shape every wire format builds its own from ([`crate::providers`]).
//!
//! Bytes travel as the base64 the caller sent, in an `Arc<str>`: a request to 8 models holds
//! an attachment once; each wire format's encoding is made when its request body is built.
//! [`Content::check`] validates what the engine is given (media types, base64, the bytes'
//! signature against the declared type, size) and names the failing field.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::types::error::{Error, Result};

/// Default largest attachment, decoded (20 MiB).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;

/// Image media types every provider takes.
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
/// File media types.
pub const FILE_TYPES: [&str; 2] = ["application/pdf", "text/plain"];

/// A message's content: text, or parts in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text, images and files, in order.
    Parts(Vec<Part>),
}

impl Default for Content {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

impl From<String> for Content {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

/// Text content equals its text (`content == "hi"`).
impl PartialEq<&str> for Content {
    fn eq(&self, other: &&str) -> bool {
        matches!(self, Content::Text(s) if s == other)
    }
}

impl From<&str> for Content {
    fn from(s: &str) -> Self {
        Self::Text(s.to_string())
    }
}

// By hand rather than `untagged`, so that a bad part's error keeps its path
// (`messages[0].content[2].type`) instead of "did not match any variant".
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Content, E> {
                Ok(Content::Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Content, E> {
                Ok(Content::Text(v))
            }
            // OpenAI's assistant messages with tool calls have `content: null`.
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Content, E> {
                Ok(Content::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Content, E> {
                Ok(Content::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element::<Part>()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image: base64 `data` with its `media_type` (png, jpeg, gif, webp), or a `url`
    /// (`https://…`, or a `data:` URL).
    Image {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        media_type: Option<String>,
        /// The bytes, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "string"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        data: Option<Arc<str>>,
        /// Where the provider fetches it (shared: a `data:` URL is as large as its bytes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "string"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        url: Option<Arc<str>>,
    },
    /// A file: a PDF or plain text, base64 `data` (or a `url` where the provider fetches it).
    File {
        /// `application/pdf` or `text/plain`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        media_type: Option<String>,
        /// The bytes, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "string"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        data: Option<Arc<str>>,
        /// Where the provider fetches it (shared: a `data:` URL is as large as its bytes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "string"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        url: Option<Arc<str>>,
        /// Its file name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        name: Option<String>,
    },
}

/// Base64 held by a request: the tail of a shared string (the part's `data`, or a `data:`
/// URL after its comma), so that every model's request body can send it without a copy
/// ([`B64::shared`]).
#[derive(Clone, Copy)]
pub struct B64<'a> {
    owner: &'a Arc<str>,
    start: usize,
}

impl<'a> B64<'a> {
    /// The base64 text.
    pub fn as_str(&self) -> &'a str {
        &self.owner[self.start..]
    }

    /// The base64 text as bytes that share the request's allocation.
    pub fn shared(&self) -> bytes::Bytes {
        struct Tail(Arc<str>, usize);
        impl AsRef<[u8]> for Tail {
            fn as_ref(&self) -> &[u8] {
                &self.0.as_bytes()[self.1..]
            }
        }
        bytes::Bytes::from_owner(Tail(self.owner.clone(), self.start))
    }
}

impl std::ops::Deref for B64<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for B64<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for B64<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "B64({} bytes)", self.as_str().len())
    }
}

impl PartialEq for B64<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for B64<'_> {}

// By hand: a part refuses fields its type does not have (serde's `deny_unknown_fields` on
// an internally tagged enum would do it, but the TypeScript generator cannot read it there),
// and `data`/`url` go straight from the request's bytes into their `Arc` (one copy of a
// 27 MiB base64 string, not three through a `serde_json::Value`).
impl<'de> Deserialize<'de> for Part {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(PartVisitor)
    }
}

/// A string read into an `Arc<str>` with one copy (borrowed from the input when it can be).
struct SharedStr(Arc<str>);

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SharedStr;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<SharedStr, E> {
                Ok(SharedStr(Arc::from(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct PartVisitor;

impl<'de> Visitor<'de> for PartVisitor {
    type Value = Part;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a content part: {\"type\": \"text\" | \"image\" | \"file\", …}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Part, A::Error> {
        use serde::de::Error as _;
        let (mut kind, mut text, mut media_type, mut data, mut url, mut name) = (
            None::<String>,
            None::<String>,
            None::<String>,
            None,
            None,
            None::<String>,
        );
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "type" => kind = Some(map.next_value()?),
                "text" => text = Some(map.next_value()?),
                "media_type" => media_type = map.next_value()?,
                "data" => data = map.next_value::<Option<SharedStr>>()?.map(|s| s.0),
                "url" => url = map.next_value::<Option<SharedStr>>()?.map(|s| s.0),
                "name" => name = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            seen.push(key.into_owned());
        }
        let kind = kind.ok_or_else(|| A::Error::missing_field("type"))?;
        let allowed: &'static [&'static str] = match kind.as_str() {
            "text" => &["type", "text"],
            "image" => &["type", "media_type", "data", "url"],
            "file" => &["type", "media_type", "data", "url", "name"],
            other => return Err(A::Error::unknown_variant(other, &["text", "image", "file"])),
        };
        if let Some(unknown) = seen.iter().find(|k| !allowed.contains(&k.as_str())) {
            return Err(A::Error::unknown_field(unknown, allowed));
        }
        Ok(match kind.as_str() {
            "text" => Part::Text {
                text: text.ok_or_else(|| A::Error::missing_field("text"))?,
            },
            "image" => Part::Image {
                media_type,
                data,
                url,
            },
            _ => Part::File {
                media_type,
                data,
                url,
                name,
            },
        })
    }
}

/// Where a part's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// Base64 bytes of this media type (a `data:` URL is read as such).
    Bytes {
        /// The media type.
        media_type: &'a str,
        /// Base64.
        data: B64<'a>,
    },
    /// A URL the provider fetches (its media type when given).
    Url {
        /// The URL.
        url: &'a str,
        /// The media type, when given.
        media_type: Option<&'a str>,
    },
}

/// What kind of input a part is, for capability checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An image.
    Image,
    /// A PDF.
    Pdf,
    /// A plain-text file.
    TextFile,
}

impl Part {
    /// Where the bytes of an image or file part are; None for text (or a malformed part,
    /// which [`Content::check`] refuses).
    pub fn source(&self) -> Option<Source<'_>> {
        let (media_type, data, url) = match self {
            Part::Text { .. } => return None,
            Part::Image {
                media_type,
                data,
                url,
            }
            | Part::File {
                media_type,
                data,
                url,
                ..
            } => (media_type.as_deref(), data.as_ref(), url.as_ref()),
        };
        match (data, url) {
            (Some(owner), None) => Some(Source::Bytes {
                media_type: media_type?,
                data: B64 { owner, start: 0 },
            }),
            (None, Some(owner)) => match parse_data_url(owner) {
                Some((mt, data)) => Some(Source::Bytes {
                    media_type: mt,
                    data: B64 {
                        owner,
                        start: owner.len() - data.len(),
                    },
                }),
                None => Some(Source::Url {
                    url: owner,
                    media_type,
                }),
            },
            _ => None,
        }
    }

    /// The kind of input, for capability checks (None for text).
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Part::Text { .. } => None,
            Part::Image { .. } => Some(Kind::Image),
            Part::File { .. } => Some(match self.source() {
                Some(Source::Bytes { media_type, .. })
                | Some(Source::Url {
                    media_type: Some(media_type),
                    ..
                }) if media_type == "text/plain" => Kind::TextFile,
                _ => Kind::Pdf,
            }),
        }
    }
}

/// The media type `bytes` are, by their signature: an image or a PDF, else plain text when
/// they are UTF-8; None otherwise.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    IMAGE_TYPES
        .into_iter()
        .chain(["application/pdf"])
        .find(|t| signature_matches(t, bytes))
        .or_else(|| signature_matches("text/plain", bytes).then_some("text/plain"))
}

impl Part {
    /// An image or file part of `bytes` (its type sniffed from the bytes): an image for
    /// png/jpeg/gif/webp, a file for a PDF or text, named `name`.
    pub fn from_bytes(bytes: &[u8], name: Option<&str>) -> Result<Self> {
        let media_type = sniff(bytes).ok_or_else(|| {
            Error::invalid(
                "attachment",
                format!(
                    "{}: not an image ({}), a PDF or UTF-8 text",
                    name.unwrap_or("the attachment"),
                    IMAGE_TYPES.join(", ")
                ),
            )
        })?;
        let data: Arc<str> = base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into();
        Ok(if media_type.starts_with("image/") {
            Part::Image {
                media_type: Some(media_type.into()),
                data: Some(data),
                url: None,
            }
        } else {
            Part::File {
                media_type: Some(media_type.into()),
                data: Some(data),
                url: None,
                name: name.map(str::to_string),
            }
        })
    }

    /// An image or file part of the file at `path` ([`Part::from_bytes`]), or of an
    /// `http(s)://` or `data:` URL (an image).
    pub fn from_path_or_url(path: &str) -> Result<Self> {
        if path.starts_with("https://") || path.starts_with("http://") || path.starts_with("data:")
        {
            return Ok(Part::Image {
                media_type: None,
                data: None,
                url: Some(path.into()),
            });
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::invalid("attachment", format!("cannot read {path}: {e}")))?;
        let name = std::path::Path::new(path)
            .file_name()
            .and_then(|n| n.to_str());
        Self::from_bytes(&bytes, name)
    }
}

/// `data:<media type>;base64,<data>` → (media type, data).
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// What an attachment's base64 holds, found in one pass without holding the decoded bytes
/// (a 20 MiB image is checked in 64 KiB pieces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Decoded size in bytes.
    pub len: usize,
    /// SHA-256 of the decoded bytes, lowercase hex: the attachment's address in a store.
    pub sha256: String,
    /// The first bytes (up to 64 KiB): signature and image dimensions.
    pub head: Vec<u8>,
    /// Whether the bytes are UTF-8.
    pub utf8: bool,
}

/// Why [`inspect`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectError {
    /// Not base64.
    NotBase64(String),
    /// More than the limit (the size when known).
    TooLarge(Option<usize>),
}

impl std::fmt::Display for InspectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotBase64(why) => write!(f, "not base64: {why}"),
            Self::TooLarge(Some(n)) => write!(f, "{n} bytes, more than allowed"),
            Self::TooLarge(None) => f.write_str("more bytes than allowed"),
        }
    }
}

/// Decodes `data` (base64) piece by piece: its size (refused past `max_bytes`), SHA-256, first
/// bytes and whether it is UTF-8.
pub fn inspect(data: &str, max_bytes: usize) -> std::result::Result<Inspected, InspectError> {
    use sha2::Digest as _;
    use std::io::Read as _;
    const PIECE: usize = 64 * 1024;
    let data = data.trim_end();
    // Too large is known before decoding: 4 base64 characters per 3 bytes.
    if data.len() / 4 * 3 > max_bytes.saturating_add(3) {
        return Err(InspectError::TooLarge(None));
    }
    let mut reader = base64::read::DecoderReader::new(
        data.as_bytes(),
        &base64::engine::general_purpose::STANDARD,
    );
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; PIECE];
    let (mut len, mut head, mut utf8) = (0usize, Vec::new(), true);
    // A UTF-8 sequence cut by a piece boundary, carried into the next piece.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| InspectError::NotBase64(e.to_string()))?;
        if n == 0 {
            break;
        }
        let piece = &buf[..n];
        hasher.update(piece);
        len += n;
        if head.len() < PIECE {
            head.extend_from_slice(&piece[..n.min(PIECE - head.len())]);
        }
        if utf8 {
            carry.extend_from_slice(piece);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                Err(e) if e.error_len().is_none() && carry.len() - e.valid_up_to() < 4 => {
                    carry.drain(..e.valid_up_to());
                }
                Err(_) => utf8 = false,
            }
        }
    }
    if len > max_bytes {
        return Err(InspectError::TooLarge(Some(len)));
    }
    Ok(Inspected {
        len,
        sha256: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        head,
        utf8: utf8 && carry.is_empty(),
    })
}

/// Whether `bytes` start as `media_type`'s format does.
fn signature_matches(media_type: &str, bytes: &[u8]) -> bool {
    match media_type {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(b"\xff\xd8\xff"),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "application/pdf" => bytes.starts_with(b"%PDF-"),
        "text/plain" => std::str::from_utf8(bytes).is_ok(),
        _ => false,
    }
}

impl Content {
    /// The text: the string, or the text parts joined by newlines.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(s) => Cow::Borrowed(s),
            Content::Parts(parts) => {
                let texts: Vec<&str> = parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                match texts.as_slice() {
                    [one] => Cow::Borrowed(one),
                    _ => Cow::Owned(texts.join("\n")),
                }
            }
        }
    }

    /// Whether it has neither text nor any other part.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(s) => s.trim().is_empty(),
            Content::Parts(parts) => parts.iter().all(|p| match p {
                Part::Text { text } => text.trim().is_empty(),
                _ => false,
            }),
        }
    }

    /// Its parts other than text.
    pub fn media(&self) -> impl Iterator<Item = (usize, &Part)> {
        let parts: &[Part] = match self {
            Content::Text(_) => &[],
            Content::Parts(p) => p,
        };
        parts
            .iter()
            .enumerate()
            .filter(|(_, p)| !matches!(p, Part::Text { .. }))
    }

    /// Checks every part (`field` is the content's path, `messages[0].content`): a known
    /// media type for its kind, exactly one of `data` or `url`, base64 that decodes to bytes
    /// whose signature matches the declared type, at most `max_bytes` decoded
    /// ([`Error::PayloadTooLarge`]), `https` (or `data:`) URLs.
    pub fn check(&self, field: &str, max_bytes: usize) -> Result<()> {
        for (i, part) in self.media() {
            let at = |f: &str| format!("{field}[{i}].{f}");
            let (allowed, media_type, data, url): (&[&str], _, _, _) = match part {
                Part::Text { .. } => continue,
                Part::Image {
                    media_type,
                    data,
                    url,
                } => (&IMAGE_TYPES, media_type, data, url),
                Part::File {
                    media_type,
                    data,
                    url,
                    name,
                } => {
                    if let Some(n) = name
                        && (n.chars().any(char::is_control) || n.len() > 255)
                    {
                        return Err(Error::invalid(
                            at("name"),
                            "a file name of at most 255 bytes, without control characters",
                        ));
                    }
                    (&FILE_TYPES, media_type, data, url)
                }
            };
            let (media_type, data) = match (data, url) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::invalid(
                        at("data"),
                        "give either `data` (base64) or `url`",
                    ));
                }
                (Some(d), None) => match media_type {
                    Some(mt) => (mt.as_str(), d.as_ref()),
                    None => {
                        return Err(Error::invalid(
                            at("media_type"),
                            format!(
                                "`media_type` is required with `data` (one of {})",
                                allowed.join(", ")
                            ),
                        ));
                    }
                },
                (None, Some(u)) => match parse_data_url(u) {
                    Some((mt, d)) => {
                        if media_type.as_deref().is_some_and(|m| m != mt) {
                            return Err(Error::invalid(
                                at("media_type"),
                                format!(
                                    "`{}` contradicts the data URL's `{mt}`",
                                    media_type.as_deref().unwrap_or_default()
                                ),
                            ));
                        }
                        (mt, d)
                    }
                    None => {
                        if u.starts_with("data:") {
                            return Err(Error::invalid(
                                at("url"),
                                "a data URL must be `data:<media type>;base64,<data>`",
                            ));
                        }
                        if !u.starts_with("https://") && !u.starts_with("http://") {
                            return Err(Error::invalid(at("url"), "an http(s) URL or a data: URL"));
                        }
                        if let Some(mt) = media_type
                            && !allowed.contains(&mt.as_str())
                        {
                            return Err(Error::invalid(
                                at("media_type"),
                                format!(
                                    "`{mt}` is not accepted here: one of {}",
                                    allowed.join(", ")
                                ),
                            ));
                        }
                        continue;
                    }
                },
            };
            if !allowed.contains(&media_type) {
                return Err(Error::invalid(
                    at("media_type"),
                    format!(
                        "`{media_type}` is not accepted here: one of {}",
                        allowed.join(", ")
                    ),
                ));
            }
            let found = inspect(data, max_bytes).map_err(|e| match e {
                InspectError::NotBase64(why) => {
                    Error::invalid(at("data"), format!("not base64: {why}"))
                }
                InspectError::TooLarge(None) => Error::PayloadTooLarge(format!(
                    "{}: the attachment is larger than {max_bytes} bytes",
                    at("data")
                )),
                InspectError::TooLarge(Some(n)) => Error::PayloadTooLarge(format!(
                    "{}: the attachment is {n} bytes, more than {max_bytes}",
                    at("data")
                )),
            })?;
            let matches = if media_type == "text/plain" {
                found.utf8
            } else {
                signature_matches(media_type, &found.head)
            };
            if !matches {
                return Err(Error::invalid(
                    at("media_type"),
                    format!("the bytes are not `{media_type}` (their signature does not match)"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    fn parse(v: serde_json::Value) -> std::result::Result<Content, String> {
        serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn content_is_a_string_or_parts_and_bad_parts_keep_their_path() {
        assert_eq!(parse(serde_json::json!("hi")).unwrap(), Content::from("hi"));
        assert_eq!(parse(serde_json::Value::Null).unwrap(), Content::default());
        let c = parse(serde_json::json!([
            {"type": "text", "text": "what is this?"},
            {"type": "image", "media_type": "image/png", "data": PNG},
        ]))
        .unwrap();
        assert_eq!(c.text(), "what is this?");
        assert_eq!(c.media().count(), 1);
        c.check("messages[0].content", 1024).unwrap();
        let e = parse(
            serde_json::json!([{"type": "text", "text": "x"}, {"type": "video", "url": "x"}]),
        )
        .unwrap_err();
        assert!(
            e.starts_with("[1]") && e.contains("unknown variant `video`"),
            "{e}"
        );
        let e = parse(serde_json::json!([{"type": "image", "colour": "red"}])).unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn parts_from_bytes_sniff_their_type() {
        let png = base64::engine::general_purpose::STANDARD
            .decode(PNG)
            .unwrap();
        let p = Part::from_bytes(&png, Some("cat.png")).unwrap();
        assert!(matches!(&p, Part::Image { media_type: Some(m), .. } if m == "image/png"));
        Content::Parts(vec![p]).check("c", 1024).unwrap();
        let p = Part::from_bytes(b"%PDF-1.7 ...", Some("a.pdf")).unwrap();
        assert!(
            matches!(&p, Part::File { media_type: Some(m), name: Some(n), .. } if m == "application/pdf" && n == "a.pdf")
        );
        let p = Part::from_bytes("notes ✓".as_bytes(), None).unwrap();
        assert_eq!(p.kind(), Some(Kind::TextFile));
        assert_eq!(
            Part::from_bytes(&[0xff, 0xfe, 0x00], None)
                .unwrap_err()
                .field(),
            Some("attachment")
        );
        assert!(matches!(
            Part::from_path_or_url("https://x/cat.jpg").unwrap(),
            Part::Image { url: Some(_), .. }
        ));
    }

    #[test]
    fn inspect_decodes_in_pieces_and_hashes() {
        use sha2::Digest as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // 3-byte characters across every 64 KiB boundary: still UTF-8.
        let text = "✓".repeat(70_000);
        let found = inspect(&b64(text.as_bytes()), usize::MAX).unwrap();
        assert!(found.utf8);
        assert_eq!(found.len, text.len());
        assert_eq!(found.head.len(), 64 * 1024);
        let want: String = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(found.sha256, want);
        // Cut in the middle of the last character: not UTF-8.
        let cut = &text.as_bytes()[..text.len() - 1];
        assert!(!inspect(&b64(cut), usize::MAX).unwrap().utf8);
        assert!(matches!(
            inspect("QUJD*", 100),
            Err(InspectError::NotBase64(_))
        ));
        assert_eq!(
            inspect(&b64(&[0; 10]), 9),
            Err(InspectError::TooLarge(Some(10)))
        );
    }

    #[test]
    fn bad_parts_name_their_field() {
        let check = |part: serde_json::Value| {
            Content::Parts(vec![serde_json::from_value(part).unwrap()])
                .check("messages[0].content", 100)
                .unwrap_err()
        };
        let field = |e: Error| e.field().map(str::to_string);
        assert_eq!(
            field(check(
                serde_json::json!({"type": "image", "media_type": "image/bmp", "data": PNG})
            )),
            Some("messages[0].content[0].media_type".into())
        );
        assert_eq!(
            field(check(
                serde_json::json!({"type": "image", "media_type": "image/png", "data": "***"})
            )),
            Some("messages[0].content[0].data".into())
        );
        // Declared JPEG, PNG bytes.
        let e = check(
            serde_json::json!({"type": "image", "url": format!("data:image/jpeg;base64,{PNG}")}),
        );
        assert_eq!(field(e), Some("messages[0].content[0].media_type".into()));
        assert_eq!(
            field(check(
                serde_json::json!({"type": "file", "media_type": "application/zip", "data": PNG})
            )),
            Some("messages[0].content[0].media_type".into())
        );
        assert_eq!(
            field(check(
                serde_json::json!({"type": "image", "url": "ftp://x/cat.png"})
            )),
            Some("messages[0].content[0].url".into())
        );
        assert_eq!(
            field(check(
                serde_json::json!({"type": "image", "media_type": "image/png"})
            )),
            Some("messages[0].content[0].data".into())
        );
        let big = base64::engine::general_purpose::STANDARD.encode([0u8; 300]);
        let e = check(serde_json::json!({"type": "file", "media_type": "text/plain", "data": big}));
        assert_eq!(e.code(), crate::ErrorCode::PayloadTooLarge, "{e}");
        assert!(e.to_string().contains("messages[0].content[0].data"), "{e}");
    }
}
