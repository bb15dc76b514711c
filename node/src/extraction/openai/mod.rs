//! An extractor backed by a language model behind an OpenAI-compatible chat-completions API.
//!
//! The request carries the contribution, the convergence's top dimensions and candidate
//! existing artifacts, and asks for structured output (`response_format: json_schema`, strict).
//! A server that refuses that (400) is asked again with `json_object` and the schema in the
//! prompt, and later requests go that way directly. Whatever the model answers is checked
//! locally ([`answer::validate`]) before the handler writes anything; a bad answer, a timeout, a
//! 429 or a 5xx fails the attempt, which the job queue retries (429 and 503 after the
//! `Retry-After` they name).

mod answer;
mod prompt;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use reqwest13::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::config::OpenAiSettings;
use crate::jobs::JobError;

use super::extractor::{Extraction, ExtractionInput, Extractor};

/// Largest answer read from the server.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Characters of an error answer kept in the contribution's error.
const ERROR_EXCERPT: usize = 300;

/// The model server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OpenAiSetupError {
    /// `extraction.openai.api_key_file` could not be read.
    #[error("cannot read extraction.openai.api_key_file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("extraction HTTP client: {0}")]
    Client(#[from] reqwest13::Error),
    /// `base_url` cannot take a path.
    #[error("extraction.openai.base_url cannot be a base for chat/completions")]
    BaseUrl,
}

/// How the answer's format is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Structured outputs: the server enforces the schema.
    JsonSchema,
    /// JSON mode: any JSON object, the schema spelled out in the prompt.
    JsonObject,
}

/// The OpenAI-compatible extractor.
pub struct OpenAiExtractor {
    client: reqwest13::Client,
    endpoint: Url,
    model: String,
    max_tokens: u32,
    timeout: Duration,
    api_key: Option<SecretString>,
    /// Set once the server refused `json_schema` and accepted `json_object`.
    json_object_only: AtomicBool,
}

impl OpenAiExtractor {
    /// The extractor for `settings`, reading the API key from its file or variable.
    pub fn new(settings: &OpenAiSettings) -> Result<Self, OpenAiSetupError> {
        let api_key = match &settings.api_key_file {
            Some(path) => Some(read_key_file(path)?),
            None => std::env::var(&settings.api_key_env)
                .ok()
                .filter(|key| !key.trim().is_empty())
                .map(|key| SecretString::from(key.trim().to_owned())),
        };
        if api_key.is_none() {
            tracing::info!(
                variable = %settings.api_key_env,
                "no API key for extraction.openai: requests carry none"
            );
        }
        let mut base = settings.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let endpoint = base
            .join("chat/completions")
            .map_err(|_| OpenAiSetupError::BaseUrl)?;
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        Ok(Self {
            client: reqwest13::Client::builder()
                .timeout(timeout)
                .user_agent(concat!("kgnode/", env!("CARGO_PKG_VERSION")))
                .build()?,
            endpoint,
            model: settings.model.clone(),
            max_tokens: settings.max_tokens,
            timeout,
            api_key,
            json_object_only: AtomicBool::new(false),
        })
    }

    fn request(&self, input: &ExtractionInput, format: Format, schema: &Value) -> Value {
        let (response_format, schema_in_prompt) = match format {
            Format::JsonSchema => (
                json!({"type": "json_schema", "json_schema": {
                    "name": answer::SCHEMA_NAME, "strict": true, "schema": schema}}),
                None,
            ),
            Format::JsonObject => (json!({"type": "json_object"}), Some(schema)),
        };
        json!({
            "model": self.model,
            "messages": prompt::messages(input, schema_in_prompt),
            "response_format": response_format,
            "max_tokens": self.max_tokens,
            "temperature": 0,
        })
    }

    /// Posts one request; the answer's status and body.
    async fn post(&self, body: &Value) -> Result<(StatusCode, Option<Duration>, String), JobError> {
        let mut request = self.client.post(self.endpoint.clone()).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| self.unanswered(&error))?;
        let status = response.status();
        let retry_after =
            kg_federation::backoff::retry_after_header(response.headers(), SystemTime::now());
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.unanswered(&error))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_ANSWER_BYTES {
                return Err(JobError::new(format!(
                    "the model server's answer is larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
        }
        Ok((
            status,
            retry_after,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    fn unanswered(&self, error: &reqwest13::Error) -> JobError {
        if error.is_timeout() {
            JobError::new(format!(
                "the model server did not answer within {} s",
                self.timeout.as_secs()
            ))
        } else {
            JobError::new(format!("the model server cannot be reached: {error}"))
        }
    }
}

#[async_trait::async_trait]
impl Extractor for OpenAiExtractor {
    async fn extract(&self, input: &ExtractionInput) -> Result<Extraction, JobError> {
        let schema = answer::schema();
        let mut format = if self.json_object_only.load(Ordering::Relaxed) {
            Format::JsonObject
        } else {
            Format::JsonSchema
        };
        let (mut status, mut retry_after, mut body) =
            self.post(&self.request(input, format, &schema)).await?;
        if status == StatusCode::BAD_REQUEST && format == Format::JsonSchema {
            tracing::info!(answer = %excerpt(&body), "the model server refused json_schema; asking for json_object");
            format = Format::JsonObject;
            (status, retry_after, body) = self.post(&self.request(input, format, &schema)).await?;
            if status.is_success() {
                self.json_object_only.store(true, Ordering::Relaxed);
            }
        }
        if !status.is_success() {
            return Err(JobError {
                message: format!("the model server answered {status}: {}", excerpt(&body)),
                retry_after: matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                )
                .then_some(retry_after)
                .flatten(),
            });
        }
        let content = content(&body).map_err(JobError::new)?;
        answer::validate(&content, &input.existing)
            .map_err(|error| JobError::new(format!("the model's answer is invalid: {error}")))
    }
}

#[derive(Deserialize)]
struct ChatCompletion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    refusal: Option<String>,
}

/// The first choice's text, from a chat completion.
fn content(body: &str) -> Result<String, String> {
    let completion: ChatCompletion = serde_json::from_str(body)
        .map_err(|error| format!("the model server's answer is not a chat completion: {error}"))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or("the model server's answer has no choices")?;
    if let Some(refusal) = choice.message.refusal.filter(|text| !text.is_empty()) {
        return Err(format!("the model refused: {}", excerpt(&refusal)));
    }
    if choice.finish_reason.as_deref() == Some("length") {
        return Err("the model's answer was cut off at extraction.openai.max_tokens".to_owned());
    }
    choice
        .message
        .content
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| "the model's answer is empty".to_owned())
}

fn excerpt(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(ERROR_EXCERPT)
        .collect()
}

fn read_key_file(path: &Path) -> Result<SecretString, OpenAiSetupError> {
    let key = std::fs::read_to_string(path).map_err(|source| OpenAiSetupError::KeyFile {
        path: path.display().to_string(),
        source,
    })?;
    Ok(SecretString::from(key.trim().to_owned()))
}
