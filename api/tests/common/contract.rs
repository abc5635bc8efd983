//! Spec against behaviour: every answer a test sees goes through [`Contract`],
//! which finds its operation in `/openapi.json` (method and path template)
//! and notes any status the document does not list for it. `TestApp` fails
//! the test at the end with the list, so every API test enforces the
//! contract. Requests outside the document (`/docs`, `/openapi.json`, an
//! unknown path, a method a path does not have) are not checked.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use poem::{Endpoint, EndpointExt};
use serde_json::Value;

/// An operation of the document.
struct Operation {
    method: String,
    template: String,
    /// `None` for a parameter.
    segments: Vec<Option<String>>,
    statuses: BTreeSet<String>,
}

/// One answer the document does not allow: (method, path template, status).
pub type Undocumented = (String, String, u16);

/// The operations of a document, and what was seen outside them.
pub struct Contract {
    operations: Vec<Operation>,
    undocumented: Mutex<BTreeSet<Undocumented>>,
}

impl Contract {
    /// From an OpenAPI 3 document.
    pub fn from_spec(spec: &Value) -> Self {
        let mut operations = Vec::new();
        for (template, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    segments: template
                        .split('/')
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                        .collect(),
                    statuses: responses.keys().cloned().collect(),
                });
            }
        }
        Self {
            operations,
            undocumented: Mutex::default(),
        }
    }

    /// The served document of the API with `settings`.
    pub fn of(settings: &marquee_core::Settings) -> Self {
        Self::from_spec(&serde_json::from_str(&marquee_api::openapi(settings)).unwrap())
    }

    /// The path template `path` routes to: of those it fits, the one with
    /// the most literal segments, as the router prefers them.
    fn template_of(&self, path: &str) -> Option<&str> {
        let given: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|o| {
                o.segments.len() == given.len()
                    && o.segments.iter().zip(&given).all(|(part, g)| match part {
                        Some(literal) => literal == g,
                        None => !g.is_empty(),
                    })
            })
            .max_by_key(|o| o.segments.iter().filter(|s| s.is_some()).count())
            .map(|o| o.template.as_str())
    }

    /// Notes `status` for `method path` if its operation does not list it.
    pub fn record(&self, method: &str, path: &str, status: u16) {
        let Some(template) = self.template_of(path) else {
            return;
        };
        let Some(operation) = self
            .operations
            .iter()
            .find(|o| o.template == template && o.method == method)
        else {
            return;
        };
        let range = format!("{}XX", status / 100);
        let documented = operation.statuses.contains(&status.to_string())
            || operation.statuses.contains(&range)
            || operation.statuses.contains("default");
        if !documented {
            self.undocumented.lock().unwrap().insert((
                method.to_owned(),
                operation.template.clone(),
                status,
            ));
        }
    }

    /// What was seen and is not documented, sorted.
    pub fn undocumented(&self) -> Vec<Undocumented> {
        self.undocumented.lock().unwrap().iter().cloned().collect()
    }

    /// A layer for `Server::with_layer` that records every answer.
    pub fn layer(self: &Arc<Self>) -> marquee_api::Layer {
        let contract = Arc::clone(self);
        Box::new(move |app| {
            app.around(move |next, request| {
                let contract = Arc::clone(&contract);
                async move {
                    let method = request.method().as_str().to_owned();
                    let path = request.uri().path().to_owned();
                    let response = match next.call(request).await {
                        Ok(response) => response,
                        Err(error) => error.into_response(),
                    };
                    contract.record(&method, &path, response.status().as_u16());
                    Ok(response)
                }
            })
            .boxed()
        })
    }

    /// Panics listing what was undocumented, unless the test already failed.
    pub fn assert_kept(&self) {
        let undocumented = self.undocumented();
        if !undocumented.is_empty() && !std::thread::panicking() {
            let lines: Vec<String> = undocumented
                .iter()
                .map(|(method, template, status)| format!("  {method} {template} -> {status}"))
                .collect();
            panic!(
                "answers /openapi.json does not document (add the status to the handler's Problems, \
                 or to contract::boundary):\n{}",
                lines.join("\n")
            );
        }
    }
}
