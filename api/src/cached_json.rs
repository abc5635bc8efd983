//! A JSON response body that is already encoded (a page kept in the cache),
//! documented in the contract as the type it encodes.
//!
//! poem-openapi's `Json<T>` turns `T` into a `serde_json::Value` tree and then
//! into bytes on every response. A cached page is served as stored instead.

use std::marker::PhantomData;

use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

/// JSON bytes of a `T`, answered with status 200.
pub struct CachedJson<T> {
    body: Vec<u8>,
    encodes: PhantomData<fn() -> T>,
}

impl<T: ToJSON> CachedJson<T> {
    /// Encodes `value` the way `Json<T>` would, for the cache.
    pub fn encode(value: &T) -> Vec<u8> {
        value.to_json_string().into_bytes()
    }

    /// `body` must be what [`Self::encode`] made.
    pub fn from_encoded(body: Vec<u8>) -> Self {
        Self {
            body,
            encodes: PhantomData,
        }
    }
}

impl<T: Type> Payload for CachedJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> IntoResponse for CachedJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.body)
    }
}

impl<T: Type> ApiResponse for CachedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
