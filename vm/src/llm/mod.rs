//! `llm` and `agent` steps: choosing who answers a model (a script, a host
//! provider, the type mock, or a built-in HTTP provider), the settings a
//! model declaration gives, and the limits shared across an engine.
//!
//! `step.rs` drives one step: the request, the repair loop, the agent's tool
//! loop, events and accounting. The providers only speak their APIs.

pub mod anthropic;
mod http;
pub(crate) mod limits;
pub mod ollama;
pub mod openai;
pub(crate) mod parse;
pub(crate) mod step;

use crate::engine::Config;
use crate::models::{Endpoint, ModelProvider, TypeMock};
use flow_compiler::Code;
use flow_compiler::ir::Model;
use limits::{Limiter, ModelLimits};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one model call may take, unless the model sets `timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a streamed answer may pause, unless the model sets `idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times an answer that does not fit is sent back to be fixed,
/// unless the step or the model sets `repair`.
pub const DEFAULT_REPAIR: u64 = 1;
/// How many model calls an agent may make, unless it sets `max_turns`.
pub const DEFAULT_MAX_TURNS: u64 = 8;

/// What an engine's runs share about models: one limiter per model.
#[derive(Default)]
pub(crate) struct Shared {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared { .. }")
    }
}

impl Shared {
    /// The limiter of a model declaration. Declarations with the same
    /// name, provider, model id and limits share one, across runs.
    /// Every model has one, even without declared limits: a 429's
    /// `Retry-After` holds back all of the model's calls.
    fn limiter(&self, model: &Model, limits: ModelLimits) -> Option<Arc<Limiter>> {
        let key = format!("{}|{}|{}|{:?}", model.name, model.provider, model.model_id, limits);
        let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        Some(map.entry(key).or_insert_with(|| Arc::new(Limiter::new(limits))).clone())
    }
}

/// Who answers a model's calls in one run, decided before it starts.
pub(crate) struct Route {
    pub provider: Arc<dyn ModelProvider>,
    pub endpoint: Endpoint,
    pub settings: Settings,
    pub limiter: Option<Arc<Limiter>>,
}

/// A model declaration's options, read once.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub stream: bool,
    pub repair: u64,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// USD per million tokens.
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    /// Tools through the API's native tool calling, or through JSON answers.
    pub json_tools: bool,
}

impl Settings {
    fn of(model: &Model) -> Settings {
        let o = &model.options;
        let ms = |k: &str| o.get(k).and_then(|v| v.as_u64()).map(Duration::from_millis);
        Settings {
            timeout: ms("timeout").unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            idle_timeout: ms("idle_timeout").unwrap_or(DEFAULT_IDLE_TIMEOUT),
            stream: o.get("stream").and_then(|v| v.as_bool()).unwrap_or(true),
            repair: o.get("repair").and_then(|v| v.as_u64()).unwrap_or(DEFAULT_REPAIR),
            temperature: o.get("temperature").and_then(|v| v.as_f64()),
            max_tokens: o.get("max_tokens").and_then(|v| v.as_u64()),
            input_price: o.get("input_price").and_then(|v| v.as_f64()),
            output_price: o.get("output_price").and_then(|v| v.as_f64()),
            json_tools: o.get("tool_calling").and_then(|v| v.as_str()) == Some("json"),
        }
    }

    fn limits(model: &Model) -> ModelLimits {
        let o = &model.options;
        ModelLimits {
            concurrency: o.get("concurrency").and_then(|v| v.as_u64()),
            rpm: o.get("rpm").and_then(|v| v.as_u64()),
            tpm: o.get("tpm").and_then(|v| v.as_u64()),
        }
    }

    /// The cost of a call, when the model declares prices.
    pub fn cost(&self, usage: crate::models::Usage) -> Option<f64> {
        if self.input_price.is_none() && self.output_price.is_none() {
            return None;
        }
        let input = usage.input_tokens as f64 * self.input_price.unwrap_or(0.0);
        let output = usage.output_tokens as f64 * self.output_price.unwrap_or(0.0);
        Some((input + output) / 1_000_000.0)
    }
}

/// Why a model cannot be used in this run.
pub(crate) struct Unavailable {
    pub code: Code,
    pub message: String,
    pub help: String,
}

/// Decides who answers `model`'s calls: a host provider registered for the
/// model's name or its provider, the type mock (`mock` models, mocked
/// runs), or the built-in HTTP provider, whose endpoint and key come from
/// the model's options and the environment.
pub(crate) fn route(config: &Config, model: &Model) -> Result<Route, Unavailable> {
    let settings = Settings::of(model);
    let limiter = config.llm.limiter(model, Settings::limits(model));
    let host = config.providers.get(&model.name).or_else(|| config.providers.get(&model.provider));
    let simple = |provider: Arc<dyn ModelProvider>| Route {
        provider,
        endpoint: Endpoint::default(),
        settings: settings.clone(),
        limiter: limiter.clone(),
    };
    if let Some(p) = host {
        return Ok(simple(p.clone()));
    }
    if config.mock_models || model.provider == "mock" {
        return Ok(simple(Arc::new(TypeMock)));
    }
    if !config.builtin_providers {
        return Err(Unavailable {
            code: Code::ModelUnavailable,
            message: format!(
                "model `{}` needs the `{}` provider, which this host does not grant",
                model.name, model.provider
            ),
            help: "the host allows only the models it registered with `Engine::provider`".into(),
        });
    }
    if let Some(server) = &config.model_server {
        let endpoint = Endpoint { base_url: server.clone(), api_key: config.env("OPENAI_API_KEY") };
        return Ok(Route {
            provider: Arc::new(openai::OpenAi { http: config.http.clone() }),
            endpoint,
            settings,
            limiter,
        });
    }
    let (default_url, url_var, key_var): (&str, &str, &str) = match model.provider.as_str() {
        "openai" => (openai::DEFAULT_BASE_URL, "OPENAI_BASE_URL", "OPENAI_API_KEY"),
        "anthropic" => (anthropic::DEFAULT_BASE_URL, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
        "ollama" => (ollama::DEFAULT_BASE_URL, "OLLAMA_HOST", "OLLAMA_API_KEY"),
        other => {
            return Err(Unavailable {
                code: Code::ModelUnavailable,
                message: format!("model `{}` uses the `{other}` provider, which is not configured", model.name),
                help: "register a provider with `Engine::provider`, or run with mocked models (`flowc run --mock`)"
                    .into(),
            });
        }
    };
    let option_url = model.options.get("base_url").and_then(|v| v.as_str()).map(str::to_string);
    let base_url = option_url
        .or_else(|| config.env(url_var))
        .map(|u| if u.contains("://") { u } else { format!("http://{u}") })
        .unwrap_or_else(|| default_url.to_string());
    let declared_key_var = model.options.get("api_key_env").and_then(|v| v.as_str());
    let key_var = declared_key_var.unwrap_or(key_var);
    let api_key = config.env(key_var).filter(|k| !k.trim().is_empty());
    // The providers' own services need a key; a server at another address
    // (llama.cpp, vLLM, Ollama) usually does not, unless the file names one.
    let needs_key =
        declared_key_var.is_some() || (model.provider != "ollama" && base_url.trim_end_matches('/') == default_url);
    if needs_key && api_key.is_none() {
        return Err(Unavailable {
            code: Code::MissingApiKey,
            message: format!(
                "model `{}` needs an API key in the environment variable {key_var}, which is not set",
                model.name
            ),
            help: format!(
                "set {key_var}, point the model at another server (`base_url`, or {url_var}), or run with mocked models (`flowc run --mock`)"
            ),
        });
    }
    let http = config.http.clone();
    let provider: Arc<dyn ModelProvider> = match model.provider.as_str() {
        "anthropic" => Arc::new(anthropic::Anthropic { http }),
        "ollama" => Arc::new(ollama::Ollama { http }),
        _ => Arc::new(openai::OpenAi { http }),
    };
    Ok(Route { provider, endpoint: Endpoint { base_url, api_key }, settings, limiter })
}
