//! `text/event-json` bodies, parsed without losing duplicate keys.
//!
//! FreeSWITCH serializes an event as one flat JSON object in header order, and a
//! duplicate header (e.g. `Hangup-Cause` twice) becomes a **duplicate key**; a
//! `serde_json::Map` (and any derived struct) would keep only one of them. So we drive
//! serde_json's deserializer with our own visitor that appends every key to a
//! [`Headers`] list. Values are strings except array variables, which are JSON arrays: we
//! store them as FreeSWITCH's internal `ARRAY::a|:b` form so that the event is identical to
//! the plain one. `_body` is the event body; the `Content-Length` key that precedes it is
//! framing and is dropped. Numbers, booleans and nested objects (never sent by FreeSWITCH)
//! are kept as their JSON text; `null` as an empty string.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::event::Event;
use crate::headers::Headers;

/// Parses a `text/event-json` body.
pub(crate) fn parse_json_event(bytes: &[u8], max_headers: usize) -> Result<Event, String> {
    // Validate UTF-8 once for the whole body: `from_str` then skips serde_json's
    // per-string validation, which was the largest cost of json decoding.
    let text = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let mut out = Builder {
        headers: Headers::with_capacity(bytes.len(), bytes.len() / 40 + 1),
        body: None,
        max_headers,
    };
    (&mut out).deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(Event::new(out.headers, out.body))
}

struct Builder {
    headers: Headers,
    body: Option<String>,
    max_headers: usize,
}

impl<'de> DeserializeSeed<'de> for &mut Builder {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Builder {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of event headers")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Text)? {
            let value = map.next_value_seed(Text)?;
            if key == "_body" {
                if matches!(self.headers.last(), Some(("Content-Length", _))) {
                    self.headers.pop();
                }
                self.body = Some(value.into_owned());
                continue;
            }
            if self.headers.len() >= self.max_headers {
                return Err(de::Error::custom(format!(
                    "more than {} event headers",
                    self.max_headers
                )));
            }
            self.headers.push(&key, &value);
        }
        Ok(())
    }
}

/// Deserializes any JSON value to text, borrowing when serde_json can.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(""))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut s = String::from("ARRAY::");
        let mut first = true;
        while let Some(item) = seq.next_element_seed(Text)? {
            if !first {
                s.push_str("|:");
            }
            first = false;
            s.push_str(&item);
        }
        Ok(Cow::Owned(s))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // Nested objects do not occur in FreeSWITCH events; keep them as JSON text.
        let v: serde_json::Value =
            de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_arrays_and_body() {
        let ev = parse_json_event(
            br#"{"Event-Name":"X","Hangup-Cause":"A","Hangup-Cause":"B","variable_m":["a",":b"],"n":1,"Content-Length":"3","_body":"x\ny"}"#,
            100,
        )
        .unwrap();
        assert_eq!(ev.header_all("Hangup-Cause").collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(ev.var("m"), Some("ARRAY::a|::b"));
        assert_eq!(ev.header("n"), Some("1"));
        assert_eq!(ev.header("Content-Length"), None);
        assert_eq!(ev.body(), Some("x\ny"));
    }

    #[test]
    fn errors() {
        assert!(parse_json_event(b"[1]", 100).is_err());
        assert!(parse_json_event(b"{\"a\":", 100).is_err());
        assert!(parse_json_event(b"{\"a\":\"1\"} x", 100).is_err());
        assert!(parse_json_event(br#"{"a":"1","b":"2"}"#, 1).is_err());
    }
}
