//! Token counting with tiktoken, for usage a provider did not report.
//!
//! Counts are estimates for non-OpenAI models (their tokenizers differ); results built from
//! them say `"source": "estimated"`. The BPE tables load once per process (0.1–0.3 s).

use tiktoken_rs::CoreBPE;

use crate::types::content::{Content, Part, Source};
use crate::types::request::Message;

/// The tokenizer used to estimate `model`'s tokens: `cl100k_base` for the GPT-3.5/GPT-4
/// families, `o200k_base` (GPT-4o and later) for everything else.
fn encoding_for(model: &str) -> &'static CoreBPE {
    let name = model.rsplit('/').next().unwrap_or(model);
    let cl100k =
        (name.starts_with("gpt-4") && !name.starts_with("gpt-4o") && !name.starts_with("gpt-4.1"))
            || name.starts_with("gpt-3.5");
    if cl100k {
        tiktoken_rs::cl100k_base_singleton()
    } else {
        tiktoken_rs::o200k_base_singleton()
    }
}

/// Loads the tokenizers on a background thread, once per process, so the first estimate
/// does not stall a stream (loading takes 0.1–0.3 s in release builds, more in debug).
pub fn warm_up() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| {
            let _ = tiktoken_rs::o200k_base_singleton();
            let _ = tiktoken_rs::cl100k_base_singleton();
            READY.store(true, std::sync::atomic::Ordering::Release);
        });
    });
}

static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the tokenizers are loaded (counting is then microseconds, fine inline).
pub fn is_ready() -> bool {
    READY.load(std::sync::atomic::Ordering::Acquire)
}

/// Tokens of `text` as `model` would count them (estimated for non-OpenAI models).
pub fn count_tokens(text: &str, model: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    encoding_for(model).count_ordinary(text) as u64
}

/// Prompt tokens of a conversation, with OpenAI's per-message overhead
/// (3 tokens per message, 3 to prime the reply); images by [`image_tokens`].
pub fn count_message_tokens(messages: &[Message], model: &str) -> u64 {
    let content: u64 = messages
        .iter()
        .map(|m| count_content_tokens(&m.content, model) + 4)
        .sum();
    content + 3
}

/// Tokens of a message's content: its text, plus each image's estimate ([`image_tokens`]).
/// Files are not estimated (their cost depends on pages and extracted text).
pub fn count_content_tokens(content: &Content, model: &str) -> u64 {
    let text = count_tokens(&content.text(), model);
    let images: u64 = content
        .media()
        .filter_map(|(_, p)| match (p, p.source()) {
            (Part::Image { .. }, Some(Source::Bytes { data, .. })) => {
                image_size(&data).map(|(w, h)| image_tokens(model, w, h))
            }
            _ => None,
        })
        .sum();
    text + images
}

/// An image's width and height from its first bytes (`data` is base64).
pub fn image_size(data: &str) -> Option<(u64, u64)> {
    use base64::Engine as _;
    // 64 KiB of base64 is 48 KiB of image: past any PNG/GIF/WebP header and the metadata
    // that precedes most JPEG frames.
    let prefix = &data[..data.len().min(64 * 1024)];
    let prefix = &prefix[..prefix.len() / 4 * 4];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(prefix)
        .ok()?;
    let size = imagesize::blob_size(&bytes).ok()?;
    Some((size.width as u64, size.height as u64))
}

/// Input tokens of a `width` × `height` image, by the documented rule of `model`'s family:
/// - Anthropic (Claude): scaled to fit 1568 px on the long edge, then `w × h / 750`;
/// - Gemini: 258 when both sides are at most 384 px, else 258 per 768 × 768 tile;
/// - OpenAI and the rest (high detail): scaled to fit 2048 × 2048, then the short side to
///   768 px, then 85 + 170 per 512 × 512 tile.
pub fn image_tokens(model: &str, width: u64, height: u64) -> u64 {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let name = model.to_ascii_lowercase();
    if name.contains("claude") || name.starts_with("anthropic/") {
        let scale = (1568.0 / w.max(h)).min(1.0);
        ((w * scale) * (h * scale) / 750.0).ceil() as u64
    } else if name.contains("gemini") {
        if w <= 384.0 && h <= 384.0 {
            258
        } else {
            ((w / 768.0).ceil() * (h / 768.0).ceil()) as u64 * 258
        }
    } else {
        let fit = (2048.0 / w.max(h)).min(1.0);
        let (w, h) = (w * fit, h * fit);
        let short = (768.0 / w.min(h)).min(1.0);
        let (w, h) = (w * short, h * short);
        85 + 170 * ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_plausible() {
        assert_eq!(count_tokens("", "openai/gpt-4o"), 0);
        assert_eq!(count_tokens("hello world", "openai/gpt-4o"), 2);
        assert_eq!(count_tokens("hello world", "openai/gpt-4"), 2);
        let n = count_message_tokens(&[Message::user("hello world")], "sim/echo");
        assert_eq!(n, 2 + 4 + 3);
    }

    #[test]
    fn images_cost_what_each_provider_documents() {
        // OpenAI's worked examples: 1024 × 1024 high detail → 765; 2048 × 4096 → 1105.
        assert_eq!(image_tokens("openai/gpt-4o", 1024, 1024), 765);
        assert_eq!(image_tokens("openai/gpt-4o", 2048, 4096), 1105);
        // Anthropic's table: 1092 × 1092 → ~1590 (w·h/750); 200 × 200 → ~54.
        assert_eq!(
            image_tokens("anthropic/claude-sonnet-4-5", 1092, 1092),
            1590
        );
        assert_eq!(image_tokens("anthropic/claude-sonnet-4-5", 200, 200), 54);
        // Gemini: small images 258; a 1000 × 1000 image is 2 × 2 tiles.
        assert_eq!(image_tokens("gemini/gemini-2.5-flash", 300, 300), 258);
        assert_eq!(image_tokens("gemini/gemini-2.5-flash", 1000, 1000), 4 * 258);
        // Read from the image's own header: a 1 × 1 PNG.
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        assert_eq!(image_size(png), Some((1, 1)));
        let c = Content::Parts(vec![
            Part::Text {
                text: "hello world".into(),
            },
            Part::Image {
                media_type: Some("image/png".into()),
                data: Some(png.into()),
                url: None,
            },
        ]);
        assert_eq!(count_content_tokens(&c, "gemini/gemini-2.5-flash"), 2 + 258);
    }
}
