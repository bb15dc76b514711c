//! A stand-in for an OpenAI-compatible chat-completions server on loopback (the paid external
//! service the `openai` extractor calls): `POST /v1/chat/completions` records each request and
//! answers with the next scripted reply, in the wire format of OpenAI's API.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat completion whose message content is this JSON.
    Answer(Value),
    /// A chat completion whose message content is this text (e.g. malformed JSON).
    Content(String),
    /// An error status in OpenAI's error shape, with a `Retry-After` in seconds.
    Error {
        status: u16,
        retry_after: Option<u64>,
    },
    /// A valid completion of this JSON, sent only after this pause.
    Slow(Duration, Value),
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub authorization: Option<String>,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<Recorded>,
    refuse_json_schema: bool,
}

/// The server; stopped when dropped.
pub struct FakeOpenAi {
    /// Its API base URL, `http://localhost:PORT/v1`.
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeOpenAi {
    /// Starts the server on a free port of localhost.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/v1/chat/completions", web::post().to(complete))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://localhost:{port}/v1"),
            state,
            handle,
        }
    }

    /// Queues replies, answered in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().expect("state").script.extend(replies);
    }

    /// Makes the server refuse `response_format: json_schema` with a 400, as servers without
    /// structured outputs do (those requests do not use up the script).
    pub fn refuse_json_schema(&self) {
        self.state.lock().expect("state").refuse_json_schema = true;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("state").requests.clone()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn complete(
    request: HttpRequest,
    body: web::Json<Value>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let body = body.into_inner();
    let wants_schema = body["response_format"]["type"] == "json_schema";
    let reply = {
        let mut state = state.lock().expect("state");
        state.requests.push(Recorded {
            authorization: request
                .headers()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            body: body.clone(),
            at: Instant::now(),
        });
        if wants_schema && state.refuse_json_schema {
            return error(
                400,
                None,
                "'response_format' of type 'json_schema' is not supported",
            );
        }
        state.script.pop_front()
    };
    match reply {
        Some(Reply::Answer(answer)) => completion(&body, &answer.to_string()),
        Some(Reply::Content(text)) => completion(&body, &text),
        Some(Reply::Error {
            status,
            retry_after,
        }) => error(status, retry_after, "scripted failure"),
        Some(Reply::Slow(pause, answer)) => {
            tokio::time::sleep(pause).await;
            completion(&body, &answer.to_string())
        }
        None => error(500, None, "the test scripted no reply for this request"),
    }
}

/// A chat completion as OpenAI's API answers it.
fn completion(request: &Value, content: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": 1_764_720_000,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }))
}

/// An error in OpenAI's shape.
fn error(status: u16, retry_after: Option<u64>, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("status");
    let mut response = HttpResponse::build(status);
    if let Some(seconds) = retry_after {
        response.insert_header(("retry-after", seconds.to_string()));
    }
    response.json(json!({"error": {
        "message": message, "type": "invalid_request_error", "param": null, "code": null}}))
}
