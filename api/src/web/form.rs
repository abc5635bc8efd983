//! Form bodies, with repeated fields (a seat map posts `seat` once per
//! seat), which serde's form decoding does not keep.

use poem::{FromRequest, Request, RequestBody, Result};

/// The fields of an `application/x-www-form-urlencoded` body, in order.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Decodes `body`; malformed pairs decode as best they can.
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, if not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<'a> FromRequest<'a> for Fields {
    async fn from_request(_request: &'a Request, body: &mut RequestBody) -> Result<Self> {
        let bytes = body.take()?.into_bytes().await?;
        Ok(Self::parse(&bytes))
    }
}
