//! BERT WordPiece tokenizer (uncased), as MiniLM-style sentence encoders expect: clean the text,
//! lowercase, strip accents, split on whitespace and punctuation (CJK characters become their own
//! words), then greedy longest-match-first word pieces with the "##" continuation prefix.
//!
//! Accent stripping covers combining marks (U+0300–U+036F) and the precomposed letters of Latin-1
//! and Latin Extended-A; other scripts pass through unchanged (no Unicode tables in this crate).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAX_CHARS_PER_WORD: usize = 100;

/// Token ids for one text, padded to `max_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct WordPieceTokenizer {
    vocab: HashMap<String, i64>,
    cls: i64,
    sep: i64,
    pad: i64,
    unk: i64,
    max_tokens: usize,
}

impl WordPieceTokenizer {
    /// Reads vocab.txt (one token per line; the line number is the id).
    pub fn from_file(path: &Path, max_tokens: usize) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_vocab_text(&text, max_tokens, path)
    }

    pub fn from_vocab_text(text: &str, max_tokens: usize, path: &Path) -> Result<Self> {
        let mut vocab = HashMap::new();
        for (id, line) in text.lines().enumerate() {
            let token = line.trim_end_matches('\r');
            if !token.is_empty() {
                vocab.entry(token.to_string()).or_insert(id as i64);
            }
        }
        let special = |t: &str| {
            vocab.get(t).copied().ok_or_else(|| Error::Manifest {
                path: PathBuf::from(path),
                problem: format!("the vocabulary has no {t} token"),
                fix: "use the vocab.txt that belongs to the text encoder (BERT WordPiece format)"
                    .into(),
            })
        };
        let (cls, sep, pad, unk) = (
            special("[CLS]")?,
            special("[SEP]")?,
            special("[PAD]")?,
            special("[UNK]")?,
        );
        if max_tokens < 2 {
            return Err(Error::config(
                format!("max_tokens is {max_tokens}"),
                "use at least 2 ([CLS] and [SEP])",
            ));
        }
        Ok(WordPieceTokenizer {
            vocab,
            cls,
            sep,
            pad,
            unk,
            max_tokens,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.vocab.get(token).copied()
    }

    /// The word pieces of `text` (no [CLS]/[SEP]); unknown words become "[UNK]".
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut pieces = Vec::new();
        for word in basic_tokenize(text) {
            self.word_pieces(&word, &mut pieces);
        }
        pieces
    }

    /// [CLS] pieces… [SEP], truncated to `max_tokens` and padded with [PAD] (mask 0).
    pub fn encode(&self, text: &str) -> Encoding {
        let mut ids = vec![self.cls];
        for piece in self.tokenize(text).into_iter().take(self.max_tokens - 2) {
            ids.push(self.vocab.get(&piece).copied().unwrap_or(self.unk));
        }
        ids.push(self.sep);
        let used = ids.len();
        ids.resize(self.max_tokens, self.pad);
        let mut attention_mask = vec![1; used];
        attention_mask.resize(self.max_tokens, 0);
        Encoding {
            input_ids: ids,
            attention_mask,
            token_type_ids: vec![0; self.max_tokens],
        }
    }

    fn word_pieces(&self, word: &str, out: &mut Vec<String>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_CHARS_PER_WORD {
            out.push("[UNK]".into());
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut candidate: String = chars[start..end].iter().collect();
                if start > 0 {
                    candidate.insert_str(0, "##");
                }
                if self.vocab.contains_key(&candidate) {
                    found = Some(candidate);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(piece) => {
                    pieces.push(piece);
                    start = end;
                }
                None => {
                    // BERT: one unmatched piece makes the whole word unknown.
                    out.push("[UNK]".into());
                    return;
                }
            }
        }
        out.extend(pieces);
    }
}

/// Clean, lowercase, strip accents, split on whitespace/punctuation/CJK.
pub fn basic_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    for c in text.chars() {
        if c == '\0' || c == '\u{FFFD}' || (is_control(c) && !c.is_whitespace()) {
            continue;
        }
        if c.is_whitespace() {
            flush(&mut current, &mut words);
            continue;
        }
        for lc in c.to_lowercase() {
            if is_combining_mark(lc) {
                continue;
            }
            let base = strip_accent(lc);
            if is_punctuation(base) || is_cjk(base) {
                flush(&mut current, &mut words);
                words.push(base.to_string());
            } else {
                current.push(base);
            }
        }
    }
    flush(&mut current, &mut words);
    words
}

fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// The base letter of a precomposed lowercase Latin letter (what NFD + dropping marks gives).
fn strip_accent(c: char) -> char {
    match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' => 'd',
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' => 'h',
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò'..='ö' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' => 's',
        'ţ' | 'ť' => 't',
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        _ => c,
    }
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '¡' | '§' | '«' | '¶' | '·' | '»' | '¿'
                | '\u{2010}'..='\u{2027}'
                | '\u{2030}'..='\u{205E}'
                | '\u{3001}'..='\u{3003}'
                | '\u{3008}'..='\u{3011}'
                | '\u{3014}'..='\u{301F}'
                | '\u{FF01}'..='\u{FF0F}'
                | '\u{FF1A}'..='\u{FF20}'
                | '\u{FF3B}'..='\u{FF40}'
                | '\u{FF5B}'..='\u{FF65}'
        )
}

fn is_cjk(c: char) -> bool {
    matches!(
        c,
        '\u{4E00}'..='\u{9FFF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{20000}'..='\u{2A6DF}'
            | '\u{2A700}'..='\u{2B73F}'
            | '\u{2B740}'..='\u{2B81F}'
            | '\u{2B820}'..='\u{2CEAF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{2F800}'..='\u{2FA1F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(vocab: &[&str]) -> WordPieceTokenizer {
        let text = vocab.join("\n");
        WordPieceTokenizer::from_vocab_text(&text, 8, Path::new("vocab.txt")).unwrap()
    }

    #[test]
    fn basic_splits_lowercases_and_strips_accents() {
        assert_eq!(
            basic_tokenize("  Café, RAIN!\tnight\u{0}"),
            vec!["cafe", ",", "rain", "!", "night"]
        );
        assert_eq!(basic_tokenize("e\u{0301}te\u{301}"), vec!["ete"]);
        assert_eq!(
            basic_tokenize("东京 at night"),
            vec!["东", "京", "at", "night"]
        );
        assert_eq!(basic_tokenize(""), Vec::<String>::new());
    }

    #[test]
    fn wordpiece_greedy_longest_match_and_unk() {
        let t = tok(&[
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "rain", "##y", "##ing", "un", "##aff", "##able",
            "day",
        ]);
        assert_eq!(
            t.tokenize("rainy raining unaffable"),
            vec!["rain", "##y", "rain", "##ing", "un", "##aff", "##able"]
        );
        // "rainx": "rain" matches, "##x" does not → the whole word is [UNK].
        assert_eq!(t.tokenize("rainx day"), vec!["[UNK]", "day"]);
    }

    #[test]
    fn encode_adds_specials_truncates_and_pads() {
        let t = tok(&["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"]);
        let e = t.encode("a a");
        assert_eq!(e.input_ids, vec![2, 4, 4, 3, 0, 0, 0, 0]);
        assert_eq!(e.attention_mask, vec![1, 1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(e.token_type_ids, vec![0; 8]);
        let long = t.encode(&"a ".repeat(20));
        assert_eq!(long.input_ids, vec![2, 4, 4, 4, 4, 4, 4, 3]);
        assert_eq!(long.attention_mask, vec![1; 8]);
    }

    #[test]
    fn missing_special_token_is_a_clear_error() {
        let err =
            WordPieceTokenizer::from_vocab_text("[PAD]\n[UNK]\n[CLS]\n", 8, Path::new("v.txt"))
                .unwrap_err();
        assert!(err.to_string().contains("[SEP]"), "{err}");
    }
}
