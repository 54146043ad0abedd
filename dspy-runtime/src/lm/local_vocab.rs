//! Text to tokens and back on the embedded model, through llama-cpp-2's model API.

use super::LmError;
use llama_cpp_2::TokenToStringError;
use llama_cpp_2::model::{AddBos, LlamaModel};
use llama_cpp_2::token::LlamaToken;

/// The tokens of `text`, with the model's BOS (or CLS/SEP) tokens when `add_special`. Special
/// tokens written in the text (`<|im_start|>`, `[SEP]`) are read as such, as chat templates
/// need and as Hugging Face tokenizers and llama-server do for embedding inputs. A NUL in the
/// text is a `BadRequest` (llama.cpp takes C strings).
pub(super) fn tokenize(
    model: &LlamaModel,
    text: &str,
    add_special: bool,
) -> Result<Vec<LlamaToken>, LmError> {
    let add = if add_special {
        AddBos::Always
    } else {
        AddBos::Never
    };
    model
        .str_to_token(text, add)
        .map_err(|e| LmError::BadRequest {
            status: 400,
            message: format!("the text cannot be tokenized: {e}"),
        })
}

/// The bytes token `token` stands for (a piece of UTF-8 that may end mid-character); nothing
/// for a control token.
pub(super) fn piece(model: &LlamaModel, token: LlamaToken) -> Vec<u8> {
    let mut size = 32;
    loop {
        match model.token_to_piece_bytes(token, size, false, None) {
            Ok(bytes) => return bytes,
            Err(TokenToStringError::InsufficientBufferSpace(needed)) if size < 1 << 16 => {
                size = usize::try_from(needed.unsigned_abs()).map_or(1 << 16, |n| n.max(size * 2));
            }
            Err(_) => return Vec::new(),
        }
    }
}
