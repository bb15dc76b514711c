//! Reading JSON input (request bodies, import files): syntax errors (400) are told from values
//! that do not fit (422), and every error names the JSON path of the offending value.

use serde::de::DeserializeOwned;

use crate::error::Error;

/// Parses a body, telling syntax errors (400) from values that do not fit (422).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = match error.path().to_string() {
            path if path == "." => "body".to_owned(),
            path => path,
        };
        classify(error.into_inner(), field)
    })?;
    deserializer
        .end()
        .map_err(|error| classify(error, "body".to_owned()))?;
    Ok(value)
}

fn classify(error: serde_json::Error, field: String) -> Error {
    use serde_json::error::Category;
    let message = strip_position(&error.to_string());
    match error.classify() {
        Category::Data if message.starts_with("unknown field") => {
            Error::UnknownField { field, message }
        }
        Category::Data => Error::InvalidBody { field, message },
        Category::Syntax | Category::Eof | Category::Io => Error::MalformedJson(error.to_string()),
    }
}

/// serde_json appends " at line L column C", which means little once the path is known.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}
