//! `llm` and `agent` steps: choosing who answers a model (a script, a host
//! provider, the type mock, or a built-in HTTP provider), the settings a
//! model declaration gives, and the limits shared across an engine.
//!
//! `step.rs` drives one step: the request, the repair loop, the agent's tool
//! loop, events and accounting. The providers only speak their APIs.

mod agent;
pub mod anthropic;
pub(crate) mod cache;
mod http;
pub(crate) mod limits;
pub mod ollama;
pub mod openai;
pub(crate) mod parse;
pub(crate) mod prepared;
pub(crate) mod read;
pub mod shared;
pub(crate) mod step;

use crate::config::Config;
use crate::models::{Endpoint, ModelProvider, TypeMock};
use crate::net::Reach;
use flow_compiler::ir::{Model, ToolCalling};
use flow_compiler::{Code, Provider};
use limits::Limiter;
use std::sync::Arc;
use std::time::Duration;

/// How many times a model call failing with `rate_limited`, `provider` or
/// `timeout` is sent again, unless the model sets `retry` or the step has
/// a `retry` clause of its own (as the providers' SDKs do).
pub const DEFAULT_RETRY: u32 = 2;

/// How long one model call may take, unless the model sets `timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a streamed answer may pause, unless the model sets `idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times an answer that does not fit is sent back to be fixed,
/// unless the step or the model sets `repair`.
pub const DEFAULT_REPAIR: u64 = 1;
/// How many model calls an agent may make, unless it sets `max_turns`.
pub const DEFAULT_MAX_TURNS: u64 = 8;

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
    /// Sends again of a call failing transiently (when the step has no `retry`).
    pub retry: u32,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// USD per million tokens.
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    /// Tools through the API's native tool calling, or through JSON answers.
    pub json_tools: bool,
    /// The model's `cache` option.
    pub cache: Option<bool>,
}

impl Settings {
    fn of(model: &Model) -> Settings {
        let o = &model.options;
        Settings {
            timeout: o.timeout_ms.map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_millis),
            idle_timeout: o.idle_timeout_ms.map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_millis),
            stream: o.stream.unwrap_or(true),
            repair: o.repair.unwrap_or(DEFAULT_REPAIR),
            retry: o.retry.map_or(DEFAULT_RETRY, |n| n.min(100) as u32),
            temperature: o.temperature,
            max_tokens: o.max_tokens,
            input_price: o.input_price,
            output_price: o.output_price,
            json_tools: o.tool_calling == Some(ToolCalling::Json),
            cache: o.cache,
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
    let limiter = config.limiters.limiter(model, config.shared_limits.clone());
    let host = config.providers.get(&model.name).or_else(|| config.providers.get(model.provider.as_str()));
    let simple = |provider: Arc<dyn ModelProvider>| Route {
        provider,
        endpoint: Endpoint::default(),
        settings: settings.clone(),
        limiter: limiter.clone(),
    };
    if let Some(p) = host {
        return Ok(simple(p.clone()));
    }
    if config.mock_models || model.provider == Provider::Mock {
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
            provider: Arc::new(openai::OpenAi { http: client(config, Reach::Host)? }),
            endpoint,
            settings,
            limiter,
        });
    }
    let (default_url, url_var, key_var): (&str, &str, &str) = match model.provider {
        Provider::OpenAi => (openai::DEFAULT_BASE_URL, "OPENAI_BASE_URL", "OPENAI_API_KEY"),
        Provider::Anthropic => (anthropic::DEFAULT_BASE_URL, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
        Provider::Ollama => (ollama::DEFAULT_BASE_URL, "OLLAMA_HOST", "OLLAMA_API_KEY"),
        // Answered by the type mock above.
        Provider::Mock => return Ok(simple(Arc::new(TypeMock))),
    };
    let option_url = model.options.base_url.clone();
    let base_url = option_url
        .or_else(|| config.env(url_var))
        .map(|u| if u.contains("://") { u } else { format!("http://{u}") })
        .unwrap_or_else(|| default_url.to_string());
    let declared_key_var = model.options.api_key_env.as_deref();
    if let Some(var) = declared_key_var
        && !env_allowed(config, var)
    {
        return Err(Unavailable {
            code: Code::KeyNotAllowed,
            message: format!("model `{}` asks for the key in {var}, which the host does not allow", model.name),
            help: format!("a host allows it with `Engine::allow_env(\"{var}\")` or FLOW_ALLOWED_ENV={var}"),
        });
    }
    // A key goes only where the host lets it: the provider's own service, a
    // base URL the host set, or one it trusts. A file's own `base_url` gets none.
    let file_url = option_url_differs(model, config, url_var, default_url);
    let trusted = !file_url || url_trusted(config, &base_url);
    if declared_key_var.is_some() && !trusted {
        return Err(Unavailable {
            code: Code::KeyNotAllowed,
            message: format!(
                "model `{}` would send its key to {base_url}, an address the file chose and the host does not trust",
                model.name
            ),
            help: format!(
                "a host trusts it with `Engine::trust_base_url(\"{base_url}\")` or FLOW_TRUSTED_URLS={base_url}; or drop `api_key_env`"
            ),
        });
    }
    let key_var = declared_key_var.unwrap_or(key_var);
    let api_key = config.env(key_var).filter(|k| !k.trim().is_empty() && trusted);
    // The providers' own services need a key; a server at another address
    // (llama.cpp, vLLM, Ollama) usually does not, unless the file names one.
    let needs_key = declared_key_var.is_some()
        || (model.provider != Provider::Ollama && base_url.trim_end_matches('/') == default_url);
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
    // A base URL the file chose (and the host does not trust) is under the network policy.
    let reach = if trusted { Reach::Host } else { Reach::Program };
    if reach == Reach::Program {
        let parsed = reqwest::Url::parse(&base_url).map_err(|e| Unavailable {
            code: Code::NetNotAllowed,
            message: format!("model `{}` has a base URL that is not a URL ({base_url}: {e})", model.name),
            help: "give `base_url` as http://host:port/path".into(),
        })?;
        config.net.policy.check_url(&parsed).map_err(|crate::net::Denied(why)| Unavailable {
            code: Code::NetNotAllowed,
            message: format!("model `{}` would call {base_url}: {why}", model.name),
            help: net_help(&parsed),
        })?;
    }
    let http = client(config, reach)?;
    let provider: Arc<dyn ModelProvider> = match model.provider {
        Provider::Anthropic => Arc::new(anthropic::Anthropic { http }),
        Provider::Ollama => Arc::new(ollama::Ollama { http }),
        Provider::OpenAi | Provider::Mock => Arc::new(openai::OpenAi { http }),
    };
    Ok(Route { provider, endpoint: Endpoint { base_url, api_key }, settings, limiter })
}

/// The HTTP client for `reach`, or why there is none.
fn client(config: &Config, reach: Reach) -> Result<reqwest::Client, Unavailable> {
    config.net.client(reach).map_err(|e| Unavailable {
        code: Code::ModelUnavailable,
        message: e.message,
        help: "check the machine's CA certificates (the HTTP client loads them on first use)".into(),
    })
}

/// How a host lets a program reach `url`.
pub(crate) fn net_help(url: &reqwest::Url) -> String {
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return "use an http or https URL".into(),
    };
    format!("a host allows it with `--allow-host {host}` or `Engine::allow_net`; `--trusted` for a program you wrote")
}

/// The providers' own key variables: a program may always name these.
const KEY_VARIABLES: [&str; 3] = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY"];

/// Whether a program may name `var` in `api_key_env`.
fn env_allowed(config: &Config, var: &str) -> bool {
    config.trusted_program
        || KEY_VARIABLES.contains(&var)
        || config.allowed_env.iter().any(|v| v == var)
        || config.env("FLOW_ALLOWED_ENV").is_some_and(|list| list.split(',').any(|v| v.trim() == var))
}

/// Whether the model's base URL is the file's own choice (not the
/// provider's service, and not what the host set in the environment).
fn option_url_differs(model: &Model, config: &Config, url_var: &str, default_url: &str) -> bool {
    let Some(url) = model.options.base_url.as_deref() else { return false };
    let same = |other: &str| url.trim_end_matches('/') == other.trim_end_matches('/');
    !same(default_url) && !config.env(url_var).is_some_and(|host| same(&host))
}

/// Whether the host trusts `url` with a key: it is under one of the
/// trusted base URLs, compared as URLs (scheme, host, port, whole path
/// segments), never as text, so `http://trusted@elsewhere/` is elsewhere.
fn url_trusted(config: &Config, url: &str) -> bool {
    if config.trusted_program {
        return true;
    }
    let Ok(target) = reqwest::Url::parse(url) else { return false };
    let listed = config.env("FLOW_TRUSTED_URLS").unwrap_or_default();
    let from_env = listed.split(',').map(str::trim).filter(|p| !p.is_empty());
    config.trusted_urls.iter().map(String::as_str).chain(from_env).any(|prefix| url_under(&target, prefix))
}

/// Whether `target` is `prefix` or below it. A prefix without a port
/// trusts every port of its host.
fn url_under(target: &reqwest::Url, prefix: &str) -> bool {
    let Ok(base) = reqwest::Url::parse(prefix) else { return false };
    let path = base.path().trim_end_matches('/');
    let port_ok = base.port().is_none() || base.port_or_known_default() == target.port_or_known_default();
    target.scheme() == base.scheme()
        && target.host() == base.host()
        && port_ok
        && target.username().is_empty()
        && target.password().is_none()
        && (path.is_empty() || target.path() == path || target.path().starts_with(&format!("{path}/")))
}

#[cfg(test)]
mod tests {
    use super::url_under;

    #[test]
    fn trusted_base_urls_are_compared_as_urls() {
        let url = |u: &str| reqwest::Url::parse(u).expect("a URL");
        assert!(url_under(&url("http://localhost:8000/v1"), "http://localhost:8000"));
        assert!(url_under(&url("http://127.0.0.1:9999/v1"), "http://127.0.0.1"), "no port: every port");
        assert!(url_under(&url("https://llm.internal/team/v1"), "https://llm.internal/team"));
        assert!(!url_under(&url("https://llm.internal/teamwork/v1"), "https://llm.internal/team"));
        assert!(!url_under(&url("http://localhost:8000@169.254.169.254/v1"), "http://localhost:8000"));
        assert!(!url_under(&url("http://localhost:8001/v1"), "http://localhost:8000"));
        assert!(!url_under(&url("https://localhost:8000/v1"), "http://localhost:8000"));
        assert!(!url_under(&url("http://localhost.evil.com/v1"), "http://localhost"));
    }
}
